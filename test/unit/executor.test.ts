import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Network } from '../../src/engine/graph/executor';
import { Graph, WeightMap } from '../../src/engine/graph/ir';
import { buildResNet } from '../../src/engine/arch/resnet';
import { buildSmallVgg } from '../../src/engine/arch/vgg-small';
import { defaultSplitPoint, checkSplit } from '../../src/engine/graph/split';
import { Rng } from '../../src/engine/random';

before(async () => {
  await tf.setBackend('cpu');
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function randomInput(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(new Rng(seed).normalArray(shape.reduce((a, b) => a * b, 1)), shape);
}

test('features then head equals the whole network (ResNet, default split)', () => {
  const model = buildResNet({ blocks: [1, 1], widths: [8, 16], numClasses: 10, inputShape: [8, 8, 3], seed: 1 });
  const net = new Network(model.graph, model.weights);
  const split = defaultSplitPoint(model.graph);
  assert.equal(split, 'layer2.0.relu2');
  const x = randomInput([2, 8, 8, 3], 2);
  const whole = net.logits(x).dataSync();
  const z = net.run(x, { to: split }).output;
  assert.deepEqual(z.shape, [2, 4, 4, 16]);
  const viaSplit = net.run(undefined, { from: { node: split, value: z } }).output.dataSync();
  assert.ok(maxAbsDiff(whole, viaSplit) < 1e-6);
  assert.throws(() => checkSplit(model.graph, 'layer2.0.conv1'), /reads .* from before it/);
  net.dispose();
});

/** A one-BatchNorm graph over [N, 1, 1, C] inputs, for hand computations. */
function bnGraph(c: number): { graph: Graph; weights: WeightMap } {
  const graph: Graph = {
    nodes: [
      { name: 'input', op: { kind: 'input', shape: [1, 1, c] }, inputs: [] },
      { name: 'bn', op: { kind: 'batchNorm', epsilon: 1e-5, momentum: 0.1 }, inputs: ['input'] },
      { name: 'flat', op: { kind: 'flatten' }, inputs: ['bn'] },
    ],
    output: 'flat',
    outputSoftmax: false,
  };
  const weights: WeightMap = new Map([
    ['bn/gamma', { shape: [c], data: Float32Array.from({ length: c }, (_, i) => 1 + 0.5 * i) }],
    ['bn/beta', { shape: [c], data: Float32Array.from({ length: c }, (_, i) => 0.1 * i - 0.2) }],
    ['bn/movingMean', { shape: [c], data: Float32Array.from({ length: c }, (_, i) => 0.3 * i) }],
    ['bn/movingVariance', { shape: [c], data: Float32Array.from({ length: c }, (_, i) => 1 + i) }],
  ]);
  return { graph, weights };
}

test('BatchNorm eval mode with neuron noise equals the hand computation', () => {
  const c = 3;
  const { graph, weights } = bnGraph(c);
  const net = new Network(graph, weights);
  const xs = [0.5, -1, 2, 1.5, 0, -0.5];
  const dw = [0.1, -0.2, 0.3];
  const db = [-0.3, 0.25, 0.05];
  const noise = new Map([['bn', { scale: tf.tensor1d(dw), shift: tf.tensor1d(db) }]]);
  const out = net.run(tf.tensor(xs, [2, 1, 1, c]), { noise }).output.dataSync();
  for (let n = 0; n < 2; n++) {
    for (let ch = 0; ch < c; ch++) {
      const g = 1 + 0.5 * ch;
      const b = 0.1 * ch - 0.2;
      const want = (g * (1 + dw[ch]) * (xs[n * c + ch] - 0.3 * ch)) / Math.sqrt(1 + ch + 1e-5) + b * (1 + db[ch]);
      assert.ok(Math.abs(out[n * c + ch] - want) < 1e-5, `n=${n} c=${ch}: ${out[n * c + ch]} vs ${want}`);
    }
  }
  net.dispose();
});

test('BatchNorm train mode uses batch statistics and updates running statistics with momentum', () => {
  const c = 2;
  const { graph, weights } = bnGraph(c);
  const net = new Network(graph, weights);
  const xs = [1, 4, 3, -2, 5, 0, -1, 2]; // 4 samples x 2 channels
  const out = net.run(tf.tensor(xs, [4, 1, 1, c]), { bnMode: 'train' }).output.dataSync();
  for (let ch = 0; ch < c; ch++) {
    const v = [0, 1, 2, 3].map((n) => xs[n * c + ch]);
    const mean = v.reduce((a, b) => a + b, 0) / 4;
    const varBiased = v.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
    const varUnbiased = (varBiased * 4) / 3;
    for (let n = 0; n < 4; n++) {
      const want = ((1 + 0.5 * ch) * (v[n] - mean)) / Math.sqrt(varBiased + 1e-5) + (0.1 * ch - 0.2);
      assert.ok(Math.abs(out[n * c + ch] - want) < 1e-5);
    }
    const runMean = net.param('bn', 'movingMean').dataSync()[ch];
    const runVar = net.param('bn', 'movingVariance').dataSync()[ch];
    assert.ok(Math.abs(runMean - (0.9 * 0.3 * ch + 0.1 * mean)) < 1e-6);
    assert.ok(Math.abs(runVar - (0.9 * (1 + ch) + 0.1 * varUnbiased)) < 1e-5);
  }
  net.dispose();
});

test('snapshot and restore bring back BatchNorm statistics changed by train-mode runs', () => {
  const { graph, weights } = bnGraph(2);
  const net = new Network(graph, weights);
  const before = net.param('bn', 'movingMean').dataSync().slice();
  const snap = net.snapshot();
  net.run(tf.tensor([1, 2, 3, 4], [2, 1, 1, 2]), { bnMode: 'train' });
  assert.notDeepEqual(net.param('bn', 'movingMean').dataSync(), before);
  net.restore(snap);
  assert.deepEqual(net.param('bn', 'movingMean').dataSync(), before);
  net.dispose();
});

test('taps return pre- and post-activation values', () => {
  const model = buildSmallVgg({ widths: [4], numClasses: 3, inputShape: [4, 4, 3], seed: 3 });
  const net = new Network(model.graph, model.weights);
  const x = randomInput([1, 4, 4, 3], 4);
  const { taps } = net.run(x, { taps: ['features.1', 'features.2'] });
  const pre = taps['features.1'].dataSync();
  const post = taps['features.2'].dataSync();
  assert.ok(maxAbsDiff(post, pre.map((v) => Math.max(v, 0))) < 1e-7);
  assert.throws(() => net.run(x, { taps: ['nope'] }), /cannot tap 'nope'/);
  net.dispose();
});

test('grouped convolution equals separate convolutions per group', () => {
  const rng = new Rng(5);
  const graph: Graph = {
    nodes: [
      { name: 'input', op: { kind: 'input', shape: [5, 5, 4] }, inputs: [] },
      { name: 'conv', op: { kind: 'conv2d', filters: 6, kernelSize: [3, 3], strides: [1, 1], padding: { top: 1, bottom: 1, left: 1, right: 1 }, dilations: [1, 1], groups: 2, useBias: false, activation: 'linear' }, inputs: ['input'] },
      { name: 'gap', op: { kind: 'globalAvgPool' }, inputs: ['conv'] },
    ],
    output: 'gap',
    outputSoftmax: false,
  };
  const kernel = rng.normalArray(3 * 3 * 2 * 6);
  const net = new Network(graph, new Map([['conv/kernel', { shape: [3, 3, 2, 6], data: kernel }]]));
  const x = randomInput([1, 5, 5, 4], 6);
  const { taps } = net.run(x, { taps: ['conv'] });
  const k = tf.tensor4d(kernel, [3, 3, 2, 6]);
  const [x0, x1] = tf.split(x, 2, 3);
  const want = tf.concat([
    tf.conv2d(x0 as tf.Tensor4D, tf.slice(k, [0, 0, 0, 0], [3, 3, 2, 3]), 1, 'same'),
    tf.conv2d(x1 as tf.Tensor4D, tf.slice(k, [0, 0, 0, 3], [3, 3, 2, 3]), 1, 'same'),
  ], 3);
  assert.ok(maxAbsDiff(taps['conv'].dataSync(), want.dataSync()) < 1e-5);
  net.dispose();
});

test('average pooling with explicit pads counts or excludes the pads as asked', () => {
  const mk = (countIncludePad: boolean): Graph => ({
    nodes: [
      { name: 'input', op: { kind: 'input', shape: [2, 2, 1] }, inputs: [] },
      { name: 'pool', op: { kind: 'avgPool', poolSize: [2, 2], strides: [1, 1], padding: { top: 1, bottom: 0, left: 1, right: 0 }, countIncludePad }, inputs: ['input'] },
      { name: 'flat', op: { kind: 'flatten' }, inputs: ['pool'] },
    ],
    output: 'flat',
    outputSoftmax: false,
  });
  const x = tf.tensor([1, 2, 3, 4], [1, 2, 2, 1]);
  const incl = new Network(mk(true), new Map()).logits(x).dataSync();
  const excl = new Network(mk(false), new Map()).logits(x).dataSync();
  // Windows: {pad,pad,pad,1}, {pad,pad,1,2}, {pad,1,pad,3}, {1,2,3,4}.
  assert.deepEqual(Array.from(incl), [0.25, 0.75, 1, 2.5]);
  assert.deepEqual(Array.from(excl), [1, 1.5, 2, 2.5]);
});

test('a noise gradient computes no weight gradient', () => {
  const model = buildResNet({ blocks: [1], widths: [4], numClasses: 2, inputShape: [4, 4, 3], seed: 7 });
  const net = new Network(model.graph, model.weights);
  const x = randomInput([2, 4, 4, 3], 8);
  const noise = new Map(net.batchNormNodes().map((name) => {
    const c = net.param(name, 'gamma').shape[0];
    return [name, { scale: tf.zeros([c]) as tf.Tensor1D, shift: tf.zeros([c]) as tf.Tensor1D }];
  }));
  const scales = [...noise.values()].map((n) => n.scale);
  const kernels: string[] = [];
  const profile = tf.profile(() => {
    const grads = tf.grads((...s: tf.Tensor[]) => {
      const withNoise = new Map([...noise.keys()].map((name, i) => [name, { scale: s[i] as tf.Tensor1D, shift: noise.get(name)!.shift }]));
      return tf.sum(net.logits(x, { noise: withNoise, bnMode: 'train' }));
    })(scales);
    grads.forEach((g) => g.dispose());
  });
  return profile.then((p) => {
    kernels.push(...p.kernelNames);
    assert.ok(kernels.includes('Conv2DBackpropInput'), 'the input gradient flows through convs');
    assert.ok(!kernels.includes('Conv2DBackpropFilter'), `no weight gradient expected, ran: ${kernels.join(',')}`);
    net.dispose();
  });
});
