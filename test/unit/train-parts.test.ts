import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Adam, Sgd } from '../../src/engine/train/optimizers';
import { crossEntropy } from '../../src/engine/train/loss';
import { augmentBatch } from '../../src/engine/train/augment';
import { Rng } from '../../src/engine/random';

before(async () => {
  await tf.setBackend('cpu');
});

test('SGD with momentum and weight decay follows torch.optim.SGD step by step', () => {
  const w = tf.variable(tf.tensor1d([1, -2]));
  const opt = new Sgd(0.1, 0.9, 0.01);
  const grads = [[0.5, 0.5], [-1, 2], [0.25, 0]];
  let ref = [1, -2];
  let buf: number[] | undefined;
  for (const g of grads) {
    opt.step([w], [tf.tensor1d(g)]);
    const gd = g.map((gi, i) => gi + 0.01 * ref[i]);
    buf = buf ? buf.map((b, i) => 0.9 * b + gd[i]) : gd;
    ref = ref.map((r, i) => r - 0.1 * (buf as number[])[i]);
    const got = w.dataSync();
    ref.forEach((r, i) => assert.ok(Math.abs(got[i] - r) < 1e-6));
  }
  opt.dispose();
});

test('a cloned SGD continues from the same momentum and leaves the original untouched', () => {
  const w = tf.variable(tf.tensor1d([1, -2]));
  const opt = new Sgd(0.1, 0.9, 0);
  opt.step([w], [tf.tensor1d([1, 1])]); // buffer [1, 1]; w = [0.9, -2.1]
  const copy = opt.clone();
  copy.step([w], [tf.tensor1d([0, 2])]); // buffer 0.9·[1, 1] + [0, 2] = [0.9, 2.9]; w = [0.81, -2.39]
  assert.deepEqual([...w.dataSync()].map((v) => Number(v.toFixed(5))), [0.81, -2.39]);
  w.assign(tf.tensor1d([0.9, -2.1]));
  opt.step([w], [tf.tensor1d([0, 0])]); // the original's buffer is still [1, 1]: 0.9·[1, 1]
  assert.deepEqual([...w.dataSync()].map((v) => Number(v.toFixed(5))), [0.81, -2.19]);
  opt.dispose();
  copy.dispose();
});

test('Adam follows torch.optim.Adam with bias correction', () => {
  const p = tf.variable(tf.tensor1d([0.3]));
  const opt = new Adam(0.01);
  let m = 0;
  let v = 0;
  let ref = 0.3;
  const gs = [1, -0.5, 2];
  gs.forEach((g, t) => {
    opt.step([p], [tf.tensor1d([g])]);
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    const mh = m / (1 - 0.9 ** (t + 1));
    const vh = v / (1 - 0.999 ** (t + 1));
    ref -= (0.01 * mh) / (Math.sqrt(vh) + 1e-8);
    assert.ok(Math.abs(p.dataSync()[0] - ref) < 1e-6);
  });
  opt.dispose();
});

test('cross-entropy equals the hand computation', () => {
  const logits = tf.tensor2d([[1, 2, 3], [0, 0, 0]]);
  const got = crossEntropy(logits, new Int32Array([2, 0])).dataSync()[0];
  const l1 = -Math.log(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3)));
  const l2 = -Math.log(1 / 3);
  assert.ok(Math.abs(got - (l1 + l2) / 2) < 1e-6);
});

test('augmentation shifts, flips and pads with the given value', () => {
  // One 2x2 single-channel image; with pad 0 only flips can happen.
  const x = Float32Array.from([1, 2, 3, 4]);
  const seen = new Set<string>();
  const rng = new Rng(3);
  for (let i = 0; i < 20; i++) seen.add(Array.from(augmentBatch(x, [1, 2, 2, 1], { pad: 0, flip: true, padValue: [-9] }, rng)).join(','));
  assert.deepEqual([...seen].sort(), ['1,2,3,4', '2,1,4,3']);
  // With pad 1 and no flip, every output pixel is either a source pixel or the pad value.
  const shifted = augmentBatch(x, [1, 2, 2, 1], { pad: 1, flip: false, padValue: [-9] }, new Rng(5));
  assert.ok(Array.from(shifted).every((v) => [1, 2, 3, 4, -9].includes(v)));
});
