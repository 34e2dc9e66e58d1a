import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encode as encodePng } from 'fast-png';
import { zipSync } from 'fflate';
import Ajv from 'ajv-draft-04';
import { main } from '../../src/cli/main';
import { buildResNet } from '../../src/engine/arch/resnet';
import { writeModel } from '../../src/engine/formats';
import { Rng } from '../../src/engine/random';

/** Runs the CLI in-process and captures what it writes. */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { code, stdout, stderr };
}

let dir: string;
let modelPath: string;
let dataDir: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bds-cli-'));
  const built = buildResNet({ blocks: [1], widths: [4], numClasses: 3, inputShape: [8, 8, 3], seed: 2 });
  [modelPath] = await writeModel({ format: 'tfjs', path: '', graph: built.graph, weights: built.weights, source: undefined, notes: [], classes: ['a', 'b', 'c'] }, built.weights, path.join(dir, 'model.json'));
  // A tiny ImageFolder of random 8x8 PNGs in three classes.
  dataDir = path.join(dir, 'data');
  const rng = new Rng(3);
  for (const cls of ['a', 'b', 'c']) {
    fs.mkdirSync(path.join(dataDir, cls), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const data = Uint8Array.from({ length: 8 * 8 * 3 }, () => rng.int(256));
      fs.writeFileSync(path.join(dataDir, cls, `${i}.png`), encodePng({ width: 8, height: 8, data, channels: 3, depth: 8 }));
    }
  }
});

const QUICK = ['--mask-epochs', '1', '--batches', '2', '--steps', '2', '--batch-size', '8', '--sweep', '0.1', '--backend', 'wasm', '--quiet'];

test('info prints the summary and exits 0', async () => {
  const r = await run(['info', modelPath, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.deepEqual(info.inputShape, [8, 8, 3]);
  assert.equal(info.numClasses, 3);
  assert.equal(info.splitPoint, 'layer1.0.relu2');
});

test('eval prints accuracy and the backend', async () => {
  const r = await run(['eval', modelPath, '--data', dataDir, '--format', 'json', '--backend', 'wasm', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.total, 36);
  assert.equal(out.backend.name, 'wasm');
  assert.equal(out.confusion.flat().reduce((a: number, b: number) => a + b, 0), 36);
});

test('scan gives JSON with a verdict, and SARIF valid against the SARIF 2.1.0 schema', async () => {
  const json = await run(['scan', modelPath, '--data', dataDir, '--format', 'json', ...QUICK]);
  assert.ok(json.code === 0 || json.code === 1, json.stderr);
  const report = JSON.parse(json.stdout);
  assert.ok(['backdoored', 'clean', 'inconclusive'].includes(report.verdict.verdict));
  assert.equal(json.code, report.verdict.verdict === 'backdoored' ? 1 : 0);
  assert.equal(report.statistics.negativeMask.histogram.length, 3);

  const sarifPath = path.join(dir, 'out.sarif');
  const sarif = await run(['scan', modelPath, '--data', dataDir, '--format', 'sarif', '--out', sarifPath, ...QUICK]);
  assert.equal(sarif.code, json.code);
  const schema = JSON.parse(fs.readFileSync(require.resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json'), 'utf8'));
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
  const validate = ajv.compile(schema);
  const log = JSON.parse(fs.readFileSync(sarifPath, 'utf8')) as { runs: { results: unknown[] }[] };
  assert.ok(validate(log), JSON.stringify(validate.errors, null, 1));
  assert.equal(log.runs[0].results.length, report.verdict.verdict === 'clean' ? 0 : 1);
});

test('bad inputs exit 2 with one line naming the file', async () => {
  const cases: { name: string; args: () => string[]; file: () => string }[] = [];
  // A truncated weight shard.
  const truncDir = path.join(dir, 'trunc');
  fs.mkdirSync(truncDir);
  fs.copyFileSync(modelPath, path.join(truncDir, 'model.json'));
  const shard = fs.readFileSync(path.join(dir, 'model.weights.bin'));
  fs.writeFileSync(path.join(truncDir, 'model.weights.bin'), shard.subarray(0, shard.length - 40));
  cases.push({ name: 'truncated shard', args: () => ['info', path.join(truncDir, 'model.json')], file: () => path.join(truncDir, 'model.json') });
  // A model.json that is not JSON.
  const notJson = path.join(dir, 'broken.json');
  fs.writeFileSync(notJson, '{"modelTopology": ');
  cases.push({ name: 'not JSON', args: () => ['info', notJson], file: () => notJson });
  // A zip with no images.
  const emptyZip = path.join(dir, 'empty.zip');
  fs.writeFileSync(emptyZip, zipSync({ 'readme.txt': new TextEncoder().encode('no images here') }));
  cases.push({ name: 'zip without images', args: () => ['eval', modelPath, '--data', emptyZip], file: () => emptyZip });
  // Data whose classes do not match the model's outputs.
  const twoClass = path.join(dir, 'two');
  for (const cls of ['a', 'b']) fs.cpSync(path.join(dataDir, cls), path.join(twoClass, cls), { recursive: true });
  cases.push({ name: 'class-count mismatch', args: () => ['eval', modelPath, '--data', twoClass], file: () => twoClass });
  // A missing model file.
  cases.push({ name: 'missing model', args: () => ['info', path.join(dir, 'nope.onnx')], file: () => path.join(dir, 'nope.onnx') });

  for (const c of cases) {
    const r = await run(c.args());
    assert.equal(r.code, 2, `${c.name}: exit ${r.code}, stderr ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${c.name}: expected one line, got ${r.stderr}`);
    assert.ok(lines[0].includes(c.file()), `${c.name}: '${lines[0]}' does not name ${c.file()}`);
  }
});

test('usage errors exit 2 and unknown commands are named', async () => {
  const bad = await run(['scan', modelPath, '--eps', 'lots']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--eps must be a positive number/);
  const unknown = await run(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
});
