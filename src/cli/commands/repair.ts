/** `backdoor-scan repair MODEL --data D --method none|ban`: NONE or BAN fine-tuning, before/after numbers. */
import * as fs from 'node:fs';
import { BanFinetuneSettings, backdoorRemains, ModelMetrics, NoneSettings, RepairOutcome, RepairReport } from '../../engine/report';
import { repairModel, RepairRequest } from '../../engine/repair';
import { backendChoice, COMPUTE_OPTIONS, DATA_OPTIONS, num, outputFormat, parse, Parsed, positiveInt, preprocessingOptions, requireOne, splitName, str, UsageError } from '../args';
import { EXIT } from '../exit';
import { CliIo } from '../io';
import { ProgressPrinter } from '../progress';
import { describeBackend, fields, int, pct, table } from '../text';

export const REPAIR_USAGE = `backdoor-scan repair MODEL --data DATA --method none|ban [options]
  Removes a backdoor and writes the repaired model to a new file in MODEL's format (never over MODEL).
  Exit 0 the backdoor is removed (or its removal was not measured: no --trigger, --skip-verdict),
  1 the repair's own measurements say it is still there (weakened or not), 2 bad input, 3 internal error.
  --method none|ban     NONE (zero compromised neurons, drop suspicious samples, fine-tune; NeurIPS'22)
                        or BAN fine-tuning (clean + adversarial-neuron-noise loss; NeurIPS'24)
  --data D              repair data: NONE expects the (possibly poisoned) training data, BAN clean data
  --data-fraction F     share of D used, a seeded prefix (default: NONE 1, BAN 0.05)
  --out FILE            the repaired model (default MODEL.repaired.EXT beside MODEL)
  --trigger SPEC        measure the attack success rate before and after, e.g. badnets:3x3@br,target=0
  --eval-data D --eval-split train|test --eval-images N
                        where clean accuracy, ASR and BAN's verdict are measured (default: the images
                        of D the repair did not use)
  --epochs N            fine-tuning epochs (NONE: per round, default 20; BAN: default 24)
  --lr LR               fine-tuning learning rate (NONE 1e-4, BAN 0.005);  --batch-size N  --seed N
  NONE: --mode injected|natural  --reset-fraction F (0.03 / 0.20)  --rounds R  --layers auto|all-convs|resnet-subset
  BAN:  --eps E (0.3)  --steps S (1)  --rob-lambda L (0.5)
  --plant SPEC --plant-rate R   plant a trigger into a share of the repair data (NONE's poisoned-data setting)
  --skip-verdict        do not run BAN's scan before and after;  --verdict-images N  scan a subset
  --format text|json    output (default text);  --report FILE  also write the JSON report to FILE
  --backend B --arch A --split train|test --scale/--mean/--std   as for eval`;

function fraction(values: Parsed['values'], key: string): number | undefined {
  return num(values, key, (n) => n > 0 && n <= 1, 'a number in (0, 1]');
}

/** The data options of eval and scan, less --limit: a repair's subsets are --data-fraction and --eval-images. */
const REPAIR_DATA_OPTIONS = Object.fromEntries(Object.entries(DATA_OPTIONS).filter(([name]) => name !== 'limit'));

export async function repairCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...COMPUTE_OPTIONS,
    ...REPAIR_DATA_OPTIONS,
    method: { type: 'string' },
    out: { type: 'string' },
    report: { type: 'string' },
    trigger: { type: 'string' },
    'eval-data': { type: 'string' },
    'eval-split': { type: 'string' },
    'eval-images': { type: 'string' },
    'data-fraction': { type: 'string' },
    epochs: { type: 'string' },
    lr: { type: 'string' },
    seed: { type: 'string' },
    mode: { type: 'string' },
    'reset-fraction': { type: 'string' },
    rounds: { type: 'string' },
    layers: { type: 'string' },
    eps: { type: 'string' },
    steps: { type: 'string' },
    'rob-lambda': { type: 'string' },
    plant: { type: 'string' },
    'plant-rate': { type: 'string' },
    'skip-verdict': { type: 'boolean', default: false },
    'verdict-images': { type: 'string' },
  });
  if (values.help) {
    io.stdout.write(`${REPAIR_USAGE}\n`);
    return EXIT.ok;
  }
  const format = outputFormat(values, ['text', 'json'] as const);
  const modelPath = requireOne(positionals, 'model file');
  const method = str(values, 'method');
  if (method !== 'none' && method !== 'ban') throw new UsageError(`--method must be none or ban, got '${method ?? ''}'`);
  const evalSplit = str(values, 'eval-split');
  if (evalSplit !== undefined && evalSplit !== 'train' && evalSplit !== 'test') throw new UsageError(`--eval-split must be train or test, got '${evalSplit}'`);
  const plant = str(values, 'plant');
  const plantRate = num(values, 'plant-rate', (n) => n > 0 && n < 1, 'a number in (0, 1)');
  if ((plant === undefined) !== (plantRate === undefined)) throw new UsageError('--plant and --plant-rate go together');
  const seed = num(values, 'seed', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
  const common = {
    epochs: num(values, 'epochs', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer'),
    learningRate: num(values, 'lr', (n) => n > 0, 'a positive number'),
    batchSize: positiveInt(values, 'batch-size'),
    dataFraction: fraction(values, 'data-fraction'),
    seed,
  };
  const defined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  const request: RepairRequest = {
    method,
    modelPath,
    dataPath: str(values, 'data'),
    split: splitName(values),
    arch: str(values, 'arch'),
    preprocessing: preprocessingOptions(values),
    outPath: str(values, 'out'),
    trigger: str(values, 'trigger'),
    evalDataPath: str(values, 'eval-data'),
    evalSplit: evalSplit as 'train' | 'test' | undefined,
    evalImages: positiveInt(values, 'eval-images'),
    plant: plant !== undefined && plantRate !== undefined ? { trigger: plant, rate: plantRate } : undefined,
    verdict: !values['skip-verdict'],
    verdictImages: positiveInt(values, 'verdict-images'),
    backend: backendChoice(values),
  };
  if (method === 'none') {
    const mode = str(values, 'mode');
    if (mode !== undefined && mode !== 'injected' && mode !== 'natural') throw new UsageError(`--mode must be injected or natural, got '${mode}'`);
    const layers = str(values, 'layers');
    if (layers !== undefined && !['auto', 'all-convs', 'resnet-subset'].includes(layers)) throw new UsageError(`--layers must be auto, all-convs or resnet-subset, got '${layers}'`);
    request.none = defined<Partial<NoneSettings>>({
      mode: mode as NoneSettings['mode'] | undefined,
      resetFraction: fraction(values, 'reset-fraction'),
      rounds: positiveInt(values, 'rounds'),
      layers: layers as NoneSettings['layers'] | undefined,
      epochsPerRound: common.epochs,
      learningRate: common.learningRate,
      batchSize: common.batchSize,
      dataFraction: common.dataFraction,
      seed: common.seed,
    });
  } else {
    request.ban = defined<Partial<BanFinetuneSettings>>({
      eps: num(values, 'eps', (n) => n > 0 && n < 10, 'a positive number'),
      steps: positiveInt(values, 'steps'),
      robLambda: num(values, 'rob-lambda', (n) => n >= 0, 'a non-negative number'),
      epochs: common.epochs,
      learningRate: common.learningRate,
      batchSize: common.batchSize,
      dataFraction: common.dataFraction,
      seed: common.seed,
    });
  }

  const progress = new ProgressPrinter(io.stderr, Boolean(values.quiet));
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  let report: RepairReport;
  try {
    report = await repairModel(request, { signal: controller.signal, onProgress: progress.report });
  } finally {
    process.removeListener('SIGINT', onSigint);
    progress.finish();
  }
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const reportPath = str(values, 'report');
  if (reportPath) fs.writeFileSync(reportPath, json);
  io.stdout.write(format === 'json' ? json : formatRepairText(report));
  return repairExitCode(report.outcome);
}

/** A pipeline that repairs and ships must not ship a model whose backdoor the repair measured as still there. */
export function repairExitCode(outcome: RepairOutcome): number {
  return backdoorRemains(outcome) ? EXIT.backdoor : EXIT.ok;
}

function verdictText(m: ModelMetrics): string {
  if (!m.verdict) return 'not run';
  const target = m.verdict.targetLabel === undefined ? '' : `, target ${m.verdict.targetLabel}`;
  return `${m.verdict.verdict} (score ${m.verdict.score.toFixed(2)}${target})`;
}

function describeSettings(report: RepairReport): string {
  if (report.method === 'none') {
    const s = report.settings as NoneSettings;
    return `NONE, ${s.mode} (f = ${s.resetFraction}, ${s.rounds} round${s.rounds === 1 ? '' : 's'} × ${s.epochsPerRound} epochs at lr ${s.learningRate}, BatchNorm frozen)`;
  }
  const s = report.settings as BanFinetuneSettings;
  return `BAN fine-tuning (${s.epochs} epochs, lr ${s.learningRate}, λ ${s.robLambda}, ε ${s.eps}, ${s.steps} step${s.steps === 1 ? '' : 's'})`;
}

export function formatRepairText(report: RepairReport): string {
  const { before, after } = report;
  const rows: string[][] = [
    ['', 'before', 'after'],
    ['Clean accuracy', pct(before.cleanAccuracy, 2), pct(after.cleanAccuracy, 2)],
  ];
  if (before.attackSuccessRate !== undefined) rows.push(['Attack success rate', pct(before.attackSuccessRate, 2), pct(after.attackSuccessRate ?? NaN, 2)]);
  rows.push(['BAN verdict', verdictText(before), verdictText(after)]);
  const planted = report.data.planted ? ` (${int(report.data.planted.images)} planted with ${report.data.planted.trigger})` : '';
  const lines = [
    fields([
      ['Model', `${report.model.path} (${report.model.format})`],
      ['Repaired model', report.output.files.join(', ')],
      ['Method', describeSettings(report)],
      ['Repair data', `${report.data.path}: ${int(report.data.repairImages)} of ${int(report.data.size)} images${planted}`],
      ['Evaluation', `${report.evaluation.path}: ${int(report.evaluation.images)} images${report.evaluation.note ? ` (${report.evaluation.note})` : ''}`],
      ...(report.trigger ? ([['Trigger', report.trigger]] as [string, string][]) : []),
      ['Backend', describeBackend(report.backend)],
    ]),
    '',
    table(rows),
    '',
    report.outcome.explanation,
  ];
  for (const round of report.none?.rounds ?? []) {
    const breaks = round.jenksBreaks ? ` (Jenks break ${round.jenksBreaks[1].toPrecision(4)})` : '';
    const poisoned = round.flaggedPoisoned === undefined ? '' : `, ${int(round.flaggedPoisoned)} of them planted`;
    lines.push('', `NONE round ${round.round}: flagged ${int(round.flaggedSamples)} of ${int(round.analysedSamples)} samples${breaks}${poisoned}; fine-tuned on ${int(round.fineTuneSamples)}`);
    lines.push(table([['layer', 'channels', 'zeroed'], ...round.layers.map((l) => [l.layer, String(l.channels), l.selected.join(' ')])]));
  }
  if (report.ban) {
    const first = report.ban.epochs[0];
    const last = report.ban.epochs[report.ban.epochs.length - 1];
    if (first && last) lines.push('', `BAN fine-tuning: loss under noise ${first.noisyLoss.toFixed(3)} (epoch 1) -> ${last.noisyLoss.toFixed(3)} (epoch ${last.epoch + 1}); clean loss ${first.cleanLoss.toFixed(3)} -> ${last.cleanLoss.toFixed(3)}`);
  }
  lines.push('', `Time: ${report.timings.map((t) => `${t.phase} ${t.seconds.toFixed(1)} s`).join(', ')}`);
  for (const note of report.notes) lines.push(`Note: ${note}`);
  return `${lines.join('\n')}\n`;
}
