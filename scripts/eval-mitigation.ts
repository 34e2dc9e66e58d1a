/**
 * `npm run eval:mitigation`: the experiments behind docs/mitigation.md (issue 7).
 *
 * 1. Repair of the zoo's backdoored models (zoo/calibration from scripts/zoo-torch.py, and
 *    test/fixtures/models) with three protocols, each through `repairModel`, the code path of
 *    `backdoor-scan repair`:
 *      none-planted  NONE on the defender's 5,000 held-out CIFAR-10 training images with the
 *                    model's own trigger planted into the model's poison rate of them, standing in
 *                    for the poisoned training set NONE assumes;
 *      none-planted-lr2  the same with fine-tuning at lr 1e-2 (the backdoor-toolbox port's rate);
 *      none-planted-all-convs  the same with every conv analysed instead of the authors' ResNet
 *                    subset, on the ResNet-8s (where the two differ);
 *      none-clean    NONE on the same 5,000 images, all clean;
 *      ban           BAN fine-tuning on 2,500 of them (BAN's 5%), clean.
 *    The held-out images are the first 10% of one seeded permutation of the training set, which
 *    no zoo model trained on. Clean accuracy and ASR are measured on a class-balanced subset of
 *    the CIFAR-10 test set.
 * 2. Training-time defence: the zoo's small VGG on a poisoned CIFAR-10 subset (BadNets, 5%),
 *    trained once; the model after phase 1 is the undefended one, and NONE's rounds continue from
 *    it with the same optimiser (what `backdoor-scan train --defense none` runs).
 *
 * Results are saved under zoo/mitigation/ and reused while the model file and the settings are
 * unchanged, so an interrupted run resumes; `--report-only` rebuilds the document from them.
 *
 *   npm run eval:mitigation                                   # everything, then docs/mitigation.md
 *   npm run eval:mitigation -- --only repair --models a,b     # some repairs
 *   npm run eval:mitigation -- --only train                   # the training experiment
 *   npm run eval:mitigation -- --report-only
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { poisonDataset, triggeredTestSet } from '../src/engine/attacks/poison';
import { formatTriggerSpec, makeTrigger, parseTriggerSpec } from '../src/engine/attacks/triggers';
import { initBackend } from '../src/engine/backend';
import { buildSmallVgg } from '../src/engine/arch/vgg-small';
import { batches, Dataset, openDataset, Preprocessing, subsetIndices } from '../src/engine/data';
import { evaluate } from '../src/engine/eval';
import { Network } from '../src/engine/graph/executor';
import * as tf from '@tensorflow/tfjs-core';
import { analyseNone, defaultNoneSettings, LabelledImages, NoneLayer, noneLayers, repairWithNone, runNone, spatialMax, zeroChannels, zeroPlan } from '../src/engine/mitigate/none';
import { banFinetune, defaultBanFinetuneSettings } from '../src/engine/mitigate/ban-finetune';
import { WeightMap } from '../src/engine/graph/ir';
import { percent } from '../src/engine/percent';
import { Rng } from '../src/engine/random';
import { findZooModels } from './zoo-models';
import { measureModel, plantTrigger, repairModel, RepairRequest } from '../src/engine/repair';
import { EpochReport, NoneRoundReport, RepairReport } from '../src/engine/report';
import { fileSha256, openModel } from '../src/engine/session';
import { permutationPrefix } from '../src/engine/data';
import { Sgd } from '../src/engine/train/optimizers';
import { multiStep, train } from '../src/engine/train/trainer';

const ROOT = path.resolve(__dirname, '..');
const SHARED = path.resolve(ROOT, '../shared/datasets/cifar10');
const TRAIN_ZIP = path.join(SHARED, 'cifar10-train.zip');
const TEST_ZIP = path.join(SHARED, 'cifar10-test.zip');
const OUT = path.join(ROOT, 'zoo', 'mitigation');
const DOC = path.join(ROOT, 'docs', 'mitigation.md');
const CIFAR: Preprocessing = { scale: 255, mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };

/** The schedules, shortened from the papers' because two shared CPU cores run everything. */
const PLAN = {
  evalImages: 2000,
  /** NONE: the defender's 10% of the training set; fine-tuning epochs per round (paper: 20). */
  noneFraction: 0.1,
  noneEpochs: 5,
  /** none-planted-lr2's fine-tuning rate: the backdoor-toolbox port's (the authors' is 1e-4). */
  toolboxLearningRate: 1e-2,
  /** BAN fine-tuning: BAN's 5% of the training set; epochs (README: 24). */
  banFraction: 0.05,
  banEpochs: 24,
  /** none-planted-lr2 runs on one model per attack and architecture (those BAN fine-tuning first
   *  ran on, when it cost 15-25 minutes per model here). */
  perAttackModels: ['vgg-badnets-t0', 'vgg-blend20-t2', 'vgg-wanet-t9', 'r8-badnets-t0', 'r8-badnets-low-t5', 'badnets-resnet'],
  /** Schedule checks on one model: NONE's fine-tuning epochs and quota f, BAN fine-tuning's epochs. */
  checks: {
    model: 'vgg-badnets-t0',
    noneEpochs: 20,
    fractions: [0.03, 0.05, 0.1],
    fractionEpochs: 3,
    banEpochs: 24,
  },
  /** Why a repair misses, on every backdoored model (half a minute each): ASR right after zeroing
   *  NONE's channels versus as many channels per layer chosen by an oracle that knows which repair
   *  images carry the trigger. */
  diagnosis: { fraction: 0.03 },
  /** Training experiment. */
  train: {
    arch: 'vgg-small',
    widths: [16, 32, 64],
    images: 10000,
    attack: 'badnets:3x3@br,target=0',
    poisonRate: 0.05,
    epochs: 10,
    batchSize: 128,
    learningRate: 0.05,
    weightDecay: 5e-4,
    noneEpochs: 5,
    /** Phase 2's learning rate: the authors' 1e-4, and 1e-2 as the backdoor-toolbox port runs NONE
     *  (shared/research/none.md, sources table). The largest also runs without NONE, as a control. */
    noneLearningRates: [1e-4, 1e-2],
    /** One whole run of the recipe per seed (subset, poisoned images, initialisation, shuffles): a
     *  single run's ASR after NONE moves by several points with floating-point rounding alone. */
    seeds: [7, 8, 9],
  },
};

type Protocol = 'none-planted' | 'none-planted-lr2' | 'none-planted-all-convs' | 'none-clean' | 'ban';
const PROTOCOLS: Protocol[] = ['none-planted', 'none-planted-lr2', 'none-planted-all-convs', 'none-clean', 'ban'];

/** Whether the plan runs `protocol` on a model: every backdoored model, one per attack and
 *  architecture (none-planted-lr2), or (all convs against the authors' subset) the ResNet-8s. */
function inPlan(protocol: Protocol, model: ZooModel): boolean {
  if (protocol === 'none-planted-lr2') return PLAN.perAttackModels.includes(model.name);
  if (protocol === 'none-planted-all-convs') return model.arch === 'resnet-cifar';
  return true;
}

interface ZooModel {
  name: string;
  modelPath: string;
  attack: string;
  arch: string;
  poisonRate: number;
  trainedWith: string;
}

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

/** Backdoored models with a training record that names the attack. */
function findModels(): ZooModel[] {
  return findZooModels(ROOT).flatMap((e) =>
    e.attack === undefined
      ? []
      : [{ name: e.name, modelPath: e.modelPath, attack: formatTriggerSpec(parseTriggerSpec(e.attack)), arch: e.arch, poisonRate: e.poisonRate ?? 0.1, trainedWith: e.trainedWith }],
  );
}

function requestFor(model: ZooModel, protocol: Protocol, outPath: string): RepairRequest {
  const common = {
    modelPath: model.modelPath,
    dataPath: TRAIN_ZIP,
    split: 'train' as const,
    outPath,
    trigger: model.attack,
    evalDataPath: TEST_ZIP,
    evalSplit: 'test' as const,
    evalImages: PLAN.evalImages,
    verdict: false,
    backend: 'wasm' as const,
  };
  if (protocol === 'ban') return { ...common, method: 'ban', ban: { epochs: PLAN.banEpochs, dataFraction: PLAN.banFraction } };
  return {
    ...common,
    method: 'none',
    none: {
      epochsPerRound: PLAN.noneEpochs,
      dataFraction: PLAN.noneFraction,
      ...(protocol === 'none-planted-lr2' ? { learningRate: PLAN.toolboxLearningRate } : {}),
      ...(protocol === 'none-planted-all-convs' ? { layers: 'all-convs' as const } : {}),
    },
    plant: protocol.startsWith('none-planted') ? { trigger: model.attack, rate: model.poisonRate } : undefined,
  };
}

interface SavedRepair {
  request: RepairRequest;
  modelSha256: string;
  report: RepairReport;
}

async function repairCached(model: ZooModel, protocol: Protocol): Promise<SavedRepair> {
  const dir = path.join(OUT, model.name);
  const file = path.join(dir, `${protocol}.json`);
  const ext = path.extname(model.modelPath);
  const outPath = path.join(dir, `${protocol}${ext === '.json' ? '.model.json' : ext}`);
  const request = requestFor(model, protocol, outPath);
  const sha = fileSha256(model.modelPath);
  if (fs.existsSync(file)) {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as SavedRepair;
    if (saved.modelSha256 === sha && JSON.stringify(saved.request) === JSON.stringify(request)) return saved;
  }
  // A stale repaired model from other settings is replaced (repairModel never overwrites).
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) if (f.startsWith(`${protocol}.`) && f !== `${protocol}.json`) fs.rmSync(path.join(dir, f));
  log(`${model.name} ${protocol}: repairing`);
  const report = await repairModel(request, {});
  const saved: SavedRepair = { request, modelSha256: sha, report };
  fs.writeFileSync(file, `${JSON.stringify(saved, null, 1)}\n`);
  log(`${model.name} ${protocol}: clean ${pct(report.before.cleanAccuracy)} -> ${pct(report.after.cleanAccuracy)}, ASR ${pct(report.before.attackSuccessRate)} -> ${pct(report.after.attackSuccessRate)} (${repairSeconds(report).toFixed(0)} s)`);
  return saved;
}

// ---------------------------------------------------------------------------------------------
// The training experiment

/** The training recipe of one seed. */
type TrainPlan = Omit<typeof PLAN.train, 'seeds'> & { seed: number };

function trainPlan(seed: number): TrainPlan {
  const recipe: Partial<typeof PLAN.train> = { ...PLAN.train };
  delete recipe.seeds;
  return { ...(recipe as Omit<typeof PLAN.train, 'seeds'>), seed };
}

function trainFile(seed: number): string {
  return path.join(OUT, `train-vgg-small-badnets5-seed${seed}.json`);
}

/** A saved run of the recipe, if it was made under the current plan. */
function savedTrainResult(seed: number): TrainResult | undefined {
  const file = trainFile(seed);
  if (!fs.existsSync(file)) return undefined;
  // A result made under another plan is not this experiment's (and may have another shape).
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as TrainResult;
  return JSON.stringify(saved.plan) === JSON.stringify(trainPlan(seed)) ? saved : undefined;
}

interface TrainResult {
  plan: TrainPlan;
  poisonedImages: number;
  undefended: Measured & { epochs: EpochReport[]; secondsPerEpoch: number };
  /** NONE from the undefended model, once per phase-2 learning rate. */
  defended: (Measured & { learningRate: number; rounds: NoneRoundReport[]; secondsPerEpoch: number; analyseSeconds: number })[];
  /** The same fine-tuning at the largest of those rates on all the (poisoned) data, without NONE. */
  control: Measured & { learningRate: number; secondsPerEpoch: number };
  evalImages: number;
  backend: string;
}

interface Measured {
  cleanAccuracy: number;
  attackSuccessRate: number;
  triggeredImages: number;
}

async function measure(net: Network, test: Dataset, indices: Int32Array, triggered: Dataset, triggeredIndices: Int32Array, target: number): Promise<Measured> {
  const clean = await evaluate(net, batches(test, indices, 250, net.inputShape, CIFAR));
  const asr = await evaluate(net, batches(triggered, triggeredIndices, 250, net.inputShape, CIFAR));
  return { cleanAccuracy: clean.accuracy, attackSuccessRate: asr.predictedHistogram[target] / asr.total, triggeredImages: asr.total };
}

/** How many times lower `after`'s ASR is than `before`'s, with the after-ASR floored at one triggered image. */
function asrRatio(before: Measured, after: Measured): number {
  return before.attackSuccessRate / Math.max(after.attackSuccessRate, 1 / after.triggeredImages);
}

async function trainExperiment(train10: Dataset, test10: Dataset, seed: number): Promise<TrainResult> {
  const saved = savedTrainResult(seed);
  if (saved) return saved;
  const plan = trainPlan(seed);
  const backend = await initBackend({ backend: 'wasm' });
  const trainIdx = subsetIndices(train10.size, plan.images, plan.seed, { labels: train10.labels });
  const trigger = makeTrigger(parseTriggerSpec(plan.attack));
  const candidates = Array.from(trainIdx).filter((i) => train10.labels[i] !== trigger.spec.target);
  new Rng(plan.seed + 1).shuffle(candidates);
  const poisoned = new Set(candidates.slice(0, Math.round(plan.poisonRate * trainIdx.length)));
  const data = { dataset: poisonDataset(train10, trigger, poisoned), indices: trainIdx, preprocessing: CIFAR, keepUnaugmented: (i: number) => poisoned.has(i) };
  const evalIdx = subsetIndices(test10.size, PLAN.evalImages, 0, { labels: test10.labels });
  const triggered = triggeredTestSet(test10, trigger);
  const rank = new Int32Array(test10.size).fill(-1);
  for (let i = 0, j = 0; i < test10.size; i++) if (test10.labels[i] !== trigger.spec.target) rank[i] = j++;
  const triggeredIdx = Int32Array.from(Array.from(evalIdx).filter((i) => rank[i] >= 0), (i) => rank[i]);

  const built = buildSmallVgg({ widths: plan.widths, numClasses: 10, seed: plan.seed });
  const net = new Network(built.graph, built.weights);
  log(`train: ${plan.arch} ${JSON.stringify(plan.widths)} on ${trainIdx.length} images (${poisoned.size} poisoned), ${plan.epochs} epochs`);
  const { history, optimizer } = await train(
    net,
    data.dataset,
    data.indices,
    CIFAR,
    {
      epochs: plan.epochs,
      batchSize: plan.batchSize,
      learningRate: multiStep(plan.learningRate, [Math.round(plan.epochs * 0.5), Math.round(plan.epochs * 0.75)]),
      momentum: 0.9,
      weightDecay: plan.weightDecay,
      augment: true,
      keepUnaugmented: data.keepUnaugmented,
      seed: plan.seed,
    },
    { onEpoch: (r) => log(`train: epoch ${r.epoch + 1}/${plan.epochs} loss ${r.loss.toFixed(3)} acc ${pct(r.trainAccuracy)} (${r.seconds.toFixed(0)} s)`) },
  );
  const undefended = await measure(net, test10, evalIdx, triggered, triggeredIdx, trigger.spec.target);
  log(`train: undefended clean ${pct(undefended.cleanAccuracy)}, ASR ${pct(undefended.attackSuccessRate)}`);
  if (!(optimizer instanceof Sgd)) throw new Error('the training experiment expects SGD');
  // Every branch starts from the end of phase 1: the same weights and the same momentum buffers.
  const phase1 = net.snapshot();
  const defended: TrainResult['defended'] = [];
  for (const learningRate of plan.noneLearningRates) {
    net.load(phase1);
    const branch = optimizer.clone();
    const settings = { ...defaultNoneSettings('injected'), epochsPerRound: plan.noneEpochs, learningRate, seed: plan.seed };
    const none = await runNone(net, data, settings, branch, { poisoned, onEpoch: (r) => log(`NONE lr ${learningRate}: epoch ${r.epoch + 1} loss ${r.loss.toFixed(3)} (${r.seconds.toFixed(0)} s)`) });
    branch.dispose();
    const measured = await measure(net, test10, evalIdx, triggered, triggeredIdx, trigger.spec.target);
    log(`train: with NONE at lr ${learningRate} clean ${pct(measured.cleanAccuracy)}, ASR ${pct(measured.attackSuccessRate)}`);
    defended.push({
      ...measured,
      learningRate,
      rounds: none.rounds,
      secondsPerEpoch: mean(none.rounds.flatMap((r) => r.epochs).map((h) => h.seconds)),
      analyseSeconds: none.rounds.reduce((sum, r) => sum + (r.timings.find((t) => t.phase === 'analyse')?.seconds ?? 0), 0),
    });
  }
  // The control: NONE's fine-tuning (frozen BatchNorm, same epochs and optimiser) on all the data, nothing zeroed or dropped.
  net.load(phase1);
  const controlRate = Math.max(...plan.noneLearningRates);
  const branch = optimizer.clone();
  const tuned = await train(net, data.dataset, data.indices, CIFAR, {
    epochs: plan.noneEpochs,
    batchSize: plan.batchSize,
    learningRate: () => controlRate,
    augment: true,
    keepUnaugmented: data.keepUnaugmented,
    freezeBatchNorm: true,
    seed: plan.seed + 1,
    optimizer: branch,
  });
  branch.dispose();
  optimizer.dispose();
  const control = { ...(await measure(net, test10, evalIdx, triggered, triggeredIdx, trigger.spec.target)), learningRate: controlRate, secondsPerEpoch: mean(tuned.history.map((h) => h.seconds)) };
  log(`train: control (fine-tuning at lr ${controlRate} without NONE) clean ${pct(control.cleanAccuracy)}, ASR ${pct(control.attackSuccessRate)}`);
  for (const t of phase1.values()) t.dispose();
  net.dispose();
  const result: TrainResult = {
    plan,
    poisonedImages: poisoned.size,
    undefended: { ...undefended, epochs: history, secondsPerEpoch: mean(history.map((h) => h.seconds)) },
    defended,
    control,
    evalImages: evalIdx.length,
    backend: `${backend.name}${backend.simd ? ' SIMD' : ''}, ${backend.threads} thread(s)`,
  };
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(trainFile(seed), `${JSON.stringify(result, null, 1)}\n`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Schedule checks: do the shortened schedules change the answer?

interface TrajectoryPoint {
  epoch: number;
  cleanAccuracy: number;
  attackSuccessRate: number;
}

interface ChecksResult {
  plan: typeof PLAN.checks;
  modelSha256: string;
  attack: string;
  /** NONE on the planted hold-out; epoch 0 is right after the zeroing. */
  none: TrajectoryPoint[];
  fractions: (TrajectoryPoint & { fraction: number; zeroed: number })[];
  /** BAN fine-tuning on the clean 5%; epoch 0 is the model before. */
  ban: TrajectoryPoint[];
}

/** The none-planted protocol's data: the hold-out with the same images planted as repairModel plants. */
function plantedHoldOut(model: ZooModel, train10: Dataset): { data: LabelledImages; poisoned: Set<number> } {
  const holdOut = permutationPrefix(train10.size, PLAN.noneFraction, 0);
  const planted = plantTrigger(train10, holdOut, { trigger: model.attack, rate: model.poisonRate }, 10);
  return { data: { dataset: planted.dataset, indices: holdOut, preprocessing: CIFAR, keepUnaugmented: (i) => planted.poisoned.has(i) }, poisoned: planted.poisoned };
}

async function checksExperiment(train10: Dataset, test10: Dataset): Promise<ChecksResult | undefined> {
  const plan = PLAN.checks;
  const model = findModels().find((m) => m.name === plan.model);
  if (!model) return undefined;
  const file = path.join(OUT, `checks-${model.name}.json`);
  const sha = fileSha256(model.modelPath);
  if (fs.existsSync(file)) {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as ChecksResult;
    if (saved.modelSha256 === sha && JSON.stringify(saved.plan) === JSON.stringify(plan)) return saved;
  }
  const opened = await openModel(model.modelPath);
  const evalIdx = subsetIndices(test10.size, PLAN.evalImages, 0, { labels: test10.labels });
  const trigger = makeTrigger(parseTriggerSpec(model.attack));
  const { data: noneData } = plantedHoldOut(model, train10);
  const measureWeights = async (weights: WeightMap, epoch: number): Promise<TrajectoryPoint> => {
    const net = new Network(opened.loaded.graph, weights);
    const m = await measureModel(net, test10, evalIdx, CIFAR, trigger, { phase: 'checks' });
    net.dispose();
    return { epoch, cleanAccuracy: m.cleanAccuracy, attackSuccessRate: m.attackSuccessRate ?? NaN };
  };
  /** NONE from the original model with `fraction` and `epochs`; the weights after each epoch (index 0: after zeroing). */
  const noneRun = async (fraction: number, epochs: number): Promise<{ snapshots: WeightMap[]; zeroed: number }> => {
    const net = new Network(opened.loaded.graph, opened.loaded.weights);
    const snapshots: WeightMap[] = [];
    const settings = { ...defaultNoneSettings('injected'), resetFraction: fraction, epochsPerRound: 0 };
    const zeroedRun = await repairWithNone(net, noneData, settings);
    snapshots.push(net.exportWeights());
    net.dispose();
    if (epochs > 0) {
      const tuned = new Network(opened.loaded.graph, opened.loaded.weights);
      await repairWithNone(tuned, noneData, { ...settings, epochsPerRound: epochs }, { onEpoch: () => snapshots.push(tuned.exportWeights()) });
      tuned.dispose();
    }
    return { snapshots, zeroed: zeroedRun.rounds[0].layers.reduce((n, l) => n + l.selected.length, 0) };
  };

  log(`checks: NONE trajectory on ${model.name}`);
  const trajectory = await noneRun(0.03, plan.noneEpochs);
  const none: TrajectoryPoint[] = [];
  for (const [epoch, w] of trajectory.snapshots.entries()) none.push(await measureWeights(w, epoch));
  const fractions: ChecksResult['fractions'] = [];
  for (const fraction of plan.fractions) {
    log(`checks: NONE with f = ${fraction}`);
    const run = await noneRun(fraction, plan.fractionEpochs);
    fractions.push({ fraction, zeroed: run.zeroed, ...(await measureWeights(run.snapshots[run.snapshots.length - 1], plan.fractionEpochs)) });
  }
  log(`checks: BAN fine-tuning trajectory on ${model.name}`);
  const banNet = new Network(opened.loaded.graph, opened.loaded.weights);
  const banSnapshots: WeightMap[] = [banNet.exportWeights()];
  await banFinetune(banNet, { dataset: train10, indices: permutationPrefix(train10.size, PLAN.banFraction, 0), preprocessing: CIFAR }, { ...defaultBanFinetuneSettings(), epochs: plan.banEpochs }, {
    onEpoch: () => banSnapshots.push(banNet.exportWeights()),
  });
  banNet.dispose();
  const ban: TrajectoryPoint[] = [];
  for (const [epoch, w] of banSnapshots.entries()) ban.push(await measureWeights(w, epoch));
  const result: ChecksResult = { plan, modelSha256: sha, attack: model.attack, none, fractions, ban };
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(result, null, 1)}\n`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Diagnosis: is it NONE's choice of neurons, or can no zeroing of that size remove the backdoor?

interface ZeroingOutcome {
  zeroed: number;
  cleanAccuracy: number;
  attackSuccessRate: number;
}

interface DiagnosisResult {
  plan: typeof PLAN.diagnosis;
  model: string;
  modelSha256: string;
  attack: string;
  before: ZeroingOutcome;
  /** NONE's own analysis on the none-planted data: its channels zeroed, no fine-tuning. */
  none: ZeroingOutcome & { flagged: number; flaggedPlanted: number; planted: number };
  /** The same number of channels per layer, ranked by how far the trigger moves them. */
  oracle: ZeroingOutcome;
}

/**
 * Per analysed layer, the channels ranked by (mean over planted images − mean over clean ones) /
 * std over clean ones of the spatial maximum: the neurons the trigger moves most. It needs to know
 * which images are planted, which no defender does; it only measures what NONE's selection leaves.
 */
async function oracleRanking(net: Network, layers: readonly NoneLayer[], data: LabelledImages, planted: ReadonlySet<number>): Promise<number[][]> {
  const taps = layers.map((l) => l.tap);
  const sums = layers.map((l) => ({ planted: new Float64Array(l.channels), clean: new Float64Array(l.channels), cleanSq: new Float64Array(l.channels) }));
  let plantedCount = 0;
  let cleanCount = 0;
  let offset = 0;
  for await (const batch of batches(data.dataset, data.indices, 128, net.inputShape, data.preprocessing)) {
    const n = batch.y.length;
    const maxima = tf.tidy(() => {
      const run = net.run(tf.tensor4d(batch.x, [n, ...net.inputShape]), { taps }); // [B, H, W, 3]
      return taps.map((t) => spatialMax(run.taps[t])); // [B, C_l] per layer
    });
    const values = await Promise.all(maxima.map((t) => t.data()));
    tf.dispose(maxima);
    for (let row = 0; row < n; row++) {
      const isPlanted = planted.has(data.indices[offset + row]);
      if (isPlanted) plantedCount++;
      else cleanCount++;
      layers.forEach((layer, l) => {
        for (let j = 0; j < layer.channels; j++) {
          const v = values[l][row * layer.channels + j];
          if (isPlanted) sums[l].planted[j] += v;
          else {
            sums[l].clean[j] += v;
            sums[l].cleanSq[j] += v * v;
          }
        }
      });
    }
    offset += n;
  }
  return layers.map((layer, l) => {
    const shift = Array.from({ length: layer.channels }, (_, j) => {
      const cleanMean = sums[l].clean[j] / cleanCount;
      const cleanStd = Math.sqrt(Math.max(sums[l].cleanSq[j] / cleanCount - cleanMean * cleanMean, 1e-12));
      return (sums[l].planted[j] / plantedCount - cleanMean) / cleanStd;
    });
    return shift.map((_, j) => j).sort((a, b) => shift[b] - shift[a] || a - b);
  });
}

async function diagnose(model: ZooModel, train10: Dataset, test10: Dataset): Promise<DiagnosisResult> {
  const file = path.join(OUT, model.name, 'diagnosis.json');
  const sha = fileSha256(model.modelPath);
  if (fs.existsSync(file)) {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as DiagnosisResult;
    if (saved.modelSha256 === sha && JSON.stringify(saved.plan) === JSON.stringify(PLAN.diagnosis)) return saved;
  }
  log(`${model.name}: diagnosis`);
  const opened = await openModel(model.modelPath);
  const evalIdx = subsetIndices(test10.size, PLAN.evalImages, 0, { labels: test10.labels });
  const trigger = makeTrigger(parseTriggerSpec(model.attack));
  const { data, poisoned } = plantedHoldOut(model, train10);
  const net = new Network(opened.loaded.graph, opened.loaded.weights);
  const original = net.snapshot();
  const layers = noneLayers(net, 'auto');
  const plans = layers.map((l) => zeroPlan(net, l.conv));
  const zeroAndMeasure = async (selected: number[][]): Promise<ZeroingOutcome> => {
    net.load(original);
    plans.forEach((plan, l) => zeroChannels(net, plan, selected[l]));
    const m = await measureModel(net, test10, evalIdx, CIFAR, trigger, { phase: 'diagnosis' });
    return { zeroed: selected.reduce((n, s) => n + s.length, 0), cleanAccuracy: m.cleanAccuracy, attackSuccessRate: m.attackSuccessRate ?? NaN };
  };
  try {
    const before = await zeroAndMeasure(layers.map(() => []));
    const analysis = await analyseNone(net, layers, data, { ...defaultNoneSettings('injected'), resetFraction: PLAN.diagnosis.fraction });
    const counts = analysis.layers.map((a) => a.selected.length);
    const none = {
      ...(await zeroAndMeasure(analysis.layers.map((a) => a.selected))),
      flagged: analysis.flagged.length,
      flaggedPlanted: Array.from(analysis.flagged).filter((i) => poisoned.has(i)).length,
      planted: poisoned.size,
    };
    net.load(original);
    const ranking = await oracleRanking(net, layers, data, poisoned);
    const oracle = await zeroAndMeasure(ranking.map((order, l) => order.slice(0, counts[l])));
    const result: DiagnosisResult = { plan: PLAN.diagnosis, model: model.name, modelSha256: sha, attack: model.attack, before, none, oracle };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(result, null, 1)}\n`);
    log(`${model.name}: ASR ${pct(before.attackSuccessRate)}; NONE's channels zeroed ${pct(none.attackSuccessRate)}; oracle's ${pct(oracle.attackSuccessRate)}`);
    return result;
  } finally {
    for (const t of original.values()) t.dispose();
    net.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// The ASR floor

/** One clean model's attack success rate under one backdoored model's trigger (cached in zoo/mitigation). */
interface FloorEntry {
  twin: string;
  twinSha256: string;
  attack: string;
  attackSuccessRate: number;
}

/** The mean floor over a backdoored model's clean twins, and how many twins it averages. */
interface Floor {
  floor: number;
  twins: number;
}

/**
 * What the ASR is without any backdoor: the share of the evaluation's triggered non-target images
 * that clean zoo models of the same architecture and trainer send to the target anyway. Models at
 * 55–65% clean accuracy misclassify several percent of any images into any one label, so no repair
 * brings the ASR below this floor, and an ASR at the floor means the backdoor is gone. Models
 * without a clean twin (the ResNet-18 fixture) get none.
 */
async function asrFloors(models: ZooModel[], test10: Dataset): Promise<Map<string, Floor>> {
  const file = path.join(OUT, 'asr-floors.json');
  const cache = (fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : []) as FloorEntry[];
  const zoo = findZooModels(ROOT);
  const evalIdx = subsetIndices(test10.size, PLAN.evalImages, 0, { labels: test10.labels });
  const floors = new Map<string, Floor>();
  for (const m of models) {
    const twins = zoo.filter((e) => e.attack === undefined && e.arch === m.arch && e.trainedWith.startsWith('PyTorch') === m.trainedWith.startsWith('PyTorch'));
    const rates: number[] = [];
    for (const twin of twins) {
      const sha = fileSha256(twin.modelPath);
      let entry = cache.find((c) => c.twin === twin.name && c.twinSha256 === sha && c.attack === m.attack);
      if (!entry) {
        const opened = await openModel(twin.modelPath);
        const net = new Network(opened.loaded.graph, opened.loaded.weights);
        const metrics = await measureModel(net, test10, evalIdx, CIFAR, makeTrigger(parseTriggerSpec(m.attack)), { phase: 'floor' });
        net.dispose();
        entry = { twin: twin.name, twinSha256: sha, attack: m.attack, attackSuccessRate: metrics.attackSuccessRate ?? NaN };
        cache.push(entry);
        fs.mkdirSync(OUT, { recursive: true });
        fs.writeFileSync(file, `${JSON.stringify(cache, null, 1)}\n`);
        log(`floor: ${twin.name} under ${m.attack}: ${pct(entry.attackSuccessRate)}`);
      }
      rates.push(entry.attackSuccessRate);
    }
    if (rates.length > 0) floors.set(m.name, { floor: mean(rates), twins: rates.length });
  }
  return floors;
}

/** How many repaired models end within two points of their floor: the backdoor gone, whatever the ratio says. */
function floorLine(models: ZooModel[], results: Map<string, SavedRepair>, protocol: Protocol, floors: Map<string, Floor>): string {
  const pairs = models.flatMap((m) => {
    const r = results.get(`${m.name}/${protocol}`)?.report;
    const f = floors.get(m.name);
    return r && f ? [{ after: r.after.attackSuccessRate ?? NaN, floor: f.floor }] : [];
  });
  const near = pairs.filter((x) => x.after <= x.floor + 0.02).length;
  return `ASR after the repair within 2 points of the clean-model floor: ${near} of the ${pairs.length} models that have one.`;
}

// ---------------------------------------------------------------------------------------------
// The document

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

function pct(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? '–' : percent(x, digits);
}

function repairSeconds(r: RepairReport): number {
  return r.timings.filter((t) => t.phase.startsWith('NONE') || t.phase === 'BAN fine-tune').reduce((s, t) => s + t.seconds, 0);
}

/** ASR ratio before/after with the after-ASR floored at one triggered image, so a perfect repair stays finite. */
function ratio(r: RepairReport): number {
  const after = Math.max(r.after.attackSuccessRate ?? NaN, 1 / (r.after.triggeredImages ?? 1));
  return (r.before.attackSuccessRate ?? NaN) / after;
}

interface Summary {
  models: number;
  meanBefore: number;
  meanAfter: number;
  ratioOfMeans: number;
  meanOfRatios: number;
  meanDrop: number;
  maxDrop: number;
}

function summarize(reports: RepairReport[]): Summary {
  const before = reports.map((r) => r.before.attackSuccessRate ?? NaN);
  const after = reports.map((r) => r.after.attackSuccessRate ?? NaN);
  const drops = reports.map((r) => (r.before.cleanAccuracy - r.after.cleanAccuracy) * 100);
  return {
    models: reports.length,
    meanBefore: mean(before),
    meanAfter: mean(after),
    ratioOfMeans: mean(before) / Math.max(mean(after), 1e-9),
    meanOfRatios: mean(reports.map(ratio)),
    meanDrop: mean(drops),
    maxDrop: Math.max(...drops),
  };
}

function protocolTable(models: ZooModel[], results: Map<string, SavedRepair>, protocol: Protocol, floors: Map<string, Floor>): string[] {
  const lines = ['| model | attack | clean acc before → after | ASR before → after | ASR floor | ASR ratio | flagged (planted) / repair images | zeroed channels | repair time |', '|---|---|---|---|---|---|---|---|---|'];
  for (const m of models) {
    const saved = results.get(`${m.name}/${protocol}`);
    if (!saved) continue;
    const r = saved.report;
    const round = r.none?.rounds[0];
    const flagged = round ? `${round.flaggedSamples}${round.flaggedPoisoned === undefined ? '' : ` (${round.flaggedPoisoned} of ${r.data.planted?.images ?? 0})`} / ${r.data.repairImages}` : `– / ${r.data.repairImages}`;
    const zeroed = round ? String(round.layers.reduce((n, l) => n + l.selected.length, 0)) : '–';
    lines.push(
      `| ${m.name} | ${m.attack} | ${pct(r.before.cleanAccuracy)} → ${pct(r.after.cleanAccuracy)} | ${pct(r.before.attackSuccessRate)} → ${pct(r.after.attackSuccessRate)} | ${pct(floors.get(m.name)?.floor)} | ${ratio(r).toFixed(1)}× | ${flagged} | ${zeroed} | ${repairSeconds(r).toFixed(0)} s |`,
    );
  }
  return lines;
}

function summaryLine(s: Summary): string {
  return `${s.models} model${s.models === 1 ? '' : 's'}: mean ASR ${pct(s.meanBefore)} → ${pct(s.meanAfter)} (ratio of means ${s.ratioOfMeans.toFixed(1)}×, mean of per-model ratios ${s.meanOfRatios.toFixed(1)}×); clean accuracy drop ${s.meanDrop.toFixed(2)} points on average, ${s.maxDrop.toFixed(2)} at most.`;
}

function verdictOnGoal(s: Summary): string {
  const asr = s.ratioOfMeans >= 10 ? 'meets' : 'misses';
  const acc = s.maxDrop <= 3 ? 'within' : s.meanDrop <= 3 ? 'within on average but not for every model' : 'outside';
  return `Goal (ASR ≥ 10× lower on average, clean drop ≤ 3 points): ASR ${asr} it; clean accuracy ${acc} the 3-point bound.`;
}

/** The headline numbers of every experiment, against the issue's goals. */
/** Means over the runs of the training experiment, for one arm (a NONE learning rate or the control). */
function trainOutcome(runs: TrainResult[], arm: (r: TrainResult) => Measured): { undefendedAsr: number; asr: number; ratio: number; perRun: number[]; undefendedClean: number; clean: number } {
  const undefendedAsr = mean(runs.map((r) => r.undefended.attackSuccessRate));
  const asr = mean(runs.map((r) => arm(r).attackSuccessRate));
  return {
    undefendedAsr,
    asr,
    ratio: undefendedAsr / Math.max(asr, 1e-9),
    perRun: runs.map((r) => asrRatio(r.undefended, arm(r))),
    undefendedClean: mean(runs.map((r) => r.undefended.cleanAccuracy)),
    clean: mean(runs.map((r) => arm(r).cleanAccuracy)),
  };
}

function atAGlance(models: ZooModel[], results: Map<string, SavedRepair>, trainResults: TrainResult[], diagnoses: DiagnosisResult[], floors: Map<string, Floor>): string[] {
  const lines = ['## Results at a glance', ''];
  const names: Record<Protocol, string> = {
    'none-planted': 'NONE on poisoned repair data (the setting NONE assumes)',
    'none-planted-lr2': "NONE on poisoned repair data, fine-tuning at the backdoor-toolbox port's lr 1e-2",
    'none-planted-all-convs': "NONE on poisoned repair data, every conv analysed instead of the authors' ResNet subset (ResNet-8s)",
    'none-clean': 'NONE on clean repair data only',
    ban: 'BAN fine-tuning on clean data',
  };
  for (const protocol of PROTOCOLS) {
    const reports = models.map((m) => results.get(`${m.name}/${protocol}`)?.report).filter((r): r is RepairReport => r !== undefined);
    if (reports.length === 0) continue;
    const s = summarize(reports);
    lines.push(`- ${names[protocol]}: ${summaryLine(s)} ${verdictOnGoal(s)} ${floorLine(models, results, protocol, floors)}`);
    if (protocol !== 'ban') {
      const rounds = reports.map((r) => r.none?.rounds[0]).filter((r): r is NoneRoundReport => r !== undefined);
      const planted = reports.reduce((n, r) => n + (r.data.planted?.images ?? 0), 0);
      const flaggedPlanted = rounds.reduce((n, r) => n + (r.flaggedPoisoned ?? 0), 0);
      const flagged = rounds.reduce((n, r) => n + r.flaggedSamples, 0);
      const analysed = rounds.reduce((n, r) => n + r.analysedSamples, 0);
      lines.push(
        planted > 0
          ? `  Jenks flagged ${flagged} of ${analysed} repair images, ${flaggedPlanted} of the ${planted} planted ones (recall ${pct(flaggedPlanted / planted)}, precision ${pct(flaggedPlanted / Math.max(flagged, 1))}).`
          : `  Jenks flagged ${flagged} of ${analysed} repair images (${pct(flagged / analysed)}), all of them clean.`,
      );
    }
  }
  if (trainResults.length > 0) {
    const outcomes = trainResults[0].defended.map((d, i) => {
      const t = trainOutcome(trainResults, (r) => r.defended[i]);
      return `at lr ${d.learningRate}: mean ASR ${pct(t.undefendedAsr)} → ${pct(t.asr)} (${t.ratio.toFixed(1)}× lower; per run ${t.perRun.map((x) => `${x.toFixed(1)}×`).join(', ')}), mean clean accuracy ${pct(t.undefendedClean)} → ${pct(t.clean)}`;
    });
    lines.push(`- Training with \`--defense none\` on CIFAR-10 with 5% BadNets, ${trainResults.length} run${trainResults.length === 1 ? '' : 's'} (goal: ASR ≥ 10× lower at a similar clean accuracy), NONE's fine-tuning ${outcomes.join('; ')}.`);
  }
  if (diagnoses.length > 0) lines.push(`- Why NONE misses (see below): ${diagnosisSummary(diagnoses)}`);
  lines.push('');
  return lines;
}

/** The ASR below which a zeroing counts as removing the backdoor in the diagnosis summary. */
const REMOVED_BELOW = 0.1;

function diagnosisSummary(diagnoses: DiagnosisResult[]): string {
  const removed = (o: ZeroingOutcome) => o.attackSuccessRate < REMOVED_BELOW;
  const kind = (d: DiagnosisResult) => d.attack.split(':')[0];
  const byKind = (list: DiagnosisResult[]) => {
    const counts = new Map<string, number>();
    for (const d of list) counts.set(kind(d), (counts.get(kind(d)) ?? 0) + 1);
    return [...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
  };
  const missedBySelection = diagnoses.filter((d) => removed(d.oracle) && !removed(d.none));
  const missedByBoth = diagnoses.filter((d) => !removed(d.oracle) && !removed(d.none));
  return (
    `Zeroing NONE's own channels (no fine-tuning) brings the ASR below ${pct(REMOVED_BELOW, 0)} on ${diagnoses.filter((d) => removed(d.none)).length} of ${diagnoses.length} models; ` +
    `zeroing as many channels chosen by an oracle that knows the poisoned images does on ${diagnoses.filter((d) => removed(d.oracle)).length}. ` +
    `Where the oracle's zeroing removes the backdoor and NONE's does not (${missedBySelection.length}: ${byKind(missedBySelection)}), NONE's neuron score picks the wrong neurons; ` +
    `where neither does (${missedByBoth.length}: ${byKind(missedByBoth)}), the backdoor does not sit in the few channels the trigger moves most, and zeroing that many does not remove it.`
  );
}

function diagnosisSection(diagnoses: DiagnosisResult[]): string[] {
  const lines = ['## Why NONE misses: its neurons or any neurons?', ''];
  if (diagnoses.length === 0) return [...lines, 'No results yet.', ''];
  const outcome = (o: ZeroingOutcome) => `${pct(o.cleanAccuracy)} / ${pct(o.attackSuccessRate)}`;
  return [
    ...lines,
    `On the \`none-planted\` data of each per-attack model: the clean accuracy / ASR of the model as it is, right after zeroing`,
    `the channels NONE selects (f = ${PLAN.diagnosis.fraction}, no fine-tuning), and right after zeroing as many channels per layer chosen by`,
    'an oracle that knows which repair images carry the trigger: the channels whose spatial maximum the trigger raises most,',
    'in standard deviations of the clean images. The oracle is not a defence (no defender knows the poisoned images); it',
    'shows whether zeroing that few neurons can remove the backdoor at all, so that a miss is the selection\'s. Both',
    'choose among the layers NONE analyses by default: every conv of the VGGs, stages 2 and up of the ResNets.',
    '',
    '| model | attack | as it is | NONE\'s channels zeroed | oracle\'s channels zeroed | zeroed | Jenks: flagged (planted) |',
    '|---|---|---|---|---|---|---|',
    ...diagnoses.map(
      (d) => `| ${d.model} | ${d.attack} | ${outcome(d.before)} | ${outcome(d.none)} | ${outcome(d.oracle)} | ${d.none.zeroed} | ${d.none.flagged} (${d.none.flaggedPlanted} of ${d.none.planted}) |`,
    ),
    '',
    diagnosisSummary(diagnoses),
    '',
  ];
}

function writeDoc(models: ZooModel[], results: Map<string, SavedRepair>, trainResults: TrainResult[], checks: ChecksResult | undefined, diagnoses: DiagnosisResult[], floors: Map<string, Floor>): void {
  const p = PLAN;
  const lines: string[] = [
    '# Repair: NONE and BAN fine-tuning',
    '',
    '<!-- Generated by `npm run eval:mitigation` (scripts/eval-mitigation.ts) from zoo/mitigation/; do not edit by hand. -->',
    '',
    'Two repairs remove a backdoor from a trained classifier and write the result to a new model file in the',
    "input's format (`backdoor-scan repair MODEL --data D --method none|ban`); NONE also runs as a training-time",
    'defence (`backdoor-scan train ... --defense none`). The engine code is `src/engine/mitigate/none.ts`,',
    '`src/engine/mitigate/ban-finetune.ts` and `src/engine/repair.ts`.',
    '',
    ...atAGlance(models, results, trainResults, diagnoses, floors),
    '## The methods',
    '',
    '**NONE** (Wang et al., NeurIPS 2022; `shared/research/none.md`). On the (possibly poisoned) training data, with the',
    'model in eval mode, each analysed layer\'s pre-activation conv output is reduced to its spatial maximum per channel.',
    'For class k, S_k are the samples predicted k with p > 0.9 and W_k those with p < 0.1; a channel\'s score is',
    'max_k [ max over S_k − (mean + 3·std over W_k) ]. The top ⌈f·C⌉ channels of every layer (f = 0.03) are zeroed: the',
    'filter and bias, the following BatchNorm\'s γ and β, and the next layer\'s input slice. Each sample\'s score is the sum',
    'of its activations on every layer\'s top channel; two-class Jenks natural breaks split the scores, and samples at or',
    'above the break are dropped. The model is then fine-tuned at lr 1e-4 with BatchNorm statistics frozen.',
    'Layers are found from the graph (every conv; the authors\' layer2–4 subset for CIFAR ResNets); the zeroing walk',
    'stops at residual adds, and the authors\' layer4 index leak is not reproduced (see the header of none.ts).',
    '',
    '**BAN fine-tuning** (Xu et al., NeurIPS 2024; `shared/research/ban.md` §5). On 5% of the training data, assumed',
    'clean, minimise CE(M(x), y) + λ·CE(M_δ(x), y), where M_δ multiplies every BatchNorm scale and shift by (1+δ) and δ',
    'is drawn fresh for every batch from U(−ε, ε) and pushed up the loss by one sign-gradient step of ε (README settings:',
    'lr 0.005, λ 0.5, ε 0.3, one step; SGD momentum 0.9, weight decay 5e-4).',
    '',
    '## Protocol',
    '',
    `- Models: every backdoored model of the zoo with a training record (zoo/calibration, made by scripts/zoo-torch.py,`,
    '  ONNX; and test/fixtures/models). Their training never saw the defender\'s hold-out below.',
    `- Repair data: the first ${p.noneFraction * 100}% of one seeded permutation (seed 0) of the CIFAR-10 training set, the`,
    `  defender's hold-out (5,000 images); BAN uses its first ${p.banFraction * 100}% (2,500 images).`,
    '  - `none-planted`: NONE on the hold-out with the model\'s own trigger and target planted into the model\'s poison',
    '    rate of the images (these keep the trigger unaugmented, as in the zoo\'s attack). NONE assumes the possibly',
    '    poisoned training set; a post-training defender does not have the attacker\'s samples, so this protocol',
    '    stands in for that training set. It is the setting the paper\'s numbers are about.',
    `  - \`none-planted-lr2\`: the same with NONE's fine-tuning at lr ${p.toolboxLearningRate}, as the backdoor-toolbox port of NONE`,
    `    runs it (the authors: 1e-4); chosen from that port, not tuned on the zoo. On one model per attack and architecture (${p.perAttackModels.join(', ')}).`,
    '  - `none-planted-all-convs`: the same with every conv analysed (`--layers all-convs`) instead of the authors\'',
    '    subset for CIFAR ResNets (stages 2 and up), on the ResNet-8s: their three stages of one block leave the subset',
    '    two blocks, and the stem and first stage, where a patch trigger is first seen, out.',
    '  - `none-clean`: NONE on the same hold-out without any trigger: what a defender with only clean data gets.',
    '  - `ban`: BAN fine-tuning on the clean 2,500 (no trigger planted).',
    `- Evaluation: a class-balanced ${p.evalImages}-image subset (seed 0) of the CIFAR-10 test set; ASR is the share of its`,
    '  non-target images that the model sends to the target once triggered. The ASR floor is the same rate for the',
    '  clean zoo models of the same architecture and trainer (the mean over them): what a model without a backdoor',
    '  scores, since models at 55–65% clean accuracy send several percent of any images to any one label. A repair',
    '  cannot go below it, so an after-ASR near it means the backdoor is gone whatever the ratio.',
    `- Schedules, shortened because everything runs on two shared CPU cores (wasm backend): NONE ${p.noneEpochs} fine-tuning`,
    `  epochs per round (paper: ${defaultNoneSettings().epochsPerRound}), one round; BAN fine-tuning ${p.banEpochs} epochs (README: ${defaultBanFinetuneSettings().epochs}). Everything else as the`,
    '  papers\' code. The ASR ratio floors the after-ASR at one triggered image.',
    '- Code: the repairs were made over several sessions. Those run on 2026-11-22 (`none-planted` on r8-blend15-t8,',
    '  r8-wanet-t5, vgg-badnets-t4 and vgg-badnets-white-low-t7, fifteen of the `none-clean` ones, all of',
    '  `none-planted-lr2` and `none-planted-all-convs`, `ban` on all but the six models named above, the diagnosis',
    '  and the training experiment) ran after the BatchNorm rework, which changes floating-point rounding only and',
    '  about halves the repair time; the rest ran before it. Repair times are wall-clock on a machine that ran two',
    '  experiments at once.',
    '',
  ];
  for (const [protocol, title] of [
    ['none-planted', 'NONE, poisoned repair data (`none-planted`)'],
    ['none-planted-lr2', 'NONE, poisoned repair data, fine-tuning at lr 1e-2 (`none-planted-lr2`)'],
    ['none-planted-all-convs', 'NONE, poisoned repair data, every conv analysed (`none-planted-all-convs`)'],
    ['none-clean', 'NONE, clean repair data (`none-clean`)'],
    ['ban', 'BAN fine-tuning (`ban`)'],
  ] as [Protocol, string][]) {
    const reports = models.map((m) => results.get(`${m.name}/${protocol}`)?.report).filter((r): r is RepairReport => r !== undefined);
    lines.push(`## ${title}`, '');
    if (reports.length === 0) {
      lines.push('No results yet.', '');
      continue;
    }
    const s = summarize(reports);
    lines.push(...protocolTable(models, results, protocol, floors), '', summaryLine(s), '', verdictOnGoal(s), '', floorLine(models, results, protocol, floors), '');
    // A protocol on some of the models is read against none-planted on the same ones.
    const ran = models.filter((m) => results.has(`${m.name}/${protocol}`));
    const baseline = ran.map((m) => results.get(`${m.name}/none-planted`)?.report).filter((r): r is RepairReport => r !== undefined);
    if (protocol !== 'none-planted' && baseline.length === ran.length && ran.length < models.length) {
      lines.push(`Under \`none-planted\`, the same ${summaryLine(summarize(baseline))}`, '');
    }
    // Models the plan names for this protocol whose repair has not run yet, said rather than hidden.
    const missing = models.filter((m) => inPlan(protocol, m) && !results.has(`${m.name}/${protocol}`));
    if (missing.length > 0) lines.push(`Not run yet (CPU time): ${missing.map((m) => m.name).join(', ')}.`, '');
  }
  lines.push(...diagnosisSection(diagnoses));
  lines.push('## Training with NONE as the defence', '');
  if (trainResults.length === 0) {
    lines.push('No results yet.', '');
  } else {
    const t = trainResults[0].plan;
    const c = trainResults[0].control;
    const cell = (m: Measured, u?: Measured) => `${pct(m.cleanAccuracy)} / ${pct(m.attackSuccessRate)}${u ? ` (${asrRatio(u, m).toFixed(1)}×)` : ''}`;
    const arms = trainResults[0].defended.map((d, i) => ({ title: `NONE, lr ${d.learningRate}`, of: (r: TrainResult) => r.defended[i] as Measured }));
    arms.push({ title: `control: lr ${c.learningRate}, no NONE`, of: (r: TrainResult) => r.control });
    const meanOf = (of: (r: TrainResult) => Measured): Measured => ({
      cleanAccuracy: mean(trainResults.map((r) => of(r).cleanAccuracy)),
      attackSuccessRate: mean(trainResults.map((r) => of(r).attackSuccessRate)),
      triggeredImages: trainResults[0].undefended.triggeredImages,
    });
    const undefendedMean = meanOf((r) => r.undefended);
    lines.push(
      `The zoo's small VGG (widths ${t.widths.join(', ')}) trained on a class-balanced ${t.images}-image subset of the CIFAR-10`,
      `training set, ${trainResults[0].poisonedImages} of them (${t.poisonRate * 100}%) poisoned with \`${t.attack}\`; ${t.epochs} epochs,`,
      `batch ${t.batchSize}, SGD lr ${t.learningRate} (×0.1 at 50% and 75%), momentum 0.9, weight decay ${t.weightDecay}, crop and flip`,
      '(poisoned images unaugmented). The undefended model is this run after phase 1; each defended one continues from it',
      `with NONE (f = 0.03, one round of ${t.noneEpochs} epochs on the kept samples, BatchNorm frozen, the same optimiser and momentum),`,
      `exactly \`backdoor-scan train --defense none --none-lr LR\` with the same options: at the authors' lr 1e-4 and at the lr`,
      'the backdoor-toolbox port of NONE uses, 1e-2. The control continues from the same point with the same fine-tuning at',
      `lr ${c.learningRate} on all ${t.images} images, without NONE: what the extra epochs alone do. Each run (seed) draws its own`,
      `subset, poisoned images, initialisation and shuffles; runs: ${trainResults.length} (seeds ${trainResults.map((r) => r.plan.seed).join(', ')}).`,
      `Backend: ${trainResults[0].backend}.`,
      '',
      'Clean accuracy / ASR (and how many times lower the ASR is than the same run undefended):',
      '',
      `| seed | without defence | ${arms.map((a) => a.title).join(' | ')} |`,
      `|---|---|${arms.map(() => '---|').join('')}`,
      ...trainResults.map((r) => `| ${r.plan.seed} | ${cell(r.undefended)} | ${arms.map((a) => cell(a.of(r), r.undefended)).join(' | ')} |`),
      `| mean | ${cell(undefendedMean)} | ${arms.map((a) => cell(meanOf(a.of), undefendedMean)).join(' | ')} |`,
      '',
      `Seconds per epoch (mean over runs): phase 1 ${mean(trainResults.map((r) => r.undefended.secondsPerEpoch)).toFixed(0)}; ` +
        trainResults[0].defended
          .map((d, i) => `NONE at lr ${d.learningRate} ${mean(trainResults.map((r) => r.defended[i].secondsPerEpoch)).toFixed(0)} per fine-tuning epoch plus ${mean(trainResults.map((r) => r.defended[i].analyseSeconds)).toFixed(0)} s of analysis`)
          .join('; ') +
        `; control ${mean(trainResults.map((r) => r.control.secondsPerEpoch)).toFixed(0)}.`,
      '',
      ...trainResults.flatMap((r) =>
        r.defended.map((d) => {
          const round = d.rounds[0];
          return `Seed ${r.plan.seed}, NONE at lr ${d.learningRate}: flagged ${round.flaggedSamples} of ${round.analysedSamples} training samples (${round.flaggedPoisoned} of the ${r.poisonedImages} poisoned ones), zeroed ${round.layers.reduce((n, l) => n + l.selected.length, 0)} channels.`;
        }),
      ),
      '',
    );
  }
  lines.push('## Do the shortened schedules change the answer?', '');
  if (!checks) {
    lines.push('No results yet.', '');
  } else {
    const c = checks.plan;
    const row = (t: TrajectoryPoint) => `| ${t.epoch} | ${pct(t.cleanAccuracy)} | ${pct(t.attackSuccessRate)} |`;
    const pick = (points: TrajectoryPoint[], epochs: number[]) => points.filter((t) => epochs.includes(t.epoch));
    lines.push(
      `On ${c.model} (\`${checks.attack}\`), with the same data and evaluation as the tables above.`,
      '',
      `NONE (\`none-planted\`, f = 0.03), clean accuracy and ASR after each fine-tuning epoch up to the paper's ${c.noneEpochs}; epoch 0 is right after the zeroing:`,
      '',
      '| epoch | clean accuracy | ASR |',
      '|---|---|---|',
      ...pick(checks.none, [0, 1, 2, 3, 5, 10, 15, 20]).map(row),
      '',
      `NONE's per-layer quota f (README 0.03, the code's default 0.05), ${c.fractionEpochs} fine-tuning epochs:`,
      '',
      '| f | zeroed channels | clean accuracy | ASR |',
      '|---|---|---|---|',
      ...checks.fractions.map((f) => `| ${f.fraction} | ${f.zeroed} | ${pct(f.cleanAccuracy)} | ${pct(f.attackSuccessRate)} |`),
      '',
      `BAN fine-tuning (README settings), after each epoch up to the README's ${c.banEpochs}; epoch 0 is the model before:`,
      '',
      '| epoch | clean accuracy | ASR |',
      '|---|---|---|',
      ...pick(checks.ban, [0, 1, 2, 4, 8, 12, 16, 20, 24]).map(row),
      '',
    );
  }
  fs.writeFileSync(DOC, `${lines.join('\n')}\n`);
  log(`wrote ${path.relative(ROOT, DOC)}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, models: { type: 'string' }, protocols: { type: 'string' }, seeds: { type: 'string' }, 'report-only': { type: 'boolean', default: false } } });
  const only = values.only;
  if (only !== undefined && !['repair', 'train', 'checks', 'diagnosis'].includes(only)) throw new Error('--only takes repair, train, checks or diagnosis');
  const wanted = values.models?.split(',');
  const protocols = (values.protocols?.split(',') ?? PROTOCOLS) as Protocol[];
  const reportOnly = values['report-only'];
  const models = findModels();
  const results = new Map<string, SavedRepair>();
  await initBackend({ backend: 'wasm' });
  for (const m of models) {
    for (const protocol of PROTOCOLS) {
      const file = path.join(OUT, m.name, `${protocol}.json`);
      const run = !reportOnly && (only === undefined || only === 'repair') && inPlan(protocol, m) && protocols.includes(protocol) && (!wanted || wanted.includes(m.name));
      if (run) results.set(`${m.name}/${protocol}`, await repairCached(m, protocol));
      else if (fs.existsSync(file)) results.set(`${m.name}/${protocol}`, (JSON.parse(fs.readFileSync(file, 'utf8')) as SavedRepair));
    }
  }
  const train10 = await openDataset(TRAIN_ZIP, { split: 'train' });
  const test10 = await openDataset(TEST_ZIP, { split: 'test' });
  const seeds = values.seeds?.split(',').map(Number) ?? PLAN.train.seeds;
  const unknown = seeds.filter((s) => !PLAN.train.seeds.includes(s));
  if (unknown.length > 0) throw new Error(`--seeds takes some of ${PLAN.train.seeds.join(', ')}`);
  if (!reportOnly && (only === undefined || only === 'train')) for (const seed of seeds) await trainExperiment(train10, test10, seed);
  const trainResults = PLAN.train.seeds.map(savedTrainResult).filter((r): r is TrainResult => r !== undefined);
  let checks: ChecksResult | undefined;
  const checksFile = path.join(OUT, `checks-${PLAN.checks.model}.json`);
  if (!reportOnly && (only === undefined || only === 'checks')) checks = await checksExperiment(train10, test10);
  else if (fs.existsSync(checksFile)) checks = JSON.parse(fs.readFileSync(checksFile, 'utf8')) as ChecksResult;
  const diagnosisModels = models.filter((m) => !wanted || wanted.includes(m.name));
  if (!reportOnly && (only === undefined || only === 'diagnosis')) for (const m of diagnosisModels) await diagnose(m, train10, test10);
  const diagnoses = models.flatMap((m) => {
    const file = path.join(OUT, m.name, 'diagnosis.json');
    return fs.existsSync(file) ? [JSON.parse(fs.readFileSync(file, 'utf8')) as DiagnosisResult] : [];
  });
  writeDoc(models, results, trainResults, checks, diagnoses, await asrFloors(models, test10));
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`eval-mitigation: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}
