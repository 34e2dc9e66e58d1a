import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { detectFormat, loadModel, writeModel } from '../../src/engine/formats';
import { InputError } from '../../src/engine/errors';
import { fixture, irLogits, maxAbsDiff, reference, sameWeights, tmpDir } from './format-fixtures';

before(async () => {
  await tf.setBackend('cpu');
});

test('safetensors weights map onto the guessed architecture; logits equal PyTorch\'s; round trip is identical', async () => {
  const file = fixture('safetensors/resnet18-w4.safetensors');
  const bytes = new Uint8Array(fs.readFileSync(file));
  assert.equal(detectFormat(bytes.subarray(0, 64), 'weights.bin'), 'safetensors');
  const loaded = await loadModel(file);
  assert.equal(loaded.format, 'safetensors');
  const ref = reference('safetensors/resnet18-w4');
  const ours = irLogits(loaded, ref.input);
  assert.ok(maxAbsDiff(ours, ref.logits) < 1e-4, `${maxAbsDiff(ours, ref.logits)}`);

  const dir = tmpDir();
  const [written] = await writeModel(loaded, loaded.weights, path.join(dir, 'copy.safetensors'));
  assert.equal(Buffer.compare(fs.readFileSync(written), fs.readFileSync(file)), 0, 'unchanged weights give the same bytes');
  const edited = new Map([...loaded.weights].map(([k, w]) => [k, { shape: w.shape, data: w.data.map((v) => v * 0.5) }]));
  const [second] = await writeModel(loaded, edited, path.join(dir, 'edited.safetensors'));
  const again = await loadModel(second);
  assert.equal(sameWeights(edited, again.weights), undefined);
  const header = JSON.parse(fs.readFileSync(second).subarray(8, 8 + Number(fs.readFileSync(second).readBigUInt64LE(0))).toString('utf8'));
  assert.deepEqual(header.__metadata__, { format: 'pt' });
  assert.equal(header['bn1.num_batches_tracked'].dtype, 'I64');
  ref.input.dispose();
});

test('a safetensors file whose offsets leave the file is refused', async () => {
  const dir = tmpDir();
  const header = new TextEncoder().encode(JSON.stringify({ 'linear.weight': { dtype: 'F32', shape: [10, 4], data_offsets: [0, 160] } }));
  const bytes = new Uint8Array(8 + header.length + 16);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  const file = path.join(dir, 'bad.safetensors');
  fs.writeFileSync(file, bytes);
  await assert.rejects(loadModel(file), (e: unknown) => e instanceof InputError && /outside the file's 16 data bytes/.test(e.message));
});

test('torchvision-style names (downsample.N, fc) and DataParallel prefixes map onto the CIFAR ResNet', async () => {
  const bytes = fs.readFileSync(fixture('safetensors/resnet18-w4.safetensors'));
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const renamed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(header)) {
    renamed[key === '__metadata__' ? key : `module.${key.replace('.shortcut.', '.downsample.').replace(/^linear\./, 'fc.')}`] = value;
  }
  let json = JSON.stringify(renamed);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = Buffer.concat([Buffer.alloc(8), Buffer.from(json), bytes.subarray(8 + n)]);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  const file = path.join(tmpDir(), 'torchvision-names.safetensors');
  fs.writeFileSync(file, out);
  const loaded = await loadModel(file);
  assert.ok(loaded.notes.some((note) => note.includes('resnet18')));
  const ref = reference('safetensors/resnet18-w4');
  assert.ok(maxAbsDiff(irLogits(loaded, ref.input), ref.logits) < 1e-4);
  const [written] = await writeModel(loaded, loaded.weights, path.join(path.dirname(file), 'copy.safetensors'));
  assert.equal(Buffer.compare(fs.readFileSync(written), out), 0, 'the original names are written back');
  ref.input.dispose();
});
