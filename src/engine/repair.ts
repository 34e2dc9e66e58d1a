/**
 * Repairing a backdoored model, and training one with NONE as the defence: the entry points that
 * the CLI (`backdoor-scan repair`, `backdoor-scan train`) and the extension's worker share.
 *
 * A repair opens the model and its data, measures the model (clean accuracy, attack success rate
 * when the trigger is known, BAN's verdict), runs NONE or BAN fine-tuning, writes the repaired
 * weights to a new file in the input's format, loads that file back and measures it the same
 * way. The input file is never written: writeModel refuses its path and any existing file, and
 * the input's SHA-256 is checked again at the end.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildArchitecture } from './arch';
import { BuiltModel } from './arch/builder';
import { buildResNet } from './arch/resnet';
import { buildSmallVgg } from './arch/vgg-small';
import { poisonDataset, triggeredTestSet } from './attacks/poison';
import { formatTriggerSpec, makeTrigger, parseTriggerSpec, Trigger } from './attacks/triggers';
import { BackendChoice, BackendInfo, initBackend } from './backend';
import { batches, Dataset, openDataset, permutationPrefix, Preprocessing, resolvePreprocessing, SIDECAR_NAME, subsetIndices } from './data';
import { InputError, throwIfAborted } from './errors';
import { evaluate } from './eval';
import { defaultOutputPath, LoadedModel, writeModel } from './formats';
import { Network } from './graph/executor';
import { banFinetune, defaultBanFinetuneSettings } from './mitigate/ban-finetune';
import { defaultNoneSettings, LabelledImages, repairWithNone, trainWithNone } from './mitigate/none';
import { RunControl } from './progress';
import { Rng } from './random';
import {
  BanFinetuneSettings,
  BanSettings,
  EpochReport,
  ModelMetrics,
  NoneSettings,
  PhaseTiming,
  REPORT_SCHEMA_VERSION,
  RepairOutcome,
  RepairReport,
  TrainReport,
  VerdictSummary,
} from './report';
import { scanModel } from './scan';
import { DEFAULT_PREPROCESSING, fileSha256, modelSha256, openData, OpenedData, openModel, preprocessingReport } from './session';
import { multiStep, train } from './train/trainer';
import { TOOL_NAME, TOOL_VERSION } from './version';
import { percent } from './percent';

/** Where the clean accuracy, the attack success rate and BAN's verdict are measured. */
export interface EvaluationRequest {
  /** Labelled clean images; by default the part of the repair data the repair did not use. */
  evalDataPath?: string;
  evalSplit?: 'train' | 'test';
  /** A seeded, class-balanced subset of this many evaluation images. */
  evalImages?: number;
  /** A trigger spec (`badnets:3x3@br,target=0`): the attack success rate is measured with it. */
  trigger?: string;
}

/** A trigger planted into a share of the images (the poisoned training set NONE assumes). */
export interface PlantRequest {
  trigger: string;
  /** Share of the images that get the trigger and the target label. */
  rate: number;
  seed?: number;
}

export interface RepairRequest extends EvaluationRequest {
  method: 'none' | 'ban';
  modelPath: string;
  /** The repair data: NONE's (possibly poisoned) training data, BAN's clean data. Default: the sidecar's. */
  dataPath?: string;
  split?: 'train' | 'test';
  arch?: string;
  preprocessing?: Partial<Preprocessing>;
  /** The repaired model's path; default `defaultOutputPath(modelPath)`. Never the input, never an existing file. */
  outPath?: string;
  plant?: PlantRequest;
  none?: Partial<NoneSettings>;
  ban?: Partial<BanFinetuneSettings>;
  /** BAN's verdict before and after (default true): two scans, the costliest part of a small repair. */
  verdict?: boolean;
  verdictSettings?: Partial<BanSettings>;
  /** Scan a seeded subset of this many evaluation images. */
  verdictImages?: number;
  backend?: BackendChoice;
  tfjsNodePath?: string;
}

/** Seed of the permutation whose prefix is the repair set: the same as BAN's split and the zoo's hold-out. */
const SUBSET_SEED = 0;

function seconds(since: number): number {
  return (Date.now() - since) / 1000;
}

/** The seeded prefix of one permutation of the data: the images a repair (or training) uses. */
function dataPrefix(size: number, fraction: number): Int32Array {
  if (!(fraction > 0 && fraction <= 1)) throw new InputError('--data-fraction', `must be in (0, 1], got ${fraction}`);
  const indices = permutationPrefix(size, fraction, SUBSET_SEED);
  if (indices.length === 0) throw new InputError('--data-fraction', `${fraction} of ${size} images selects none`);
  return indices;
}

function parseTrigger(spec: string, numClasses: number, what: string): Trigger {
  let trigger: Trigger;
  try {
    trigger = makeTrigger(parseTriggerSpec(spec));
  } catch (e) {
    throw new InputError(what, (e as Error).message);
  }
  if (trigger.spec.target >= numClasses) throw new InputError(what, `target ${trigger.spec.target} is not one of the model's ${numClasses} classes`);
  return trigger;
}

/** Plants `plant`'s trigger into round(rate·n) of `indices` whose label is not the target. */
export function plantTrigger(ds: Dataset, indices: Int32Array, plant: PlantRequest, numClasses: number): { dataset: Dataset; poisoned: Set<number>; trigger: Trigger } {
  const trigger = parseTrigger(plant.trigger, numClasses, '--plant');
  if (!(plant.rate > 0 && plant.rate < 1)) throw new InputError('--plant-rate', `must be in (0, 1), got ${plant.rate}`);
  const candidates = Array.from(indices).filter((i) => ds.labels[i] !== trigger.spec.target);
  new Rng(plant.seed ?? 1).shuffle(candidates);
  const poisoned = new Set(candidates.slice(0, Math.round(plant.rate * indices.length)));
  return { dataset: poisonDataset(ds, trigger, poisoned), poisoned, trigger };
}

/** Clean accuracy and, with a trigger, the share of triggered non-target images sent to the target. */
export async function measureModel(net: Network, ds: Dataset, indices: Int32Array, prep: Preprocessing, trigger: Trigger | undefined, control: RunControl & { phase: string }): Promise<ModelMetrics> {
  const shape = net.inputShape;
  const clean = await evaluate(net, batches(ds, indices, 256, shape, prep, { signal: control.signal, onProgress: (done, total) => control.onProgress?.({ phase: `${control.phase}: clean accuracy`, done, total }) }), { signal: control.signal });
  const metrics: ModelMetrics = { cleanAccuracy: clean.accuracy, cleanImages: clean.total };
  if (trigger) {
    // triggeredTestSet keeps the non-target images in index order; map the chosen ones onto it.
    const rank = new Int32Array(ds.size).fill(-1);
    for (let i = 0, j = 0; i < ds.size; i++) if (ds.labels[i] !== trigger.spec.target) rank[i] = j++;
    const triggeredIndices = Int32Array.from(Array.from(indices).filter((i) => rank[i] >= 0), (i) => rank[i]);
    const triggered = triggeredTestSet(ds, trigger);
    const result = await evaluate(net, batches(triggered, triggeredIndices, 256, shape, prep, { signal: control.signal, onProgress: (done, total) => control.onProgress?.({ phase: `${control.phase}: attack success rate`, done, total }) }), { signal: control.signal });
    metrics.attackSuccessRate = result.predictedHistogram[trigger.spec.target] / result.total;
    metrics.triggeredImages = result.total;
  }
  return metrics;
}

/** An ASR at or below this counts as the backdoor removed: clean models of the zoo send 3–15% of
 *  triggered images to a target anyway (docs/mitigation.md, the ASR floor). */
const REMOVED_ASR = 0.1;

/** Classifies what a repair did to the backdoor from the before/after measurements (see RepairOutcome). */
export function repairOutcome(before: ModelMetrics, after: ModelMetrics): RepairOutcome {
  const verdictAfter = after.verdict ? ` BAN calls the repaired model ${after.verdict.verdict}.` : '';
  if (before.attackSuccessRate !== undefined && after.attackSuccessRate !== undefined) {
    const [b, a] = [before.attackSuccessRate, after.attackSuccessRate];
    if (b <= REMOVED_ASR) {
      return { outcome: 'unmeasured', explanation: `The trigger reached the target on only ${percent(b)} of triggered images before the repair, so the attack success rate cannot show what the repair did; check the trigger spec.${verdictAfter}` };
    }
    const ratio = b / Math.max(a, 1 / (after.triggeredImages ?? 1));
    const numbers = `attack success rate ${percent(b)} → ${percent(a)} (${ratio.toFixed(1)}× lower)`;
    if (a <= REMOVED_ASR) return { outcome: 'removed', explanation: `The backdoor is removed: ${numbers}.${verdictAfter}` };
    if (a <= b / 2) return { outcome: 'reduced', explanation: `The backdoor is weakened, not removed: ${numbers}.${verdictAfter}` };
    return { outcome: 'remains', explanation: `The backdoor remains: ${numbers}.${verdictAfter}` };
  }
  if (after.verdict) {
    const was = before.verdict ? `BAN's verdict ${before.verdict.verdict} → ${after.verdict.verdict}` : `BAN calls the repaired model ${after.verdict.verdict}`;
    const v = after.verdict.verdict;
    if (v === 'clean') return { outcome: 'removed', explanation: `BAN finds no backdoor after the repair (${was}); no trigger was given to measure the attack success rate.` };
    if (v === 'inconclusive') return { outcome: 'reduced', explanation: `BAN is inconclusive after the repair (${was}); no trigger was given to measure the attack success rate.` };
    return { outcome: 'remains', explanation: `BAN still finds a backdoor after the repair (${was}); no trigger was given to measure the attack success rate.` };
  }
  return { outcome: 'unmeasured', explanation: "Neither a trigger to measure the attack success rate with nor BAN's verdict was given, so the repair's effect on the backdoor was not measured." };
}

/** The evaluation images: given ones, else the repair data the repair did not use, else all of it. */
async function evaluationSet(
  model: Awaited<ReturnType<typeof openModel>>,
  data: OpenedData,
  used: Int32Array,
  request: EvaluationRequest & { preprocessing?: Partial<Preprocessing> },
): Promise<{ ds: Dataset; indices: Int32Array; note?: string; path: string; split?: 'train' | 'test' }> {
  const pick = (ds: Dataset, pool: Int32Array) => {
    if (!request.evalImages || request.evalImages >= pool.length) return pool;
    const chosen = subsetIndices(pool.length, request.evalImages, SUBSET_SEED, { labels: Int32Array.from(pool, (i) => ds.labels[i]) });
    return Int32Array.from(chosen, (j) => pool[j]);
  };
  if (request.evalDataPath) {
    const evalData = await openData(model, { dataPath: request.evalDataPath, split: request.evalSplit, preprocessing: request.preprocessing });
    const ds = evalData.dataset;
    return { ds, indices: pick(ds, Int32Array.from({ length: ds.size }, (_, i) => i)), path: request.evalDataPath, split: request.evalSplit };
  }
  const ds = data.dataset;
  const usedSet = new Set(used);
  const rest = Int32Array.from({ length: ds.size }, (_, i) => i).filter((i) => !usedSet.has(i));
  if (rest.length > 0) return { ds, indices: pick(ds, rest), note: 'the images of the repair data that the repair did not use', path: ds.path };
  return { ds, indices: pick(ds, used), note: 'the repair data itself (no separate evaluation data was given), so the numbers are optimistic', path: ds.path };
}

function verdictSummary(report: Awaited<ReturnType<typeof scanModel>>): VerdictSummary {
  return {
    verdict: report.verdict.verdict,
    score: report.verdict.score,
    threshold: report.verdict.threshold,
    targetLabel: report.verdict.targetLabel,
    noisyDominantRate: report.statistics.noisy.dominantRate,
    explanation: report.verdict.explanation,
    seconds: report.timings.reduce((s, t) => s + t.seconds, 0),
  };
}

/** Writes a sidecar beside a model written to another folder, so the model opens as the input did. */
function writeSidecar(dir: string, prep: Preprocessing, inputShape: number[], classes: string[], dataPath?: string): string | undefined {
  const target = path.join(dir, SIDECAR_NAME);
  if (fs.existsSync(target)) return undefined;
  const sidecar = { preprocessing: prep, inputShape, classes, ...(dataPath ? { data: path.resolve(dataPath) } : {}) };
  fs.writeFileSync(target, `${JSON.stringify(sidecar, null, 2)}\n`, { flag: 'wx' });
  return target;
}

export async function repairModel(request: RepairRequest, control: RunControl = {}): Promise<RepairReport> {
  const timings: PhaseTiming[] = [];
  const timed = async <T>(phase: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    const result = await fn();
    timings.push({ phase, seconds: seconds(started) });
    return result;
  };
  const settings: NoneSettings | BanFinetuneSettings =
    request.method === 'none' ? { ...defaultNoneSettings(request.none?.mode ?? 'injected'), ...request.none } : { ...defaultBanFinetuneSettings(), ...request.ban };
  const backend = await initBackend({ backend: request.backend, tfjsNodePath: request.tfjsNodePath });
  const outPath = path.resolve(request.outPath ?? defaultOutputPath(request.modelPath));
  if (outPath === path.resolve(request.modelPath)) throw new InputError(outPath, 'is the input model; a repaired model is always written to a new file');
  if (fs.existsSync(outPath)) throw new InputError(outPath, 'already exists; choose another output name (existing files are never overwritten)');

  control.onProgress?.({ phase: 'load', done: 0 });
  const loadStarted = Date.now();
  const model = await openModel(request.modelPath, { arch: request.arch });
  const data = await openData(model, { dataPath: request.dataPath, preprocessing: request.preprocessing, split: request.split });
  const prep = data.preprocessing.preprocessing;
  const k = model.summary.numClasses;
  if (request.method === 'ban' && model.summary.batchNormLayers.length === 0) {
    throw new InputError(request.modelPath, 'has no BatchNorm layer, so BAN fine-tuning has no neuron noise to train against; use --method none');
  }
  const repairIndices = dataPrefix(data.dataset.size, settings.dataFraction);
  const trigger = request.trigger ? parseTrigger(request.trigger, k, '--trigger') : undefined;
  const planted = request.plant ? plantTrigger(data.dataset, repairIndices, request.plant, k) : undefined;
  const repairData: LabelledImages = { dataset: planted?.dataset ?? data.dataset, indices: repairIndices, preprocessing: prep, keepUnaugmented: planted ? (i) => planted.poisoned.has(i) : undefined };
  const evaluation = await evaluationSet(model, data, repairIndices, request);
  timings.push({ phase: 'load', seconds: seconds(loadStarted) });

  const verdictOf = async (modelPath: string, phase: string, extra: Partial<Preprocessing>): Promise<VerdictSummary> =>
    verdictSummary(
      await scanModel(
        {
          modelPath,
          dataPath: evaluation.path,
          split: evaluation.split ?? request.split,
          arch: request.arch,
          preprocessing: extra,
          settings: request.verdictSettings,
          backend: request.backend,
          tfjsNodePath: request.tfjsNodePath,
          maxImages: request.verdictImages,
        },
        { signal: control.signal, onProgress: (e) => control.onProgress?.({ ...e, phase: `${phase}: ${e.phase}` }) },
      ),
    );
  const wantVerdict = request.verdict ?? true;

  const net = new Network(model.loaded.graph, model.loaded.weights);
  let report: RepairReport;
  try {
    const before = await timed('measure before', () => measureModel(net, evaluation.ds, evaluation.indices, prep, trigger, { ...control, phase: 'before' }));
    if (wantVerdict) before.verdict = await timed('verdict before', () => verdictOf(request.modelPath, 'verdict before', prep));
    throwIfAborted(control.signal);

    let none: RepairReport['none'];
    let ban: RepairReport['ban'];
    const repairStarted = Date.now();
    if (request.method === 'none') {
      const run = await repairWithNone(net, repairData, settings as NoneSettings, { ...control, poisoned: planted?.poisoned });
      none = { rounds: run.rounds };
      for (const round of run.rounds) for (const t of round.timings) timings.push({ phase: `NONE round ${round.round} ${t.phase}`, seconds: t.seconds });
    } else {
      ban = { epochs: await banFinetune(net, repairData, settings as BanFinetuneSettings, control) };
      timings.push({ phase: 'BAN fine-tune', seconds: seconds(repairStarted) });
    }

    const files = await timed('write', async () => {
      const written = await writeModel(model.loaded, net.exportWeights(), outPath);
      const sidecar = path.dirname(outPath) !== path.dirname(path.resolve(request.modelPath)) ? writeSidecar(path.dirname(outPath), prep, model.summary.inputShape, model.classes, model.sidecar?.data) : undefined;
      return sidecar ? [...written, sidecar] : written;
    });

    // The numbers after the repair are those of the written file, loaded back.
    const repaired = await openModel(outPath, { arch: request.arch });
    const repairedNet = new Network(repaired.loaded.graph, repaired.loaded.weights);
    let after: ModelMetrics;
    try {
      after = await timed('measure after', () => measureModel(repairedNet, evaluation.ds, evaluation.indices, prep, trigger, { ...control, phase: 'after' }));
    } finally {
      repairedNet.dispose();
    }
    if (wantVerdict) after.verdict = await timed('verdict after', () => verdictOf(outPath, 'verdict after', prep));

    if (modelSha256(request.modelPath) !== model.sha256) {
      throw new Error(`the input model ${request.modelPath} changed during the repair; it must never be written`);
    }
    const notes: string[] = [...model.loaded.notes];
    if (request.method === 'ban' && planted) notes.push('A trigger was planted into the repair data, but BAN fine-tuning assumes clean data.');
    report = {
      schemaVersion: REPORT_SCHEMA_VERSION,
      tool: { name: TOOL_NAME, version: TOOL_VERSION },
      createdAt: new Date().toISOString(),
      method: request.method,
      model: { path: request.modelPath, format: model.loaded.format, sha256: model.sha256 },
      output: { path: outPath, files, sha256: repaired.sha256 },
      data: {
        path: data.dataset.path,
        kind: data.dataset.kind,
        size: data.dataset.size,
        repairImages: repairIndices.length,
        planted: planted ? { trigger: formatTriggerSpec(planted.trigger.spec), images: planted.poisoned.size } : undefined,
        preprocessing: preprocessingReport(data),
      },
      evaluation: { path: evaluation.ds.path, kind: evaluation.ds.kind, images: evaluation.indices.length, note: evaluation.note },
      trigger: trigger ? formatTriggerSpec(trigger.spec) : undefined,
      backend,
      settings,
      before,
      after,
      outcome: repairOutcome(before, after),
      none,
      ban,
      timings,
      notes,
    };
  } finally {
    net.dispose();
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// Training from scratch, with NONE as the defence or without

export interface TrainRequest extends EvaluationRequest {
  /** `vgg-small` and `resnet-cifar` (the zoo's nets) or any built-in architecture. */
  arch: string;
  /** vgg-small: widths per stage; resnet-cifar: widths and blocks; built-ins: width (the base width). */
  archOptions?: { widths?: number[]; blocks?: number[]; width?: number };
  dataPath: string;
  /** Default 'train'. */
  split?: 'train' | 'test';
  preprocessing?: Partial<Preprocessing>;
  /** A seeded, class-balanced subset of this many training images. */
  trainImages?: number;
  /** A trigger planted into a share of the training images: the data poisoning attack. */
  poison?: PlantRequest;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  momentum?: number;
  weightDecay?: number;
  /** Epochs at which the learning rate drops ×0.1 (default: at 50% and 75% of the epochs, as the zoo). */
  milestones?: number[];
  augment?: boolean;
  seed?: number;
  /** The training-time defence. */
  defense?: 'none';
  none?: Partial<NoneSettings>;
  /** The model file to write (TF.js, `model.json`), with a sidecar beside it. */
  outPath: string;
  backend?: BackendChoice;
  tfjsNodePath?: string;
}

function buildModel(arch: string, options: NonNullable<TrainRequest['archOptions']>, numClasses: number, inputShape: [number, number, number], seed: number): BuiltModel {
  if (arch === 'vgg-small') return buildSmallVgg({ widths: options.widths, numClasses, inputShape, seed });
  if (arch === 'resnet-cifar') return buildResNet({ blocks: options.blocks ?? [1, 1, 1], widths: options.widths ?? [16, 32, 64], numClasses, inputShape, seed });
  return buildArchitecture(arch, { numClasses, inputShape, seed, width: options.width });
}

export async function trainModel(request: TrainRequest, control: RunControl & { onEpoch?: (record: EpochReport) => void } = {}): Promise<TrainReport> {
  const timings: PhaseTiming[] = [];
  const backend: BackendInfo = await initBackend({ backend: request.backend, tfjsNodePath: request.tfjsNodePath });
  const outPath = path.resolve(request.outPath);
  if (path.extname(outPath) !== '.json') throw new InputError(outPath, 'a trained model is written as TF.js: name the output file something.json');
  const sidecarPath = path.join(path.dirname(outPath), SIDECAR_NAME);
  for (const target of [outPath, sidecarPath]) {
    if (fs.existsSync(target)) throw new InputError(target, 'already exists; train into a new folder (existing files are never overwritten)');
  }

  const loadStarted = Date.now();
  const ds = await openDataset(request.dataPath, { split: request.split ?? 'train' });
  if (ds.size === 0) throw new InputError(request.dataPath, 'holds no images');
  const first = ds.readImage(0);
  const inputShape: [number, number, number] = [first.height, first.width, first.channels];
  const resolved = resolvePreprocessing(request.preprocessing, undefined, DEFAULT_PREPROCESSING, inputShape[2]);
  const prep = resolved.preprocessing;
  const k = ds.classes.length;
  const seed = request.seed ?? 0;
  const all = Int32Array.from({ length: ds.size }, (_, i) => i);
  const trainIndices = request.trainImages && request.trainImages < ds.size ? subsetIndices(ds.size, request.trainImages, seed, { labels: ds.labels }) : all;
  const poison = request.poison ? plantTrigger(ds, trainIndices, { seed: seed + 1, ...request.poison }, k) : undefined;
  const triggerSpec = request.trigger ?? request.poison?.trigger;
  const trigger = triggerSpec ? parseTrigger(triggerSpec, k, '--trigger') : undefined;
  const built = buildModel(request.arch, request.archOptions ?? {}, k, inputShape, seed);
  const loaded: LoadedModel = { format: 'tfjs', path: '', graph: built.graph, weights: built.weights, source: undefined, notes: [], classes: ds.classes };
  const evalData = request.evalDataPath ? await openDataset(request.evalDataPath, { split: request.evalSplit ?? 'test' }) : undefined;
  if (evalData && evalData.classes.length !== k) throw new InputError(request.evalDataPath as string, `has ${evalData.classes.length} classes but the training data has ${k}`);
  const evalDs = evalData ?? ds;
  const training = new Set(trainIndices);
  const evalPool = evalData ? Int32Array.from({ length: evalDs.size }, (_, i) => i) : all.filter((i) => !training.has(i));
  if (evalPool.length === 0) throw new InputError(request.dataPath, 'leaves no image to evaluate on: give --eval-data or train on a subset (--images)');
  const evalIndices =
    request.evalImages && request.evalImages < evalPool.length
      ? Int32Array.from(subsetIndices(evalPool.length, request.evalImages, SUBSET_SEED, { labels: Int32Array.from(evalPool, (i) => evalDs.labels[i]) }), (j) => evalPool[j])
      : evalPool;
  timings.push({ phase: 'load', seconds: seconds(loadStarted) });

  const epochs = request.epochs ?? 10;
  const milestones = request.milestones ?? [Math.round(epochs * 0.5), Math.round(epochs * 0.75)];
  const recipe = {
    epochs,
    batchSize: request.batchSize ?? 128,
    learningRate: request.learningRate ?? 0.05,
    momentum: request.momentum ?? 0.9,
    weightDecay: request.weightDecay ?? 5e-4,
    milestones,
    augment: request.augment ?? true,
    seed,
  };
  const phase1 = {
    epochs,
    batchSize: recipe.batchSize,
    learningRate: multiStep(recipe.learningRate, milestones),
    momentum: recipe.momentum,
    weightDecay: recipe.weightDecay,
    augment: recipe.augment,
    seed,
  };
  // Poisoned images keep the trigger where it was stamped, as in the zoo (scripts/zoo.ts).
  const data: LabelledImages = { dataset: poison?.dataset ?? ds, indices: trainIndices, preprocessing: prep, keepUnaugmented: poison ? (i) => poison.poisoned.has(i) : undefined };
  const noneSettings = request.defense === 'none' ? { ...defaultNoneSettings(request.none?.mode ?? 'injected'), seed, ...request.none } : undefined;

  const net = new Network(built.graph, built.weights);
  try {
    const trainStarted = Date.now();
    let history: EpochReport[];
    let none: TrainReport['none'];
    if (noneSettings) {
      const result = await trainWithNone(net, data, phase1, noneSettings, { ...control, poisoned: poison?.poisoned });
      history = result.phase1;
      none = { settings: noneSettings, rounds: result.none.rounds };
      const phase1Seconds = history.reduce((s, h) => s + h.seconds, 0);
      timings.push({ phase: 'train', seconds: phase1Seconds });
      for (const round of result.none.rounds) for (const t of round.timings) timings.push({ phase: `NONE round ${round.round} ${t.phase}`, seconds: t.seconds });
    } else {
      const { history: h, optimizer } = await train(net, data.dataset, data.indices, prep, { ...phase1, keepUnaugmented: data.keepUnaugmented }, control);
      optimizer.dispose();
      history = h;
      timings.push({ phase: 'train', seconds: seconds(trainStarted) });
    }
    const measureStarted = Date.now();
    const metrics = await measureModel(net, evalDs, evalIndices, prep, trigger, { ...control, phase: 'evaluate' });
    timings.push({ phase: 'evaluate', seconds: seconds(measureStarted) });
    const files = await writeModel(loaded, net.exportWeights(), outPath);
    fs.writeFileSync(sidecarPath, `${JSON.stringify({ preprocessing: prep, inputShape, classes: ds.classes }, null, 2)}\n`, { flag: 'wx' });
    const noneEpochs = none?.rounds.flatMap((r) => r.epochs) ?? [];
    return {
      schemaVersion: REPORT_SCHEMA_VERSION,
      tool: { name: TOOL_NAME, version: TOOL_VERSION },
      createdAt: new Date().toISOString(),
      arch: request.arch,
      archOptions: { ...request.archOptions },
      defense: request.defense ?? null,
      output: { path: outPath, files: [...files, sidecarPath], sha256: fileSha256(outPath) },
      data: {
        path: ds.path,
        kind: ds.kind,
        size: ds.size,
        trainImages: trainIndices.length,
        poison: poison && request.poison ? { trigger: formatTriggerSpec(poison.trigger.spec), rate: request.poison.rate, images: poison.poisoned.size } : undefined,
        preprocessing: preprocessingReport({ dataset: ds, preprocessing: resolved, inputShape }),
      },
      evaluation: { path: evalDs.path, kind: evalDs.kind, images: evalIndices.length },
      trigger: trigger ? formatTriggerSpec(trigger.spec) : undefined,
      backend,
      recipe,
      none,
      epochs: history,
      secondsPerEpoch: history.reduce((s, h) => s + h.seconds, 0) / Math.max(history.length, 1),
      noneSecondsPerEpoch: noneEpochs.length ? noneEpochs.reduce((s, h) => s + h.seconds, 0) / noneEpochs.length : undefined,
      metrics,
      timings,
      notes: [],
    };
  } finally {
    net.dispose();
  }
}
