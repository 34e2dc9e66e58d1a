/**
 * The WorkerHost's lifecycle against a fake worker: a small script that speaks the real protocol
 * and misbehaves on demand (the scan request's modelPath picks the behaviour), so that crashes,
 * hangs and cancellation can be produced in milliseconds and without the engine.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CancelledError } from '../../src/engine/errors';
import { Logger, WorkerHost, WorkerHostOptions, WorkerStatus, WorkerUnavailableError } from '../../src/extension/workerHost';
import { PROTOCOL_VERSION } from '../../src/protocol/worker';
import type { ScanRequest } from '../../src/engine/scan';
import { isAlive } from './processes';

const FAKE_WORKER = `
const rpc = require(${JSON.stringify(require.resolve('vscode-jsonrpc/node'))});
if (process.env.FAKE_CRASH_ON_START) process.exit(7);
const connection = rpc.createMessageConnection(new rpc.IPCMessageReader(process), new rpc.IPCMessageWriter(process));
process.on('uncaughtException', (e) => {
  connection.sendNotification('worker/fatal', { message: e.message, stack: e.stack }).finally(() => process.exit(1));
});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
connection.onRequest('initialize', () => ({
  protocolVersion: Number(process.env.FAKE_PROTOCOL_VERSION || ${PROTOCOL_VERSION}),
  pid: process.pid,
  backend: { name: 'cpu', simd: false, threads: 1, notes: [] },
}));
connection.onRequest('scan', async ({ runId, request }, token) => {
  switch (request.modelPath) {
    case 'crash':
      setTimeout(() => { throw new Error('boom in the parser'); });
      return new Promise(() => undefined);
    case 'hang':
      for (;;) {}
    case 'slow':
      for (let step = 0; step < 500; step++) {
        if (token.isCancellationRequested) return new rpc.ResponseError(-32800, 'cancelled');
        connection.sendNotification('run/progress', { runId, event: { phase: 'mask', done: step, total: 500 } });
        await sleep(10);
      }
      return { done: 'slowly' };
    default:
      return { model: request.modelPath };
  }
});
connection.onRequest('shutdown', () => (process.env.FAKE_HANG_ON_SHUTDOWN ? new Promise(() => undefined) : undefined));
connection.onNotification('exit', () => process.exit(0));
connection.listen();
`;

let dir: string;
let workerPath: string;
const hosts: WorkerHost[] = [];

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-host-'));
  workerPath = path.join(dir, 'fake-worker.js');
  fs.writeFileSync(workerPath, FAKE_WORKER);
});

after(async () => {
  await Promise.all(hosts.map((h) => h.dispose()));
  fs.rmSync(dir, { recursive: true, force: true });
});

class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  info = (m: string): void => void this.lines.push(`info ${m}`);
  warn = (m: string): void => void this.lines.push(`warn ${m}`);
  error = (m: string): void => void this.lines.push(`error ${m}`);
}

function makeHost(options: Partial<WorkerHostOptions> = {}): { host: WorkerHost; logger: MemoryLogger } {
  const logger = new MemoryLogger();
  const host = new WorkerHost({
    workerPath,
    initializeParams: () => ({ backend: 'cpu' }),
    logger,
    cancelGraceMs: 500,
    shutdownGraceMs: 500,
    ...options,
  });
  hosts.push(host);
  return { host, logger };
}

function request(modelPath: string): ScanRequest {
  return { modelPath };
}

function waitForStatus(host: WorkerHost, accept: (s: WorkerStatus) => boolean, timeoutMs = 10_000): Promise<WorkerStatus> {
  if (accept(host.status)) return Promise.resolve(host.status);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`status stayed ${JSON.stringify(host.status)}`)), timeoutMs);
    const sub = host.onDidChangeStatus((s) => {
      if (!accept(s)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(s);
    });
  });
}

describe('WorkerHost', () => {
  it('starts the worker, checks the handshake and forwards requests', async () => {
    const { host } = makeHost();
    const info = await host.start();
    assert.equal(info.protocolVersion, PROTOCOL_VERSION);
    assert.equal(info.backend.name, 'cpu');
    assert.deepEqual(await host.scan(request('ok.onnx')), { model: 'ok.onnx' });
    assert.equal(host.status.state, 'running');
    await host.stop();
    assert.equal(host.status.state, 'stopped');
    assert.equal(isAlive(info.pid), false);
  });

  it('refuses a worker that speaks another protocol version', async () => {
    const { host } = makeHost({ env: { ...process.env, FAKE_PROTOCOL_VERSION: '99' } });
    await assert.rejects(host.start(), /protocol version 99/);
    const status = await waitForStatus(host, (s) => s.state === 'failed');
    assert.match((status as { reason: string }).reason, /could not start/);
  });

  it('restarts a crashed worker, and the failed request names the uncaught error', async () => {
    const { host, logger } = makeHost();
    const first = await host.start();
    await assert.rejects(host.scan(request('crash')), (e: Error) => e instanceof WorkerUnavailableError && /boom in the parser/.test(e.message));
    const status = await waitForStatus(host, (s) => s.state === 'running');
    const second = (status as { info: { pid: number } }).info.pid;
    assert.notEqual(second, first.pid);
    assert.deepEqual(await host.scan(request('after.onnx')), { model: 'after.onnx' });
    assert.ok(logger.lines.some((l) => /restarting it \(restart 1 of at most 4 in 3 minutes\)/.test(l)), logger.lines.join('\n'));
  });

  it('gives up after the fifth crash within three minutes and says so', async () => {
    let clock = 1_000_000;
    const { host, logger } = makeHost({ now: () => clock });
    await host.start();
    for (let crash = 1; crash <= 5; crash++) {
      clock += 10_000;
      await assert.rejects(host.scan(request('crash')), WorkerUnavailableError);
      await waitForStatus(host, (s) => s.state === (crash < 5 ? 'running' : 'failed'));
    }
    const status = host.status as { state: string; reason: string };
    assert.match(status.reason, /crashed 5 times in the last 3 minutes and will not be restarted/);
    assert.match(status.reason, /boom in the parser/);
    assert.equal(host.pid, undefined);
    await assert.rejects(host.scan(request('ok.onnx')), /will not be restarted/);
    assert.ok(logger.lines.some((l) => l.startsWith('error ') && /will not be restarted/.test(l)));
    // An explicit restart (the command, or a settings change) forgets the crashes.
    await host.restart();
    assert.deepEqual(await host.scan(request('ok.onnx')), { model: 'ok.onnx' });
  });

  it('keeps restarting when the crashes are spread over more than three minutes', async () => {
    let clock = 0;
    const { host } = makeHost({ now: () => clock });
    await host.start();
    for (let crash = 1; crash <= 6; crash++) {
      clock += 61_000;
      await assert.rejects(host.scan(request('crash')), WorkerUnavailableError);
      await waitForStatus(host, (s) => s.state === 'running');
    }
  });

  it('gives up on a worker that crashes while starting', async () => {
    const { host } = makeHost({ env: { ...process.env, FAKE_CRASH_ON_START: '1' } });
    await assert.rejects(host.start(), /exit code 7/);
    const status = await waitForStatus(host, (s) => s.state === 'failed');
    assert.match((status as { reason: string }).reason, /crashed 5 times/);
  });

  it('cancels a running request: the worker stops within a second and stays up', async () => {
    const { host } = makeHost();
    const { pid } = await host.start();
    const controller = new AbortController();
    const phases: string[] = [];
    let cancelledAt = 0;
    const scan = host.scan(request('slow'), {
      signal: controller.signal,
      onProgress: (event) => {
        phases.push(event.phase);
        if (event.done >= 5 && !cancelledAt) {
          cancelledAt = Date.now();
          controller.abort();
        }
      },
    });
    await assert.rejects(scan, CancelledError);
    const took = Date.now() - cancelledAt;
    assert.ok(took < 1000, `the cancelled scan ended ${took} ms after the cancel`);
    assert.ok(phases.length >= 5 && phases.every((p) => p === 'mask'));
    assert.equal(host.pid, pid);
    assert.ok(isAlive(pid));
    assert.deepEqual(await host.scan(request('next.onnx')), { model: 'next.onnx' });
  });

  it('kills a worker that does not stop after a cancel, without counting a crash', async () => {
    const { host, logger } = makeHost({ maxRestarts: 0 });
    const { pid } = await host.start();
    const controller = new AbortController();
    const scan = host.scan(request('hang'), { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    await assert.rejects(scan, CancelledError);
    const took = Date.now() - started;
    assert.ok(took >= 500 && took < 1500, `the hung scan ended after ${took} ms`);
    await waitForStatus(host, (s) => s.state === 'stopped');
    assert.equal(isAlive(pid), false);
    assert.ok(logger.lines.some((l) => /did not stop within 500 ms of a cancel; killing it/.test(l)));
    // With maxRestarts 0 a single crash would fail the host; a kill on purpose is no crash.
    assert.deepEqual(await host.scan(request('fresh.onnx')), { model: 'fresh.onnx' });
    assert.notEqual(host.pid, pid);
  });

  it('kills a worker that does not answer a shutdown', async () => {
    const { host, logger } = makeHost({ env: { ...process.env, FAKE_HANG_ON_SHUTDOWN: '1' } });
    const { pid } = await host.start();
    const started = Date.now();
    await host.stop();
    assert.ok(Date.now() - started < 1500);
    assert.equal(isAlive(pid), false);
    assert.equal(host.status.state, 'stopped');
    assert.ok(logger.lines.some((l) => /did not exit within 500 ms of shutdown; killing it/.test(l)));
  });
});
