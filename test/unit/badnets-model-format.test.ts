import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as ort from 'onnxruntime-node';
import { loadModel, writeModel } from '../../src/engine/formats';
import { irLogits, maxAbsDiff, sameWeights, tmpDir } from './format-fixtures';

// The BadNets CIFAR-10 ResNet that scripts/train-badnets-resnet.py trained once with PyTorch and
// exported both ways; the BAN scan of it runs elsewhere. Here: both files load into the same model.
const DIR = path.join(__dirname, '..', 'fixtures', 'models', 'badnets-resnet');

before(async () => {
  await tf.setBackend('cpu');
});

test('the BadNets ResNet as .onnx and as .pt loads into identical weights and logits, equal to onnxruntime', async () => {
  const fromOnnx = await loadModel(path.join(DIR, 'model.onnx'));
  const fromPt = await loadModel(path.join(DIR, 'model.pt'));
  assert.equal(fromOnnx.format, 'onnx');
  assert.equal(fromPt.format, 'pytorch');
  assert.equal(fromOnnx.graph.nodes.filter((n) => n.op.kind === 'batchNorm').length, fromPt.graph.nodes.filter((n) => n.op.kind === 'batchNorm').length, 'BatchNorm kept as nodes');
  for (const [key, w] of fromPt.weights) {
    const v = fromOnnx.weights.get(key);
    assert.ok(v, `ONNX has ${key}`);
    assert.deepEqual(v.data, w.data, key);
  }
  const input = tf.tensor4d(Float32Array.from({ length: 4 * 32 * 32 * 3 }, (_, i) => Math.sin(i * 0.61) * 1.5), [4, 32, 32, 3]);
  const a = irLogits(fromOnnx, input);
  const b = irLogits(fromPt, input);
  assert.ok(maxAbsDiff(a, b) < 1e-5, `${maxAbsDiff(a, b)}`);
  const runtime = await runOrt(path.join(DIR, 'model.onnx'), input);
  assert.ok(maxAbsDiff(a, runtime) < 1e-4, `${maxAbsDiff(a, runtime)}`);
  input.dispose();
});

async function runOrt(file: string, nhwc: tf.Tensor4D): Promise<number[][]> {
  const session = await ort.InferenceSession.create(file);
  const nchw = tf.transpose(nhwc, [0, 3, 1, 2]);
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', nchw.dataSync() as Float32Array, nchw.shape) });
  nchw.dispose();
  const out = result[session.outputNames[0]];
  const [n, k] = out.dims as number[];
  const flat = out.data as Float32Array;
  await session.release();
  return Array.from({ length: n }, (_, i) => Array.from(flat.subarray(i * k, (i + 1) * k)));
}

test('tied ONNX initializers (an exporter-de-duplicated BatchNorm shift) are written back untied when a repair splits them', async () => {
  const file = path.join(DIR, 'model.onnx');
  const loaded = await loadModel(file);
  assert.deepEqual(loaded.notes, [], 'every weight can be written back');
  // torch.onnx stored layer2.0.shortcut.1.bias as an Identity of the equal layer2.0.bn2.bias.
  assert.deepEqual(loaded.weights.get('layer2.0.shortcut.1/beta')?.data, loaded.weights.get('layer2.0.bn2/beta')?.data);
  const dir = tmpDir();
  const [same] = await writeModel(loaded, loaded.weights, path.join(dir, 'same.onnx'));
  assert.equal(Buffer.compare(fs.readFileSync(same), fs.readFileSync(file)), 0);

  const edited = new Map(loaded.weights);
  const beta = loaded.weights.get('layer2.0.shortcut.1/beta');
  assert.ok(beta);
  edited.set('layer2.0.shortcut.1/beta', { shape: beta.shape, data: beta.data.map((v) => v - 0.5) });
  const [split] = await writeModel(loaded, edited, path.join(dir, 'split.onnx'));
  const reloaded = await loadModel(split);
  assert.equal(sameWeights(edited, reloaded.weights), undefined);
  const input = tf.tensor4d(Float32Array.from({ length: 2 * 32 * 32 * 3 }, (_, i) => Math.cos(i * 0.29)), [2, 32, 32, 3]);
  const ours = irLogits({ graph: loaded.graph, weights: edited }, input);
  const runtime = await runOrt(split, input);
  assert.ok(maxAbsDiff(ours, runtime) < 1e-4, `${maxAbsDiff(ours, runtime)}`);
  assert.ok(maxAbsDiff(ours, irLogits(loaded, input)) > 1e-3, 'the edit changed the outputs');
  input.dispose();
});

test('the training record shows a working backdoor and the sidecar describes the inputs', () => {
  const record = JSON.parse(fs.readFileSync(path.join(DIR, 'training-record.json'), 'utf8')) as { cleanAccuracy: number; attackSuccessRate: number; attack: { target: number } };
  assert.ok(record.cleanAccuracy >= 0.75, `clean accuracy ${record.cleanAccuracy}`);
  assert.ok(record.attackSuccessRate >= 0.9, `attack success rate ${record.attackSuccessRate}`);
  assert.equal(record.attack.target, 0);
  const sidecar = JSON.parse(fs.readFileSync(path.join(DIR, 'backdoor-scan.json'), 'utf8')) as { classes: string[]; preprocessing: { scale: number } };
  assert.equal(sidecar.classes.length, 10);
  assert.equal(sidecar.preprocessing.scale, 255);
});
