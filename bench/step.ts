/**
 * One training step of a CIFAR ResNet-18 (11.2M parameters) on the engine's backend: forward,
 * forward + backward w.r.t. all weights (BatchNorm in train mode), and forward + backward w.r.t.
 * the input only (BatchNorm in eval mode, as BAN's mask and noise phases need). Prints a JSON line
 * per configuration with the median ms/step, peak RSS, and where the time goes (kernel times).
 *
 *   node --import tsx bench/step.ts [--batch 32,128] [--steps 3] [--backend wasm] [--threads N] [--model resnet18|small]
 *
 * bench/torch_step.py runs the same steps in PyTorch; docs/benchmarks.md has both side by side.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { BackendChoice, initBackend } from '../src/engine/backend';
import { resnet18 } from '../src/engine/arch/resnet';
import { buildSmallVgg } from '../src/engine/arch/vgg-small';
import { Network } from '../src/engine/graph/executor';
import { crossEntropy } from '../src/engine/train/loss';
import { Rng } from '../src/engine/random';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeSteps(steps: number, fn: () => void): Promise<number[]> {
  fn(); // warm-up: kernel setup, filter caches, wasm memory growth
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  return times;
}

async function profile(fn: () => void): Promise<{ kernel: string; ms: number }[]> {
  const info = await tf.profile(fn);
  const totals = new Map<string, number>();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : ((await k.kernelTimeMs) as { kernelMs?: number }).kernelMs ?? 0;
    totals.set(k.name, (totals.get(k.name) ?? 0) + ms);
  }
  return [...totals].map(([kernel, ms]) => ({ kernel, ms: Math.round(ms) })).sort((a, b) => b.ms - a.ms).slice(0, 8);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { batch: { type: 'string', default: '32,128' }, steps: { type: 'string', default: '3' }, backend: { type: 'string' }, threads: { type: 'string' }, model: { type: 'string', default: 'resnet18' }, profile: { type: 'boolean', default: true } } });
  const backend = await initBackend({ backend: values.backend as BackendChoice | undefined, threads: values.threads === undefined ? undefined : Number(values.threads) });
  const built = values.model === 'small' ? buildSmallVgg({ widths: [32, 64] }) : resnet18(10, 0);
  const net = new Network(built.graph, built.weights);
  const vars = net.trainableVariables();
  for (const batch of values.batch.split(',').map(Number)) {
    const x = tf.tensor4d(new Rng(1).normalArray(batch * 32 * 32 * 3), [batch, 32, 32, 3]);
    const y = Int32Array.from({ length: batch }, (_, i) => i % 10);
    const fwd = () => tf.tidy(() => void net.logits(x).dataSync());
    const fwdBwd = () => {
      const { value, grads } = tf.variableGrads(() => crossEntropy(net.logits(x, { bnMode: 'train', updateRunningStats: false }), y), vars);
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
    };
    const xGrad = () => {
      const g = tf.grad((input: tf.Tensor) => crossEntropy(net.logits(input), y))(x);
      g.dataSync();
      g.dispose();
    };
    const steps = Number(values.steps);
    const result = {
      model: values.model,
      batch,
      backend: backend.name,
      simd: backend.simd,
      threads: backend.threads,
      fwdMs: median(await timeSteps(steps, fwd)),
      fwdBwdMs: median(await timeSteps(steps, fwdBwd)),
      xGradMs: median(await timeSteps(steps, xGrad)),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      profileFwdBwd: values.profile ? await profile(fwdBwd) : undefined,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    x.dispose();
  }
  net.dispose();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
