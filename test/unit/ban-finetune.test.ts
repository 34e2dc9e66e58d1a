import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend';
import { buildResNet } from '../../src/engine/arch/resnet';
import { makeDataset } from '../../src/engine/data/dataset';
import { buildBatch, Dataset } from '../../src/engine/data';
import { createNoise, DEFAULT_BAN_SETTINGS, disposeNoise, noiseAscentStep, noiseMap, resetNoise } from '../../src/engine/detect/ban';
import { Network } from '../../src/engine/graph/executor';
import { banFinetune, banFinetuneLoss, defaultBanFinetuneSettings } from '../../src/engine/mitigate/ban-finetune';
import { Rng } from '../../src/engine/random';
import { crossEntropy } from '../../src/engine/train/loss';
import { train } from '../../src/engine/train/trainer';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

const SHAPE: [number, number, number] = [8, 8, 3];
const PREP = { scale: 255, mean: [0.5], std: [0.25] };

function syntheticDataset(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: n }, () => rng.int(3));
  const images = Array.from(labels, (label) => Uint8Array.from({ length: 192 }, (_, i) => Math.round(rng.uniform(0, 140) + (i % 3 === label ? 100 : 0))));
  return makeDataset({
    path: 'memory',
    kind: 'synthetic',
    classes: ['a', 'b', 'c'],
    labels,
    read: (i) => ({ height: 8, width: 8, channels: 3, pixels: images[i] }),
    itemName: (i) => `#${i}`,
    details: 'synthetic',
  });
}

async function pretrained(ds: Dataset): Promise<Network> {
  const built = buildResNet({ blocks: [1, 1], widths: [4, 8], numClasses: 3, inputShape: SHAPE, seed: 2 });
  const net = new Network(built.graph, built.weights);
  const { optimizer } = await train(net, ds, Int32Array.from({ length: ds.size }, (_, i) => i), PREP, { epochs: 6, batchSize: 32, learningRate: () => 0.05, seed: 1 });
  optimizer.dispose();
  return net;
}

/** Mean CE under adversarial noise (fresh U(−ε, ε) plus `steps` ascent steps, seeded), BN statistics restored. */
function lossUnderNoise(net: Network, ds: Dataset, eps: number, seed: number): number {
  const idx = Int32Array.from({ length: ds.size }, (_, i) => i);
  const { x, y } = buildBatch(ds, idx, SHAPE, PREP);
  const xs = tf.tensor4d(x, [ds.size, ...SHAPE]);
  const snapshot = net.snapshot();
  const noise = createNoise(net);
  resetNoise(noise, eps, new Rng(seed));
  for (let s = 0; s < 3; s++) noiseAscentStep(net, noise, xs, y, { ...DEFAULT_BAN_SETTINGS, steps: 3 }, eps, false);
  const loss = tf.tidy(() => crossEntropy(net.logits(xs, { bnMode: 'train', updateRunningStats: false, noise: noiseMap(noise) }), y).dataSync()[0]);
  disposeNoise(noise);
  net.restore(snapshot);
  xs.dispose();
  return loss;
}

test('the noisy term reaches the BatchNorm scale through γ(1+δ): its gradient is (1+δ) times the clean one at γ(1+δ)', () => {
  const built = buildResNet({ blocks: [1, 1], widths: [4, 8], numClasses: 3, inputShape: SHAPE, seed: 3 });
  const net = new Network(built.graph, built.weights);
  const ds = syntheticDataset(16, 4);
  const { x, y } = buildBatch(ds, Int32Array.from({ length: 16 }, (_, i) => i), SHAPE, PREP);
  const xs = tf.tensor4d(x, [16, ...SHAPE]);
  const noise = createNoise(net);
  resetNoise(noise, 0.3, new Rng(5));
  const bn = 'layer2.0.bn1';
  const gamma = net.param(bn, 'gamma');
  const gradOf = (lambda: number) => {
    const { grads, value } = tf.variableGrads(() => banFinetuneLoss(net, noise, xs, y, lambda).loss, [gamma]);
    value.dispose();
    return grads[gamma.name].dataSync();
  };
  const withNoise = gradOf(1);
  const cleanOnly = gradOf(0);
  const noisyPart = withNoise.map((g, i) => g - cleanOnly[i]);
  // The same derivative by hand: set every BatchNorm to γ(1+δw), β(1+δb), differentiate the clean
  // loss, and apply the chain rule's factor (1+δw).
  const snapshot = net.snapshot();
  for (const [name, n] of noise) {
    tf.tidy(() => {
      net.param(name, 'gamma').assign(tf.mul(net.param(name, 'gamma'), tf.add(1, n.scale)));
      net.param(name, 'beta').assign(tf.mul(net.param(name, 'beta'), tf.add(1, n.shift)));
    });
  }
  const { grads, value } = tf.variableGrads(() => crossEntropy(net.logits(xs, { bnMode: 'train', updateRunningStats: false }), y), [gamma]);
  value.dispose();
  const scale = (noise.get(bn) as { scale: tf.Variable }).scale.dataSync();
  const expected = grads[gamma.name].dataSync().map((g, i) => g * (1 + scale[i]));
  noisyPart.forEach((g, i) => assert.ok(Math.abs(g - expected[i]) < 1e-4 + 1e-3 * Math.abs(expected[i]), `channel ${i}: ${g} vs ${expected[i]}`));
  assert.ok(noisyPart.some((g) => Math.abs(g) > 1e-4));
  net.restore(snapshot);
  disposeNoise(noise);
  xs.dispose();
  net.dispose();
});

test('BAN fine-tuning lowers the loss under adversarial neuron noise on a tiny model, more than plain fine-tuning', async () => {
  const ds = syntheticDataset(96, 6);
  const eps = 0.3;
  const indices = Int32Array.from({ length: ds.size }, (_, i) => i);
  const settings = { ...defaultBanFinetuneSettings(), epochs: 10, batchSize: 32, eps, robLambda: 1 };
  const run = async (robLambda: number) => {
    const net = await pretrained(ds);
    const before = lossUnderNoise(net, ds, eps, 7);
    const history = await banFinetune(net, { dataset: ds, indices, preprocessing: PREP }, { ...settings, robLambda });
    const after = lossUnderNoise(net, ds, eps, 7);
    net.dispose();
    return { before, after, history };
  };
  const ban = await run(1);
  // The control: the same schedule without the noisy term (λ = 0) is plain fine-tuning.
  const plain = await run(0);
  assert.equal(ban.history.length, 10);
  assert.ok(ban.history.every((h) => Math.abs(h.loss - (h.cleanLoss + h.noisyLoss)) < 1e-4));
  assert.ok(ban.after < ban.before, `loss under noise ${ban.before} -> ${ban.after}`);
  assert.ok(ban.after < plain.after, `BAN ${ban.after} vs plain fine-tuning ${plain.after}`);
});

test('BAN fine-tuning stops at the next step when cancelled', async () => {
  const ds = syntheticDataset(64, 8);
  const built = buildResNet({ blocks: [1, 1], widths: [4, 8], numClasses: 3, inputShape: SHAPE, seed: 2 });
  const net = new Network(built.graph, built.weights);
  const controller = new AbortController();
  let steps = 0;
  await assert.rejects(
    banFinetune(net, { dataset: ds, indices: Int32Array.from({ length: ds.size }, (_, i) => i), preprocessing: PREP }, { ...defaultBanFinetuneSettings(), epochs: 3, batchSize: 16 }, {
      signal: controller.signal,
      onProgress: () => {
        steps += 1;
        if (steps === 2) controller.abort();
      },
    }),
    { name: 'CancelledError' },
  );
  assert.equal(steps, 2);
  net.dispose();
});
