/**
 * Backend selection. These machines have no GPU and no tfjs-node, so 'auto' must land on wasm
 * and say why it skipped the others; explicit choices that cannot load must throw.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { currentBackendInfo, initBackend } from '../../src/engine/backend';

const ENV = 'BACKDOOR_SCAN_BACKEND';
const savedEnv = process.env[ENV];

afterEach(() => {
  if (savedEnv === undefined) delete process.env[ENV];
  else process.env[ENV] = savedEnv;
});

test("'auto' picks wasm with SIMD when there is no GPU and no tfjs-node", async () => {
  delete process.env[ENV];
  const info = await initBackend();
  if (info.name === 'webgpu') {
    // A machine with a real GPU that passed the smoke test; nothing else to check here.
    assert.ok(info.adapter);
    return;
  }
  assert.equal(info.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(info.simd, true);
  assert.ok(info.threads >= 1);
  assert.ok(info.notes.some((n) => n.startsWith('tensorflow: skipped')), info.notes.join(' | '));
  assert.ok(info.notes.some((n) => n.startsWith('webgpu: skipped')), info.notes.join(' | '));
  assert.equal(currentBackendInfo(), info);
  assert.equal(await initBackend(), info, 'a second call with the same choice returns the cached info');
});

test("an explicit 'webgpu' that cannot load throws and leaves the previous backend selected", async () => {
  await initBackend({ backend: 'wasm' });
  let info;
  try {
    info = await initBackend({ backend: 'webgpu' });
  } catch (e) {
    assert.match((e as Error).message, /^the 'webgpu' backend is unavailable: .+/);
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(currentBackendInfo()?.name, 'wasm');
    return;
  }
  assert.equal(info.name, 'webgpu', 'this machine has a usable GPU');
});

test("an explicit 'tensorflow' without tfjs-node throws and says what is missing", async () => {
  await assert.rejects(
    initBackend({ backend: 'tensorflow', tfjsNodePath: '/nonexistent/tfjs-node' }),
    /the 'tensorflow' backend is unavailable: tfjs-node could not be loaded from \/nonexistent\/tfjs-node/,
  );
});

test('BACKDOOR_SCAN_BACKEND chooses the backend unless the options do', async () => {
  process.env[ENV] = 'cpu';
  const cpu = await initBackend();
  assert.equal(cpu.name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  const wasm = await initBackend({ backend: 'wasm' });
  assert.equal(wasm.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  process.env[ENV] = 'tpu';
  await assert.rejects(initBackend(), /BACKDOOR_SCAN_BACKEND='tpu' is not a backend/);
});

test('a cached choice re-selects its backend when something else switched it', async () => {
  const info = await initBackend({ backend: 'wasm' });
  await tf.setBackend('cpu');
  assert.equal(await initBackend({ backend: 'wasm' }), info);
  assert.equal(tf.getBackend(), 'wasm');
});
