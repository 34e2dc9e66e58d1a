/**
 * TF.js Layers models: `model.json` (Keras topology + weights manifest) and binary weight shards,
 * read as bytes from the model's own folder (no network, no tfjs-node file handler).
 *
 * Writing keeps the original topology when the model came from TF.js and only replaces the weight
 * values (one float32 shard); models from other formats get a topology generated from the IR.
 */
import { Graph, TensorData, WeightMap, tensorSize, weightKey } from '../graph/ir';
import { expectedWeightShapes, inferShapes, validateModel } from '../graph/shapes';
import { KerasWeightBinding, irToKerasTopology, kerasTopologyToIR, kerasWeightNames } from './keras-topology';
import { LoadedModel, SerializedModel } from './types';

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

interface ManifestGroup {
  paths: string[];
  weights: WeightSpec[];
}

interface TfjsSource {
  modelJson: Record<string, unknown>;
  bindings: KerasWeightBinding[];
}

/** Reads a file next to model.json; throws when it is missing or outside the model's folder. */
export type SiblingReader = (relativePath: string) => Uint8Array;

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2, bool: 1 };

function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Decodes one weight from its bytes, dequantising uint8/uint16/float16 storage to float32. */
function decodeWeight(spec: WeightSpec, bytes: Uint8Array): Float32Array {
  const n = tensorSize(spec.shape);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  const q = spec.quantization;
  if (q) {
    for (let i = 0; i < n; i++) {
      if (q.dtype === 'float16') out[i] = float16ToFloat32(view.getUint16(2 * i, true));
      else {
        const raw = q.dtype === 'uint8' ? bytes[i] : view.getUint16(2 * i, true);
        out[i] = raw * (q.scale ?? 1) + (q.min ?? 0);
      }
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    out[i] = spec.dtype === 'int32' ? view.getInt32(4 * i, true) : view.getFloat32(4 * i, true);
  }
  return out;
}

function storedBytes(spec: WeightSpec): number {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const size = BYTES_PER_ELEMENT[dtype];
  if (size === undefined) throw new Error(`weight '${spec.name}' has dtype ${dtype}, which is not supported`);
  return tensorSize(spec.shape) * size;
}

/**
 * Parses model.json and its shards. Errors are plain Errors naming the problem; the caller adds
 * the file name (see formats/index.ts).
 */
export function parseTfjsModel(jsonBytes: Uint8Array, readSibling: SiblingReader, path: string): LoadedModel {
  let modelJson: Record<string, unknown>;
  try {
    modelJson = JSON.parse(new TextDecoder().decode(jsonBytes)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`is not valid JSON (${(e as Error).message})`);
  }
  if (!modelJson || typeof modelJson !== 'object' || !modelJson.modelTopology) {
    throw new Error('has no modelTopology; it is not a TF.js Layers model (graph models from tfjs-converter are not supported)');
  }
  const manifest = modelJson.weightsManifest as ManifestGroup[] | undefined;
  if (!Array.isArray(manifest)) throw new Error('has no weightsManifest');
  const { graph, bindings } = kerasTopologyToIR(modelJson.modelTopology);

  const byName = new Map<string, Float32Array>();
  for (const group of manifest) {
    const shards = group.paths.map((p) => readSibling(p));
    const total = shards.reduce((n, s) => n + s.byteLength, 0);
    const data = new Uint8Array(total);
    let offset = 0;
    for (const s of shards) {
      data.set(s, offset);
      offset += s.byteLength;
    }
    offset = 0;
    for (const spec of group.weights) {
      const size = storedBytes(spec);
      if (offset + size > total) {
        throw new Error(`weight '${spec.name}' needs bytes ${offset}..${offset + size} but the shards ${group.paths.join(', ')} hold only ${total} bytes (truncated?)`);
      }
      byName.set(spec.name, decodeWeight(spec, data.subarray(offset, offset + size)));
      offset += size;
    }
  }
  const weights = bindWeights(graph, bindings, byName);
  const classes = readClassNames(modelJson);
  return { format: 'tfjs', path, graph, weights, classes, source: { modelJson, bindings } satisfies TfjsSource, notes: [] };
}

/**
 * Finds each IR weight by its Keras name (TF.js sometimes prefixes names with the model's scope)
 * and checks its size against the layer. Shared by the TF.js and Keras loaders.
 */
export function bindWeights(graph: Graph, bindings: KerasWeightBinding[], byName: Map<string, Float32Array>): WeightMap {
  const expected = expectedShapes(graph);
  const names = [...byName.keys()];
  const weights: WeightMap = new Map();
  for (const b of bindings) {
    const shape = expected.get(b.irKey);
    if (!shape) throw new Error(`weight '${b.kerasName}' does not belong to any layer of the model`);
    const size = tensorSize(shape);
    let data: Float32Array | undefined;
    if (b.missingValue !== undefined) {
      data = new Float32Array(size).fill(b.missingValue);
    } else {
      data = byName.get(b.kerasName) ?? byName.get(names.find((n) => n.endsWith(`/${b.kerasName}`)) ?? '');
      if (!data) throw new Error(`has no weight '${b.kerasName}' in its weights`);
    }
    if (data.length !== size) {
      throw new Error(`weight '${b.kerasName}' has ${data.length} values, but the layer needs shape [${shape}]`);
    }
    weights.set(b.irKey, { shape, data });
  }
  validateModel(graph, weights);
  return weights;
}

function expectedShapes(graph: Graph): Map<string, number[]> {
  const shapes = inferShapes(graph);
  const out = new Map<string, number[]>();
  for (const node of graph.nodes) {
    const input = node.inputs.length ? (shapes.get(node.inputs[0]) as number[]) : [];
    for (const [role, shape] of expectedWeightShapes(node, input)) out.set(weightKey(node.name, role), shape);
  }
  return out;
}

function readClassNames(modelJson: Record<string, unknown>): string[] | undefined {
  const meta = modelJson.userDefinedMetadata as Record<string, unknown> | undefined;
  const classes = meta?.classes;
  return Array.isArray(classes) && classes.every((c) => typeof c === 'string') ? (classes as string[]) : undefined;
}

/**
 * Serialises a model as TF.js: `model.json` plus one float32 shard named after the output file.
 * A TF.js source keeps its topology, metadata and weight order; other sources get a generated
 * topology. `jsonName` is the output model.json's base name.
 */
export function serializeTfjsModel(graph: Graph, weights: WeightMap, jsonName: string, source?: unknown, classes?: string[]): SerializedModel {
  const shardName = `${jsonName.replace(/\.json$/i, '')}.weights.bin`;
  const tfjs = source as TfjsSource | undefined;
  let modelJson: Record<string, unknown>;
  let order: { irKey: string; kerasName: string }[];
  if (tfjs?.modelJson && tfjs.bindings) {
    modelJson = { ...tfjs.modelJson };
    const manifest = tfjs.modelJson.weightsManifest as ManifestGroup[];
    const stored = new Map(tfjs.bindings.filter((b) => b.missingValue === undefined).map((b) => [b.kerasName, b.irKey]));
    order = manifest.flatMap((g) => g.weights).map((spec) => {
      const irKey = stored.get(spec.name) ?? [...stored.entries()].find(([k]) => spec.name.endsWith(`/${k}`))?.[1];
      if (!irKey) throw new Error(`weight '${spec.name}' of the source model has no counterpart in the IR`);
      return { irKey, kerasName: spec.name };
    });
  } else {
    modelJson = {
      format: 'layers-model',
      generatedBy: 'backdoor-scanner',
      convertedBy: null,
      modelTopology: irToKerasTopology(graph),
      ...(classes ? { userDefinedMetadata: { classes } } : {}),
    };
    order = kerasWeightNames(graph);
  }
  const specs: WeightSpec[] = [];
  const total = order.reduce((n, o) => n + (weights.get(o.irKey) as TensorData).data.length, 0);
  const shard = new Float32Array(total);
  let offset = 0;
  for (const o of order) {
    const w = weights.get(o.irKey);
    if (!w) throw new Error(`the model has no weight ${o.irKey}`);
    shard.set(w.data, offset);
    offset += w.data.length;
    specs.push({ name: o.kerasName, shape: w.shape, dtype: 'float32' });
  }
  modelJson.weightsManifest = [{ paths: [shardName], weights: specs }];
  return {
    files: [
      { name: jsonName, bytes: new TextEncoder().encode(JSON.stringify(modelJson)) },
      { name: shardName, bytes: new Uint8Array(shard.buffer) },
    ],
  };
}
