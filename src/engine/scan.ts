/**
 * One full scan: open the model and its clean data, pick BAN's optimisation and evaluation
 * subsets, run BAN, decide the verdict and gather the evidence the report shows. Shared by the
 * CLI and the worker.
 */
import * as tf from '@tensorflow/tfjs-core';
import { encode as encodePng } from 'fast-png';
import { BackendChoice, initBackend } from './backend';
import { buildBatch, Dataset, Preprocessing, resizeBilinear } from './data';
import { DEFAULT_BAN_SETTINGS, ImageSet, predictionStats, runBan } from './detect/ban';
import { Calibration, DEFAULT_CALIBRATION, decideVerdict } from './detect/verdict';
import { explainOutOfMemory, throwIfAborted } from './errors';
import { Network } from './graph/executor';
import { resolveSplitPoint } from './graph/split';
import { RunControl } from './progress';
import { Rng } from './random';
import { BanSettings, BanStatistics, REPORT_SCHEMA_VERSION, SampleEvidence, ScanReport } from './report';
import { openData, openModel, preprocessingReport } from './session';
import { blackPixelValue } from './train/trainer';
import { TOOL_NAME, TOOL_VERSION } from './version';

export interface ScanRequest {
  modelPath: string;
  dataPath?: string;
  arch?: string;
  split?: 'train' | 'test';
  /** The layer to split the model at (default: the last conv-block output). */
  splitLayer?: string;
  preprocessing?: Partial<Preprocessing>;
  settings?: Partial<BanSettings>;
  backend?: BackendChoice;
  tfjsNodePath?: string;
  /** wasm threads (see BackendOptions.threads); defaults to BACKDOOR_SCAN_THREADS, then 1. */
  threads?: number;
  /** Use at most this many images of the data set (a seeded subset), for quick scans. */
  maxImages?: number;
  calibration?: Calibration;
}

/** Sample images shown in the report. */
const SAMPLE_COUNT = 24;

/**
 * BAN's subsets of n images: the optimisation set (a fraction, at least a minimum) and a disjoint
 * evaluation set, both from one seeded permutation. Small data sets share what they must.
 */
export function banSubsets(n: number, settings: BanSettings): { optimisation: Int32Array; evaluation: Int32Array; overlap: boolean } {
  const perm = new Rng(settings.seed).permutation(n);
  const optCount = Math.min(n, Math.max(Math.round(settings.optimisationFraction * n), settings.minOptimisationImages));
  const evalWanted = Math.max(Math.round(settings.evaluationFraction * n), Math.min(settings.sweepImages, n));
  if (optCount + evalWanted <= n) {
    return { optimisation: perm.slice(0, optCount), evaluation: perm.slice(optCount, optCount + evalWanted), overlap: false };
  }
  // Too little data for disjoint sets: evaluate on everything the optimisation did not use, or on all of it.
  const rest = perm.slice(optCount);
  return rest.length >= Math.min(evalWanted, 100) ? { optimisation: perm.slice(0, optCount), evaluation: rest, overlap: false } : { optimisation: perm.slice(0, optCount), evaluation: perm, overlap: true };
}

function loadImages(ds: Dataset, indices: Int32Array, shape: [number, number, number], prep: Preprocessing): ImageSet {
  const { x, y } = buildBatch(ds, indices, shape, prep);
  return { x, y, indices };
}

/** The image as the model sees it (resized, not normalised), as a PNG data URI. */
function thumbnail(ds: Dataset, index: number, shape: [number, number, number]): string {
  const img = ds.readImage(index);
  const values = resizeBilinear(img.pixels, img.height, img.width, img.channels, shape[0], shape[1]);
  const data = Uint8Array.from(values, (v) => Math.max(0, Math.min(255, Math.round(v))));
  const png = encodePng({ width: shape[1], height: shape[0], data, channels: img.channels, depth: 8 });
  return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
}

export async function scanModel(request: ScanRequest, control: RunControl = {}): Promise<ScanReport> {
  const started = Date.now();
  const settings: BanSettings = { ...DEFAULT_BAN_SETTINGS, ...request.settings };
  const backend = await initBackend({ backend: request.backend, tfjsNodePath: request.tfjsNodePath, threads: request.threads });
  const model = await openModel(request.modelPath, { arch: request.arch });
  const data = await openData(model, { dataPath: request.dataPath, preprocessing: request.preprocessing, split: request.split });
  const split = resolveSplitPoint(model.loaded.graph, request.splitLayer);
  const ds = data.dataset;
  const prep = data.preprocessing.preprocessing;
  const shape = data.inputShape;

  control.onProgress?.({ phase: 'load', done: 0 });
  const pool = request.maxImages && request.maxImages < ds.size ? new Rng(settings.seed + 1).permutation(ds.size).slice(0, request.maxImages) : undefined;
  const subsets = banSubsets(pool ? pool.length : ds.size, settings);
  const toDataset = (idx: Int32Array) => (pool ? Int32Array.from(idx, (i) => pool[i]) : idx);
  const optimisation = loadImages(ds, toDataset(subsets.optimisation), shape, prep);
  throwIfAborted(control.signal);
  const evaluation = loadImages(ds, toDataset(subsets.evaluation), shape, prep);
  const loadSeconds = (Date.now() - started) / 1000;

  const net = new Network(model.loaded.graph, model.loaded.weights);
  try {
    const run = await explainOutOfMemory(request.modelPath, backend.name, settings.batchSize, () =>
      runBan({ net, split, optimisation, evaluation, padValue: blackPixelValue(prep, shape[2]) }, settings, control),
    );

    // A last pass with the model as it was: clean and positive-mask predictions, split activations.
    const cleanStarted = Date.now();
    const k = net.numClasses;
    const n = evaluation.y.length;
    const clean = new Int32Array(n);
    const positive = new Int32Array(n);
    const negativeNoNoise = new Int32Array(n);
    const channels = (net.shapes.get(split) as number[]).slice(-1)[0];
    const classSums = Array.from({ length: k }, () => new Float64Array(channels));
    const classCounts = new Array<number>(k).fill(0);
    const mask = tf.tensor(run.mask, run.maskShape);
    const size = shape[0] * shape[1] * shape[2];
    for (let start = 0; start < n; start += 256) {
      throwIfAborted(control.signal);
      const count = Math.min(256, n - start);
      const [c, p, q, means] = tf.tidy(() => {
        const x = tf.tensor4d(evaluation.x.subarray(start * size, (start + count) * size), [count, ...shape]); // [B, H, W, C]
        const z = net.run(x, { to: split }).output; // [B, h, w, c]
        const logits = net.run(undefined, { from: { node: split, value: z } }).output;
        const pos = net.run(undefined, { from: { node: split, value: tf.mul(z, mask) } }).output;
        const neg = net.run(undefined, { from: { node: split, value: tf.mul(z, tf.sub(1, mask)) } }).output;
        const channelMeans = z.rank === 4 ? tf.mean(z, [1, 2]) : tf.reshape(z, [count, -1]); // [B, c]
        return [tf.argMax(logits, -1), tf.argMax(pos, -1), tf.argMax(neg, -1), channelMeans];
      });
      clean.set(c.dataSync() as Int32Array, start);
      positive.set(p.dataSync() as Int32Array, start);
      negativeNoNoise.set(q.dataSync() as Int32Array, start);
      const m = means.dataSync();
      for (let i = 0; i < count; i++) {
        const label = evaluation.y[start + i];
        classCounts[label] += 1;
        for (let ch = 0; ch < channels; ch++) classSums[label][ch] += m[i * channels + ch];
      }
      tf.dispose([c, p, q, means]);
      control.onProgress?.({ phase: 'clean', done: start + count, total: n });
    }
    mask.dispose();
    const cleanSeconds = (Date.now() - cleanStarted) / 1000;

    const statistics: BanStatistics = {
      clean: predictionStats(clean, evaluation.y, k),
      noisy: run.noisy,
      negativeMask: run.negativeMask,
      positiveMask: predictionStats(positive, evaluation.y, k),
      negativeMaskNoNoise: predictionStats(negativeNoNoise, evaluation.y, k),
      sweep: run.sweep,
    };
    const verdict = decideVerdict(statistics, model.classes, request.calibration ?? DEFAULT_CALIBRATION);
    const target = verdict.targetLabel ?? 0;
    const mean = (sums: Float64Array, count: number) => Array.from(sums, (v) => (count ? v / count : 0));
    const otherSums = new Float64Array(channels);
    let otherCount = 0;
    classSums.forEach((s, label) => {
      if (label === target) return;
      otherCount += classCounts[label];
      s.forEach((v, ch) => (otherSums[ch] += v));
    });
    const samples: SampleEvidence[] = Array.from({ length: Math.min(SAMPLE_COUNT, n) }, (_, i) => ({
      index: evaluation.indices[i],
      item: ds.itemName(evaluation.indices[i]),
      label: evaluation.y[i],
      cleanPrediction: clean[i],
      noisyPrediction: run.noisyPredictions[i],
      png: thumbnail(ds, evaluation.indices[i], shape),
    }));
    const maskChannels = run.maskShape.slice(-1)[0];
    const channelMeans = new Array<number>(maskChannels).fill(0);
    run.mask.forEach((v, i) => (channelMeans[i % maskChannels] += v / (run.mask.length / maskChannels)));

    return {
      schemaVersion: REPORT_SCHEMA_VERSION,
      tool: { name: TOOL_NAME, version: TOOL_VERSION },
      createdAt: new Date().toISOString(),
      model: {
        path: request.modelPath,
        format: model.loaded.format,
        sha256: model.sha256,
        inputShape: model.summary.inputShape,
        numClasses: k,
        classes: model.classes,
        parameters: model.summary.parameters,
        batchNormLayers: model.summary.batchNormLayers.length,
        batchNormChannels: model.summary.batchNormChannels,
        splitPoint: split,
        splitShape: net.shapes.get(split) as number[],
        notes: [...model.loaded.notes, ...(subsets.overlap ? ['The data set is small: the evaluation images include the optimisation images.'] : [])],
      },
      data: {
        path: ds.path,
        kind: ds.kind,
        size: pool ? pool.length : ds.size,
        optimisationImages: optimisation.y.length,
        evaluationImages: n,
        preprocessing: preprocessingReport(data),
      },
      backend,
      settings,
      verdict,
      statistics,
      evidence: {
        mask: { shape: run.maskShape, values: Array.from(run.mask), channelMeans, benignShare: run.mask.reduce((a, b) => a + b, 0) / run.mask.length },
        noise: [...run.noise].map(([name, nz]) => ({
          name,
          channels: nz.scale.length,
          absScale: Array.from(nz.scale, Math.abs),
          absShift: Array.from(nz.shift, Math.abs),
          lossIncrease: run.layerLossIncrease.get(name) ?? 0,
        })),
        samples,
        activations: { layer: split, targetMeans: mean(classSums[target], classCounts[target]), otherMeans: mean(otherSums, otherCount) },
      },
      timings: [{ phase: 'load', seconds: loadSeconds }, ...run.timings, { phase: 'clean', seconds: cleanSeconds }],
    };
  } finally {
    net.dispose();
  }
}
