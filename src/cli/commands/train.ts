/** `backdoor-scan train --arch A --data D --out FILE [--defense none]`: training, optionally with NONE. */
import * as fs from 'node:fs';
import { NoneSettings, TrainReport } from '../../engine/report';
import { trainModel, TrainRequest } from '../../engine/repair';
import { backendChoice, COMPUTE_OPTIONS, numberList, num, outputFormat, parse, positiveInt, preprocessingOptions, splitName, str, UsageError } from '../args';
import { EXIT } from '../exit';
import { CliIo } from '../io';
import { ProgressPrinter } from '../progress';
import { describeBackend, fields, int, pct } from '../text';

export const TRAIN_USAGE = `backdoor-scan train --arch A --data DATA --out FILE [options]
  Trains a model from scratch (TF.js output with a sidecar), optionally on poisoned data and with
  NONE as the training-time defence. Exit 0 trained, 2 bad input, 3 internal error.
  --arch A              vgg-small (--widths 16,32,64), resnet-cifar (--widths, --blocks 1,1,1), or a built-in
                        (resnet18, vgg11_bn, ...; --width N)
  --data D --split train|test   training data (default split train);  --images N  a class-balanced subset
  --out FILE            the model.json to write (a sidecar backdoor-scan.json goes beside it)
  --poison SPEC --poison-rate R   plant a trigger into a share R of the training images (the attack)
  --defense none        NONE: after training, R rounds of analyse, zero, fine-tune (--mode, --reset-fraction,
                        --rounds, --none-epochs (20), --none-lr (1e-4), --layers)
  --epochs N (10) --batch-size N (128) --lr LR (0.05) --weight-decay WD (5e-4) --seed N (0)
  --eval-data D --eval-split train|test --eval-images N   where clean accuracy and ASR are measured
  --trigger SPEC        ASR trigger (default: the --poison one)
  --format text|json  --report FILE  --backend B --scale/--mean/--std`;

export async function trainCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...COMPUTE_OPTIONS,
    arch: { type: 'string' },
    widths: { type: 'string' },
    blocks: { type: 'string' },
    width: { type: 'string' },
    data: { type: 'string' },
    split: { type: 'string' },
    images: { type: 'string' },
    out: { type: 'string' },
    report: { type: 'string' },
    poison: { type: 'string' },
    'poison-rate': { type: 'string' },
    defense: { type: 'string' },
    mode: { type: 'string' },
    'reset-fraction': { type: 'string' },
    rounds: { type: 'string' },
    'none-epochs': { type: 'string' },
    'none-lr': { type: 'string' },
    layers: { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    lr: { type: 'string' },
    'weight-decay': { type: 'string' },
    seed: { type: 'string' },
    'eval-data': { type: 'string' },
    'eval-split': { type: 'string' },
    'eval-images': { type: 'string' },
    trigger: { type: 'string' },
    scale: { type: 'string' },
    mean: { type: 'string' },
    std: { type: 'string' },
  });
  if (values.help) {
    io.stdout.write(`${TRAIN_USAGE}\n`);
    return EXIT.ok;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (train takes options only)`);
  const format = outputFormat(values, ['text', 'json'] as const);
  const arch = str(values, 'arch');
  const dataPath = str(values, 'data');
  const outPath = str(values, 'out');
  if (!arch || !dataPath || !outPath) throw new UsageError('--arch, --data and --out are required');
  const defense = str(values, 'defense');
  if (defense !== undefined && defense !== 'none') throw new UsageError(`--defense must be none (NONE), got '${defense}'`);
  const poison = str(values, 'poison');
  const poisonRate = num(values, 'poison-rate', (n) => n > 0 && n < 1, 'a number in (0, 1)');
  if ((poison === undefined) !== (poisonRate === undefined)) throw new UsageError('--poison and --poison-rate go together');
  const evalSplit = str(values, 'eval-split');
  if (evalSplit !== undefined && evalSplit !== 'train' && evalSplit !== 'test') throw new UsageError(`--eval-split must be train or test, got '${evalSplit}'`);
  const mode = str(values, 'mode');
  if (mode !== undefined && mode !== 'injected' && mode !== 'natural') throw new UsageError(`--mode must be injected or natural, got '${mode}'`);
  const layers = str(values, 'layers');
  if (layers !== undefined && !['auto', 'all-convs', 'resnet-subset'].includes(layers)) throw new UsageError(`--layers must be auto, all-convs or resnet-subset, got '${layers}'`);
  const none: Partial<NoneSettings> = {};
  const set = <K extends keyof NoneSettings>(key: K, value: NoneSettings[K] | undefined) => {
    if (value !== undefined) none[key] = value;
  };
  set('mode', mode as NoneSettings['mode'] | undefined);
  set('resetFraction', num(values, 'reset-fraction', (n) => n > 0 && n <= 1, 'a number in (0, 1]'));
  set('rounds', positiveInt(values, 'rounds'));
  set('epochsPerRound', num(values, 'none-epochs', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer'));
  set('learningRate', num(values, 'none-lr', (n) => n > 0, 'a positive number'));
  set('layers', layers as NoneSettings['layers'] | undefined);
  const positiveList = (key: string) => {
    const list = numberList(values, key);
    if (list?.some((n) => !Number.isInteger(n) || n <= 0)) throw new UsageError(`--${key} must list positive integers`);
    return list;
  };

  const request: TrainRequest = {
    arch,
    archOptions: { widths: positiveList('widths'), blocks: positiveList('blocks'), width: positiveInt(values, 'width') },
    dataPath,
    split: splitName(values),
    preprocessing: preprocessingOptions(values),
    trainImages: positiveInt(values, 'images'),
    poison: poison !== undefined && poisonRate !== undefined ? { trigger: poison, rate: poisonRate } : undefined,
    epochs: positiveInt(values, 'epochs'),
    batchSize: positiveInt(values, 'batch-size'),
    learningRate: num(values, 'lr', (n) => n > 0, 'a positive number'),
    weightDecay: num(values, 'weight-decay', (n) => n >= 0, 'a non-negative number'),
    seed: num(values, 'seed', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer'),
    defense: defense as 'none' | undefined,
    none,
    evalDataPath: str(values, 'eval-data'),
    evalSplit: evalSplit as 'train' | 'test' | undefined,
    evalImages: positiveInt(values, 'eval-images'),
    trigger: str(values, 'trigger'),
    outPath,
    backend: backendChoice(values),
  };

  const progress = new ProgressPrinter(io.stderr, Boolean(values.quiet));
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  let report: TrainReport;
  try {
    report = await trainModel(request, { signal: controller.signal, onProgress: progress.report });
  } finally {
    process.removeListener('SIGINT', onSigint);
    progress.finish();
  }
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const reportPath = str(values, 'report');
  if (reportPath) fs.writeFileSync(reportPath, json);
  io.stdout.write(format === 'json' ? json : formatTrainText(report));
  return EXIT.ok;
}

export function formatTrainText(report: TrainReport): string {
  const poison = report.data.poison ? `, ${int(report.data.poison.images)} poisoned with ${report.data.poison.trigger}` : '';
  const rows: [string, string][] = [
    ['Model', report.output.files.join(', ')],
    ['Architecture', `${report.arch} ${JSON.stringify(report.archOptions)}`],
    ['Data', `${report.data.path}: ${int(report.data.trainImages)} of ${int(report.data.size)} images${poison}`],
    ['Recipe', `${report.recipe.epochs} epochs, batch ${report.recipe.batchSize}, lr ${report.recipe.learningRate} (×0.1 at ${report.recipe.milestones.join(', ')}), SGD momentum ${report.recipe.momentum}, weight decay ${report.recipe.weightDecay}`],
    ['Defence', report.none ? `NONE ${report.none.settings.mode}: ${report.none.settings.rounds} round(s) × ${report.none.settings.epochsPerRound} epochs at lr ${report.none.settings.learningRate}` : 'none'],
    ['Backend', describeBackend(report.backend)],
    ['Time per epoch', `${report.secondsPerEpoch.toFixed(1)} s${report.noneSecondsPerEpoch === undefined ? '' : ` (NONE fine-tuning ${report.noneSecondsPerEpoch.toFixed(1)} s)`}`],
    ['Evaluation', `${report.evaluation.path}: ${int(report.evaluation.images)} images`],
    ['Clean accuracy', pct(report.metrics.cleanAccuracy, 2)],
  ];
  if (report.metrics.attackSuccessRate !== undefined) rows.push(['Attack success rate', `${pct(report.metrics.attackSuccessRate, 2)} (${report.trigger})`]);
  for (const round of report.none?.rounds ?? []) {
    const poisoned = round.flaggedPoisoned === undefined ? '' : `, ${int(round.flaggedPoisoned)} of them poisoned`;
    rows.push([`NONE round ${round.round}`, `flagged ${int(round.flaggedSamples)} of ${int(round.analysedSamples)}${poisoned}; zeroed ${round.layers.reduce((n, l) => n + l.selected.length, 0)} channels in ${round.layers.length} layers`]);
  }
  return `${fields(rows)}\n`;
}
