import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { Network } from '../../src/engine/graph/executor';
import { loadModel, writeModel } from '../../src/engine/formats';
import { buildResNet } from '../../src/engine/arch/resnet';
import { InputError } from '../../src/engine/errors';
import { Rng } from '../../src/engine/random';

before(async () => {
  await tf.setBackend('cpu');
});

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bds-tfjs-'));
}

/** Saves a tfjs-layers model as model.json + one shard, the way tfjs' file handler does. */
async function saveLayersModel(model: tfl.LayersModel, dir: string): Promise<string> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const json = {
        format: 'layers-model',
        generatedBy: 'test',
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: artifacts.weightSpecs }],
      };
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
      fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return path.join(dir, 'model.json');
}

function randomBatch(n: number, shape: number[], seed: number): tf.Tensor {
  return tf.tensor(new Rng(seed).normalArray(n * shape.reduce((a, b) => a * b, 1)), [n, ...shape]);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Gives BatchNorm layers non-trivial statistics so that eval-mode BN is really tested. */
function randomizeWeights(model: tfl.LayersModel, seed: number): void {
  const rng = new Rng(seed);
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (ws.length === 0) continue;
    layer.setWeights(ws.map((w, i) => {
      const isBnVariance = layer.getClassName() === 'BatchNormalization' && i === ws.length - 1;
      const values = rng.normalArray(w.size, 0.5);
      return tf.tensor(isBnVariance ? values.map((v) => 0.5 + Math.abs(v)) : values, w.shape);
    }));
  }
}

test('IR logits of a functional TF.js model equal tfjs-layers predict', async () => {
  const input = tfl.input({ shape: [8, 8, 3] });
  let x = tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  let y = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu6' }).apply(x) as tfl.SymbolicTensor;
  y = tfl.layers.conv2d({ filters: 6, kernelSize: 1, strides: 1 }).apply(y) as tfl.SymbolicTensor;
  x = tfl.layers.add().apply([x, y]) as tfl.SymbolicTensor;
  x = tfl.layers.zeroPadding2d({ padding: [[1, 0], [0, 1]] }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dropout({ rate: 0.5 }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 5, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  randomizeWeights(model, 11);
  const file = await saveLayersModel(model, tmpDir());

  const loaded = await loadModel(file);
  assert.equal(loaded.format, 'tfjs');
  assert.equal(loaded.graph.outputSoftmax, true);
  const net = new Network(loaded.graph, loaded.weights);
  const xs = randomBatch(4, [8, 8, 3], 12);
  const want = (model.predict(xs) as tf.Tensor).dataSync();
  const got = tf.softmax(net.logits(xs)).dataSync();
  assert.ok(maxAbsDiff(want, got) < 1e-5, `max diff ${maxAbsDiff(want, got)}`);
  net.dispose();
});

test('IR logits of a Sequential TF.js model equal tfjs-layers predict', async () => {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [6, 6, 1], filters: 3, kernelSize: 3, activation: 'relu' }),
      tfl.layers.averagePooling2d({ poolSize: 2, strides: 1 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 4 }),
    ],
  });
  randomizeWeights(model, 3);
  const file = await saveLayersModel(model, tmpDir());
  const loaded = await loadModel(file);
  const net = new Network(loaded.graph, loaded.weights);
  const xs = randomBatch(3, [6, 6, 1], 4);
  assert.ok(maxAbsDiff((model.predict(xs) as tf.Tensor).dataSync(), net.logits(xs).dataSync()) < 1e-5);
  net.dispose();
});

test('an IR model written as TF.js loads in tfjs-layers with the same logits, and round-trips', async () => {
  const built = buildResNet({ blocks: [1, 1], widths: [4, 8], numClasses: 3, inputShape: [8, 8, 3], seed: 5 });
  const dir = tmpDir();
  const source = { format: 'tfjs' as const, path: path.join(dir, 'none.json'), graph: built.graph, weights: built.weights, source: undefined, notes: [], classes: ['a', 'b', 'c'] };
  const [jsonPath, shardPath] = await writeModel(source, built.weights, path.join(dir, 'model.json'));
  const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const layersModel = await tfl.loadLayersModel(tf.io.fromMemory(json.modelTopology, json.weightsManifest[0].weights, new Uint8Array(fs.readFileSync(shardPath)).buffer));
  const net = new Network(built.graph, built.weights);
  const xs = randomBatch(2, [8, 8, 3], 6);
  const ir = net.logits(xs).dataSync();
  assert.ok(maxAbsDiff((layersModel.predict(xs) as tf.Tensor).dataSync(), ir) < 1e-5);

  const reloaded = await loadModel(jsonPath);
  assert.deepEqual(reloaded.classes, ['a', 'b', 'c']);
  for (const [key, w] of built.weights) {
    assert.deepEqual(reloaded.weights.get(key)?.data, w.data, key);
  }
  // Writing the reloaded model again keeps its topology and gives identical weights.
  const again = await writeModel(reloaded, reloaded.weights, path.join(dir, 'copy.json'));
  const third = await loadModel(again[0]);
  const net3 = new Network(third.graph, third.weights);
  assert.deepEqual(Array.from(net3.logits(xs).dataSync()), Array.from(ir));
  await assert.rejects(writeModel(reloaded, reloaded.weights, jsonPath), /is the input model/);
  await assert.rejects(writeModel(reloaded, reloaded.weights, path.join(dir, 'copy.json')), /already exists/);
  net.dispose();
  net3.dispose();
});

test('bad TF.js inputs give an InputError naming the file', async () => {
  const dir = tmpDir();
  const built = buildResNet({ blocks: [1], widths: [4], numClasses: 2, inputShape: [4, 4, 3], seed: 1 });
  const [jsonPath, shardPath] = await writeModel({ format: 'tfjs', path: 'x', graph: built.graph, weights: built.weights, source: undefined, notes: [] }, built.weights, path.join(dir, 'model.json'));

  const bytes = fs.readFileSync(shardPath);
  fs.writeFileSync(shardPath, bytes.subarray(0, bytes.length - 16));
  await assert.rejects(loadModel(jsonPath), (e: unknown) => e instanceof InputError && e.file === jsonPath && /truncated/.test(e.message));

  const notJson = path.join(dir, 'broken.json');
  fs.writeFileSync(notJson, '{"modelTopology": [unclosed');
  await assert.rejects(loadModel(notJson), (e: unknown) => e instanceof InputError && e.file === notJson && /not valid JSON/.test(e.message));

  const escaping = path.join(dir, 'escape.json');
  const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  json.weightsManifest[0].paths = ['../../etc/passwd'];
  fs.writeFileSync(escaping, JSON.stringify(json));
  await assert.rejects(loadModel(escaping), /outside the model's folder/);

  const lambda = path.join(dir, 'lambda.json');
  json.modelTopology.config.layers[1].class_name = 'Lambda';
  fs.writeFileSync(lambda, JSON.stringify(json));
  await assert.rejects(loadModel(lambda), /contains code, which is never executed/);
});
