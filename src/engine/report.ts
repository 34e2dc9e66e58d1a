/**
 * The scan report: what `backdoor-scan scan --format json` prints, what the worker returns to the
 * extension and what the investigation panel draws. Plain JSON data; docs/report-schema.md
 * documents every field. Bump REPORT_SCHEMA_VERSION on any incompatible change.
 */
export const REPORT_SCHEMA_VERSION = 1;

export type Verdict = 'backdoored' | 'clean' | 'inconclusive';

export interface PreprocessingReport {
  scale: number;
  mean: number[];
  std: number[];
  /** Where the values came from: 'options', 'sidecar' (with its path) or 'default'. */
  source: string;
  /** Input size the images were resized to, [h, w, c]. */
  inputShape: number[];
  resized: boolean;
}

export interface ModelReport {
  path: string;
  format: string;
  /** SHA-256 of the model file (model.json for TF.js), the cache key of the extension. */
  sha256: string;
  inputShape: number[];
  numClasses: number;
  classes: string[];
  parameters: number;
  batchNormLayers: number;
  batchNormChannels: number;
  splitPoint: string;
  splitShape: number[];
  notes: string[];
}

export interface DataReport {
  path: string;
  kind: string;
  size: number;
  optimisationImages: number;
  evaluationImages: number;
  preprocessing: PreprocessingReport;
}

export interface BackendReport {
  name: string;
  simd: boolean;
  threads: number;
  adapter?: string;
  notes: string[];
}

export interface BanSettings {
  eps: number;
  steps: number;
  lambda: number;
  maskLr: number;
  maskEpochs: number;
  batchesPerEpoch: number;
  batchSize: number;
  noiseVariant: 'official' | 'projected';
  faithful: boolean;
  seed: number;
  /** Noise strengths of the collapse sweep that scores the verdict. */
  sweepEps: number[];
  /** Optimisation set: this fraction of the clean data, at least `minOptimisationImages`. */
  optimisationFraction: number;
  minOptimisationImages: number;
  /** Evaluation set: this fraction of the clean data, disjoint from the optimisation set. */
  evaluationFraction: number;
  /** Evaluation images used at each sweep strength. */
  sweepImages: number;
}

/** Predictions of one model configuration on the evaluation images. */
export interface PredictionStats {
  accuracy: number;
  /** How many evaluation images were predicted as each class. */
  histogram: number[];
  /** argmax of the histogram. */
  dominantClass: number;
  /** histogram[dominantClass] / images. */
  dominantRate: number;
}

export interface SweepPoint {
  eps: number;
  /** Un-masked model under noise of this strength. */
  noisy: PredictionStats;
  /** Head on the negative-mask features under the same noise. */
  negativeMask: PredictionStats;
}

export interface BanStatistics {
  /** No noise, no mask. */
  clean: PredictionStats;
  /** Noise at ε, no mask (the official "Acc without mask"). */
  noisy: PredictionStats;
  /** Noise at ε, negative mask: g((1-m)·f_δ(x)) (the official target-label statistic). */
  negativeMask: PredictionStats;
  /** Noise off, positive mask: g(m·f(x)) — the benign features alone should keep accuracy. */
  positiveMask: PredictionStats;
  sweep: SweepPoint[];
}

export interface VerdictReport {
  verdict: Verdict;
  /** The calibrated score (higher = more backdoor-like); see docs/detection.md. */
  score: number;
  threshold: number;
  /** Scores inside [low, high] are inconclusive. */
  inconclusiveBand: [number, number];
  targetLabel?: number;
  targetName?: string;
  /** One sentence: why. */
  explanation: string;
}

export interface MaskEvidence {
  /** [h, w, c] of the feature map. */
  shape: number[];
  /** The mask, flattened HWC. */
  values: number[];
  /** Mean mask value per channel. */
  channelMeans: number[];
  /** Share of mask mass (Σm / size): benign features; 1 - share: backdoor features. */
  benignShare: number;
}

export interface NoiseLayerEvidence {
  name: string;
  channels: number;
  /** |δw| and |δb| per channel. */
  absScale: number[];
  absShift: number[];
  /** Loss increase when only this layer's noise is on (how much it moved the loss). */
  lossIncrease: number;
}

export interface SampleEvidence {
  /** Index in the dataset and its name (file or zip entry). */
  index: number;
  item: string;
  label: number;
  cleanPrediction: number;
  noisyPrediction: number;
  /** The image as a PNG data URI, as the model saw it (after resizing, before normalising). */
  png: string;
}

export interface ActivationEvidence {
  layer: string;
  /** Mean activation per channel at the split layer on target-class inputs and on the others. */
  targetMeans: number[];
  otherMeans: number[];
}

export interface PhaseTiming {
  phase: string;
  seconds: number;
}

export interface ScanReport {
  schemaVersion: number;
  tool: { name: string; version: string };
  createdAt: string;
  model: ModelReport;
  data: DataReport;
  backend: BackendReport;
  settings: BanSettings;
  verdict: VerdictReport;
  statistics: BanStatistics;
  evidence: {
    mask: MaskEvidence;
    noise: NoiseLayerEvidence[];
    samples: SampleEvidence[];
    activations: ActivationEvidence;
  };
  timings: PhaseTiming[];
}
