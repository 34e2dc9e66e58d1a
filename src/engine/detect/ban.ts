/**
 * BAN: Detecting Backdoors Activated by Adversarial Neuron Noise (Xu, Liu, Koffas, Picek;
 * NeurIPS 2024), as the authors' `ban_detection.py` runs it (see shared/research/ban.md §1, §8).
 *
 * The model is split into features z = f(x) and head g(z) at the split point.
 *
 * 1. Mask phase (paper §3.2, "feature decoupling"): a per-element mask m over z, m ~ U(0,1),
 *    trained with Adam (lr 0.01) for 20 epochs of P batches drawn with replacement from the small
 *    optimisation set, on
 *        L(m) = CE(g(m⊙z), y) − CE(g((1−m)⊙z), y) + λ·‖m‖₁ / stopgrad(‖m‖₁),
 *    so m keeps the benign features and 1−m holds the rest (the backdoor features). As in the
 *    code, m is clamped to [0,1] between computing the gradient and the Adam step, and the model
 *    is in train mode (BatchNorm uses batch statistics and re-estimates its running statistics).
 * 2. Noise phase (§3.1, "adversarial neuron noise"): every BatchNorm gets per-channel noise δw, δb
 *    acting as γ·(1+δw), β·(1+δb). Per batch, δ ~ U(−ε, ε), then S sign-ascent steps of size ε/S
 *    on CE(M_δ(x), y), without the mask. The official code restarts δ every batch, keeps the last
 *    batch's δ and never projects (so |δ| ≤ 2ε): `official`. The paper's formulation projects
 *    onto [−ε, ε] and keeps δ across batches: `projected`.
 * 3. Evaluation (§3.3): with the noise on and BatchNorm in eval mode (running statistics as the
 *    phases above left them), predictions of the noisy model M_δ(x) and of g((1−m)⊙f_δ(x)) on the
 *    held-out evaluation images. A backdoored model sends clean inputs of every class to the
 *    target label. The target is the argmax of the negative-mask histogram.
 *
 * Beyond the authors' code (which prints statistics and decides nothing), this file also runs the
 * noise phase at several strengths ε (the paper's Fig. 1: a backdoored model collapses at a far
 * smaller ε than a clean one) and gathers the evidence the report shows; detect/verdict.ts turns
 * the statistics into a verdict. The model's weights and BatchNorm statistics are restored after.
 *
 * Speed without changing the answer (`faithful: false`, the default): the official code also
 * back-propagates into the weights during both phases and runs all P noise batches although only
 * the last batch's δ is kept. The default computes f(x) forward-only in the mask phase, takes
 * noise gradients without weight gradients, and runs only as many trailing noise batches as the
 * BatchNorm running statistics still remember (momentum 0.1: after k·S updates a batch weighs
 * 0.9^(k·S)). It draws every random number the faithful sequence draws, so the kept δ is the same.
 */
import * as tf from '@tensorflow/tfjs-core';
import { throwIfAborted } from '../errors';
import { BatchNormNoise, Network } from '../graph/executor';
import { RunControl } from '../progress';
import { Rng } from '../random';
import { BanSettings, PredictionStats } from '../report';
import { augmentBatch } from '../train/augment';
import { crossEntropy } from '../train/loss';
import { Adam } from '../train/optimizers';

export const DEFAULT_BAN_SETTINGS: BanSettings = {
  eps: 0.3,
  steps: 30,
  lambda: 0.75,
  maskLr: 0.01,
  maskEpochs: 20,
  batchesPerEpoch: 20,
  batchSize: 128,
  noiseVariant: 'official',
  faithful: false,
  seed: 0,
  sweepEps: [0.05, 0.1, 0.2],
  optimisationFraction: 0.01,
  minOptimisationImages: 500,
  evaluationFraction: 0.1,
  sweepImages: 500,
};

/** BatchNorm momentum of the authors' (PyTorch) models, used to re-estimate running statistics. */
const BN_MOMENTUM = 0.1;
/** Running-statistics weight below which older noise batches stop mattering. */
const STATS_TOLERANCE = 1e-3;

/** Preprocessed images held in memory: [n, h, w, c] flattened, with labels. */
export interface ImageSet {
  x: Float32Array;
  y: Int32Array;
  /** Dataset indices, for evidence. */
  indices: Int32Array;
}

export interface BanInput {
  net: Network;
  split: string;
  /** The small optimisation set (BAN: 1% of the clean data, at least 500 images). */
  optimisation: ImageSet;
  /** The held-out evaluation set (BAN: 10% of the clean data). */
  evaluation: ImageSet;
  /** Value of a black pixel after preprocessing, per channel (the crop's padding). */
  padValue: number[];
}

export interface NoiseState {
  scale: tf.Variable;
  shift: tf.Variable;
}

export interface BanRun {
  /** The learned mask, flattened [h, w, c]. */
  mask: Float32Array;
  maskShape: number[];
  /** Statistics at the main ε. */
  noisy: PredictionStats;
  negativeMask: PredictionStats;
  /** Per-image predictions at the main ε (evaluation order). */
  noisyPredictions: Int32Array;
  /** The noise at the main ε, per BatchNorm layer. */
  noise: Map<string, { scale: Float32Array; shift: Float32Array }>;
  /** Dominant-class statistics at each sweep ε (on the first `sweepImages` evaluation images). */
  sweep: { eps: number; noisy: PredictionStats; negativeMask: PredictionStats }[];
  /** Loss increase of each BatchNorm layer's noise alone, on one optimisation batch. */
  layerLossIncrease: Map<string, number>;
  timings: { phase: string; seconds: number }[];
}

/** Histogram statistics of predictions against labels. */
export function predictionStats(predictions: Int32Array, labels: Int32Array, numClasses: number): PredictionStats {
  const histogram = new Array<number>(numClasses).fill(0);
  let correct = 0;
  for (let i = 0; i < predictions.length; i++) {
    histogram[predictions[i]] += 1;
    if (predictions[i] === labels[i]) correct += 1;
  }
  let dominantClass = 0;
  for (let k = 1; k < numClasses; k++) if (histogram[k] > histogram[dominantClass]) dominantClass = k;
  const n = Math.max(predictions.length, 1);
  return { accuracy: correct / n, histogram, dominantClass, dominantRate: histogram[dominantClass] / n };
}

/** A batch of `indices` from an in-memory image set, optionally augmented. */
function takeBatch(set: ImageSet, indices: ArrayLike<number>, shape: [number, number, number], augment: { rng: Rng; padValue: number[] } | undefined): { x: tf.Tensor4D; y: Int32Array } {
  const size = shape[0] * shape[1] * shape[2];
  const n = indices.length;
  const x = new Float32Array(n * size);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    x.set(set.x.subarray(indices[i] * size, (indices[i] + 1) * size), i * size);
    y[i] = set.y[indices[i]];
  }
  const data = augment ? augmentBatch(x, [n, ...shape], { pad: 4, flip: true, padValue: augment.padValue }, augment.rng) : x;
  return { x: tf.tensor4d(data, [n, ...shape]), y }; // [B, H, W, C]
}

/** Zero noise variables for every BatchNorm layer. */
export function createNoise(net: Network): Map<string, NoiseState> {
  const noise = new Map<string, NoiseState>();
  for (const name of net.batchNormNodes()) {
    const c = net.param(name, 'gamma').shape[0];
    // Trainable, because tf.variableGrads silently drops non-trainable variables.
    noise.set(name, { scale: tf.variable(tf.zeros([c]), true), shift: tf.variable(tf.zeros([c]), true) });
  }
  return noise;
}

export function disposeNoise(noise: Map<string, NoiseState>): void {
  for (const n of noise.values()) {
    n.scale.dispose();
    n.shift.dispose();
  }
}

/** δ ~ U(−ε, ε) for every layer, drawn from the seeded generator in layer order. */
export function resetNoise(noise: Map<string, NoiseState>, eps: number, rng: Rng): void {
  for (const n of noise.values()) {
    n.scale.assign(tf.tensor1d(rng.uniformArray(n.scale.size, -eps, eps)));
    n.shift.assign(tf.tensor1d(rng.uniformArray(n.shift.size, -eps, eps)));
  }
}

/** The noise variables as the executor's per-layer BatchNorm noise (also BAN fine-tuning's). */
export function noiseMap(noise: Map<string, NoiseState>): Map<string, BatchNormNoise> {
  return new Map([...noise].map(([k, v]) => [k, { scale: v.scale as tf.Tensor1D, shift: v.shift as tf.Tensor1D }]));
}

/**
 * One sign-ascent step on CE(M_δ(x), y) (train-mode BatchNorm, so running statistics move):
 * δ ← δ + (ε/S)·sign(∂CE/∂δ), projected onto [−ε, ε] for the `projected` variant. With
 * `weightGradients` the weights' gradients are computed too and discarded, as the official
 * code's backward pass does (for the faithful replay).
 */
export function noiseAscentStep(net: Network, noise: Map<string, NoiseState>, x: tf.Tensor4D, y: Int32Array, settings: BanSettings, eps: number, weightGradients: boolean): number {
  const vars = [...noise.values()].flatMap((n) => [n.scale, n.shift]);
  const loss = () => crossEntropy(net.logits(x, { bnMode: 'train', bnMomentum: BN_MOMENTUM, noise: noiseMap(noise) }), y);
  const targets = weightGradients ? [...vars, ...net.trainableVariables()] : vars;
  const { value, grads } = tf.variableGrads(loss, targets);
  tf.tidy(() => {
    for (const v of vars) {
      let next = tf.add(v, tf.mul(tf.sign(grads[v.name]), eps / settings.steps));
      if (settings.noiseVariant === 'projected') next = tf.clipByValue(next, -eps, eps);
      v.assign(next);
    }
  });
  const lossValue = value.dataSync()[0];
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
  return lossValue;
}

/**
 * BAN's mask objective on features z [B, h, w, c]:
 *   CE(g(m⊙z), y) − CE(g((1−m)⊙z), y) + λ·‖m‖₁ / stopgrad(‖m‖₁).
 * The head runs in train mode, as the official code keeps the whole model in train mode.
 */
export function maskObjective(net: Network, split: string, z: tf.Tensor, mask: tf.Tensor, y: Int32Array, lambda: number): tf.Scalar {
  return tf.tidy(() => {
    const train = { bnMode: 'train' as const, bnMomentum: BN_MOMENTUM };
    const positive = crossEntropy(net.run(undefined, { ...train, from: { node: split, value: tf.mul(z, mask) } }).output, y); // benign features keep the label
    const negative = crossEntropy(net.run(undefined, { ...train, from: { node: split, value: tf.mul(z, tf.sub(1, mask)) } }).output, y); // the rest should lose it
    const l1 = tf.sum(tf.abs(mask));
    const normalisedL1 = tf.div(l1, l1.dataSync()[0]); // value λ, gradient λ·sign(m)/‖m‖₁
    return tf.add(tf.sub(positive, negative), tf.mul(lambda, normalisedL1)) as tf.Scalar;
  });
}

/**
 * The mask phase. Returns the mask variable ([h, w, c]); the caller disposes it.
 * Default: z = f(x) forward only, gradient w.r.t. m through g only. Faithful: one backward pass
 * through the whole model (weight gradients computed and discarded), as the official code does.
 */
export async function learnMask(input: BanInput, settings: BanSettings, rng: Rng, control: RunControl): Promise<tf.Variable> {
  const { net, split } = input;
  const shape = net.shapes.get(split) as number[];
  const mask = tf.variable(tf.tensor(rng.uniformArray(shape.reduce((a, b) => a * b, 1), 0, 1), shape), true, undefined); // [h, w, c]
  const optimizer = new Adam(settings.maskLr);
  const total = settings.maskEpochs * settings.batchesPerEpoch;
  const n = input.optimisation.y.length;
  const train = { bnMode: 'train' as const, bnMomentum: BN_MOMENTUM };
  const maskLoss = (z: tf.Tensor, y: Int32Array) => maskObjective(net, split, z, mask, y, settings.lambda);
  for (let step = 0; step < total; step++) {
    throwIfAborted(control.signal);
    await yieldToEventLoop();
    const batch = takeBatch(input.optimisation, samplesWithReplacement(rng, n, settings.batchSize), net.inputShape, { rng, padValue: input.padValue });
    // Faithful: one backward pass through the whole model, weight gradients computed and
    // discarded, as the official code does. Default: f(x) forward only, the gradient reaches m
    // through g alone.
    const z = settings.faithful ? undefined : net.run(batch.x, { ...train, to: split }).output; // [B, h, w, c]
    const targets = settings.faithful ? [mask, ...net.trainableVariables()] : [mask];
    const { grads } = tf.variableGrads(() => maskLoss(z ?? net.run(batch.x, { ...train, to: split }).output, batch.y), targets);
    const grad = grads[mask.name];
    for (const [name, g] of Object.entries(grads)) if (name !== mask.name) g.dispose();
    z?.dispose();
    batch.x.dispose();
    // The official code clamps m between computing the gradient and the optimiser step.
    tf.tidy(() => mask.assign(tf.clipByValue(mask, 0, 1)));
    optimizer.step([mask], [grad]);
    grad.dispose();
    control.onProgress?.({ phase: 'mask', done: step + 1, total });
  }
  optimizer.dispose();
  return mask;
}

function samplesWithReplacement(rng: Rng, n: number, count: number): Int32Array {
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = rng.int(n);
  return out;
}

/** Lets a pending cancel message reach the AbortSignal during long synchronous loops. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The noise phase at strength `eps`. Consumes exactly the random numbers of the official
 * sequence (P batches, a δ draw per batch), and runs the batches that matter.
 */
export async function optimiseNoise(
  input: BanInput,
  noise: Map<string, NoiseState>,
  settings: BanSettings,
  eps: number,
  rng: Rng,
  control: RunControl & { phase: string; trailingBatches?: number },
): Promise<void> {
  const { net } = input;
  const P = settings.batchesPerEpoch;
  const n = input.optimisation.y.length;
  // The official variant keeps only the last batch's δ; running statistics remember ~k·S updates.
  const needed = control.trailingBatches ?? Math.ceil(Math.log(STATS_TOLERANCE) / (settings.steps * Math.log(1 - BN_MOMENTUM)));
  const first = settings.faithful || settings.noiseVariant === 'projected' ? 0 : Math.max(0, P - needed);
  if (settings.noiseVariant === 'projected') resetNoise(noise, eps, rng);
  const total = (P - first) * settings.steps;
  let done = 0;
  for (let b = 0; b < P; b++) {
    throwIfAborted(control.signal);
    const indices = samplesWithReplacement(rng, n, settings.batchSize);
    const augmentRng = rng.fork();
    if (settings.noiseVariant === 'official') resetNoise(noise, eps, rng);
    if (b < first) continue;
    const batch = takeBatch(input.optimisation, indices, net.inputShape, { rng: augmentRng, padValue: input.padValue });
    for (let s = 0; s < settings.steps; s++) {
      throwIfAborted(control.signal);
      await yieldToEventLoop();
      const loss = noiseAscentStep(net, noise, batch.x, batch.y, settings, eps, settings.faithful);
      done += 1;
      control.onProgress?.({ phase: control.phase, done, total, message: `loss ${loss.toFixed(3)}` });
    }
    batch.x.dispose();
  }
}

/**
 * Predictions of the noisy model and of the head on the negative-mask features, in eval mode
 * with the noise on, over the first `count` evaluation images. One feature pass serves both.
 */
export async function evaluateUnderNoise(
  input: BanInput,
  noise: Map<string, NoiseState>,
  mask: tf.Tensor,
  count: number,
  control: RunControl & { phase: string },
): Promise<{ noisy: Int32Array; negative: Int32Array }> {
  const { net, split, evaluation } = input;
  const noisy = new Int32Array(count);
  const negative = new Int32Array(count);
  const batchSize = 256;
  const eval_ = { bnMode: 'eval' as const, noise: noiseMap(noise) };
  for (let start = 0; start < count; start += batchSize) {
    throwIfAborted(control.signal);
    await yieldToEventLoop();
    const idx = Int32Array.from({ length: Math.min(batchSize, count - start) }, (_, i) => start + i);
    const [a, b] = tf.tidy(() => {
      const { x } = takeBatch(evaluation, idx, net.inputShape, undefined);
      const z = net.run(x, { ...eval_, to: split }).output; // [B, h, w, c] = f_δ(x)
      const full = net.run(undefined, { ...eval_, from: { node: split, value: z } }).output; // M_δ(x)
      const neg = net.run(undefined, { ...eval_, from: { node: split, value: tf.mul(z, tf.sub(1, mask)) } }).output; // g((1−m)⊙f_δ(x))
      return [tf.argMax(full, -1), tf.argMax(neg, -1)];
    });
    noisy.set(await a.data() as Int32Array, start);
    negative.set(await b.data() as Int32Array, start);
    a.dispose();
    b.dispose();
    control.onProgress?.({ phase: control.phase, done: start + idx.length, total: count });
  }
  return { noisy, negative };
}

/** Loss increase from each layer's noise alone, on one un-augmented optimisation batch. */
function layerLossIncrease(input: BanInput, noise: Map<string, NoiseState>, batchSize: number): Map<string, number> {
  const { net } = input;
  const idx = Int32Array.from({ length: Math.min(batchSize, input.optimisation.y.length) }, (_, i) => i);
  const { x, y } = takeBatch(input.optimisation, idx, net.inputShape, undefined);
  const lossWith = (layers: Map<string, BatchNormNoise>) =>
    tf.tidy(() => crossEntropy(net.logits(x, { bnMode: 'train', updateRunningStats: false, noise: layers }), y).dataSync()[0]);
  const base = lossWith(new Map());
  const all = noiseMap(noise);
  const out = new Map<string, number>();
  for (const [name, n] of all) out.set(name, lossWith(new Map([[name, n]])) - base);
  x.dispose();
  return out;
}

/**
 * Runs BAN on `input.net` and restores its weights and BatchNorm statistics afterwards.
 */
export async function runBan(input: BanInput, settings: BanSettings, control: RunControl = {}): Promise<BanRun> {
  const { net } = input;
  const rng = new Rng(settings.seed);
  const timings: { phase: string; seconds: number }[] = [];
  const timed = async <T>(phase: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    const result = await fn();
    timings.push({ phase, seconds: (Date.now() - started) / 1000 });
    return result;
  };
  const original = net.snapshot();
  const noise = createNoise(net);
  let mask: tf.Variable | undefined;
  try {
    mask = await timed('mask', () => learnMask(input, settings, rng.fork(), control));
    const maskRef = mask;
    // Every noise strength starts from the statistics the mask phase left, as the official run does.
    const afterMask = net.snapshot();
    const noiseSeed = rng.int(2 ** 32);
    const strengths = [...new Set([...settings.sweepEps.filter((e) => e !== settings.eps), settings.eps])];
    const sweep: BanRun['sweep'] = [];
    let main: { noisy: Int32Array; negative: Int32Array } | undefined;
    let mainNoise: BanRun['noise'] = new Map();
    let lossIncrease = new Map<string, number>();
    for (const eps of strengths) {
      net.load(afterMask);
      const isMain = eps === settings.eps;
      // Every strength draws from a generator seeded the same way, so the main run equals a run without the sweep.
      const epsRng = new Rng(noiseSeed);
      // Sweep strengths take the last batch only: it holds the kept δ and (1 - 0.9^S) of the statistics.
      const phase = isMain ? 'noise' : `sweep ε=${eps}`;
      await timed(isMain ? 'noise' : `noise ε=${eps}`, () => optimiseNoise(input, noise, settings, eps, epsRng, { ...control, phase, trailingBatches: isMain ? undefined : 1 }));
      const count = isMain ? input.evaluation.y.length : Math.min(settings.sweepImages, input.evaluation.y.length);
      const preds = await timed(isMain ? 'evaluate' : `evaluate ε=${eps}`, () =>
        evaluateUnderNoise(input, noise, maskRef, count, { ...control, phase: isMain ? 'evaluate' : `sweep ε=${eps}` }),
      );
      const labels = input.evaluation.y.subarray(0, count);
      const k = net.numClasses;
      const sweepCount = Math.min(settings.sweepImages, count);
      sweep.push({
        eps,
        noisy: predictionStats(preds.noisy.subarray(0, sweepCount), labels.subarray(0, sweepCount), k),
        negativeMask: predictionStats(preds.negative.subarray(0, sweepCount), labels.subarray(0, sweepCount), k),
      });
      if (isMain) {
        main = preds;
        mainNoise = new Map([...noise].map(([name, n]) => [name, { scale: n.scale.dataSync() as Float32Array, shift: n.shift.dataSync() as Float32Array }]));
        lossIncrease = layerLossIncrease(input, noise, settings.batchSize);
      }
    }
    disposeSnapshot(afterMask);
    const labels = input.evaluation.y;
    const run = main as { noisy: Int32Array; negative: Int32Array };
    sweep.sort((a, b) => a.eps - b.eps);
    return {
      mask: mask.dataSync() as Float32Array,
      maskShape: mask.shape,
      noisy: predictionStats(run.noisy, labels, net.numClasses),
      negativeMask: predictionStats(run.negative, labels, net.numClasses),
      noisyPredictions: run.noisy,
      noise: mainNoise,
      sweep,
      layerLossIncrease: lossIncrease,
      timings,
    };
  } finally {
    net.restore(original);
    disposeNoise(noise);
    mask?.dispose();
  }
}

function disposeSnapshot(snapshot: Map<string, tf.Tensor>): void {
  for (const t of snapshot.values()) t.dispose();
}

