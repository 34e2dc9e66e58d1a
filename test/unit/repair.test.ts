import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/backend';
import { InputError } from '../../src/engine/errors';
import { loadModel } from '../../src/engine/formats';
import { repairModel, repairOutcome, trainModel } from '../../src/engine/repair';
import { ModelMetrics, RepairReport, TrainReport, VerdictSummary } from '../../src/engine/report';
import { fileSha256, modelSha256 } from '../../src/engine/session';
import { main } from '../../src/cli/main';
import { repairExitCode } from '../../src/cli/commands/repair';
import { tinyTfjsModel, writeNpz } from './tiny-models';

let dir: string;

before(async () => {
  await initBackend({ backend: 'wasm' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'repair-test-'));
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function hashes(folder: string): Map<string, string> {
  return new Map(fs.readdirSync(folder).map((f) => [f, fileSha256(path.join(folder, f))]));
}

const QUICK_VERDICT = { maskEpochs: 1, batchesPerEpoch: 2, batchSize: 16, steps: 2, sweepEps: [0.1], sweepImages: 16, minOptimisationImages: 16 };

test('a NONE repair writes a new TF.js model beside the input, leaves the input byte-identical and reports before/after', async () => {
  const folder = path.join(dir, 'tfjs');
  const modelPath = await tinyTfjsModel(folder);
  const data = path.join(dir, 'tiny8.npz');
  writeNpz(data, 120, 8, 3, 1);
  const inputHashes = hashes(folder);
  const report = await repairModel({
    method: 'none',
    modelPath,
    dataPath: data,
    trigger: 'badnets:2x2@br,target=0',
    none: { epochsPerRound: 1, batchSize: 32, dataFraction: 0.5, resetFraction: 0.25 },
    verdictSettings: QUICK_VERDICT,
  });
  assert.ok(report.before.verdict && report.after.verdict);
  assert.equal(report.output.path, path.join(folder, 'model.repaired.json'));
  for (const [file, hash] of inputHashes) assert.equal(fileSha256(path.join(folder, file)), hash, `${file} changed`);
  assert.equal(report.model.sha256, modelSha256(modelPath), 'the report names the input by the hash of its JSON and weight shards');
  assert.equal(report.data.repairImages, 60);
  assert.equal(report.evaluation.images, 60, 'evaluated on the half the repair did not use');
  assert.ok(report.before.attackSuccessRate !== undefined && report.after.attackSuccessRate !== undefined);
  assert.equal(report.before.triggeredImages, 40);
  const round = (report.none as NonNullable<RepairReport['none']>).rounds[0];
  assert.equal(round.analysedSamples, 60);
  assert.equal(round.fineTuneSamples + round.flaggedSamples, 60);
  assert.deepEqual(round.layers.map((l) => [l.layer, l.selected.length]), [['features.0', 1], ['features.3', 1], ['features.7', 2], ['features.10', 2]]);

  const original = await loadModel(modelPath);
  const repaired = await loadModel(report.output.path);
  assert.equal(repaired.format, 'tfjs');
  assert.deepEqual(repaired.graph, original.graph);
  // The zeroed filters of the first conv are in the file.
  const kernel = (repaired.weights.get('features.0/kernel') as { data: Float32Array }).data;
  const c = round.layers[0].selected[0];
  for (let i = c; i < kernel.length; i += 4) assert.ok(kernel[i] === 0);

  // Never over the input, never over an existing file; the default name moves on.
  await assert.rejects(repairModel({ method: 'none', modelPath, dataPath: data, outPath: modelPath, verdict: false }), InputError);
  await assert.rejects(repairModel({ method: 'none', modelPath, dataPath: data, outPath: report.output.path, verdict: false }), InputError);
  for (const [file, hash] of inputHashes) assert.equal(fileSha256(path.join(folder, file)), hash);
});

test('a repaired ONNX model is a new .onnx that loads back, with a sidecar when written to another folder', async () => {
  const folder = path.join(dir, 'onnx');
  fs.mkdirSync(folder);
  const modelPath = path.join(folder, 'model.onnx');
  fs.copyFileSync(path.join(__dirname, '../fixtures/formats/onnx/handmade-opset13.onnx'), modelPath);
  const data = path.join(dir, 'tiny16.npz');
  writeNpz(data, 90, 16, 3, 2);
  const inputHash = fileSha256(modelPath);
  const outPath = path.join(dir, 'elsewhere', 'fixed.onnx');
  const options = { modelPath, dataPath: data, preprocessing: { scale: 255 }, verdict: false };
  // The model has no BatchNorm, so BAN's noise has nothing to act on.
  await assert.rejects(repairModel({ ...options, method: 'ban', outPath }), /no BatchNorm layer/);
  const report = await repairModel({ ...options, method: 'none', outPath, trigger: 'blend:alpha=0.2,target=1', none: { epochsPerRound: 1, batchSize: 30, dataFraction: 0.5, layers: 'all-convs' } });
  assert.equal(fileSha256(modelPath), inputHash);
  assert.deepEqual(report.output.files, [outPath, path.join(dir, 'elsewhere', 'backdoor-scan.json')]);
  const repaired = await loadModel(outPath);
  assert.equal(repaired.format, 'onnx');
  const original = await loadModel(modelPath);
  assert.deepEqual(repaired.graph, original.graph);
  const changed = [...original.weights].filter(([key, t]) => !t.data.every((v, i) => v === (repaired.weights.get(key) as { data: Float32Array }).data[i]));
  assert.ok(changed.length > 0, 'the repair changed the weights');
});

test('the repair outcome: removed, weakened or still there, from the ASR or else from BAN\'s verdict', () => {
  const summary = (verdict?: VerdictSummary['verdict']) => (verdict ? { verdict: { verdict, score: 0, threshold: 0.2, noisyDominantRate: 0.1, explanation: '', seconds: 1 } } : {});
  const asr = (attackSuccessRate: number, verdict?: VerdictSummary['verdict']): ModelMetrics => ({ cleanAccuracy: 0.6, cleanImages: 2000, attackSuccessRate, triggeredImages: 1800, ...summary(verdict) });
  const plain = (verdict?: VerdictSummary['verdict']): ModelMetrics => ({ cleanAccuracy: 0.6, cleanImages: 2000, ...summary(verdict) });
  // 0.999 / 0.062 = 16.1; at most 10% counts as removed.
  let o = repairOutcome(asr(0.999), asr(0.062, 'clean'));
  assert.equal(o.outcome, 'removed');
  assert.equal(o.explanation, 'The backdoor is removed: attack success rate 99.9% → 6.2% (16.1× lower). BAN calls the repaired model clean.');
  assert.equal(repairOutcome(asr(0.999), asr(0.1)).outcome, 'removed');
  // Halved or better but above 10%: weakened. 0.999 / 0.371 = 2.7.
  o = repairOutcome(asr(0.999), asr(0.371));
  assert.equal(o.outcome, 'reduced');
  assert.equal(o.explanation, 'The backdoor is weakened, not removed: attack success rate 99.9% → 37.1% (2.7× lower).');
  assert.equal(repairOutcome(asr(0.8), asr(0.4)).outcome, 'reduced');
  assert.equal(repairOutcome(asr(0.8), asr(0.41)).outcome, 'remains');
  // A perfect repair: the ratio floors the after-ASR at one of the 1,800 triggered images.
  assert.match(repairOutcome(asr(0.9), asr(0)).explanation, /\(1620\.0× lower\)/);
  // A trigger that did not work before says nothing about the repair.
  assert.equal(repairOutcome(asr(0.05), asr(0.01)).outcome, 'unmeasured');
  // Without a trigger, BAN's verdict after the repair decides.
  assert.equal(repairOutcome(plain('backdoored'), plain('clean')).outcome, 'removed');
  assert.equal(repairOutcome(plain('backdoored'), plain('inconclusive')).outcome, 'reduced');
  assert.equal(repairOutcome(plain('backdoored'), plain('backdoored')).outcome, 'remains');
  assert.match(repairOutcome(plain('backdoored'), plain('backdoored')).explanation, /BAN's verdict backdoored → backdoored/);
  assert.equal(repairOutcome(plain(), plain()).outcome, 'unmeasured');
  // The CLI fails a repair whose own measurements say the backdoor is still there.
  assert.deepEqual(
    (['removed', 'reduced', 'remains', 'unmeasured'] as const).map((outcome) => repairExitCode({ outcome, explanation: '' })),
    [0, 1, 1, 0],
  );
});

test('the repair and train commands: exit codes and JSON output', async () => {
  const folder = path.join(dir, 'cli');
  const modelPath = await tinyTfjsModel(folder);
  const data = path.join(dir, 'tiny8.npz');
  const capture = () => {
    const out = { stdout: '', stderr: '' };
    return { out, io: { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } } };
  };
  let c = capture();
  assert.equal(await main(['repair', modelPath, '--data', data, '--method', 'ban', '--epochs', '1', '--batch-size', '16', '--data-fraction', '0.2', '--skip-verdict', '--format', 'json', '-q'], c.io), 0);
  const report = JSON.parse(c.out.stdout) as RepairReport;
  assert.equal(report.method, 'ban');
  assert.ok(fs.existsSync(report.output.path));
  assert.equal(report.outcome.outcome, 'unmeasured', 'no trigger and no verdict: the effect on the backdoor is unknown');
  c = capture();
  assert.equal(await main(['repair', modelPath, '--data', data, '--method', 'fix'], c.io), 2);
  assert.match(c.out.stderr, /--method must be none or ban/);
  c = capture();
  assert.equal(await main(['repair', path.join(folder, 'missing.json'), '--data', data, '--method', 'none', '-q'], c.io), 2);
  c = capture();
  assert.equal(await main(['repair', modelPath, '--data', data, '--method', 'none', '--trigger', 'sparkle:1', '--skip-verdict', '-q'], c.io), 2);
  assert.match(c.out.stderr, /unknown trigger/);

  const trained = path.join(dir, 'trained', 'model.json');
  c = capture();
  const argv = ['train', '--arch', 'vgg-small', '--widths', '4,8', '--data', data, '--images', '90', '--out', trained, '--epochs', '2', '--batch-size', '30'];
  const code = await main([...argv, '--poison', 'badnets:2x2@br,target=0', '--poison-rate', '0.1', '--defense', 'none', '--none-epochs', '1', '--format', 'json', '-q'], c.io);
  assert.equal(code, 0, c.out.stderr);
  const trainReport = JSON.parse(c.out.stdout) as TrainReport;
  assert.equal(trainReport.data.trainImages, 90);
  assert.equal(trainReport.data.poison?.images, 9);
  assert.equal(trainReport.epochs.length, 2);
  assert.equal(trainReport.none?.rounds.length, 1);
  assert.equal(trainReport.evaluation.images, 30);
  assert.ok(trainReport.metrics.attackSuccessRate !== undefined);
  assert.ok((trainReport.none?.rounds[0].flaggedPoisoned ?? -1) >= 0);
  const loaded = await loadModel(trained);
  assert.equal(loaded.format, 'tfjs');
  assert.ok(fs.existsSync(path.join(dir, 'trained', 'backdoor-scan.json')));
  // Training into a folder that already holds a model is refused before any work.
  c = capture();
  assert.equal(await main([...argv, '-q'], c.io), 2);
});

test('a defended training run repeats the undefended phase 1 exactly, then fine-tunes at NONE rate', async () => {
  const data = path.join(dir, 'tiny8.npz');
  const common = { arch: 'vgg-small', archOptions: { widths: [4, 8] }, dataPath: data, trainImages: 60, epochs: 1, batchSize: 20 };
  const plain = await trainModel({ ...common, outPath: path.join(dir, 'plain', 'model.json') });
  const defended = await trainModel({ ...common, outPath: path.join(dir, 'defended', 'model.json'), defense: 'none', none: { epochsPerRound: 1, batchSize: 20 } });
  assert.equal(plain.epochs[0].loss, defended.epochs[0].loss);
  assert.equal(defended.none?.settings.learningRate, 1e-4);
  assert.ok(defended.noneSecondsPerEpoch !== undefined);
});
