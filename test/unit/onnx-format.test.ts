import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as ort from 'onnxruntime-node';
import { detectFormat, loadModel, writeModel } from '../../src/engine/formats';
import { InputError } from '../../src/engine/errors';
import { fixture, irLogits, maxAbsDiff, reference, sameWeights, tmpDir } from './format-fixtures';

before(async () => {
  await tf.setBackend('cpu');
});

/** Runs a model file in onnxruntime on an NHWC batch (transposed to the file's NCHW). */
async function runOrt(file: string, nhwc: tf.Tensor4D): Promise<number[][]> {
  const session = await ort.InferenceSession.create(file);
  const nchw = tf.transpose(nhwc, [0, 3, 1, 2]);
  const input = new ort.Tensor('float32', nchw.dataSync() as Float32Array, nchw.shape);
  nchw.dispose();
  const result = await session.run({ [session.inputNames[0]]: input });
  const out = result[session.outputNames[0]];
  const [n, k] = out.dims as number[];
  const data = out.data as Float32Array;
  await session.release();
  return Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * k, (i + 1) * k)));
}

function softmaxRows(rows: number[][]): number[][] {
  return rows.map((r) => {
    const m = Math.max(...r);
    const e = r.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
}

const GOLDEN = ['onnx/ops-opset11', 'onnx/ops-opset13', 'onnx/ops-opset17', 'onnx/mobilenetv2-folded-opset13', 'onnx/external/model'];

for (const base of GOLDEN) {
  test(`${base}.onnx: IR logits equal PyTorch's and onnxruntime's`, async () => {
    const file = fixture(`${base}.onnx`);
    const loaded = await loadModel(file);
    assert.equal(loaded.format, 'onnx');
    const ref = reference(base);
    const ours = irLogits(loaded, ref.input);
    assert.ok(maxAbsDiff(ours, ref.logits) < 1e-4, `vs torch: ${maxAbsDiff(ours, ref.logits)}`);
    const runtime = await runOrt(file, ref.input);
    const comparable = loaded.graph.outputSoftmax ? softmaxRows(ours) : ours;
    assert.ok(maxAbsDiff(comparable, runtime) < 1e-4, `vs onnxruntime: ${maxAbsDiff(comparable, runtime)}`);
    ref.input.dispose();
  });
}

test('the ops model maps every op family and names layers after the PyTorch modules', async () => {
  const loaded = await loadModel(fixture('onnx/ops-opset13.onnx'));
  const kinds = new Set(loaded.graph.nodes.map((n) => (n.op.kind === 'activation' ? `activation:${n.op.fn}` : n.op.kind)));
  for (const k of ['conv2d', 'depthwiseConv2d', 'batchNorm', 'dense', 'add', 'mul', 'concat', 'maxPool', 'avgPool', 'zeroPad', 'flatten', 'activation:relu', 'activation:relu6', 'activation:leakyRelu', 'activation:silu', 'activation:hardSigmoid', 'activation:tanh']) {
    assert.ok(kinds.has(k), `missing ${k}`);
  }
  assert.equal(loaded.graph.outputSoftmax, true);
  assert.ok(loaded.weights.has('conv1/kernel') && loaded.weights.has('bn1/gamma') && loaded.weights.has('fc/kernel'));
  const grouped = loaded.graph.nodes.find((n) => n.name === 'grouped');
  assert.equal(grouped?.op.kind === 'conv2d' && grouped.op.groups, 2);
  assert.equal(detectFormat(new Uint8Array(fs.readFileSync(fixture('onnx/ops-opset13.onnx'))).subarray(0, 64), 'x.bin'), 'onnx');
});

test('ONNX round trip: unchanged weights give the original bytes; edited weights run the same in onnxruntime', async () => {
  const dir = tmpDir();
  const src = fixture('onnx/ops-opset13.onnx');
  const loaded = await loadModel(src);
  const [copy] = await writeModel(loaded, loaded.weights, path.join(dir, 'copy.onnx'));
  assert.equal(Buffer.compare(fs.readFileSync(copy), fs.readFileSync(src)), 0, 'only initializers are re-encoded, and identically');
  const again = await loadModel(copy);
  assert.equal(sameWeights(loaded.weights, again.weights), undefined);
  const ref = reference('onnx/ops-opset13');
  assert.deepEqual(irLogits(again, ref.input), irLogits(loaded, ref.input));

  // Edit weights the way a repair does (every layout: conv, depthwise, grouped, dense after a
  // C·H·W flatten, BatchNorm) and check that onnxruntime computes what the IR computes.
  const edited = new Map(loaded.weights);
  for (const [key, w] of loaded.weights) {
    edited.set(key, { shape: w.shape, data: w.data.map((v, i) => (key.endsWith('movingVariance') ? v : v * (1 + 0.25 * Math.sin(i + key.length)))) });
  }
  const [editedFile] = await writeModel(loaded, edited, path.join(dir, 'edited.onnx'));
  const reloaded = await loadModel(editedFile);
  assert.equal(sameWeights(edited, reloaded.weights), undefined);
  const ours = softmaxRows(irLogits({ graph: loaded.graph, weights: edited }, ref.input));
  const runtime = await runOrt(editedFile, ref.input);
  assert.ok(maxAbsDiff(ours, runtime) < 1e-4, `edited vs onnxruntime: ${maxAbsDiff(ours, runtime)}`);
  assert.ok(maxAbsDiff(ours, softmaxRows(ref.logits)) > 1e-3, 'the edit changed the outputs');
  ref.input.dispose();
});

test('ONNX external data is read from the model folder; writing inlines it', async () => {
  const dir = tmpDir();
  const loaded = await loadModel(fixture('onnx/external/model.onnx'));
  const [copy] = await writeModel(loaded, loaded.weights, path.join(dir, 'inline.onnx'));
  const again = await loadModel(copy);
  assert.equal(sameWeights(loaded.weights, again.weights), undefined);
});

test('ONNX external data outside the model folder is refused', async () => {
  await assert.rejects(loadModel(fixture('onnx/external-escape/model.onnx')), (e: unknown) => e instanceof InputError && /outside the model's folder/.test(e.message));
});

test('an unsupported ONNX op is named with its node', async () => {
  await assert.rejects(loadModel(fixture('onnx/unsupported-erf.onnx')), (e: unknown) => e instanceof InputError && /op Erf/.test(e.message) && /weird_erf/.test(e.message));
});

test('a damaged ONNX file gives an InputError', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'cut.onnx');
  fs.writeFileSync(file, fs.readFileSync(fixture('onnx/ops-opset13.onnx')).subarray(0, 2000));
  await assert.rejects(loadModel(file), (e: unknown) => e instanceof InputError && e.file === file);
});

for (const name of ['handmade-opset9', 'handmade-opset13']) {
  test(`${name}.onnx (attribute forms, auto_pad, MatMul + Add, static Reshape, Gemm without transB) matches onnxruntime`, async () => {
    const file = fixture(`onnx/${name}.onnx`);
    const loaded = await loadModel(file);
    if (name === 'handmade-opset9') {
      const dense = loaded.graph.nodes.find((n) => n.op.kind === 'dense');
      assert.equal(dense?.op.kind === 'dense' && dense.op.useBias, true, 'the Add is folded into the MatMul as its bias');
    }
    const input = tf.tensor4d(Float32Array.from({ length: 2 * 16 * 16 * 3 }, (_, i) => Math.sin(i * 0.37) * 2), [2, 16, 16, 3]);
    const ours = irLogits(loaded, input);
    const runtime = await runOrt(file, input);
    assert.ok(maxAbsDiff(ours, runtime) < 1e-4, `${maxAbsDiff(ours, runtime)}`);
    // These initializers hold float_data, which the writer turns into raw_data: same values, other bytes.
    const [copy] = await writeModel(loaded, loaded.weights, path.join(tmpDir(), `${name}.onnx`));
    assert.equal(sameWeights(loaded.weights, (await loadModel(copy)).weights), undefined);
    assert.ok(maxAbsDiff(await runOrt(copy, input), runtime) === 0);
    input.dispose();
  });
}
