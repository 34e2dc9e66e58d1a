import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { unzipSync } from 'fflate';
import { detectFormat, loadModel, writeModel } from '../../src/engine/formats';
import { InputError } from '../../src/engine/errors';
import { fixture, irLogits, maxAbsDiff, reference, sameWeights, tmpDir } from './format-fixtures';

before(async () => {
  await tf.setBackend('cpu');
});

// The fixtures are layout-faithful reproductions of Keras 3 .keras and tf.keras 2 .h5 files
// (Keras cannot be installed here); see scripts/make-format-fixtures.py.
const CASES: [string, 'keras' | 'h5'][] = [
  ['keras/functional.keras', 'keras'],
  ['keras/sequential-keras2.h5', 'h5'],
];

for (const [file, format] of CASES) {
  test(`${file}: IR logits equal the reference; write -> load gives identical weights and logits`, async () => {
    const source = fixture(file);
    assert.equal(detectFormat(new Uint8Array(fs.readFileSync(source)), path.basename(file)), format);
    const loaded = await loadModel(source);
    assert.equal(loaded.format, format);
    const base = file.replace(/\.(keras|h5)$/, '');
    const ref = reference(base);
    const ours = irLogits(loaded, ref.input);
    assert.ok(maxAbsDiff(ours, ref.logits) < 1e-4, `${maxAbsDiff(ours, ref.logits)}`);

    const dir = tmpDir();
    const [written] = await writeModel(loaded, loaded.weights, path.join(dir, path.basename(file)));
    const again = await loadModel(written);
    assert.equal(sameWeights(loaded.weights, again.weights), undefined);
    assert.deepEqual(irLogits(again, ref.input), ours);

    const edited = new Map([...loaded.weights].map(([k, w]) => [k, { shape: w.shape, data: w.data.map((v) => v + 0.125) }]));
    const [second] = await writeModel(loaded, edited, path.join(dir, `edited-${path.basename(file)}`));
    assert.equal(sameWeights(edited, (await loadModel(second)).weights), undefined);
    ref.input.dispose();
  });
}

test('a written .keras keeps config.json and metadata.json byte for byte', async () => {
  const source = fixture('keras/functional.keras');
  const loaded = await loadModel(source);
  const [written] = await writeModel(loaded, loaded.weights, path.join(tmpDir(), 'copy.keras'));
  const before = unzipSync(new Uint8Array(fs.readFileSync(source)));
  const after = unzipSync(new Uint8Array(fs.readFileSync(written)));
  assert.deepEqual(Object.keys(after).sort(), Object.keys(before).sort());
  assert.deepEqual(after['config.json'], before['config.json']);
  assert.deepEqual(after['metadata.json'], before['metadata.json']);
});

test('a Keras model with a Lambda layer is refused: it contains code', async () => {
  await assert.rejects(loadModel(fixture('keras/lambda.keras')), (e: unknown) => e instanceof InputError && /Lambda layer: the model contains code, which is never executed/.test(e.message));
});
