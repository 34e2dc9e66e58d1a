/**
 * The engine's BatchNorm ops (graph/batchnorm.ts) against tfjs' own: tf.moments and tf.batchNorm
 * with their stock gradients on the `cpu` backend are the second way of computing every value.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { initBackend } from '../../src/engine/backend';
import { channelMeans, channelMoments, normalise } from '../../src/engine/graph/batchnorm';
import { Rng } from '../../src/engine/random';
import { assertClose, on } from './backend-compare';

function data(shape: number[], seed: number, lo = -1, hi = 1): tf.Tensor {
  return tf.tensor(new Rng(seed).uniformArray(shape.reduce((a, b) => a * b, 1), lo, hi), shape);
}

/** Activations with a channel offset, as conv outputs have, so that centring matters. */
const shapes: { name: string; shape: number[] }[] = [
  { name: 'rank 4 [3, 5, 6, 4]', shape: [3, 5, 6, 4] },
  { name: 'rank 2 [7, 5]', shape: [7, 5] },
];

function inputs(shape: number[]): { x: tf.Tensor; gamma: tf.Tensor1D; beta: tf.Tensor1D; mean: tf.Tensor1D; variance: tf.Tensor1D; r: tf.Tensor } {
  const c = shape[shape.length - 1];
  return {
    x: tf.add(data(shape, 1), data([c], 2, -2, 2)),
    gamma: data([c], 3, 0.5, 1.5) as tf.Tensor1D,
    beta: data([c], 4) as tf.Tensor1D,
    mean: data([c], 5) as tf.Tensor1D,
    variance: data([c], 6, 0.2, 2) as tf.Tensor1D,
    r: data(shape, 7),
  };
}

/** Eval mode: output and gradients w.r.t. x, mean, variance, γ and β of sum(BN(x)·r). */
function evalCase(shape: number[], ours: boolean): () => tf.Tensor[] {
  return () => {
    const { x, gamma, beta, mean, variance, r } = inputs(shape);
    const bn = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      ours ? normalise(a, m, v, g, b, 1e-3) : tf.batchNorm(a, m, v, b, g, 1e-3);
    const loss = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(bn(a, m, v, g, b), r));
    return [bn(x, mean, variance, gamma, beta), ...tf.grads(loss)([x, mean, variance, gamma, beta])];
  };
}

/** Train mode: the statistics come from x; output, statistics and gradients w.r.t. x, γ, β. */
function trainCase(shape: number[], ours: boolean): () => tf.Tensor[] {
  return () => {
    const { x, gamma, beta, r } = inputs(shape);
    const axes = shape.slice(0, -1).map((_, i) => i);
    const stats = (a: tf.Tensor) => (ours ? channelMoments(a) : tf.moments(a, axes));
    const bn = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = stats(a);
      return ours ? normalise(a, mean, variance, g, b, 1e-3) : tf.batchNorm(a, mean, variance, b, g, 1e-3);
    };
    const loss = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(bn(a, g, b), r));
    const { mean, variance } = stats(x);
    return [bn(x, gamma, beta), mean, variance, ...tf.grads(loss)([x, gamma, beta])];
  };
}

before(async () => {
  const info = await initBackend({ backend: 'wasm' });
  assert.equal(info.name, 'wasm');
});

for (const { name, shape } of shapes) {
  test(`channel means equal tf.mean over every axis but the last: ${name}`, async () => {
    const axes = shape.slice(0, -1).map((_, i) => i);
    const want = await on('cpu', () => [tf.mean(inputs(shape).x, axes)]);
    assertClose(await on('cpu', () => [channelMeans(inputs(shape).x)]), want, 'cpu');
    assertClose(await on('wasm', () => [channelMeans(inputs(shape).x)]), want, 'wasm');
  });

  test(`eval-mode BatchNorm and its gradients equal tf.batchNorm's: ${name}`, async () => {
    const want = await on('cpu', evalCase(shape, false));
    assertClose(await on('cpu', evalCase(shape, true)), want, 'cpu');
    assertClose(await on('wasm', evalCase(shape, true)), want, 'wasm');
  });

  test(`train-mode BatchNorm, its statistics and its gradients equal tf.moments + tf.batchNorm: ${name}`, async () => {
    const want = await on('cpu', trainCase(shape, false));
    assertClose(await on('cpu', trainCase(shape, true)), want, 'cpu');
    assertClose(await on('wasm', trainCase(shape, true)), want, 'wasm');
  });
}

test('a train-mode BatchNorm step runs neither FusedBatchNorm nor a Tile on wasm', async () => {
  await tf.setBackend('wasm');
  const profile = await tf.profile(() => {
    tf.dispose(trainCase([3, 5, 6, 4], true)());
  });
  for (const slow of ['FusedBatchNorm', 'Tile', 'Transpose']) assert.ok(!profile.kernelNames.includes(slow), `kernels: ${profile.kernelNames.join(', ')}`);
});
