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
  /** Noise off, negative mask: g((1-m)·f(x)) — what the mask alone does, without the noise. */
  negativeMaskNoNoise: PredictionStats;
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
  /** Share of clean evaluation images the noisy model (main ε, no mask) sends to the target. */
  targetShare?: number;
  /** The clean zoo models' highest score (the calibration's reference point). */
  cleanMax: number;
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

// ---------------------------------------------------------------------------------------------
// Repair (NONE, BAN fine-tuning) and training with NONE as a defence: `backdoor-scan repair`,
// `backdoor-scan train` and the worker's `repair` request. Plain JSON data, like the scan report.

/** NONE's settings (Wang et al., NeurIPS 2022; src/engine/mitigate/none.ts). */
export interface NoneSettings {
  /** 'injected': f = 0.03, one round, flagged samples leave the fine-tuning set. 'natural': f = 0.20,
   *  ten rounds of 40 epochs, nothing is removed (the authors' two README settings). */
  mode: 'injected' | 'natural';
  /** Share f of each analysed layer's channels that is zeroed: the top ⌈f·C⌉ by score. */
  resetFraction: number;
  /** λl and λh: samples with p_k < λl describe "not k", samples with p_k > λh are confidently k. */
  lambdaLow: number;
  lambdaHigh: number;
  /** R: analyse, zero and fine-tune this many times. */
  rounds: number;
  /** Fine-tuning epochs per round (the authors' epoch_num_2). */
  epochsPerRound: number;
  /** Fine-tuning learning rate (1e-4), constant; BatchNorm statistics frozen. */
  learningRate: number;
  /** Momentum and weight decay of a new SGD (repair mode); train mode keeps phase 1's optimiser. */
  momentum: number;
  weightDecay: number;
  batchSize: number;
  /** Random crop and flip while fine-tuning, as the authors' training loader does. */
  augment: boolean;
  /** Analysed layers: the authors' ResNet subset when the layer names are CIFAR-ResNet ones
   *  ('auto'), every conv output ('all-convs'), or the subset, required ('resnet-subset'). */
  layers: 'auto' | 'all-convs' | 'resnet-subset';
  /** Share of the given data used for the repair (a seeded prefix of one permutation). */
  dataFraction: number;
  seed: number;
}

/** BAN fine-tuning's settings (`ban_finetune.py`, README command; src/engine/mitigate/ban-finetune.ts). */
export interface BanFinetuneSettings {
  epochs: number;
  learningRate: number;
  momentum: number;
  weightDecay: number;
  /** λ of CE(clean) + λ·CE(model under adversarial BatchNorm noise). */
  robLambda: number;
  /** Noise bound ε and sign-ascent steps S (step ε/S). */
  eps: number;
  steps: number;
  batchSize: number;
  augment: boolean;
  /** Share of the given data used (BAN: 5%), a seeded prefix of one permutation. */
  dataFraction: number;
  seed: number;
}

/** One analysed layer of one NONE round. */
export interface NoneLayerReport {
  /** The conv whose output channels are the neurons. */
  layer: string;
  /** The tensor analysed: `${layer}:pre` (conv output before activation) or a BatchNorm output. */
  tap: string;
  channels: number;
  /** Zeroed channels, highest score first, and their scores (null where the score was NaN). */
  selected: number[];
  scores: (number | null)[];
  /** The channel whose activation enters the per-sample score. */
  topChannel: number;
  /** BatchNorm layers whose γ/β were zeroed with the filter, and the layers whose input slice was. */
  batchNorms: string[];
  nextLayers: string[];
}

export interface EpochReport {
  epoch: number;
  learningRate: number;
  loss: number;
  trainAccuracy: number;
  seconds: number;
}

export interface NoneRoundReport {
  round: number;
  layers: NoneLayerReport[];
  analysedSamples: number;
  /** The two-class Jenks breaks [min, upper end of the lower class, max] of the sample scores. */
  jenksBreaks: [number, number, number] | null;
  /** Samples with score ≥ breaks[1]; removed from fine-tuning in injected mode. */
  flaggedSamples: number;
  /** Of the flagged samples, how many carry a planted trigger (only when the repair planted one). */
  flaggedPoisoned?: number;
  fineTuneSamples: number;
  epochs: EpochReport[];
  timings: PhaseTiming[];
}

export interface BanFinetuneEpochReport {
  epoch: number;
  learningRate: number;
  /** Mean CE(clean) + λ·CE(noisy), and its two parts. */
  loss: number;
  cleanLoss: number;
  noisyLoss: number;
  seconds: number;
}

/** BAN's verdict on a model, in short (the full scan report is `backdoor-scan scan`'s). */
export interface VerdictSummary {
  verdict: Verdict;
  score: number;
  threshold: number;
  targetLabel?: number;
  /** Share of evaluation images that BAN's noise sends to the dominant class. */
  noisyDominantRate: number;
  explanation: string;
  seconds: number;
}

/** Numbers measured the same way before and after a repair. */
export interface ModelMetrics {
  cleanAccuracy: number;
  cleanImages: number;
  /** Share of triggered non-target images classified as the target (when a trigger is given). */
  attackSuccessRate?: number;
  triggeredImages?: number;
  verdict?: VerdictSummary;
}

/**
 * What a repair did to the backdoor, from the measurements it made: `removed` (the trigger works on
 * at most 10% of triggered images, or BAN no longer finds a backdoor), `reduced` (the ASR at least
 * halved but above 10%, or BAN inconclusive), `remains`, or `unmeasured` (no trigger and no verdict,
 * or a trigger that did not work before the repair either).
 */
export interface RepairOutcome {
  outcome: 'removed' | 'reduced' | 'remains' | 'unmeasured';
  /** One sentence with the numbers behind it. */
  explanation: string;
}

/** True when the repair's own measurements say the backdoor is still there, weakened or not. */
export function backdoorRemains(outcome: RepairOutcome): boolean {
  return outcome.outcome === 'remains' || outcome.outcome === 'reduced';
}

export interface RepairReport {
  schemaVersion: number;
  tool: { name: string; version: string };
  createdAt: string;
  method: 'none' | 'ban';
  model: { path: string; format: string; sha256: string };
  /** The repaired model: a new file (and its companions) in the input's format. */
  output: { path: string; files: string[]; sha256: string };
  data: {
    path: string;
    kind: string;
    size: number;
    /** Images the repair used. */
    repairImages: number;
    /** A trigger planted into a share of the repair images (an evaluation of NONE's setting). */
    planted?: { trigger: string; images: number };
    preprocessing: PreprocessingReport;
  };
  evaluation: { path: string; kind: string; images: number; note?: string };
  /** The trigger spec the ASR is measured with. */
  trigger?: string;
  backend: BackendReport;
  settings: NoneSettings | BanFinetuneSettings;
  before: ModelMetrics;
  after: ModelMetrics;
  outcome: RepairOutcome;
  none?: { rounds: NoneRoundReport[] };
  ban?: { epochs: BanFinetuneEpochReport[] };
  timings: PhaseTiming[];
  notes: string[];
}

/** `backdoor-scan train`: a model trained from scratch, optionally with NONE as the defence. */
export interface TrainReport {
  schemaVersion: number;
  tool: { name: string; version: string };
  createdAt: string;
  arch: string;
  archOptions: Record<string, unknown>;
  defense: 'none' | null;
  output: { path: string; files: string[]; sha256: string };
  data: {
    path: string;
    kind: string;
    size: number;
    trainImages: number;
    poison?: { trigger: string; rate: number; images: number };
    preprocessing: PreprocessingReport;
  };
  evaluation: { path: string; kind: string; images: number };
  trigger?: string;
  backend: BackendReport;
  recipe: { epochs: number; batchSize: number; learningRate: number; momentum: number; weightDecay: number; milestones: number[]; augment: boolean; seed: number };
  none?: { settings: NoneSettings; rounds: NoneRoundReport[] };
  epochs: EpochReport[];
  /** Mean seconds per epoch of phase 1 (ordinary training) and of NONE's fine-tuning. */
  secondsPerEpoch: number;
  noneSecondsPerEpoch?: number;
  metrics: ModelMetrics;
  timings: PhaseTiming[];
  notes: string[];
}
