/**
 * The wasm gradient kernels against the tfjs `cpu` backend, which runs tfjs' own reference loops.
 * Every case computes the same gradients on both backends from the same seeded data.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend';
import { channelMoments, normalise } from '../../src/engine/graph/batchnorm';
import { cachedFilterCount, releaseKernelCaches } from '../../src/engine/kernels';
import { Rng } from '../../src/engine/random';
import { assertClose, on } from './backend-compare';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

function data(size: number, seed: number): Float32Array {
  return new Rng(seed).uniformArray(size, -1, 1);
}

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The gradients of sum(conv(x, w) * r) with respect to x and w, and the conv itself. */
function convCase(xShape: number[], wShape: number[], strides: [number, number], pad: Pad): () => tf.Tensor[] {
  return () => {
    const x = tf.tensor4d(data(sizeOf(xShape), 1), xShape as [number, number, number, number]);
    const w = tf.tensor4d(data(sizeOf(wShape), 2), wShape as [number, number, number, number]);
    const y = tf.conv2d(x, w, strides, pad);
    const r = tf.tensor(data(y.size, 3), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad), r)),
    )([x, w]);
    return [y, dx, dw];
  };
}

/** The same for a depthwise conv. */
function depthwiseCase(xShape: number[], wShape: number[], strides: [number, number], pad: Pad): () => tf.Tensor[] {
  return () => {
    const x = tf.tensor4d(data(sizeOf(xShape), 4), xShape as [number, number, number, number]);
    const w = tf.tensor4d(data(sizeOf(wShape), 5), wShape as [number, number, number, number]);
    const y = tf.depthwiseConv2d(x, w, strides, pad);
    const r = tf.tensor(data(y.size, 6), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad), r)),
    )([x, w]);
    return [y, dx, dw];
  };
}

before(async () => {
  const info = await initBackend({ backend: 'wasm' });
  assert.equal(info.name, 'wasm');
});

const convCases: { name: string; x: number[]; w: number[]; s: [number, number]; pad: Pad }[] = [
  { name: '3x3 s1 same', x: [2, 7, 7, 3], w: [3, 3, 3, 4], s: [1, 1], pad: 'same' },
  { name: '3x3 s2 same, odd size', x: [2, 7, 7, 3], w: [3, 3, 3, 4], s: [2, 2], pad: 'same' },
  { name: '3x3 s2 same, even size', x: [2, 8, 8, 3], w: [3, 3, 3, 5], s: [2, 2], pad: 'same' },
  { name: '3x3 s1 valid', x: [1, 6, 9, 2], w: [3, 3, 2, 3], s: [1, 1], pad: 'valid' },
  { name: '3x3 s2 valid, odd size', x: [2, 9, 7, 2], w: [3, 3, 2, 3], s: [2, 2], pad: 'valid' },
  { name: '5x5 s1 same', x: [1, 9, 8, 2], w: [5, 5, 2, 3], s: [1, 1], pad: 'same' },
  { name: '5x5 s2 valid', x: [2, 11, 10, 2], w: [5, 5, 2, 3], s: [2, 2], pad: 'valid' },
  { name: '1x1 s1 valid', x: [2, 6, 7, 3], w: [1, 1, 3, 4], s: [1, 1], pad: 'valid' },
  { name: '1x1 s2 same', x: [2, 7, 6, 3], w: [1, 1, 3, 4], s: [2, 2], pad: 'same' },
  { name: '3x3 s3 valid', x: [1, 10, 11, 2], w: [3, 3, 2, 2], s: [3, 3], pad: 'valid' },
  { name: '3x3 strides 2x1 same', x: [1, 7, 6, 2], w: [3, 3, 2, 3], s: [2, 1], pad: 'same' },
  { name: '3x3 s2 explicit 1,2 / 0,1', x: [2, 8, 9, 3], w: [3, 3, 3, 4], s: [2, 2], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { name: '3x3 s1 explicit pads beyond the kernel', x: [1, 5, 6, 2], w: [3, 3, 2, 3], s: [1, 1], pad: [[0, 0], [3, 0], [2, 3], [0, 0]] },
  { name: '5x5 s2 explicit 2,2 / 2,2', x: [2, 9, 9, 2], w: [5, 5, 2, 3], s: [2, 2], pad: [[0, 0], [2, 2], [2, 2], [0, 0]] },
  { name: '1x1 s2 explicit 0,1 / 1,0', x: [1, 6, 6, 3], w: [1, 1, 3, 2], s: [2, 2], pad: [[0, 0], [0, 1], [1, 0], [0, 0]] },
];

for (const c of convCases) {
  test(`Conv2D gradients match cpu: ${c.name}`, async () => {
    const want = await on('cpu', convCase(c.x, c.w, c.s, c.pad));
    const got = await on('wasm', convCase(c.x, c.w, c.s, c.pad));
    assertClose(got, want, c.name);
  });
}

const depthwiseCases: { name: string; x: number[]; w: number[]; s: [number, number]; pad: Pad }[] = [
  { name: '3x3 s1 same', x: [2, 7, 7, 3], w: [3, 3, 3, 1], s: [1, 1], pad: 'same' },
  { name: '3x3 s2 same, multiplier 2', x: [2, 8, 7, 3], w: [3, 3, 3, 2], s: [2, 2], pad: 'same' },
  { name: '5x5 s2 valid', x: [2, 11, 9, 4], w: [5, 5, 4, 1], s: [2, 2], pad: 'valid' },
  { name: '5x5 s1 same, multiplier 3', x: [1, 7, 8, 2], w: [5, 5, 2, 3], s: [1, 1], pad: 'same' },
  { name: '1x1 s1 valid', x: [2, 5, 6, 3], w: [1, 1, 3, 1], s: [1, 1], pad: 'valid' },
  { name: '3x3 s2 explicit 1,0 / 0,2', x: [2, 9, 8, 3], w: [3, 3, 3, 1], s: [2, 2], pad: [[0, 0], [1, 0], [0, 2], [0, 0]] },
];

for (const c of depthwiseCases) {
  test(`DepthwiseConv2dNative gradients match cpu: ${c.name}`, async () => {
    const want = await on('cpu', depthwiseCase(c.x, c.w, c.s, c.pad));
    const got = await on('wasm', depthwiseCase(c.x, c.w, c.s, c.pad));
    assertClose(got, want, c.name);
  });
}

/**
 * tfjs' gradients reject dilated convs and cpu's depthwise backprop kernels ignore dilations, so
 * the dilated kernels are checked through an identity: a conv with filter w at dilation 2 is the
 * undilated conv with w zero-inserted to (k-1)*2+1 taps.
 */
test('dilated depthwise backprop kernels match the zero-inserted-filter identity', async () => {
  const xShape: [number, number, number, number] = [2, 9, 8, 3];
  const k = 3;
  const d = 2;
  const kz = (k - 1) * d + 1;
  const wData = data(k * k * 3 * 2, 13);
  const attrs = (dilations: number, filterShape: number[]) => ({
    strides: 1, dilations, pad: 'same', dimRoundingMode: undefined, filterShape, inputShape: xShape,
  });
  const compute = (dilated: boolean) => (): tf.Tensor[] => {
    const x = tf.tensor4d(data(sizeOf(xShape), 14), xShape);
    const w = tf.tensor4d(wData, [k, k, 3, 2]);
    const spread = tf.pad(tf.reshape(w, [k, 1, k, 1, 3, 2]), [[0, 0], [0, d - 1], [0, 0], [0, d - 1], [0, 0], [0, 0]]);
    const filter = dilated ? w : tf.slice(tf.reshape(spread, [k * d, k * d, 3, 2]), [0, 0, 0, 0], [kz, kz, 3, 2]);
    const y = dilated ? tf.depthwiseConv2d(x, w, 1, 'same', 'NHWC', d) : tf.depthwiseConv2d(x, filter as tf.Tensor4D, 1, 'same');
    const dy = tf.tensor4d(data(y.size, 15), y.shape as [number, number, number, number]);
    const at = attrs(dilated ? d : 1, filter.shape);
    const dx = tf.engine().runKernel(tf.DepthwiseConv2dNativeBackpropInput, { dy, filter }, at as unknown as tf.NamedAttrMap) as tf.Tensor;
    let dw = tf.engine().runKernel(tf.DepthwiseConv2dNativeBackpropFilter, { x, dy }, at as unknown as tf.NamedAttrMap) as tf.Tensor;
    if (!dilated) dw = tf.stridedSlice(dw, [0, 0, 0, 0], [kz, kz, 3, 2], [d, d, 1, 1]);
    return [dx, dw];
  };
  const want = await on('cpu', compute(false));
  const got = await on('wasm', compute(true));
  assertClose(got, want, 'dilated depthwise');
});

/** The gradient of sum(maxPool(relu(x)) * r) w.r.t. x; the ReLU makes windows of tied zeros. */
function maxPoolCase(xShape: number[], size: number, stride: number, pad: 'same' | 'valid'): () => tf.Tensor[] {
  return () => {
    const x = tf.tensor4d(data(sizeOf(xShape), 18), xShape as [number, number, number, number]);
    const pooled = (a: tf.Tensor) => tf.maxPool(tf.relu(a) as tf.Tensor4D, size, stride, pad);
    const r = tf.tensor(data(pooled(x).size, 19), pooled(x).shape);
    return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(pooled(a), r)))(x)];
  };
}

const maxPoolCases: { name: string; x: number[]; size: number; stride: number; pad: 'same' | 'valid' }[] = [
  { name: '2x2 s2 valid', x: [2, 8, 8, 3], size: 2, stride: 2, pad: 'valid' },
  { name: '2x2 s2 valid, odd size', x: [2, 7, 9, 5], size: 2, stride: 2, pad: 'valid' },
  { name: '3x3 s2 same (overlapping windows, padding)', x: [2, 9, 8, 4], size: 3, stride: 2, pad: 'same' },
  { name: '3x3 s1 same', x: [1, 6, 7, 2], size: 3, stride: 1, pad: 'same' },
  { name: '2x2 s1 valid', x: [1, 5, 5, 3], size: 2, stride: 1, pad: 'valid' },
];

for (const c of maxPoolCases) {
  test(`MaxPoolGrad matches cpu: ${c.name}`, async () => {
    const want = await on('cpu', maxPoolCase(c.x, c.size, c.stride, c.pad));
    const got = await on('wasm', maxPoolCase(c.x, c.size, c.stride, c.pad));
    assertClose(got, want, c.name);
  });
}

test('MaxPoolGrad sends the gradient of a tied window to its first maximum only', async () => {
  await tf.setBackend('wasm');
  const dx = tf.tidy(() => tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid')))(tf.tensor4d([1, 1, 1, 1], [1, 2, 2, 1])));
  assert.deepEqual([...dx.dataSync()], [1, 0, 0, 0]);
  dx.dispose();
});

/** A small conv-BN-ReLU net (the engine's BatchNorm ops): every trainable weight and the input get a gradient. */
function netGrads(): tf.Tensor[] {
  const rng = new Rng(21);
  const v = (shape: number[], lo = -0.5, hi = 0.5) => tf.tensor(rng.uniformArray(sizeOf(shape), lo, hi), shape);
  const x = v([2, 9, 9, 3], -1, 1);
  const w1 = v([3, 3, 3, 6]);
  const gamma = v([6], 0.5, 1.5);
  const beta = v([6]);
  const wd = v([3, 3, 6, 2]);
  const w2 = v([1, 1, 12, 5]);
  const b2 = v([5]);
  const wf = v([5, 4]);
  const labels = tf.oneHot(tf.tensor1d([1, 3], 'int32'), 4);
  const loss = (xi: tf.Tensor, k1: tf.Tensor, g: tf.Tensor, b: tf.Tensor, kd: tf.Tensor, k2: tf.Tensor, bias: tf.Tensor, kf: tf.Tensor) => {
    const h1 = tf.conv2d(xi as tf.Tensor4D, k1 as tf.Tensor4D, 1, 'same');
    const { mean, variance } = channelMoments(h1);
    const h2 = tf.relu(normalise(h1, mean, variance, g, b, 1e-3)) as tf.Tensor4D;
    const h3 = tf.relu(tf.depthwiseConv2d(h2, kd as tf.Tensor4D, 2, 'same'));
    const h4 = tf.add(tf.conv2d(h3, k2 as tf.Tensor4D, 2, [[0, 0], [1, 0], [0, 1], [0, 0]]), bias);
    const logits = tf.matMul(tf.mean(h4, [1, 2]), kf as tf.Tensor2D);
    return tf.losses.softmaxCrossEntropy(labels, logits);
  };
  return tf.grads(loss)([x, w1, gamma, beta, wd, w2, b2, wf]);
}

test('a conv-BN-ReLU net has the same gradients on wasm as on cpu', async () => {
  const want = await on('cpu', netGrads);
  const got = await on('wasm', netGrads);
  assertClose(got, want, 'net');
});

test('the flipped-filter cache reuses filters, drops freed ones and leaks nothing', async () => {
  await tf.setBackend('wasm');
  releaseKernelCaches();
  const before = tf.memory().numTensors;
  const w = tf.tensor4d(data(3 * 3 * 4 * 5, 16), [3, 3, 4, 5]);
  const x = tf.tensor4d(data(2 * 8 * 8 * 4, 17), [2, 8, 8, 4]);
  const inputGrad = (filter: tf.Tensor4D) =>
    tf.tidy(() => tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, filter, 2, 'same'))))(x));
  const results: Float32Array[] = [];
  for (let i = 0; i < 3; i++) {
    const dx = inputGrad(w);
    results.push(dx.dataSync() as Float32Array);
    dx.dispose();
  }
  assert.equal(cachedFilterCount(), 1, 'a filter used more than once is cached');
  assert.deepEqual(results[1], results[0]);
  assert.deepEqual(results[2], results[0]);
  w.dispose();
  const w2 = tf.tensor4d(data(3 * 3 * 4 * 5, 18), [3, 3, 4, 5]);
  inputGrad(w2).dispose();
  assert.equal(cachedFilterCount(), 0, 'the entry of a disposed filter is dropped, a first use is not cached');
  inputGrad(w2).dispose();
  assert.equal(cachedFilterCount(), 1);
  releaseKernelCaches();
  assert.equal(cachedFilterCount(), 0);
  w2.dispose();
  x.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('gradient kernels leak no tensors', async () => {
  await tf.setBackend('wasm');
  releaseKernelCaches();
  const before = tf.memory().numTensors;
  const c = convCases[11];
  tf.dispose(tf.tidy(convCase(c.x, c.w, c.s, c.pad)));
  tf.dispose(tf.tidy(depthwiseCase([2, 8, 7, 3], [3, 3, 3, 2], [2, 2], 'same')));
  tf.dispose(tf.tidy(netGrads));
  releaseKernelCaches();
  assert.equal(tf.memory().numTensors, before);
});

test('Identity on wasm shares data, and each tensor keeps it alive', async () => {
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  const x = tf.tensor1d([1, 2, 3]);
  const y = tf.clone(x);
  assert.equal(y.dataId, x.dataId);
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3]);
  y.dispose();
  assert.equal(tf.memory().numTensors, before);
});
