/**
 * Our full BAN scan against the official sequence of passes in PyTorch (bench/torch_ban.py), on
 * the same model file and the same CIFAR-10 images, one after the other on this machine. Prints a
 * JSON line per model with the seconds per phase on both sides and the ratio of the totals.
 *
 *   node --import tsx bench/ban-compare.ts MODEL.onnx ARCH [--threads N] [--torch-threads N]
 *       [--mask-epochs E] [--steps S] [--batch-size B]
 *
 * --mask-epochs and --steps shorten the schedule on both sides alike (a full-width ResNet-18 runs
 * for hours on two CPU cores at BAN's defaults); per-step times stay comparable. --batch-size sets
 * B on both sides (a full-width ResNet-18 does not fit the wasm backend's memory at 128).
 *
 * ARCH names the PyTorch module torch_ban.py rebuilds (vgg-small, resnet8, resnet18); the ONNX
 * initializers carry the PyTorch parameter names, so both sides run identical weights.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { scanModel } from '../src/engine/scan';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { threads: { type: 'string', default: '1' }, 'torch-threads': { type: 'string', default: '1' }, 'mask-epochs': { type: 'string', default: '20' }, steps: { type: 'string', default: '30' }, 'batch-size': { type: 'string', default: '128' } } });
  const [modelPath, arch] = positionals;
  if (!modelPath || !arch) throw new Error('usage: ban-compare.ts MODEL.onnx ARCH');
  const data = path.resolve(__dirname, '../../shared/datasets/cifar10/cifar10-test.zip');
  const schedule = { maskEpochs: Number(values['mask-epochs']), steps: Number(values.steps), batchSize: Number(values['batch-size']) };
  // PyTorch first: a model it cannot load fails in seconds, before the long scan.
  const torchOut = execFileSync('/usr/bin/python3', [path.join(__dirname, 'torch_ban.py'), '--model', modelPath, '--arch', arch, '--threads', values['torch-threads'], '--mask-epochs', String(schedule.maskEpochs), '--steps', String(schedule.steps), '--batch-size', String(schedule.batchSize)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const started = Date.now();
  const report = await scanModel({ modelPath, dataPath: data, threads: Number(values.threads), settings: schedule });
  const ours = { totalSeconds: (Date.now() - started) / 1000, phases: report.timings, backend: report.backend, verdict: report.verdict.verdict };
  const torch = JSON.parse(torchOut.trim().split('\n').pop() as string);
  process.stdout.write(`${JSON.stringify({ model: modelPath, arch, schedule, ours, torch, ratio: ours.totalSeconds / torch.total })}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
