import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend';
import { GraphBuilder } from '../../src/engine/arch/builder';
import { buildResNet } from '../../src/engine/arch/resnet';
import { buildSmallVgg } from '../../src/engine/arch/vgg-small';
import { makeDataset } from '../../src/engine/data/dataset';
import { Dataset } from '../../src/engine/data';
import { Network } from '../../src/engine/graph/executor';
import { WeightMap } from '../../src/engine/graph/ir';
import {
  allConvLayers,
  analyseNone,
  defaultNoneSettings,
  flagSuspicious,
  jenksTwoClasses,
  NeuronStatistics,
  noneLayers,
  rankChannels,
  repairWithNone,
  resetCount,
  resnetSubset,
  zeroChannels,
  zeroPlan,
} from '../../src/engine/mitigate/none';
import { Rng } from '../../src/engine/random';
import { train } from '../../src/engine/train/trainer';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

/** The authors' per-class score, written as plainly as possible (none.md §1.3, numpy semantics). */
function naiveScores(a: number[][], p: number[][], lambdaLow: number, lambdaHigh: number): number[] {
  const channels = a[0].length;
  const classes = p[0].length;
  const scores: number[] = [];
  for (let j = 0; j < channels; j++) {
    const diffs: number[] = [];
    for (let k = 0; k < classes; k++) {
      const strong = a.filter((_, n) => p[n][k] > lambdaHigh).map((row) => row[j]);
      const weak = a.filter((_, n) => p[n][k] < lambdaLow).map((row) => row[j]);
      if (strong.length === 0) {
        diffs.push(0);
        continue;
      }
      const mean = weak.reduce((s, v) => s + v, 0) / weak.length;
      const std = Math.sqrt(weak.reduce((s, v) => s + (v - mean) ** 2, 0) / weak.length);
      diffs.push(Math.max(...strong) - (mean + 3 * std));
    }
    // np.max propagates NaN.
    scores.push(diffs.some(Number.isNaN) ? NaN : Math.max(...diffs));
  }
  return scores;
}

async function streamedScores(a: number[][], p: number[][], batchSizes: number[]): Promise<Float64Array> {
  const stats = new NeuronStatistics(p[0].length, [a[0].length], 0.1, 0.9);
  let start = 0;
  for (const size of batchSizes) {
    const pa = tf.tensor2d(p.slice(start, start + size));
    const aa = tf.tensor2d(a.slice(start, start + size));
    await stats.add(pa, [aa]);
    tf.dispose([pa, aa]);
    start += size;
  }
  const scores = stats.scores(0);
  stats.dispose();
  return scores;
}

test('the streamed per-channel score equals a naive loop, with 0 for a class without confident samples', async () => {
  const rng = new Rng(11);
  const n = 37;
  // Activations with a large offset: the shifted sums must not cancel.
  const a = Array.from({ length: n }, () => Array.from({ length: 5 }, () => 100 + rng.uniform(-2, 2)));
  const p = Array.from({ length: n }, () => [rng.next(), rng.next(), rng.uniform(0, 0.85), rng.next()]);
  const expected = naiveScores(a, p, 0.1, 0.9);
  const got = await streamedScores(a, p, [10, 10, 10, 7]);
  expected.forEach((e, j) => assert.ok(Math.abs(got[j] - e) < 1e-3, `channel ${j}: ${got[j]} vs ${e}`));
  assert.ok(expected.every((e) => e >= 0), 'class 2 has no confident sample, so every score is at least its 0');
});

test('a class with confident samples and no low-probability sample makes the scores NaN, as numpy does', async () => {
  const rng = new Rng(12);
  const a = Array.from({ length: 20 }, () => Array.from({ length: 3 }, () => rng.normalArray(1)[0]));
  const p = Array.from({ length: 20 }, () => [rng.next(), rng.uniform(0.15, 0.99)]);
  assert.ok(p.some((row) => row[1] > 0.9));
  const expected = naiveScores(a, p, 0.1, 0.9);
  const got = await streamedScores(a, p, [8, 12]);
  assert.ok(expected.every(Number.isNaN));
  assert.ok(Array.from(got).every(Number.isNaN));
});

test('channels rank by descending score with NaN first, and the quota is ceil(f·C) per layer', () => {
  assert.deepEqual(rankChannels([0.5, NaN, 2, 2, -1]), [1, 2, 3, 0, 4]);
  // 0.07·100 is 7.000000000000001 in doubles, so Python's ceil gives 8, and so does this.
  assert.equal(resetCount(0.07, 100), 8);
  assert.deepEqual([128, 256, 512].map((c) => resetCount(0.03, c)), [4, 8, 16]);
  assert.deepEqual([192, 160, 96].map((c) => resetCount(0.2, c)), [39, 32, 20]);
  assert.equal(resetCount(0.03, 16), 1);
});

test('two-class Jenks breaks on a hand-worked example, and the >= rule flags the lower class top', () => {
  // Sorted 1 2 4 10 12. Within-class sums of squares per split:
  //   [1] [2 4 10 12] 0 + 68 = 68;  [1 2] [4 10 12] 0.5 + 34.67 = 35.17;
  //   [1 2 4] [10 12] 4.67 + 2 = 6.67;  [1 2 4 10] [12] 48.75 + 0 = 48.75.
  const values = [4, 1, 12, 2, 10];
  const breaks = jenksTwoClasses(values);
  assert.deepEqual(breaks, [1, 4, 12]);
  assert.deepEqual(flagSuspicious(values, breaks), [0, 2, 4]);
  assert.equal(jenksTwoClasses([3]), undefined);
  assert.deepEqual(flagSuspicious([5, 5, 5], jenksTwoClasses([5, 5, 5])), []);
});

test('two-class Jenks is the exhaustive optimum on random data', () => {
  const rng = new Rng(3);
  for (let trial = 0; trial < 20; trial++) {
    const values = Array.from({ length: 2 + rng.int(40) }, () => 1000 + rng.normalArray(1, 5)[0]);
    const sorted = [...values].sort((x, y) => x - y);
    const sse = (xs: number[]) => {
      const m = xs.reduce((s, v) => s + v, 0) / xs.length;
      return xs.reduce((s, v) => s + (v - m) ** 2, 0);
    };
    let best = Infinity;
    for (let i = 1; i < sorted.length; i++) best = Math.min(best, sse(sorted.slice(0, i)) + sse(sorted.slice(i)));
    const breaks = jenksTwoClasses(values) as [number, number, number];
    const split = sorted.lastIndexOf(breaks[1]) + 1;
    assert.ok(Math.abs(sse(sorted.slice(0, split)) + sse(sorted.slice(split)) - best) < 1e-6 * Math.max(best, 1));
  }
});

/** A copy of `weights` with every value random and non-zero, so that any zeroing shows. */
function randomWeights(weights: WeightMap, seed: number): WeightMap {
  const rng = new Rng(seed);
  const value = (key: string) => rng.uniform(0.5, 1.5) * (key.endsWith('/movingVariance') || rng.next() < 0.5 ? 1 : -1);
  return new Map([...weights].map(([key, t]) => [key, { shape: t.shape, data: Float32Array.from(t.data, () => value(key)) }]));
}

/** The (key, flat index) pairs whose value changed, each checked to be zero now. */
function changedEntries(before: WeightMap, after: WeightMap): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [key, t] of before) {
    const now = (after.get(key) as { data: Float32Array }).data;
    const changed: number[] = [];
    t.data.forEach((v, i) => {
      if (v !== now[i]) {
        assert.ok(now[i] === 0, `${key}[${i}] changed to ${now[i]}, not to zero`);
        changed.push(i);
      }
    });
    if (changed.length) out.set(key, changed);
  }
  return out;
}

/** Flat indices of a [d0, d1, d2, d3] kernel where pick(k2, k3) holds. */
function entries4d(shape: number[], pick: (k2: number, k3: number) => boolean): number[] {
  const out: number[] = [];
  let flat = 0;
  for (let a = 0; a < shape[0]; a++) {
    for (let b = 0; b < shape[1]; b++) {
      for (let c = 0; c < shape[2]; c++) {
        for (let d = 0; d < shape[3]; d++) {
          if (pick(c, d)) out.push(flat);
          flat++;
        }
      }
    }
  }
  return out;
}

function chainNet(): Network {
  // conv(4, bias) -> BN -> ReLU -> max-pool -> grouped conv(6, 2 groups) -> BN -> ReLU -> flatten -> dense(5)
  const b = new GraphBuilder(new Rng(1));
  let x = b.input('input', [6, 6, 3]);
  x = b.conv('c1', x, { filters: 4, kernel: 3, bias: true });
  x = b.batchNorm('b1', x);
  x = b.activation('r1', x, 'relu');
  x = b.maxPool('p1', x, 2);
  x = b.conv('c2', x, { filters: 6, kernel: 3, groups: 2, bias: true });
  x = b.batchNorm('b2', x);
  x = b.activation('r2', x, 'relu');
  x = b.flatten('flat', x, 3 * 3 * 6);
  x = b.dense('fc', x, 5);
  const built = b.build(x);
  return new Network(built.graph, randomWeights(built.weights, 2));
}

test('zeroing touches exactly the filter, its bias, the BatchNorm entries and the grouped next-layer slice', () => {
  const net = chainNet();
  const before = net.exportWeights();
  const plan = zeroPlan(net, 'c1');
  assert.deepEqual(plan, { conv: 'c1', batchNorms: ['b1'], next: [{ node: 'c2', positions: 1 }] });
  zeroChannels(net, plan, [1, 2]);
  const changed = changedEntries(before, net.exportWeights());
  // c2 has 2 groups of 2 input channels and 3 outputs each: input 1 is local 1 of group 0
  // (outputs 0-2), input 2 is local 0 of group 1 (outputs 3-5).
  const expected = new Map([
    ['c1/kernel', entries4d([3, 3, 3, 4], (_, out) => out === 1 || out === 2)],
    ['c1/bias', [1, 2]],
    ['b1/gamma', [1, 2]],
    ['b1/beta', [1, 2]],
    ['c2/kernel', entries4d([3, 3, 2, 6], (local, out) => (local === 1 && out < 3) || (local === 0 && out >= 3))],
  ]);
  assert.deepEqual(changed, expected);
  net.dispose();
});

test('zeroing before a flatten clears the dense rows of the channel at every position', () => {
  const net = chainNet();
  const before = net.exportWeights();
  const plan = zeroPlan(net, 'c2');
  assert.deepEqual(plan, { conv: 'c2', batchNorms: ['b2'], next: [{ node: 'fc', positions: 9 }] });
  zeroChannels(net, plan, [0, 5]);
  const rows = Array.from({ length: 9 }, (_, pos) => [pos * 6, pos * 6 + 5]).flat();
  const expected = new Map([
    ['c2/kernel', entries4d([3, 3, 2, 6], (_, out) => out === 0 || out === 5)],
    ['c2/bias', [0, 5]],
    ['b2/gamma', [0, 5]],
    ['b2/beta', [0, 5]],
    ['fc/kernel', rows.flatMap((r) => Array.from({ length: 5 }, (_, j) => r * 5 + j)).sort((x, y) => x - y)],
  ]);
  assert.deepEqual(changed(before, net), expected);
  net.dispose();
});

function changed(before: WeightMap, net: Network): Map<string, number[]> {
  return changedEntries(before, net.exportWeights());
}

test('depthwise convs: zeroing a channel feeding one clears its kernel slice; zeroing its own output clears the filter', () => {
  const b = new GraphBuilder(new Rng(4));
  let x = b.input('input', [5, 5, 2]);
  x = b.conv('c1', x, { filters: 4, kernel: 1 });
  x = b.activation('r1', x, 'relu');
  x = b.conv('dw', x, { filters: 4, kernel: 3, groups: 4 });
  x = b.batchNorm('bn', x);
  x = b.activation('r2', x, 'relu');
  x = b.globalAvgPool('gap', x);
  x = b.dense('fc', x, 3);
  const built = b.build(x);
  const net = new Network(built.graph, randomWeights(built.weights, 5));
  assert.equal(net.node('dw').op.kind, 'depthwiseConv2d');
  let before = net.exportWeights();
  zeroChannels(net, zeroPlan(net, 'c1'), [3]);
  assert.deepEqual(changed(before, net), new Map([
    ['c1/kernel', entries4d([1, 1, 2, 4], (_, out) => out === 3)],
    ['dw/kernel', entries4d([3, 3, 4, 1], (input) => input === 3)],
  ]));
  before = net.exportWeights();
  zeroChannels(net, zeroPlan(net, 'dw'), [2]);
  assert.deepEqual(changed(before, net), new Map([
    ['dw/kernel', entries4d([3, 3, 4, 1], (input) => input === 2)],
    ['bn/gamma', [2]],
    ['bn/beta', [2]],
    ['fc/kernel', [6, 7, 8]],
  ]));
  net.dispose();
});

test('ResNets: the authors subset of taps, and zeroing stops at the residual add', () => {
  const built = buildResNet({ blocks: [1, 1, 1], widths: [4, 8, 16], numClasses: 3, inputShape: [8, 8, 3], seed: 1 });
  const net = new Network(built.graph, randomWeights(built.weights, 6));
  assert.deepEqual(resnetSubset(net), [
    { conv: 'layer2.0.conv1', tap: 'layer2.0.conv1:pre', channels: 8 },
    { conv: 'layer2.0.conv2', tap: 'layer2.0.conv2:pre', channels: 8 },
    { conv: 'layer2.0.shortcut.0', tap: 'layer2.0.shortcut.1', channels: 8 },
    { conv: 'layer3.0.conv1', tap: 'layer3.0.conv1:pre', channels: 16 },
    { conv: 'layer3.0.conv2', tap: 'layer3.0.conv2:pre', channels: 16 },
    { conv: 'layer3.0.shortcut.0', tap: 'layer3.0.shortcut.1', channels: 16 },
  ]);
  assert.deepEqual(noneLayers(net, 'auto'), resnetSubset(net));
  assert.equal(noneLayers(net, 'all-convs').length, 9); // the stem, layer1's two convs and layer2-3's three each
  assert.deepEqual(zeroPlan(net, 'layer2.0.conv1'), { conv: 'layer2.0.conv1', batchNorms: ['layer2.0.bn1'], next: [{ node: 'layer2.0.conv2', positions: 1 }] });
  assert.deepEqual(zeroPlan(net, 'layer2.0.conv2'), { conv: 'layer2.0.conv2', batchNorms: ['layer2.0.bn2'], next: [] });
  assert.deepEqual(zeroPlan(net, 'layer2.0.shortcut.0'), { conv: 'layer2.0.shortcut.0', batchNorms: ['layer2.0.shortcut.1'], next: [] });
  // layer3's conv2 is the last: nothing but its BatchNorm (the authors' layer4 leak is not reproduced).
  const before = net.exportWeights();
  zeroChannels(net, zeroPlan(net, 'layer3.0.conv2'), [7]);
  assert.deepEqual([...changed(before, net).keys()], ['layer3.0.conv2/kernel', 'layer3.0.bn2/gamma', 'layer3.0.bn2/beta']);
  net.dispose();
});

test('the small VGG analyses all four convs; a classifier conv is left out', () => {
  const vgg = buildSmallVgg({ widths: [4, 8], numClasses: 3, inputShape: [8, 8, 3] });
  const net = new Network(vgg.graph, vgg.weights);
  assert.deepEqual(allConvLayers(net).map((l) => l.tap), ['features.0:pre', 'features.3:pre', 'features.7:pre', 'features.10:pre']);
  net.dispose();
  // A NiN-style head: the last conv produces the class maps and is not analysed.
  const b = new GraphBuilder(new Rng(1));
  let x = b.input('input', [6, 6, 3]);
  x = b.conv('c1', x, { filters: 4, kernel: 3, bias: true });
  x = b.activation('r1', x, 'relu');
  x = b.conv('head', x, { filters: 3, kernel: 1, bias: true });
  x = b.globalAvgPool('gap', x);
  const nin = b.build(x);
  const ninNet = new Network(nin.graph, nin.weights);
  assert.deepEqual(allConvLayers(ninNet).map((l) => l.conv), ['c1']);
  ninNet.dispose();
});

/** A tiny labelled image set in memory: class c images are brighter in channel c. */
function syntheticDataset(n: number, seed: number, shape: [number, number, number] = [8, 8, 3], classes = 3): Dataset {
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: n }, () => rng.int(classes));
  const images = Array.from(labels, (label) => {
    const pixels = new Uint8Array(shape[0] * shape[1] * shape[2]);
    for (let i = 0; i < pixels.length; i++) pixels[i] = Math.round(rng.uniform(0, 120) + (i % shape[2] === label % shape[2] ? 120 : 0));
    return pixels;
  });
  return makeDataset({
    path: 'memory',
    kind: 'synthetic',
    classes: Array.from({ length: classes }, (_, i) => `c${i}`),
    labels,
    read: (i) => ({ height: shape[0], width: shape[1], channels: shape[2], pixels: images[i] }),
    itemName: (i) => `#${i}`,
    details: 'synthetic',
  });
}

const PREP = { scale: 255, mean: [0.5], std: [0.25] };

test('the streamed analysis of a network equals the naive computation on its full activation matrix', async () => {
  const built = buildSmallVgg({ widths: [4, 8], numClasses: 3, inputShape: [8, 8, 3], seed: 3 });
  const net = new Network(built.graph, built.weights);
  const ds = syntheticDataset(300, 7);
  const indices = Int32Array.from({ length: ds.size }, (_, i) => ds.size - 1 - i);
  // A little training, so that every class has confidently predicted and unlikely samples.
  const trained = await train(net, ds, indices, PREP, { epochs: 4, batchSize: 32, learningRate: () => 0.05, seed: 1 });
  trained.optimizer.dispose();
  const settings = { ...defaultNoneSettings('injected'), resetFraction: 0.3 };
  const layers = noneLayers(net, 'auto');
  const analysis = await analyseNone(net, layers, { dataset: ds, indices, preprocessing: PREP }, settings);

  // Naive: the whole N×C matrices at once.
  const x = new Float32Array(indices.length * 8 * 8 * 3);
  indices.forEach((index, row) => {
    const img = ds.readImage(index);
    img.pixels.forEach((v, i) => (x[row * 192 + i] = (v / 255 - 0.5) / 0.25));
  });
  const { p, a } = tf.tidy(() => {
    const run = net.run(tf.tensor4d(x, [indices.length, 8, 8, 3]), { taps: layers.map((l) => l.tap) });
    return { p: tf.softmax(run.output).arraySync() as number[][], a: layers.map((l) => tf.max(run.taps[l.tap], [1, 2]).arraySync() as number[][]) };
  });
  layers.forEach((layer, l) => {
    const expected = naiveScores(a[l], p, 0.1, 0.9);
    assert.ok(expected.every((e) => Number.isFinite(e)), 'the example should exercise finite scores');
    expected.forEach((e, j) => assert.ok(Math.abs(analysis.layers[l].scores[j] - e) < 1e-3 * Math.max(1, Math.abs(e)), `${layer.conv}[${j}]: ${analysis.layers[l].scores[j]} vs ${e}`));
    assert.equal(analysis.layers[l].selected.length, resetCount(0.3, layer.channels));
  });
  const top = analysis.layers.map((entry) => entry.order[0]);
  const sampleScores = Array.from(indices, (_, n) => a.reduce((s, rows, l) => s + rows[n][top[l]], 0));
  sampleScores.forEach((s, n) => assert.ok(Math.abs(analysis.sampleScores[n] - s) < 1e-3 * Math.max(1, Math.abs(s))));
  const expectedFlagged = flagSuspicious(analysis.sampleScores, jenksTwoClasses(analysis.sampleScores)).map((i) => indices[i]);
  assert.deepEqual(Array.from(analysis.flagged), expectedFlagged);
  assert.ok(analysis.flagged.length > 0 && analysis.flagged.length < indices.length);
  net.dispose();
});

test('a NONE repair zeroes the selected units, which stay pruned through fine-tuning without phase-1 momentum', async () => {
  const built = buildSmallVgg({ widths: [4, 8], numClasses: 3, inputShape: [8, 8, 3], seed: 3 });
  const net = new Network(built.graph, built.weights);
  const ds = syntheticDataset(96, 8);
  const indices = Int32Array.from({ length: ds.size }, (_, i) => i);
  const settings = { ...defaultNoneSettings('injected'), resetFraction: 0.25, epochsPerRound: 2, batchSize: 32 };
  const run = await repairWithNone(net, { dataset: ds, indices, preprocessing: PREP }, settings);
  assert.equal(run.rounds.length, 1);
  const round = run.rounds[0];
  assert.equal(round.fineTuneSamples, 96 - round.flaggedSamples);
  assert.equal(round.epochs.length, 2);
  // features.0 feeds features.3 through BN and ReLU: its zeroed filters get no gradient (BN γ = 0
  // blocks it) and a new SGD has no old momentum, so they are still exactly zero.
  const first = round.layers[0];
  assert.equal(first.layer, 'features.0');
  assert.deepEqual(first.batchNorms, ['features.1']);
  assert.deepEqual(first.nextLayers, ['features.3']);
  const kernel = net.param('features.0', 'kernel').arraySync() as number[][][][];
  for (const c of first.selected) {
    for (const row of kernel) for (const col of row) for (const inC of col) assert.ok(inC[c] === 0);
  }
  const gamma = net.param('features.1', 'gamma').dataSync();
  for (const c of first.selected) assert.ok(gamma[c] === 0);
  net.dispose();
});
