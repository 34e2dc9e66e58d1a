import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend';
import { buildResNet } from '../../src/engine/arch/resnet';
import { Network } from '../../src/engine/graph/executor';
import { defaultSplitPoint } from '../../src/engine/graph/split';
import {
  BanInput,
  createNoise,
  DEFAULT_BAN_SETTINGS,
  disposeNoise,
  ImageSet,
  maskObjective,
  noiseAscentStep,
  optimiseNoise,
  resetNoise,
  runBan,
} from '../../src/engine/detect/ban';
import { crossEntropy } from '../../src/engine/train/loss';
import { Rng } from '../../src/engine/random';
import { BanSettings } from '../../src/engine/report';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

const SHAPE: [number, number, number] = [8, 8, 3];

function tinyNet(seed = 1): { net: Network; split: string } {
  const built = buildResNet({ blocks: [1, 1], widths: [4, 8], numClasses: 3, inputShape: SHAPE, seed });
  return { net: new Network(built.graph, built.weights), split: defaultSplitPoint(built.graph) };
}

function images(n: number, seed: number): ImageSet {
  const rng = new Rng(seed);
  return {
    x: rng.normalArray(n * SHAPE[0] * SHAPE[1] * SHAPE[2]),
    y: Int32Array.from({ length: n }, () => rng.int(3)),
    indices: Int32Array.from({ length: n }, (_, i) => i),
  };
}

const SMALL: BanSettings = { ...DEFAULT_BAN_SETTINGS, maskEpochs: 2, batchesPerEpoch: 3, batchSize: 8, steps: 4, sweepEps: [0.1], sweepImages: 16 };

function input(net: Network, split: string): BanInput {
  return { net, split, optimisation: images(24, 2), evaluation: images(32, 3), padValue: [0, 0, 0] };
}

test('the mask objective gradient matches finite differences, and the L1 term is λ·sign(m)/‖m‖₁', () => {
  const { net, split } = tinyNet();
  const x = tf.tensor4d(images(6, 4).x, [6, ...SHAPE]);
  const y = Int32Array.from([0, 1, 2, 0, 1, 2]);
  const z = net.run(x, { to: split, bnMode: 'eval' }).output; // [6, 4, 4, 8]
  const m0 = new Rng(5).uniformArray(z.size / 6, 0.1, 0.9);
  const shape = z.shape.slice(1);
  const lossAt = (m: Float32Array, lambda: number) => tf.tidy(() => maskObjective(net, split, z, tf.tensor(m, shape), y, lambda).dataSync()[0]);
  const gradAt = (lambda: number) => tf.tidy(() => tf.grad((m: tf.Tensor) => maskObjective(net, split, z, m, y, lambda))(tf.tensor(m0, shape)).dataSync());
  const g0 = gradAt(0);
  const h = 1e-2;
  for (const i of [0, 7, 31, 100]) {
    const plus = m0.slice();
    const minus = m0.slice();
    plus[i] += h;
    minus[i] -= h;
    const fd = (lossAt(plus, 0) - lossAt(minus, 0)) / (2 * h);
    assert.ok(Math.abs(fd - g0[i]) < 1e-3 + 0.02 * Math.abs(fd), `element ${i}: finite difference ${fd} vs gradient ${g0[i]}`);
  }
  const lambda = 0.75;
  const gl = gradAt(lambda);
  const l1 = m0.reduce((a, b) => a + Math.abs(b), 0);
  for (const i of [0, 7, 31, 100]) assert.ok(Math.abs(gl[i] - g0[i] - lambda / l1) < 1e-6);
  // The L1 term's value is always λ, whatever the mask.
  assert.ok(Math.abs(lossAt(m0, lambda) - lossAt(m0, 0) - lambda) < 1e-5);
  net.dispose();
});

test('sign ascent on the neuron noise raises the loss', () => {
  const { net } = tinyNet(3);
  const noise = createNoise(net);
  const set = images(16, 6);
  const x = tf.tensor4d(set.x, [16, ...SHAPE]);
  const loss = () => tf.tidy(() => crossEntropy(net.logits(x, { bnMode: 'train', updateRunningStats: false, noise: new Map([...noise].map(([k, v]) => [k, { scale: v.scale as tf.Tensor1D, shift: v.shift as tf.Tensor1D }])) }), set.y).dataSync()[0]);
  const before = loss();
  for (let s = 0; s < 10; s++) noiseAscentStep(net, noise, x, set.y, { ...SMALL, steps: 10 }, 0.3, false);
  const after = loss();
  assert.ok(after > before + 0.05, `loss ${before} -> ${after}`);
  disposeNoise(noise);
  net.dispose();
});

test('official noise stays within 2ε and can leave [-ε, ε]; projected noise stays within ε', async () => {
  const eps = 0.3;
  for (const variant of ['official', 'projected'] as const) {
    const { net, split } = tinyNet(4);
    const noise = createNoise(net);
    await optimiseNoise(input(net, split), noise, { ...SMALL, noiseVariant: variant, steps: 6 }, eps, new Rng(7), { phase: 'noise' });
    const values = [...noise.values()].flatMap((n) => [...n.scale.dataSync(), ...n.shift.dataSync()]);
    const maxAbs = Math.max(...values.map(Math.abs));
    if (variant === 'official') {
      assert.ok(maxAbs <= 2 * eps + 1e-6, `official max |δ| ${maxAbs}`);
      assert.ok(maxAbs > eps, `official noise should exceed ε somewhere (max ${maxAbs})`);
    } else {
      assert.ok(maxAbs <= eps + 1e-6, `projected max |δ| ${maxAbs}`);
    }
    disposeNoise(noise);
    net.dispose();
  }
});

test('the default noise phase keeps the same δ as the faithful replay of all batches', async () => {
  const results: Float32Array[] = [];
  for (const faithful of [false, true]) {
    const { net, split } = tinyNet(5);
    const noise = createNoise(net);
    // 8 batches of 2 steps: the default runs only the trailing batches the statistics remember.
    await optimiseNoise(input(net, split), noise, { ...SMALL, faithful, batchesPerEpoch: 8, steps: 2 }, 0.3, new Rng(9), { phase: 'noise', trailingBatches: 2 });
    results.push(Float32Array.from([...noise.values()].flatMap((n) => [...n.scale.dataSync(), ...n.shift.dataSync()])));
    disposeNoise(noise);
    net.dispose();
  }
  let maxDiff = 0;
  results[0].forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - results[1][i]))));
  assert.ok(maxDiff < 1e-6, `kept δ differs by ${maxDiff}`);
});

test('a seeded BAN run repeats exactly and leaves the model as it was', async () => {
  const runs = [];
  for (let r = 0; r < 2; r++) {
    const { net, split } = tinyNet(6);
    const before = net.exportWeights();
    const run = await runBan(input(net, split), SMALL);
    const after = net.exportWeights();
    for (const [key, w] of before) assert.deepEqual(after.get(key)?.data, w.data, `${key} changed`);
    runs.push(run);
    net.dispose();
  }
  assert.deepEqual(Array.from(runs[0].mask), Array.from(runs[1].mask));
  assert.deepEqual(runs[0].negativeMask.histogram, runs[1].negativeMask.histogram);
  assert.deepEqual(Array.from(runs[0].noisyPredictions), Array.from(runs[1].noisyPredictions));
  assert.deepEqual(runs[0].sweep.map((s) => s.eps), [0.1, 0.3]);
});

test('resetNoise draws δ uniformly in [-ε, ε]', () => {
  const { net } = tinyNet(7);
  const noise = createNoise(net);
  resetNoise(noise, 0.2, new Rng(3));
  const values = [...noise.values()].flatMap((n) => [...n.scale.dataSync()]);
  assert.ok(values.every((v) => v >= -0.2 && v < 0.2));
  assert.ok(values.some((v) => v < -0.1) && values.some((v) => v > 0.1));
  disposeNoise(noise);
  net.dispose();
});
