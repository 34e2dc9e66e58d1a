/** `backdoor-scan scan MODEL --data D`: BAN detection, a verdict and the evidence. */
import * as fs from 'node:fs';
import { DEFAULT_BAN_SETTINGS } from '../../engine/detect/ban';
import { BanSettings, ScanReport } from '../../engine/report';
import { scanModel } from '../../engine/scan';
import { backendChoice, COMPUTE_OPTIONS, DATA_OPTIONS, num, numberList, outputFormat, parse, positiveInt, preprocessingOptions, requireOne, splitName, str, UsageError } from '../args';
import { EXIT } from '../exit';
import { CliIo } from '../io';
import { ProgressPrinter } from '../progress';
import { toSarif } from '../sarif';
import { formatScanText } from '../scan-text';

export const SCAN_USAGE = `backdoor-scan scan MODEL --data DATA [options]
  Detects a backdoor with BAN (adversarial neuron noise + feature mask). Exit 0 clean, 1 backdoor found,
  2 bad input, 3 internal error (an inconclusive verdict exits 0 and says so).
  --data D              clean labelled images (ImageFolder dir or zip, CIFAR-10 .bin, .npz, IDX)
  --format text|json|sarif   output format (default text);  --out FILE  write it to FILE
  --seed N              random seed (default 0)
  --eps E               noise bound ε (default 0.3);  --steps S  sign-ascent steps (default 30)
  --lambda L            mask sparsity weight λ (default 0.75)
  --noise-variant official|projected   the authors' code (restart per batch, no projection) or the paper's
  --sweep a,b,c         noise strengths of the collapse sweep (default 0.05,0.1,0.2)
  --faithful            replay the authors' exact sequence of passes (slower, same answer)
  --split-layer NAME    split the model at this layer (default: the last conv-block output)
  --max-images N        use a seeded subset of N images of the data (quick scans)
  --mask-epochs N --batches N --batch-size N   BAN's 20 epochs x 20 batches of 128
  --backend B --threads N --arch A --split train|test --scale/--mean/--std   as for eval`;

export async function scanCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...COMPUTE_OPTIONS,
    ...DATA_OPTIONS,
    out: { type: 'string' },
    seed: { type: 'string' },
    eps: { type: 'string' },
    steps: { type: 'string' },
    lambda: { type: 'string' },
    'noise-variant': { type: 'string' },
    sweep: { type: 'string' },
    faithful: { type: 'boolean', default: false },
    'split-layer': { type: 'string' },
    'max-images': { type: 'string' },
    'mask-epochs': { type: 'string' },
    batches: { type: 'string' },
  });
  if (values.help) {
    io.stdout.write(`${SCAN_USAGE}\n`);
    return EXIT.ok;
  }
  const format = outputFormat(values, ['text', 'json', 'sarif'] as const);
  const modelPath = requireOne(positionals, 'model file');
  const variant = str(values, 'noise-variant');
  if (variant !== undefined && variant !== 'official' && variant !== 'projected') throw new UsageError(`--noise-variant must be official or projected, got '${variant}'`);
  const settings: Partial<BanSettings> = { faithful: Boolean(values.faithful) };
  const assign = <K extends keyof BanSettings>(key: K, value: BanSettings[K] | undefined) => {
    if (value !== undefined) settings[key] = value;
  };
  assign('seed', num(values, 'seed', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer'));
  assign('eps', num(values, 'eps', (n) => n > 0 && n < 10, 'a positive number'));
  assign('steps', positiveInt(values, 'steps'));
  assign('lambda', num(values, 'lambda', (n) => n >= 0, 'a non-negative number'));
  assign('noiseVariant', variant as BanSettings['noiseVariant'] | undefined);
  assign('sweepEps', numberList(values, 'sweep'));
  assign('maskEpochs', positiveInt(values, 'mask-epochs'));
  assign('batchesPerEpoch', positiveInt(values, 'batches'));
  assign('batchSize', positiveInt(values, 'batch-size'));

  const progress = new ProgressPrinter(io.stderr, Boolean(values.quiet));
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  let report: ScanReport;
  try {
    report = await scanModel(
      {
        modelPath,
        dataPath: str(values, 'data'),
        arch: str(values, 'arch'),
        split: splitName(values),
        splitLayer: str(values, 'split-layer'),
        preprocessing: preprocessingOptions(values),
        settings: { ...DEFAULT_BAN_SETTINGS, ...settings },
        backend: backendChoice(values),
        threads: positiveInt(values, 'threads'),
        maxImages: positiveInt(values, 'max-images'),
      },
      { signal: controller.signal, onProgress: progress.report },
    );
  } finally {
    process.removeListener('SIGINT', onSigint);
    progress.finish();
  }
  const text = format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : format === 'sarif' ? `${JSON.stringify(toSarif(report), null, 2)}\n` : formatScanText(report);
  const out = str(values, 'out');
  if (out) {
    fs.writeFileSync(out, text);
    if (format !== 'text') io.stdout.write(formatScanText(report));
  } else {
    io.stdout.write(text);
  }
  return report.verdict.verdict === 'backdoored' ? EXIT.backdoor : EXIT.ok;
}
