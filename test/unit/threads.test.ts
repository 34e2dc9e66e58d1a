/**
 * wasm threads in Node (patches/@tensorflow+tfjs-backend-wasm+4.22.0.patch): on 2 threads a conv
 * forward, and a conv forward + backward through the project's gradient kernels, give the numbers
 * of 1 thread; BackendInfo reports the threads that run; a threaded process exits by itself; and
 * a wasm folder without the threaded build's scripts falls back to 1 thread with a note.
 *
 * tfjs creates the wasm backend once per process, with a fixed thread count, so every
 * configuration runs in a child process: this file, started with CHILD_ENV set, computes the
 * outputs on the backend its environment asks for and prints them as one JSON line.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { BackendInfo, initBackend } from '../../src/engine/backend';
import { Rng } from '../../src/engine/random';
import { relErr } from './backend-compare';

const CHILD_ENV = 'BACKDOOR_SCAN_TEST_THREADS_CHILD';
const WASM_DIR_ENV = 'BACKDOOR_SCAN_TEST_WASM_DIR';

interface ChildResult {
  info: BackendInfo;
  /** Each output's float32 values, base64-encoded. */
  outputs: Record<string, string>;
}

/** A conv forward, and the loss and weight gradients of conv-ReLU-conv(stride 2), on wasm. */
async function computeOutputs(): Promise<ChildResult> {
  const info = await initBackend({ backend: 'wasm', wasmDir: process.env[WASM_DIR_ENV] });
  const rng = new Rng(11);
  const x = tf.tensor4d(rng.normalArray(8 * 32 * 32 * 16), [8, 32, 32, 16]);
  const w1 = tf.variable(tf.tensor4d(rng.normalArray(3 * 3 * 16 * 32, 0.1), [3, 3, 16, 32]));
  const w2 = tf.variable(tf.tensor4d(rng.normalArray(3 * 3 * 32 * 32, 0.1), [3, 3, 32, 32]));
  const forward = tf.tidy(() => tf.conv2d(x, w1 as tf.Tensor4D, 1, 'same'));
  // The second conv's input gradient carries the loss back to w1, so both of the project's conv
  // gradient kernels (filter and input) run.
  const { value, grads } = tf.variableGrads(() => {
    const h = tf.relu(tf.conv2d(x, w1 as tf.Tensor4D, 1, 'same'));
    return tf.mean(tf.square(tf.conv2d(h, w2 as tf.Tensor4D, 2, 'same')));
  });
  const encode = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer).toString('base64');
  return {
    info,
    outputs: { forward: encode(forward), loss: encode(value), dW1: encode(grads[w1.name]), dW2: encode(grads[w2.name]) },
  };
}

interface ChildRun {
  result: ChildResult;
  /** Milliseconds from the child's result line to its exit. */
  exitMs: number;
}

/** Runs this file as a child with the given environment and waits for its result and its exit. */
function runChild(env: Record<string, string>): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', __filename], {
      env: { ...process.env, [CHILD_ENV]: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let resultAt: number | undefined;
    // A child whose worker threads keep it alive would never exit: it is killed 10 s after its
    // result, and exitMs shows it.
    const kill = () => child.kill('SIGKILL');
    let timer = setTimeout(kill, 180_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (resultAt === undefined && stdout.includes('\n')) {
        resultAt = Date.now();
        clearTimeout(timer);
        timer = setTimeout(kill, 10_000);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (resultAt === undefined || (code !== 0 && code !== null)) {
        reject(new Error(`child ${JSON.stringify(env)} ended with code ${code}, signal ${signal}\n${stderr}`));
        return;
      }
      resolve({ result: JSON.parse(stdout) as ChildResult, exitMs: Date.now() - resultAt });
    });
  });
}

function decode(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

function assertSameOutputs(actual: ChildResult, expected: ChildResult): void {
  for (const [name, values] of Object.entries(expected.outputs)) {
    const err = relErr(decode(actual.outputs[name]), decode(values));
    assert.ok(err < 1e-5, `${name}: relative error ${err}`);
  }
}

if (process.env[CHILD_ENV]) {
  void computeOutputs().then((result) => process.stdout.write(`${JSON.stringify(result)}\n`));
} else {
  // The children run one after another: on a small machine, parallel runs would only compete.
  let runs: Promise<{ one: ChildRun; two: ChildRun }> | undefined;
  const oneAndTwo = () => {
    runs ??= (async () => {
      const one = await runChild({ BACKDOOR_SCAN_THREADS: '1' });
      const two = await runChild({ BACKDOOR_SCAN_THREADS: '2' });
      return { one, two };
    })();
    return runs;
  };

  test('2 threads compute the conv forward and the conv gradients of 1 thread, and say so', async () => {
    const { one, two } = await oneAndTwo();
    assert.equal(one.result.info.threads, 1);
    assert.equal(two.result.info.name, 'wasm');
    assert.equal(two.result.info.simd, true);
    // tfjs-backend-wasm runs at most as many threads as there are logical cores.
    const expected = Math.min(2, os.cpus().length);
    assert.equal(two.result.info.threads, expected, two.result.info.notes.join(' | '));
    if (expected === 2) assert.deepEqual(two.result.info.notes, []);
    assertSameOutputs(two.result, one.result);
  });

  test('a process with threads exits by itself once its work is done', async () => {
    const { two } = await oneAndTwo();
    assert.ok(two.exitMs < 5000, `the child exited ${two.exitMs} ms after its result`);
  });

  test('a wasm folder without the threaded scripts falls back to 1 thread and says why', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backdoor-scan-wasm-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const packageDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    for (const f of ['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
      fs.copyFileSync(path.join(packageDir, 'wasm-out', f), path.join(dir, f));
    }
    const { one } = await oneAndTwo();
    const fallback = await runChild({ BACKDOOR_SCAN_THREADS: '2', [WASM_DIR_ENV]: dir });
    assert.equal(fallback.result.info.threads, 1);
    assert.ok(
      fallback.result.info.notes.some((n) =>
        /^wasm: 1 thread runs instead of 2, because .* lacks tfjs-backend-wasm-threaded-simd\.js, tfjs-backend-wasm-threaded-simd\.worker\.js\.$/.test(n),
      ),
      fallback.result.info.notes.join(' | '),
    );
    assertSameOutputs(fallback.result, one.result);
  });

  test('a thread count that is not a positive integer is refused, from the options or the environment', async () => {
    await assert.rejects(initBackend({ backend: 'wasm', threads: 0 }), /threads must be a positive integer, got 0/);
    await assert.rejects(initBackend({ backend: 'wasm', threads: 1.5 }), /threads must be a positive integer, got 1.5/);
    const saved = process.env.BACKDOOR_SCAN_THREADS;
    process.env.BACKDOOR_SCAN_THREADS = 'two';
    try {
      await assert.rejects(initBackend({ backend: 'wasm' }), /BACKDOOR_SCAN_THREADS='two' is not a positive integer/);
    } finally {
      if (saved === undefined) delete process.env.BACKDOOR_SCAN_THREADS;
      else process.env.BACKDOOR_SCAN_THREADS = saved;
    }
  });
}
