import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainOutOfMemory, InputError, isOutOfMemory, OutOfMemoryError } from '../../src/engine/errors';

test('a wasm out-of-memory failure becomes an InputError naming the model, the batch and the remedy', async () => {
  // The message tfjs-backend-wasm gave for a ResNet-18 forward+backward at batch 128 (bench/step.ts).
  const wasmFailure = new WebAssembly.RuntimeError('memory access out of bounds');
  assert.ok(isOutOfMemory(wasmFailure));
  // ...and the one a scan of the same model at batch 128 gave when the wasm heap could not grow.
  assert.ok(isOutOfMemory(new WebAssembly.RuntimeError('Aborted(). Build with -sASSERTIONS for more info.')));
  await assert.rejects(
    explainOutOfMemory('/models/resnet18.onnx', 'wasm', 128, async () => {
      throw wasmFailure;
    }),
    (e: unknown) => {
      assert.ok(e instanceof OutOfMemoryError && e instanceof InputError, 'an input error (exit code 2), marked as out of memory');
      assert.equal(e.file, '/models/resnet18.onnx');
      assert.match(e.message, /wasm backend's memory at batch 128/);
      assert.match(e.message, /--batch-size/);
      return true;
    },
  );
});

test('other failures pass through unchanged, and results come back', async () => {
  const bug = new TypeError('x is undefined');
  assert.equal(isOutOfMemory(bug), false);
  await assert.rejects(explainOutOfMemory('m.onnx', 'wasm', 128, async () => Promise.reject(bug)), (e) => e === bug);
  assert.equal(await explainOutOfMemory('m.onnx', 'wasm', 128, async () => 42), 42);
});
