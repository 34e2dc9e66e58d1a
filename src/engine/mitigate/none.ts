/**
 * NONE: "Training with More Confidence: Mitigating Injected and Natural Backdoors During
 * Training" (Z. Wang, H. Ding, J. Zhai, S. Ma; NeurIPS 2022), as the authors' released code
 * (RU-System-Software-and-Security/NONE @ 624b80f) runs it; shared/research/none.md is the
 * specification this file follows, section by section.
 *
 * The idea: a backdoor lives in a few neurons whose activation, on inputs the model confidently
 * assigns to the target class, lies far outside what they do on every other input. NONE finds
 * such neurons, finds the training samples that drive them, zeroes the neurons and fine-tunes on
 * the data without those samples.
 *
 * One round (none.md §1.2–1.5), for every analysed layer l (pre-ReLU conv outputs) and every
 * training sample n, with p[n] = softmax(logits) of the model in eval mode:
 *
 *     A_l[n, j] = max over h, w of the layer's feature map, channel j              (§1.2)
 *     S_k = { n : p[n, k] > λh },   W_k = { n : p[n, k] < λl }                      (λh 0.9, λl 0.1)
 *     diff_l[j, k] = max_{n∈S_k} A_l[n, j] − ( mean_{n∈W_k} A_l[n, j] + 3·std_{n∈W_k} A_l[n, j] )
 *                    (0 where S_k is empty; std is the population std)              (§1.3)
 *     score_l[j] = max_k diff_l[j, k];   zero the top ⌈f·C_l⌉ channels of each layer
 *     s[n] = Σ_l A_l[n, top1_l];   flag n when s[n] ≥ breaks[1] of two-class Jenks  (§1.4)
 *
 * then zero the selected channels (the filter and bias, the following BatchNorm's γ and β, the
 * next layer's input slice; §1.5) and fine-tune at lr 1e-4 with BatchNorm statistics frozen on the
 * data minus the flagged samples, keeping the optimiser (and its momentum) of earlier training.
 *
 * Two modes, as in the code (§1.1, §4): `trainWithNone` trains from scratch (phase 1, ordinary
 * training on the possibly poisoned data) and then runs R rounds with the same optimiser; and
 * `repairWithNone` starts from a given model with a new SGD (there is no phase-1 momentum then, so
 * zeroed units whose gradient is exactly zero stay pruned; §1.5).
 *
 * Where this differs from the authors' code, on purpose:
 * - Layers come from the graph, not from per-architecture index lists. Every conv2d and depthwise
 *   conv output (pre-activation, pre-BatchNorm) is analysed, except a conv that is the classifier
 *   (no weighted layer after it, like NiN's last conv). When the layer names are those of a CIFAR
 *   ResNet (`conv1`, `layerS.B.conv1/conv2`, `layerS.B.shortcut`), the authors' subset is used:
 *   every stage but the first (layer2–layer4 of ResNet-18), conv1 and conv2 pre-BN, and the
 *   shortcut after its BatchNorm.
 * - The "next layer" of a zeroed channel is found by following the graph through per-channel
 *   operations (BatchNorm, element-wise activations, pooling, dropout, padding, flatten) to the
 *   first weighted layers. The walk stops at a merge (add, multiply, concat): after a residual
 *   add the channel also carries the skip path, so no downstream slice belongs to the unit alone.
 *   The authors zero, by name, the next block's conv1 input slice after a block's conv2; here
 *   conv2's filter and BatchNorm are zeroed, which removes its contribution, and the skip path is
 *   left alone. Every BatchNorm on the walk is zeroed (the authors' models have one).
 * - The authors' ResNet reset never clears its index list before the layer4 convs, so channels
 *   chosen in one layer are also zeroed in the next (§1.5, "Bug"). Here each layer zeroes exactly
 *   its own selection.
 * - Statistics are streamed over the data (no N×C matrix in memory) and summed in float64, with a
 *   per-channel shift (the first batch's mean) so that the variance does not cancel.
 * - The per-sample score drops the authors' constant factor K (they add each top activation once
 *   per class), which does not move the Jenks split.
 * - Ties among equal channel scores go to the lower channel index, and ties among equal Jenks
 *   splits to the smaller lower class; numpy's quicksort and jenkspy break them in no stated order.
 *   NaN scores (a class with confident samples and no low-probability sample) sort first, as numpy
 *   sorts NaN last and the code reverses the order.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batches, Dataset, Preprocessing } from '../data';
import { throwIfAborted } from '../errors';
import { Network } from '../graph/executor';
import { Graph, GraphNode, LayerOp } from '../graph/ir';
import { RunControl } from '../progress';
import { NoneLayerReport, NoneRoundReport, NoneSettings, PhaseTiming } from '../report';
import { Optimizer, Sgd } from '../train/optimizers';
import { EpochRecord, train, TrainOptions } from '../train/trainer';

/** The authors' outlier envelope: mean + 3·std over the low-probability samples (cd.py:92). */
const SIGMA_MULTIPLIER = 3;
/** Images per forward pass of the analysis (the authors' no-shuffle loader uses 128). */
const ANALYSIS_BATCH = 128;

/** The authors' two README settings (none.md §1.6). */
export function defaultNoneSettings(mode: NoneSettings['mode'] = 'injected'): NoneSettings {
  return {
    mode,
    resetFraction: mode === 'injected' ? 0.03 : 0.2,
    lambdaLow: 0.1,
    lambdaHigh: 0.9,
    rounds: mode === 'injected' ? 1 : 10,
    epochsPerRound: mode === 'injected' ? 20 : 40,
    learningRate: 1e-4,
    momentum: 0.9,
    weightDecay: 1e-4,
    batchSize: 128,
    augment: true,
    layers: 'auto',
    dataFraction: 1,
    seed: 0,
  };
}

/** The data a repair works on: NONE's (possibly poisoned) training images, BAN's small clean set. */
export interface LabelledImages {
  dataset: Dataset;
  /** Dataset indices of the training images, in a fixed order (the no-shuffle loader's). */
  indices: Int32Array;
  preprocessing: Preprocessing;
  /** Images the training augmentation leaves alone: in the zoo's attack model the attacker stamps
   *  the trigger after augmentation, so poisoned images keep it where it was stamped. */
  keepUnaugmented?: (datasetIndex: number) => boolean;
}

// ---------------------------------------------------------------------------------------------
// Which neurons: analysed layers and what zeroing one of their channels touches

/** One analysed layer: its channels are NONE's neurons. */
export interface NoneLayer {
  /** The conv (or depthwise conv) that owns the channels; zeroing starts here. */
  conv: string;
  /** What the executor taps: `${conv}:pre`, or the shortcut's BatchNorm output (ResNet subset). */
  tap: string;
  channels: number;
}

const WEIGHTED = new Set<LayerOp['kind']>(['conv2d', 'depthwiseConv2d', 'dense']);
/** Operations that keep channel c in channel c (a flatten keeps it at c of every position): the zeroing walk passes through them. */
const PER_CHANNEL = new Set<LayerOp['kind']>(['batchNorm', 'activation', 'maxPool', 'avgPool', 'globalAvgPool', 'globalMaxPool', 'dropout', 'zeroPad', 'flatten']);

function consumersOf(graph: Graph): Map<string, GraphNode[]> {
  const consumers = new Map<string, GraphNode[]>();
  for (const node of graph.nodes) {
    for (const input of node.inputs) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  }
  return consumers;
}

/** True when some weighted layer reads (directly or not) the output of `name`. */
function feedsWeightedLayer(consumers: Map<string, GraphNode[]>, name: string): boolean {
  const seen = new Set<string>();
  const stack = [name];
  while (stack.length > 0) {
    for (const next of consumers.get(stack.pop() as string) ?? []) {
      if (WEIGHTED.has(next.op.kind)) return true;
      if (!seen.has(next.name)) {
        seen.add(next.name);
        stack.push(next.name);
      }
    }
  }
  return false;
}

/**
 * The authors' ResNet taps (none.md §1.2) when the graph has CIFAR-ResNet names: every stage but
 * the first, each block's conv1 and conv2 before BatchNorm, and the shortcut after its BatchNorm.
 * Undefined for other graphs, or for a ResNet with a single stage.
 */
export function resnetSubset(net: Network): NoneLayer[] | undefined {
  const byName = new Map(net.graph.nodes.map((n) => [n.name, n]));
  const block = /^layer(\d+)\.(\d+)\.(conv1|conv2|shortcut\.0|downsample\.0)$/;
  const stages = net.graph.nodes.map((n) => block.exec(n.name)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
  if (byName.get('conv1')?.op.kind !== 'conv2d' || stages.length === 0 || Math.max(...stages) < 2) return undefined;
  const layers: NoneLayer[] = [];
  for (const node of net.graph.nodes) {
    const m = block.exec(node.name);
    if (!m || Number(m[1]) < 2 || node.op.kind !== 'conv2d') continue;
    const channels = node.op.filters;
    const bn = byName.get(node.name.replace(/\.0$/, '.1'));
    const shortcutBn = m[3] !== 'conv1' && m[3] !== 'conv2' && bn?.op.kind === 'batchNorm' && bn.inputs[0] === node.name;
    layers.push({ conv: node.name, tap: shortcutBn ? (bn as GraphNode).name : `${node.name}:pre`, channels });
  }
  return layers;
}

/** Every conv and depthwise conv output before its activation, except a classifier conv. */
export function allConvLayers(net: Network): NoneLayer[] {
  const consumers = consumersOf(net.graph);
  return net.graph.nodes
    .filter((n) => (n.op.kind === 'conv2d' || n.op.kind === 'depthwiseConv2d') && feedsWeightedLayer(consumers, n.name))
    .map((n) => ({ conv: n.name, tap: `${n.name}:pre`, channels: (net.shapes.get(n.name) as number[]).slice(-1)[0] }));
}

export function noneLayers(net: Network, choice: NoneSettings['layers']): NoneLayer[] {
  const subset = choice === 'all-convs' ? undefined : resnetSubset(net);
  if (choice === 'resnet-subset' && !subset) {
    throw new Error('the model does not have CIFAR-ResNet layer names (conv1, layer2.0.conv1, ...); use the all-convs layer choice');
  }
  const layers = subset ?? allConvLayers(net);
  if (layers.length === 0) throw new Error('the model has no convolution whose channels NONE could analyse');
  return layers;
}

/** What zeroing a channel of `conv` touches (none.md §1.5). */
export interface ZeroPlan {
  conv: string;
  /** BatchNorm layers on the per-channel path after the conv: their γ and β are zeroed. */
  batchNorms: string[];
  /** The first weighted layers on that path: their input slice for the channel is zeroed. With a
   *  flatten in between, `positions` is the number of spatial positions each channel spans. */
  next: { node: string; positions: number }[];
}

/** Follows the graph from `conv` through per-channel operations to the next weighted layers. */
export function zeroPlan(net: Network, conv: string): ZeroPlan {
  const consumers = consumersOf(net.graph);
  const plan: ZeroPlan = { conv, batchNorms: [], next: [] };
  const seen = new Set<string>();
  const queue: { node: string; positions: number }[] = [{ node: conv, positions: 1 }];
  while (queue.length > 0) {
    const current = queue.shift() as { node: string; positions: number };
    for (const node of consumers.get(current.node) ?? []) {
      if (seen.has(node.name)) continue;
      seen.add(node.name);
      const op = node.op;
      if (WEIGHTED.has(op.kind)) {
        plan.next.push({ node: node.name, positions: current.positions });
      } else if (PER_CHANNEL.has(op.kind) && !(op.kind === 'activation' && op.fn === 'softmax')) {
        if (op.kind === 'batchNorm') plan.batchNorms.push(node.name);
        // A flatten of [h, w, C] puts channel c at rows p·C + c for each of the h·w positions p.
        const shape = net.shapes.get(current.node) as number[];
        const positions = op.kind === 'flatten' ? shape.slice(0, -1).reduce((a, b) => a * b, 1) : current.positions;
        queue.push({ node: node.name, positions });
      }
    }
  }
  return plan;
}

/** Multiplies a variable by a 0/1 mask that is 0 at `zero` (flat row-major indices). */
function maskVariable(v: tf.Variable, zero: Iterable<number>): void {
  const mask = new Float32Array(v.size).fill(1);
  for (const i of zero) mask[i] = 0;
  tf.tidy(() => v.assign(tf.mul(v, tf.tensor(mask, v.shape)))); // same shape as v
}

/** Flat indices of a row-major kernel [kh, kw, c, d] whose last two coordinates pass `keep`. */
function kernelEntries(shape: number[], keep: (k: number, l: number) => boolean): number[] {
  const [kh, kw, c, d] = shape;
  const out: number[] = [];
  for (let i = 0; i < kh * kw; i++) {
    for (let k = 0; k < c; k++) for (let l = 0; l < d; l++) if (keep(k, l)) out.push((i * c + k) * d + l);
  }
  return out;
}

/**
 * Zeroes `channels` of the plan's conv: its output filters and biases, the γ and β of the
 * BatchNorms after it, and the input slices of the next layers. Nothing else changes; BatchNorm
 * running statistics are left alone, as the authors leave them.
 */
export function zeroChannels(net: Network, plan: ZeroPlan, channels: readonly number[]): void {
  if (channels.length === 0) return;
  const chosen = new Set(channels);
  const kernel = net.param(plan.conv, 'kernel');
  if (net.node(plan.conv).op.kind === 'depthwiseConv2d') {
    // Kernel [kh, kw, in, multiplier]: output channel k·m + l comes from input k, multiplier l.
    const m = (kernel.shape as number[])[3];
    maskVariable(kernel, kernelEntries(kernel.shape, (k, l) => chosen.has(k * m + l)));
  } else {
    maskVariable(kernel, kernelEntries(kernel.shape, (_k, l) => chosen.has(l))); // kernel [kh, kw, in, out]
  }
  if (net.params.has(`${plan.conv}/bias`)) maskVariable(net.param(plan.conv, 'bias'), chosen);
  for (const bn of plan.batchNorms) {
    maskVariable(net.param(bn, 'gamma'), chosen);
    maskVariable(net.param(bn, 'beta'), chosen);
  }
  const c = (net.shapes.get(plan.conv) as number[]).slice(-1)[0];
  for (const next of plan.next) {
    const op = net.node(next.node).op;
    const w = net.param(next.node, 'kernel');
    if (op.kind === 'dense') {
      // Kernel [in, out]: rows p·C + c (p over the flattened positions) read channel c.
      const out = (w.shape as number[])[1];
      const entries: number[] = [];
      for (let p = 0; p < next.positions; p++) {
        for (const ch of chosen) for (let j = 0; j < out; j++) entries.push((p * c + ch) * out + j);
      }
      maskVariable(w, entries);
    } else if (op.kind === 'depthwiseConv2d') {
      maskVariable(w, kernelEntries(w.shape, (k) => chosen.has(k))); // kernel [kh, kw, in, multiplier]
    } else if (op.kind === 'conv2d') {
      // Kernel [kh, kw, in/groups, out]: output l belongs to group g = l / (out/groups), which reads
      // input channels g·(in/groups) + k.
      const [, , perGroup, outs] = w.shape as number[];
      const outPerGroup = outs / op.groups;
      maskVariable(w, kernelEntries(w.shape, (k, l) => chosen.has(Math.floor(l / outPerGroup) * perGroup + k)));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Which neurons are compromised: per-class statistics streamed over the data

interface LayerAccumulator {
  channels: number;
  /** Per-channel shift (the first batch's mean) subtracted before summing, against cancellation. */
  shift: Float64Array;
  shiftTensor?: tf.Tensor1D;
  /** [K, C] row-major: max over S_k, Σ and Σ² of (A − shift) over W_k. */
  strongMax: Float64Array;
  weakSum: Float64Array;
  weakSumSq: Float64Array;
}

/**
 * The sufficient statistics of diff_l[j, k] (none.md §1.3), gathered batch by batch: per class k
 * the count of confident (p > λh) and low (p < λl) samples, and per layer and class the maximum
 * activation over the confident ones and the sum and sum of squares over the low ones.
 */
export class NeuronStatistics {
  readonly strongCount: Float64Array;
  readonly weakCount: Float64Array;
  private readonly layers: LayerAccumulator[];
  private samples = 0;

  constructor(
    readonly numClasses: number,
    channels: readonly number[],
    readonly lambdaLow: number,
    readonly lambdaHigh: number,
  ) {
    this.strongCount = new Float64Array(numClasses);
    this.weakCount = new Float64Array(numClasses);
    this.layers = channels.map((c) => ({
      channels: c,
      shift: new Float64Array(c),
      strongMax: new Float64Array(numClasses * c).fill(-Infinity),
      weakSum: new Float64Array(numClasses * c),
      weakSumSq: new Float64Array(numClasses * c),
    }));
  }

  get sampleCount(): number {
    return this.samples;
  }

  /** Adds one batch: probabilities p [B, K] and, per layer, the spatial maxima A_l [B, C_l]. */
  async add(probabilities: tf.Tensor2D, activations: readonly tf.Tensor2D[]): Promise<void> {
    const k = this.numClasses;
    const b = probabilities.shape[0];
    if (this.samples === 0) {
      for (const [l, layer] of this.layers.entries()) {
        const mean = await tf.tidy(() => tf.mean(activations[l], 0)).data(); // [C]
        layer.shift.set(mean);
        layer.shiftTensor = tf.keep(tf.tensor1d(Float32Array.from(mean)));
      }
    }
    const parts = tf.tidy(() => {
      const weak = tf.cast(tf.less(probabilities, this.lambdaLow), 'float32'); // [B, K]
      const strong = tf.cast(tf.greater(probabilities, this.lambdaHigh), 'float32'); // [B, K]
      const out: tf.Tensor[] = [tf.sum(weak, 0), tf.sum(strong, 0)]; // [K], [K]
      for (const [l, layer] of this.layers.entries()) {
        const a = activations[l]; // [B, C]
        const c = layer.channels;
        const shifted = tf.sub(a, layer.shiftTensor as tf.Tensor1D); // [B, C]
        out.push(tf.matMul(weak, shifted, true, false)); // [K, C] Σ_{n∈W_k} (A − shift)
        out.push(tf.matMul(weak, tf.square(shifted), true, false)); // [K, C] Σ_{n∈W_k} (A − shift)²
        const confident = tf.greater(tf.broadcastTo(tf.reshape(strong, [b, k, 1]), [b, k, c]), 0.5); // [B, K, C]
        const values = tf.broadcastTo(tf.reshape(a, [b, 1, c]), [b, k, c]); // [B, K, C]
        out.push(tf.max(tf.where(confident, values, tf.fill([b, k, c], -Infinity)), 0)); // [K, C] max_{n∈S_k} A
      }
      return out;
    });
    const values = await Promise.all(parts.map((t) => t.data()));
    tf.dispose(parts);
    addInto(this.weakCount, values[0]);
    addInto(this.strongCount, values[1]);
    for (const [l, layer] of this.layers.entries()) {
      addInto(layer.weakSum, values[2 + 3 * l]);
      addInto(layer.weakSumSq, values[3 + 3 * l]);
      const max = values[4 + 3 * l];
      for (let i = 0; i < max.length; i++) if (max[i] > layer.strongMax[i]) layer.strongMax[i] = max[i];
    }
    this.samples += b;
  }

  /**
   * score_l[j] = max_k diff_l[j, k], with diff = 0 for a class without confident samples, and NaN
   * when a class has confident samples but no low-probability one (an empty mean, which numpy
   * propagates through the max).
   */
  scores(layer: number): Float64Array {
    const { channels: c, shift, strongMax, weakSum, weakSumSq } = this.layers[layer];
    const out = new Float64Array(c);
    for (let j = 0; j < c; j++) {
      let best = -Infinity;
      let nan = false;
      for (let k = 0; k < this.numClasses; k++) {
        if (this.strongCount[k] === 0) {
          best = Math.max(best, 0);
          continue;
        }
        const n = this.weakCount[k];
        const i = k * c + j;
        const meanShifted = weakSum[i] / n; // NaN when n = 0
        const variance = Math.max(weakSumSq[i] / n - meanShifted * meanShifted, 0);
        const diff = strongMax[i] - (shift[j] + meanShifted + SIGMA_MULTIPLIER * Math.sqrt(variance));
        if (Number.isNaN(diff)) nan = true;
        else best = Math.max(best, diff);
      }
      out[j] = nan ? NaN : best;
    }
    return out;
  }

  dispose(): void {
    for (const layer of this.layers) layer.shiftTensor?.dispose();
  }
}

function addInto(target: Float64Array, values: ArrayLike<number>): void {
  for (let i = 0; i < target.length; i++) target[i] += values[i];
}

/** Channels by descending score, NaN first (the authors' argsort()[::-1]), ties by index. */
export function rankChannels(scores: ArrayLike<number>): number[] {
  const key = (j: number) => (Number.isNaN(scores[j]) ? Infinity : scores[j]);
  return Array.from({ length: scores.length }, (_, j) => j).sort((a, b) => key(b) - key(a) || a - b);
}

/** The per-layer quota ⌈f·C⌉ (computed in doubles, as Python's ceil of the same product). */
export function resetCount(fraction: number, channels: number): number {
  return Math.min(channels, Math.ceil(fraction * channels));
}

// ---------------------------------------------------------------------------------------------
// Which samples are suspicious: two-class Jenks natural breaks on the per-sample score

/**
 * Two-class Jenks (Fisher) natural breaks: the split of the sorted values into a lower and an
 * upper class with the least total within-class sum of squares. With two classes the optimum is
 * one scan over prefix sums after sorting, so O(N log N). Returns [min, largest value of the
 * lower class, max], as jenkspy does; undefined for fewer than two values.
 */
export function jenksTwoClasses(values: ArrayLike<number>): [number, number, number] | undefined {
  const n = values.length;
  if (n < 2) return undefined;
  const sorted = Float64Array.from(values).sort();
  // Centred prefix sums keep Σx² − (Σx)²/m accurate when the values are large and close together.
  const centre = sorted.reduce((a, v) => a + v, 0) / n;
  const sum = new Float64Array(n + 1);
  const sumSq = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const v = sorted[i] - centre;
    sum[i + 1] = sum[i] + v;
    sumSq[i + 1] = sumSq[i] + v * v;
  }
  const sse = (from: number, to: number) => sumSq[to] - sumSq[from] - (sum[to] - sum[from]) ** 2 / (to - from);
  let bestSplit = 1;
  let best = Infinity;
  for (let i = 1; i < n; i++) {
    const total = sse(0, i) + sse(i, n); // lower class sorted[0..i-1], upper sorted[i..n-1]
    if (total < best) {
      best = total;
      bestSplit = i;
    }
  }
  return [sorted[0], sorted[bestSplit - 1], sorted[n - 1]];
}

/**
 * Positions of the suspicious samples: score ≥ breaks[1] (none.md §1.4), so the largest sample of
 * the lower class is flagged with the upper class. Scores that are all equal have no split, and
 * nothing is flagged.
 */
export function flagSuspicious(scores: ArrayLike<number>, breaks: [number, number, number] | undefined): number[] {
  if (!breaks || breaks[0] === breaks[2]) return [];
  const flagged: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] >= breaks[1]) flagged.push(i);
  return flagged;
}

// ---------------------------------------------------------------------------------------------
// One analysis: two passes over the data in eval mode

/** A layer output reduced to one value per channel: the spatial maximum of a feature map, [B, h, w, C] -> [B, C] (none.md §1.2). */
export function spatialMax(t: tf.Tensor): tf.Tensor2D {
  return (t.rank === 4 ? tf.max(t, [1, 2]) : t) as tf.Tensor2D;
}

export interface NoneAnalysis {
  layers: { layer: NoneLayer; scores: Float64Array; order: number[]; selected: number[] }[];
  /** s[n] for the analysed indices, in their order. */
  sampleScores: Float64Array;
  breaks: [number, number, number] | undefined;
  /** Dataset indices of the flagged samples. */
  flagged: Int32Array;
}

/** Selects compromised channels and suspicious samples (none.md §1.2–1.4); the model is not changed. */
export async function analyseNone(net: Network, layers: readonly NoneLayer[], data: LabelledImages, settings: NoneSettings, control: RunControl & { phase?: string } = {}): Promise<NoneAnalysis> {
  const phase = control.phase ?? 'NONE';
  const taps = layers.map((l) => l.tap);
  const shape = net.inputShape;
  const total = data.indices.length;

  // Pass 1: per-class statistics of every channel's spatial maximum.
  const stats = new NeuronStatistics(net.numClasses, layers.map((l) => l.channels), settings.lambdaLow, settings.lambdaHigh);
  try {
    for await (const batch of batches(data.dataset, data.indices, ANALYSIS_BATCH, shape, data.preprocessing, { signal: control.signal })) {
      throwIfAborted(control.signal);
      const n = batch.y.length;
      const [p, ...activations] = tf.tidy(() => {
        const x = tf.tensor4d(batch.x, [n, ...shape]); // [B, H, W, C]
        const run = net.run(x, { taps }); // eval-mode BatchNorm
        return [tf.softmax(run.output) as tf.Tensor2D, ...taps.map((t) => spatialMax(run.taps[t]))]; // [B, K], [B, C_l]...
      });
      await stats.add(p, activations);
      tf.dispose([p, ...activations]);
      control.onProgress?.({ phase: `${phase}: neuron statistics`, done: stats.sampleCount, total });
    }
    const analysed = layers.map((layer, l) => {
      const scores = stats.scores(l);
      const order = rankChannels(scores);
      return { layer, scores, order, selected: order.slice(0, resetCount(settings.resetFraction, layer.channels)) };
    });

    // Pass 2: s[n] = Σ_l A_l[n, top1_l], then the Jenks split.
    const top = analysed.map((a) => a.order[0]);
    const sampleScores = new Float64Array(total);
    let done = 0;
    for await (const batch of batches(data.dataset, data.indices, ANALYSIS_BATCH, shape, data.preprocessing, { signal: control.signal })) {
      throwIfAborted(control.signal);
      const n = batch.y.length;
      const s = tf.tidy(() => {
        const x = tf.tensor4d(batch.x, [n, ...shape]); // [B, H, W, C]
        const run = net.run(x, { taps });
        const columns = taps.map((t, l) => tf.reshape(tf.gather(spatialMax(run.taps[t]), [top[l]], 1), [n])); // [B] per layer
        return tf.addN(columns); // [B]
      });
      sampleScores.set(await s.data(), done);
      s.dispose();
      done += n;
      control.onProgress?.({ phase: `${phase}: sample scores`, done, total });
    }
    const breaks = jenksTwoClasses(sampleScores);
    const flagged = Int32Array.from(flagSuspicious(sampleScores, breaks), (i) => data.indices[i]);
    return { layers: analysed, sampleScores, breaks, flagged };
  } finally {
    stats.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Rounds: analyse, zero, fine-tune

export interface NoneRun {
  rounds: NoneRoundReport[];
  /** Dataset indices flagged in each round. */
  flagged: Int32Array[];
}

/**
 * R rounds of NONE on `net` in place, continuing with `optimizer` (its learning rate is set to
 * the fine-tuning rate; its momentum buffers are kept). Every round re-analyses all of the data.
 */
export async function runNone(
  net: Network,
  data: LabelledImages,
  settings: NoneSettings,
  optimizer: Optimizer,
  control: RunControl & { poisoned?: ReadonlySet<number>; onEpoch?: (record: EpochRecord) => void } = {},
): Promise<NoneRun> {
  const layers = noneLayers(net, settings.layers);
  const plans = layers.map((l) => zeroPlan(net, l.conv));
  optimizer.setLearningRate(settings.learningRate);
  const run: NoneRun = { rounds: [], flagged: [] };
  for (let round = 0; round < settings.rounds; round++) {
    throwIfAborted(control.signal);
    const timings: PhaseTiming[] = [];
    const phase = settings.rounds > 1 ? `NONE round ${round + 1}/${settings.rounds}` : 'NONE';
    let started = Date.now();
    const analysis = await analyseNone(net, layers, data, settings, { ...control, phase });
    timings.push({ phase: 'analyse', seconds: (Date.now() - started) / 1000 });

    started = Date.now();
    analysis.layers.forEach((a, l) => zeroChannels(net, plans[l], a.selected));
    timings.push({ phase: 'zero', seconds: (Date.now() - started) / 1000 });

    // The natural-backdoor setting removes nothing (run_none.py:232-233).
    const removed = new Set(settings.mode === 'injected' ? analysis.flagged : []);
    const keep = data.indices.filter((i) => !removed.has(i));
    started = Date.now();
    const fineTune: TrainOptions = {
      epochs: settings.epochsPerRound,
      batchSize: settings.batchSize,
      learningRate: () => settings.learningRate,
      augment: settings.augment,
      keepUnaugmented: data.keepUnaugmented,
      freezeBatchNorm: true,
      seed: settings.seed + 1 + round,
      optimizer,
    };
    const { history } = await train(net, data.dataset, keep, data.preprocessing, fineTune, {
      signal: control.signal,
      onProgress: (e) => control.onProgress?.({ ...e, phase: `${phase}: fine-tune ${e.phase.replace(/^train /, '')}` }),
      onEpoch: control.onEpoch,
    });
    timings.push({ phase: 'fine-tune', seconds: (Date.now() - started) / 1000 });

    const layerReports: NoneLayerReport[] = analysis.layers.map((a, l) => ({
      layer: a.layer.conv,
      tap: a.layer.tap,
      channels: a.layer.channels,
      selected: a.selected,
      scores: a.selected.map((j) => (Number.isNaN(a.scores[j]) ? null : a.scores[j])),
      topChannel: a.order[0],
      batchNorms: plans[l].batchNorms,
      nextLayers: plans[l].next.map((n) => n.node),
    }));
    run.rounds.push({
      round: round + 1,
      layers: layerReports,
      analysedSamples: data.indices.length,
      jenksBreaks: analysis.breaks ?? null,
      flaggedSamples: analysis.flagged.length,
      flaggedPoisoned: control.poisoned ? analysis.flagged.filter((i) => control.poisoned?.has(i)).length : undefined,
      fineTuneSamples: keep.length,
      epochs: history,
      timings,
    });
    run.flagged.push(analysis.flagged);
  }
  return run;
}

/**
 * Repair mode: NONE on a given model, with a new SGD (lr 1e-4, momentum, weight decay from the
 * settings). The model changes in place.
 */
export async function repairWithNone(
  net: Network,
  data: LabelledImages,
  settings: NoneSettings,
  control: RunControl & { poisoned?: ReadonlySet<number>; onEpoch?: (record: EpochRecord) => void } = {},
): Promise<NoneRun> {
  const optimizer = new Sgd(settings.learningRate, settings.momentum, settings.weightDecay);
  try {
    return await runNone(net, data, settings, optimizer, control);
  } finally {
    optimizer.dispose();
  }
}

/**
 * Train mode, the paper's training-time defence: phase 1 trains `net` from its current weights on
 * the (possibly poisoned) data as usual, then NONE's rounds continue with the same optimiser.
 */
export async function trainWithNone(
  net: Network,
  data: LabelledImages,
  phase1: TrainOptions,
  settings: NoneSettings,
  control: RunControl & { poisoned?: ReadonlySet<number>; onEpoch?: (record: EpochRecord) => void } = {},
): Promise<{ phase1: EpochRecord[]; none: NoneRun }> {
  const { history, optimizer } = await train(net, data.dataset, data.indices, data.preprocessing, { keepUnaugmented: data.keepUnaugmented, ...phase1 }, control);
  try {
    const none = await runNone(net, data, settings, optimizer, control);
    return { phase1: history, none };
  } finally {
    // An optimiser the caller passed in stays the caller's.
    if (!phase1.optimizer) optimizer.dispose();
  }
}
