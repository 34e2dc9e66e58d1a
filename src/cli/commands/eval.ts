/** `backdoor-scan eval MODEL --data D`: clean accuracy and per-class confusion. */
import { initBackend } from '../../engine/backend';
import { batches, describePreprocessing, subsetIndices } from '../../engine/data';
import { evaluate } from '../../engine/eval';
import { Network } from '../../engine/graph/executor';
import { openData, openModel, preprocessingReport } from '../../engine/session';
import { backendChoice, COMPUTE_OPTIONS, DATA_OPTIONS, outputFormat, parse, positiveInt, preprocessingOptions, requireOne, splitName, str } from '../args';
import { CliIo } from '../io';
import { ProgressPrinter } from '../progress';
import { describeBackend, fields, int, pct, table } from '../text';

export const EVAL_USAGE = `backdoor-scan eval MODEL --data DATA [options]
  Accuracy and per-class confusion of MODEL on a labelled data set.
  --data D            ImageFolder dir or zip, CIFAR-10 .bin, .npz, IDX (default: the sidecar's "data")
  --split train|test  part of a source that holds both (default test)
  --limit N           a seeded, class-balanced subset of N images
  --batch-size N      images per forward pass (default 256)
  --scale S --mean a,b,c --std a,b,c   input = (pixel/S - mean)/std (default: sidecar, else /255)
  --arch A            architecture for weight-only files (.pt, .safetensors)
  --backend B         auto|wasm|webgpu|tensorflow|cpu (default auto; env BACKDOOR_SCAN_BACKEND)
  --threads N         wasm threads, at most 8 and the cores (default 1; env BACKDOOR_SCAN_THREADS)
  --format text|json  output format (default text)`;

export async function evalCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMPUTE_OPTIONS, ...DATA_OPTIONS });
  if (values.help) {
    io.stdout.write(`${EVAL_USAGE}\n`);
    return 0;
  }
  const format = outputFormat(values, ['text', 'json'] as const);
  const modelPath = requireOne(positionals, 'model file');
  const model = await openModel(modelPath, { arch: str(values, 'arch') });
  const data = await openData(model, { dataPath: str(values, 'data'), preprocessing: preprocessingOptions(values), split: splitName(values) });
  const backend = await initBackend({ backend: backendChoice(values), threads: positiveInt(values, 'threads') });
  const limit = positiveInt(values, 'limit');
  const batchSize = positiveInt(values, 'batch-size') ?? 256;
  const ds = data.dataset;
  const indices = limit && limit < ds.size ? subsetIndices(ds.size, limit, 0, { labels: ds.labels }) : Int32Array.from({ length: ds.size }, (_, i) => i);

  const progress = new ProgressPrinter(io.stderr, Boolean(values.quiet));
  const net = new Network(model.loaded.graph, model.loaded.weights);
  const started = Date.now();
  const result = await evaluate(
    net,
    batches(ds, indices, batchSize, data.inputShape, data.preprocessing.preprocessing, {
      onProgress: (done, total) => progress.report({ phase: 'evaluate', done, total }),
    }),
  );
  progress.finish();
  net.dispose();
  const seconds = (Date.now() - started) / 1000;

  if (format === 'json') {
    const out = {
      model: { path: modelPath, format: model.loaded.format, sha256: model.sha256, classes: model.classes },
      data: { path: ds.path, kind: ds.kind, images: indices.length, preprocessing: preprocessingReport(data) },
      backend,
      accuracy: result.accuracy,
      correct: result.correct,
      total: result.total,
      perClass: model.classes.map((name, i) => ({ class: name, accuracy: result.perClassAccuracy[i], images: result.confusion[i].reduce((a, b) => a + b, 0) })),
      confusion: result.confusion,
      seconds,
    };
    io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  const header = ['true \\ predicted', ...model.classes.map((c) => c.slice(0, 8))];
  const lines = [
    fields([
      ['Model', `${modelPath} (${model.loaded.format})`],
      ['Data', `${ds.path}: ${int(indices.length)} of ${int(ds.size)} images (${ds.kind})`],
      ['Preprocessing', describePreprocessing(data.preprocessing, data.inputShape)],
      ['Backend', describeBackend(backend)],
      ['Time', `${seconds.toFixed(1)} s`],
      ['Accuracy', `${pct(result.accuracy, 2)} (${int(result.correct)} of ${int(result.total)})`],
    ]),
    '',
    table([header, ...result.confusion.map((row, i) => [`${model.classes[i]} ${pct(result.perClassAccuracy[i])}`, ...row.map(String)])]),
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
