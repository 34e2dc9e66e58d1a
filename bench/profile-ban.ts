/**
 * Where a BAN scan's time goes, kernel by kernel: runs a few mask-phase steps and one noise batch
 * of BAN's default schedule on a model and the CIFAR-10 test images, first plainly (wall time),
 * then under tf.profile, and prints the kernels by total time. Composite kernels (the conv
 * gradients) run forward convs inside, which the profile counts twice.
 *
 *   node --import tsx bench/profile-ban.ts MODEL [--mask-steps 20] [--noise-steps 30] [--threads 1]
 *
 * docs/benchmarks.md quotes its output.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend';
import { buildBatch } from '../src/engine/data';
import { createNoise, DEFAULT_BAN_SETTINGS, disposeNoise, ImageSet, learnMask, optimiseNoise } from '../src/engine/detect/ban';
import { Network } from '../src/engine/graph/executor';
import { resolveSplitPoint } from '../src/engine/graph/split';
import { Rng } from '../src/engine/random';
import { banSubsets } from '../src/engine/scan';
import { openData, openModel } from '../src/engine/session';
import { blackPixelValue } from '../src/engine/train/trainer';

/** Runs `work` once for the wall time and once under tf.profile; prints kernels by total time. */
async function report(label: string, work: () => Promise<void>): Promise<void> {
  const started = performance.now();
  await work();
  const wallMs = performance.now() - started;
  const info = await tf.profile(async () => {
    await work();
    return tf.scalar(0);
  });
  const totals = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    const entry = totals.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += k.kernelTimeMs as number;
    entry.calls += 1;
    totals.set(k.name, entry);
  }
  process.stdout.write(`${label}: ${(wallMs / 1000).toFixed(2)} s wall\n`);
  for (const [name, { ms, calls }] of [...totals].sort((a, b) => b[1].ms - a[1].ms).filter(([, e]) => e.ms >= 1)) {
    process.stdout.write(`  ${name.padEnd(28)} ${ms.toFixed(0).padStart(7)} ms ${String(calls).padStart(6)} calls\n`);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'mask-steps': { type: 'string', default: '20' }, 'noise-steps': { type: 'string', default: '30' }, threads: { type: 'string', default: '1' } } });
  const [modelPath] = positionals;
  if (!modelPath) throw new Error('usage: profile-ban.ts MODEL [--mask-steps N] [--noise-steps N] [--threads N]');
  const backend = await initBackend({ threads: Number(values.threads) });
  const model = await openModel(modelPath, {});
  const data = await openData(model, { dataPath: path.resolve(__dirname, '../../shared/datasets/cifar10/cifar10-test.zip') });
  const prep = data.preprocessing.preprocessing;
  const shape = data.inputShape;
  const maskSteps = Number(values['mask-steps']);
  // One "epoch" of `maskSteps` batches, and one noise batch of `noise-steps` sign-ascent steps.
  const settings = { ...DEFAULT_BAN_SETTINGS, maskEpochs: 1, batchesPerEpoch: maskSteps, steps: Number(values['noise-steps']) };
  const subsets = banSubsets(data.dataset.size, settings);
  const load = (indices: Int32Array): ImageSet => ({ ...buildBatch(data.dataset, indices, shape, prep), indices });
  const net = new Network(model.loaded.graph, model.loaded.weights);
  const input = { net, split: resolveSplitPoint(model.loaded.graph, undefined), optimisation: load(subsets.optimisation), evaluation: load(subsets.evaluation.slice(0, 1)), padValue: blackPixelValue(prep, shape[2]) };
  process.stdout.write(`${modelPath}: backend ${backend.name}, ${backend.threads} thread(s), batch ${settings.batchSize}\n`);
  await report(`mask phase, ${maskSteps} steps`, async () => {
    (await learnMask(input, settings, new Rng(1), {})).dispose();
  });
  const noise = createNoise(net);
  await report(`noise phase, 1 batch × ${settings.steps} steps`, () => optimiseNoise(input, noise, settings, settings.eps, new Rng(2), { phase: 'noise', trailingBatches: 1 }));
  disposeNoise(noise);
  net.dispose();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
