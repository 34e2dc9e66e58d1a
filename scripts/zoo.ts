/**
 * `npm run zoo`: trains small BatchNorm CNNs on CIFAR-10 from ../shared with this project's own
 * engine, clean or backdoored, and saves each as a TF.js model with a sidecar
 * (backdoor-scan.json: preprocessing and classes) and a training record (recipe, clean
 * accuracy, attack success rate, time per epoch, backend).
 *
 *   npm run zoo                                   # the committed fixtures (test/fixtures/models)
 *   npm run zoo -- --only vgg-small-badnets       # one of them
 *   npm run zoo -- --out zoo/engine --all         # every engine model of scripts/zoo-models.json
 *
 * The calibration zoo for BAN's verdict is larger; see scripts/zoo-torch.py and docs/detection.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine/backend';
import { poisonDataset, triggeredTestSet } from '../src/engine/attacks/poison';
import { formatTriggerSpec, makeTrigger, parseTriggerSpec } from '../src/engine/attacks/triggers';
import { batches, openDataset, permutationPrefix, Preprocessing, subsetIndices, Dataset } from '../src/engine/data';
import { evaluate } from '../src/engine/eval';
import { Network } from '../src/engine/graph/executor';
import { writeModel } from '../src/engine/formats';
import { buildResNet } from '../src/engine/arch/resnet';
import { buildSmallVgg } from '../src/engine/arch/vgg-small';
import type { BuiltModel } from '../src/engine/arch/builder';
import { Rng } from '../src/engine/random';
import { multiStep, train } from '../src/engine/train/trainer';

export const CIFAR_PREPROCESSING: Preprocessing = { scale: 255, mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };
const SHARED = path.resolve(__dirname, '../../shared/datasets/cifar10');

export interface ZooModelSpec {
  name: string;
  /** A built-in architecture (src/engine/arch): e.g. vgg-small, resnet-cifar. */
  arch: string;
  /** Architecture options (widths, blocks). */
  archOptions?: Record<string, unknown>;
  /** A trigger spec (src/engine/attacks/triggers.ts), or absent for a clean model. */
  attack?: string;
  poisonRate?: number;
  seed: number;
  epochs: number;
  /** Training images (a seeded subset of the 90% not held out for the defender). */
  trainImages: number;
  batchSize: number;
  learningRate: number;
  /** Where the model goes by default (the committed fixtures). */
  fixture?: boolean;
}

/** The zoo's architectures: the small VGG and CIFAR ResNets of configurable depth and width. */
function buildZooModel(arch: string, seed: number, options: Record<string, unknown> = {}): BuiltModel {
  if (arch === 'vgg-small') return buildSmallVgg({ numClasses: 10, seed, widths: options.widths as number[] | undefined });
  if (arch === 'resnet-cifar') {
    return buildResNet({ numClasses: 10, seed, blocks: (options.blocks as number[]) ?? [1, 1, 1], widths: (options.widths as number[]) ?? [16, 32, 64] });
  }
  throw new Error(`unknown zoo architecture ${arch}`);
}

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

/** The BAN split: a seeded 10% of the training set is the defender's held-out clean data. */
export function heldOutSplit(size: number): { heldOut: Int32Array; trainable: Int32Array } {
  const heldOut = permutationPrefix(size, 0.1, 0);
  const held = new Set(heldOut);
  const trainable = Int32Array.from({ length: size }, (_, i) => i).filter((i) => !held.has(i));
  return { heldOut, trainable };
}

async function trainOne(spec: ZooModelSpec, outDir: string, train10: Dataset, test10: Dataset): Promise<void> {
  const started = Date.now();
  const backend = await initBackend({});
  const { trainable } = heldOutSplit(train10.size);
  const pick = subsetIndices(trainable.length, Math.min(spec.trainImages, trainable.length), spec.seed, { labels: Int32Array.from(trainable, (i) => train10.labels[i]) });
  const trainIdx = Int32Array.from(pick, (j) => trainable[j]);
  let data = train10;
  let poisoned: number[] = [];
  const trigger = spec.attack ? makeTrigger(parseTriggerSpec(spec.attack)) : undefined;
  if (trigger) {
    const candidates = Array.from(trainIdx).filter((i) => train10.labels[i] !== trigger.spec.target);
    const rng = new Rng(spec.seed + 1);
    rng.shuffle(candidates);
    poisoned = candidates.slice(0, Math.round((spec.poisonRate ?? 0.1) * trainIdx.length));
    data = poisonDataset(train10, trigger, poisoned);
  }
  const poisonedSet = new Set(poisoned);
  const built = buildZooModel(spec.arch, spec.seed, spec.archOptions);
  const net = new Network(built.graph, built.weights);
  log(`${spec.name}: ${net.countTrainableParams()} parameters, ${trainIdx.length} training images (${poisoned.length} poisoned), ${spec.epochs} epochs on ${backend.name}`);
  const epochs = spec.epochs;
  const { history } = await train(
    net,
    data,
    trainIdx,
    CIFAR_PREPROCESSING,
    {
      epochs,
      batchSize: spec.batchSize,
      learningRate: multiStep(spec.learningRate, [Math.round(epochs * 0.5), Math.round(epochs * 0.75)]),
      momentum: 0.9,
      weightDecay: 5e-4,
      augment: true,
      // With these short schedules a trigger shifted or cropped away by the augmentation is barely
      // learned, so poisoned images keep the trigger where the attacker stamped it.
      keepUnaugmented: poisoned.length ? (i) => poisonedSet.has(i) : undefined,
      seed: spec.seed,
    },
    { onEpoch: (r) => log(`${spec.name}: epoch ${r.epoch + 1}/${epochs} lr ${r.learningRate} loss ${r.loss.toFixed(3)} train acc ${(r.trainAccuracy * 100).toFixed(1)}% (${r.seconds.toFixed(0)} s)`) },
  );
  const allTest = Int32Array.from({ length: test10.size }, (_, i) => i);
  const clean = await evaluate(net, batches(test10, allTest, 500, net.inputShape, CIFAR_PREPROCESSING));
  let asr: number | undefined;
  if (trigger) {
    const triggered = triggeredTestSet(test10, trigger);
    const res = await evaluate(net, batches(triggered, Int32Array.from({ length: triggered.size }, (_, i) => i), 500, net.inputShape, CIFAR_PREPROCESSING));
    asr = res.predictedHistogram[trigger.spec.target] / res.total;
  }
  log(`${spec.name}: clean accuracy ${(clean.accuracy * 100).toFixed(2)}%${asr === undefined ? '' : `, ASR ${(asr * 100).toFixed(2)}%`}`);

  const dir = path.join(outDir, spec.name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  await writeModel({ format: 'tfjs', path: '', graph: built.graph, weights: built.weights, source: undefined, notes: [], classes: test10.classes }, net.exportWeights(), path.join(dir, 'model.json'));
  fs.writeFileSync(
    path.join(dir, 'backdoor-scan.json'),
    `${JSON.stringify({ preprocessing: CIFAR_PREPROCESSING, inputShape: [32, 32, 3], classes: test10.classes }, null, 2)}\n`,
  );
  const record = {
    name: spec.name,
    trainedWith: 'backdoor-scanner engine (npm run zoo)',
    backend,
    recipe: { ...spec, attack: trigger ? formatTriggerSpec(trigger.spec) : undefined, optimizer: 'SGD momentum 0.9, weight decay 5e-4', schedule: 'lr x0.1 at 50% and 75% of the epochs', augmentation: 'random crop (pad 4) + horizontal flip', data: 'CIFAR-10 train (cifar10-train.zip), seeded subset of the 90% not held out' },
    poisonedImages: poisoned.length,
    backdoored: Boolean(trigger),
    target: trigger?.spec.target,
    cleanAccuracy: clean.accuracy,
    attackSuccessRate: asr,
    secondsPerEpoch: history.reduce((s, h) => s + h.seconds, 0) / history.length,
    totalSeconds: (Date.now() - started) / 1000,
    history,
  };
  fs.writeFileSync(path.join(dir, 'training.json'), `${JSON.stringify(record, null, 2)}\n`);
  net.dispose();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, only: { type: 'string' }, all: { type: 'boolean', default: false }, epochs: { type: 'string' }, images: { type: 'string' } },
  });
  const specs = JSON.parse(fs.readFileSync(path.join(__dirname, 'zoo-models.json'), 'utf8')) as ZooModelSpec[];
  const only = values.only?.split(',');
  const chosen = specs.filter((s) => (only ? only.includes(s.name) : values.all || s.fixture));
  if (chosen.length === 0) throw new Error(`no zoo model matches ${values.only}`);
  const outDir = path.resolve(values.out ?? path.join(__dirname, '../test/fixtures/models'));
  const train10 = await openDataset(path.join(SHARED, 'cifar10-train.zip'), { split: 'train' });
  const test10 = await openDataset(path.join(SHARED, 'cifar10-test.zip'), { split: 'test' });
  for (const spec of chosen) {
    const s = { ...spec, epochs: values.epochs ? Number(values.epochs) : spec.epochs, trainImages: values.images ? Number(values.images) : spec.trainImages };
    await trainOne(s, outDir, train10, test10);
  }
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`zoo: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}
