import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../src/engine/formats';
import { irLogits, maxAbsDiff } from './format-fixtures';

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
  const session = await ort.InferenceSession.create(path.join(DIR, 'model.onnx'));
  const nchw = tf.transpose(input, [0, 3, 1, 2]);
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', nchw.dataSync() as Float32Array, nchw.shape) });
  const flat = result[session.outputNames[0]].data as Float32Array;
  const runtime = a.map((row, i) => Array.from(flat.subarray(i * row.length, (i + 1) * row.length)));
  assert.ok(maxAbsDiff(a, runtime) < 1e-4, `${maxAbsDiff(a, runtime)}`);
  await session.release();
  input.dispose();
  nchw.dispose();
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
