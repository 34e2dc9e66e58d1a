/**
 * A real repair through the real detection worker (dist/worker.js, built first) and the
 * extension's WorkerHost, on a tiny TF.js model and data set: progress arrives, the repaired model
 * is a new file, the input stays byte-identical, and a cancel ends the repair within a second
 * while the worker stays up.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CancelledError } from '../../src/engine/errors';
import type { ProgressEvent } from '../../src/engine/progress';
import type { RepairRequest } from '../../src/engine/repair';
import { fileSha256, modelSha256 } from '../../src/engine/session';
import { repairComparison, repairSummary } from '../../src/extension/repairResult';
import { Logger, WorkerHost } from '../../src/extension/workerHost';
import { isAlive } from './processes';
import { tinyTfjsModel, writeNpz } from './tiny-models';

const root = path.resolve(__dirname, '../..');

class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  info = (m: string): void => void this.lines.push(`info ${m}`);
  warn = (m: string): void => void this.lines.push(`warn ${m}`);
  error = (m: string): void => void this.lines.push(`error ${m}`);
}

function hashes(folder: string): Map<string, string> {
  return new Map(fs.readdirSync(folder).map((f) => [f, fileSha256(path.join(folder, f))]));
}

describe('repair in the detection worker', () => {
  let dir: string;
  let folder: string;
  let modelPath: string;
  let dataPath: string;
  const logger = new MemoryLogger();
  let host: WorkerHost;

  before(async () => {
    // The worker bundle of the sources under test, not one left over from an earlier build.
    execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'pipe' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-repair-'));
    folder = path.join(dir, 'model');
    modelPath = await tinyTfjsModel(folder);
    dataPath = path.join(dir, 'tiny8.npz');
    writeNpz(dataPath, 120, 8, 3, 1);
    host = new WorkerHost({ workerPath: path.join(root, 'dist/worker.js'), initializeParams: () => ({ backend: 'wasm' }), logger });
  });

  after(async () => {
    await host?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function request(epochsPerRound: number): RepairRequest {
    return { method: 'none', modelPath, dataPath, none: { epochsPerRound, batchSize: 32, dataFraction: 0.5 }, verdict: false, trigger: 'badnets:2x2@br,target=0' };
  }

  it('writes the repaired model to a new file, reports progress, and leaves the input byte-identical', async () => {
    const inputHashes = hashes(folder);
    const inputModelHash = modelSha256(modelPath);
    const events: ProgressEvent[] = [];
    const report = await host.repair(request(1), { onProgress: (e) => events.push(e) });

    assert.ok(events.length > 0, 'no run/progress notification arrived');
    assert.ok(events.some((e) => /fine-tune/.test(e.phase)), events.map((e) => e.phase).join(', '));
    assert.equal(report.method, 'none');
    assert.equal(report.output.path, path.join(folder, 'model.repaired.json'));
    for (const file of report.output.files) assert.ok(fs.existsSync(file), `${file} was not written`);
    assert.notEqual(modelSha256(report.output.path), inputModelHash, 'the repaired model has the input weights');
    assert.equal(report.model.sha256, inputModelHash);
    for (const [file, hash] of inputHashes) assert.equal(fileSha256(path.join(folder, file)), hash, `${file} changed`);

    // What the extension shows of it: the panel's comparison and the message.
    const comparison = repairComparison(report);
    assert.equal(comparison.repairedModelPath, report.output.path);
    assert.equal(comparison.before.cleanAccuracy, report.before.cleanAccuracy);
    assert.equal(comparison.after.attackSuccessRate, report.after.attackSuccessRate);
    assert.equal(comparison.after.verdict, undefined, 'the repair ran without a verdict');
    assert.ok(comparison.seconds > 0);
    const summary = repairSummary(report, 'model/model.json', 'model/model.repaired.json');
    assert.match(summary, /^model\/model\.json repaired with NONE: clean accuracy \d+\.\d% → \d+\.\d%, attack success rate \d+\.\d% → \d+\.\d%\. .+ Repaired model: model\/model\.repaired\.json\.$/);
    assert.ok(summary.includes(report.outcome.explanation), 'the message says what the repair did to the backdoor');
    assert.deepEqual(comparison.outcome, report.outcome);
  });

  it('stops a cancelled repair within a second; the worker stays up and writes nothing', async () => {
    const { pid } = await host.start();
    const before = hashes(folder);
    const controller = new AbortController();
    let cancelledAt = 0;
    const repair = host.repair(request(500), {
      signal: controller.signal,
      onProgress: (event) => {
        if (!cancelledAt && /fine-tune/.test(event.phase) && event.done > 0) {
          cancelledAt = Date.now();
          controller.abort();
        }
      },
    });
    await assert.rejects(repair, CancelledError);
    const took = Date.now() - cancelledAt;
    assert.ok(cancelledAt > 0, 'the repair ended before its fine-tuning');
    assert.ok(took < 1000, `the cancelled repair ended ${took} ms after the cancel`);
    assert.equal(host.pid, pid, logger.lines.join('\n'));
    assert.ok(isAlive(pid));
    assert.deepEqual(hashes(folder), before, 'a cancelled repair left files behind');
    // The same worker takes the next request.
    assert.equal((await host.summary({ path: modelPath })).format, 'tfjs');
    assert.equal(host.pid, pid);
  });
});
