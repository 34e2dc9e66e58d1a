/**
 * Keras models: Keras 3 `.keras` archives and legacy (Keras 2 / tf.keras) `.h5` files.
 *
 * - `.keras` is a zip holding `config.json` (the model config), `metadata.json` and
 *   `model.weights.h5`. Inside the HDF5 file, Keras 3 stores each layer's variables under
 *   `layers/<name>/vars/<i>`, where `<name>` is the snake_case class name made unique by a
 *   per-class counter in layer order (`conv2d`, `conv2d_1`, `batch_normalization`), not the
 *   layer's own name, and `<i>` runs over the trainable, then the non-trainable variables.
 * - A legacy `.h5` keeps the config in the root attribute `model_config` and the weights under
 *   `model_weights/<layer>/`, each group listing its datasets in the attribute `weight_names`
 *   (`conv2d/kernel:0`).
 *
 * The topology goes through the same Keras mapper as TF.js (formats/keras-topology.ts), which
 * refuses Lambda layers before anything runs. HDF5 is read and written with h5wasm (the HDF5
 * library compiled to WebAssembly); its Node build works on real files, so the bytes pass through
 * a private temporary folder that is removed afterwards.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unzipSync, zipSync } from 'fflate';
import { WeightMap } from '../graph/ir';
import { KerasWeightBinding, kerasTopologyToIR } from './keras-topology';
import { bindWeights } from './tfjs';
import { LoadedModel, SerializedModel } from './types';

type H5Module = typeof import('h5wasm');

let h5Promise: Promise<H5Module> | undefined;

/**
 * Loads h5wasm once. It is an ES module whose WebAssembly starts asynchronously, so it is
 * imported on first use. The specifier is not a literal on purpose: bundled into the CommonJS
 * CLI and worker, h5wasm's Node build would lose `import.meta.url`, which it needs at start-up;
 * left to Node's own ESM loader, it resolves from node_modules and keeps it.
 */
async function h5(): Promise<H5Module> {
  const specifier = 'h5wasm/node';
  h5Promise ??= (import(specifier) as Promise<H5Module>).then(async (mod) => {
    await mod.ready;
    return mod;
  });
  return h5Promise;
}

const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

export function isHdf5(head: Uint8Array): boolean {
  return HDF5_MAGIC.every((b, i) => head[i] === b);
}

/**
 * Runs `work` on the bytes as an HDF5 file in a private temporary folder. With `readBack`, the
 * file's bytes after `work` (and after closing it) are returned too.
 */
async function withTempHdf5<T>(
  bytes: Uint8Array,
  mode: 'r' | 'a',
  work: (file: InstanceType<H5Module['File']>) => T,
  readBack = false,
): Promise<{ value: T; bytes?: Uint8Array }> {
  const lib = await h5();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bds-h5-'));
  const filePath = path.join(dir, 'model.h5');
  try {
    fs.writeFileSync(filePath, bytes);
    let file: InstanceType<H5Module['File']>;
    try {
      file = new lib.File(filePath, mode);
    } catch (e) {
      throw new Error(`is not a readable HDF5 file (${(e as Error).message})`);
    }
    let value: T;
    try {
      value = work(file);
    } finally {
      file.close();
    }
    return { value, bytes: readBack ? new Uint8Array(fs.readFileSync(filePath)) : undefined };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Keras' snake_case of a class name (`DepthwiseConv2D` -> `depthwise_conv2d`, `ReLU` -> `re_lu`). */
export function kerasSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

type Json = Record<string, unknown>;

function configLayers(config: Json): Json[] {
  const root = (config.model_config as Json | undefined) ?? config;
  const inner = root.config as Json | Json[] | undefined;
  const layers = Array.isArray(inner) ? inner : (inner?.layers as Json[] | undefined);
  return Array.isArray(layers) ? layers : [];
}

function layerName(layer: Json): string {
  return (layer.name ?? (layer.config as Json | undefined)?.name) as string;
}

/** Bindings grouped by Keras layer, in the order Keras stores that layer's variables. */
function bindingsByLayer(bindings: KerasWeightBinding[]): Map<string, KerasWeightBinding[]> {
  const out = new Map<string, KerasWeightBinding[]>();
  for (const b of bindings) {
    if (b.missingValue !== undefined) continue;
    const layer = b.kerasName.slice(0, b.kerasName.lastIndexOf('/'));
    out.set(layer, [...(out.get(layer) ?? []), b]);
  }
  return out;
}

/** Where each layer's variables live in a Keras 3 weights file: layer name -> `layers/<snake>`. */
function keras3Paths(config: Json): Map<string, string> {
  const counters = new Map<string, number>();
  const out = new Map<string, string>();
  for (const layer of configLayers(config)) {
    const base = kerasSnakeCase(layer.class_name as string);
    const count = counters.get(base);
    counters.set(base, (count ?? -1) + 1);
    out.set(layerName(layer), `layers/${count === undefined ? base : `${base}_${count + 1}`}`);
  }
  return out;
}

function asFloat32(value: unknown, what: string): Float32Array {
  if (value instanceof Float32Array) return value;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Float32Array.from(value as unknown as ArrayLike<number>);
  throw new Error(`${what} is not a numeric dataset`);
}

function readJsonAttribute(file: InstanceType<H5Module['File']>, name: string): unknown {
  const attr = file.attrs[name];
  if (!attr) return undefined;
  let v: unknown = attr.value;
  if (v instanceof Uint8Array) v = new TextDecoder().decode(v);
  if (typeof v !== 'string') throw new Error(`has a '${name}' attribute that is not text`);
  return JSON.parse(v);
}

/** A string-list attribute (Keras splits long ones into name0, name1, ...). */
function readStringList(group: InstanceType<H5Module['Group']>, name: string): string[] {
  const decode = (v: unknown): string[] => {
    const items = Array.isArray(v) ? v : v === null || v === undefined ? [] : [v];
    return items.map((x) => (x instanceof Uint8Array ? new TextDecoder().decode(x) : String(x)));
  };
  if (group.attrs[name]) return decode(group.attrs[name].value);
  const out: string[] = [];
  for (let i = 0; group.attrs[`${name}${i}`]; i++) out.push(...decode(group.attrs[`${name}${i}`].value));
  return out;
}

interface KerasSource {
  kind: 'keras' | 'h5';
  /** The original file (.keras zip or .h5) bytes. */
  bytes: Uint8Array;
  /** IR key -> dataset path inside the HDF5 file. */
  datasets: Map<string, string>;
}

/** Parses a `.keras` archive. */
export async function parseKerasArchive(bytes: Uint8Array, filePath: string): Promise<LoadedModel> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new Error(`is a damaged zip archive (${(e as Error).message})`);
  }
  if (!files['config.json']) throw new Error('is a zip archive without config.json; it is not a .keras model');
  const weightsFile = files['model.weights.h5'];
  if (!weightsFile) {
    throw new Error(files['model.weights.npz'] ? 'stores its weights as model.weights.npz, which is not supported (re-save with the default h5 weights)' : 'has no model.weights.h5');
  }
  let config: Json;
  try {
    config = JSON.parse(new TextDecoder().decode(files['config.json'])) as Json;
  } catch (e) {
    throw new Error(`has a config.json that is not valid JSON (${(e as Error).message})`);
  }
  const { graph, bindings } = kerasTopologyToIR(config);
  const paths = keras3Paths(config);
  const byName = new Map<string, Float32Array>();
  const datasets = new Map<string, string>();
  await withTempHdf5(weightsFile, 'r', (file) => {
    const legacyRoot = file.get('_layer_checkpoint_dependencies') ? '_layer_checkpoint_dependencies' : undefined;
    for (const [layer, layerBindings] of bindingsByLayer(bindings)) {
      let group = paths.get(layer);
      if (!group) throw new Error(`layer '${layer}' is not in config.json's layer list`);
      if (!file.get(`${group}/vars`) && legacyRoot) group = group.replace(/^layers/, legacyRoot);
      layerBindings.forEach((b, i) => {
        const dsPath = `${group}/vars/${i}`;
        const ds = file.get(dsPath) as InstanceType<H5Module['Dataset']> | null;
        if (!ds || !('value' in ds)) throw new Error(`model.weights.h5 has no ${dsPath} for ${b.kerasName}`);
        byName.set(b.kerasName, asFloat32(ds.value, dsPath));
        datasets.set(b.irKey, dsPath);
      });
    }
  });
  const weights = bindWeights(graph, bindings, byName);
  return { format: 'keras', path: filePath, graph, weights, source: { kind: 'keras', bytes, datasets } satisfies KerasSource, notes: [] };
}

/** Parses a legacy `.h5` model (model_config + model_weights). */
export async function parseKerasH5(bytes: Uint8Array, filePath: string): Promise<LoadedModel> {
  const loaded = await withTempHdf5(bytes, 'r', (file) => {
    const config = readJsonAttribute(file, 'model_config');
    if (!config) {
      throw new Error(file.get('layer_names') !== null || file.attrs.layer_names ? 'holds weights only (save_weights); a model file with its config (model.save) is needed' : 'is an HDF5 file without a Keras model_config');
    }
    const { graph, bindings } = kerasTopologyToIR(config);
    const root = file.get('model_weights') as InstanceType<H5Module['Group']> | null;
    if (!root) throw new Error('has no model_weights group');
    const byName = new Map<string, Float32Array>();
    const datasets = new Map<string, string>();
    const byLayer = bindingsByLayer(bindings);
    for (const [layer, layerBindings] of byLayer) {
      const group = root.get(layer) as InstanceType<H5Module['Group']> | null;
      if (!group) throw new Error(`model_weights has no group for layer '${layer}'`);
      const names = readStringList(group, 'weight_names');
      for (const b of layerBindings) {
        const suffix = b.kerasName.slice(b.kerasName.lastIndexOf('/') + 1);
        const name = names.find((n) => n.replace(/:\d+$/, '').split('/').pop() === suffix);
        if (!name) throw new Error(`layer '${layer}' lists no ${suffix} in its weight_names (${names.join(', ')})`);
        const dsPath = `model_weights/${layer}/${name}`;
        const ds = file.get(dsPath) as InstanceType<H5Module['Dataset']> | null;
        if (!ds || !('value' in ds)) throw new Error(`has no dataset ${dsPath}`);
        byName.set(b.kerasName, asFloat32(ds.value, dsPath));
        datasets.set(b.irKey, dsPath);
      }
    }
    const weights = bindWeights(graph, bindings, byName);
    return { format: 'h5' as const, path: filePath, graph, weights, source: { kind: 'h5', bytes, datasets } satisfies KerasSource, notes: [] };
  });
  return loaded.value;
}

/** Overwrites the weight datasets of an HDF5 file's bytes, keeping everything else. */
async function rewriteHdf5(bytes: Uint8Array, datasets: Map<string, string>, weights: WeightMap): Promise<Uint8Array> {
  const rewritten = await withTempHdf5(
    bytes,
    'a',
    (file) => {
    for (const [irKey, dsPath] of datasets) {
      const w = weights.get(irKey);
      if (!w) throw new Error(`the weights have no ${irKey}`);
      const ds = file.get(dsPath) as InstanceType<H5Module['Dataset']>;
      const shape = ds.shape ?? [];
      if (shape.reduce((a, b) => a * b, 1) !== w.data.length) throw new Error(`${irKey} has ${w.data.length} values but ${dsPath} holds [${shape}]`);
      // Keras layouts equal the IR's, so the values are written as they are, in the dataset's own dtype.
      ds.write_slice(
        shape.map((d) => [0, d]),
        ds.dtype === '<d' ? Float64Array.from(w.data) : w.data,
      );
    }
    },
    true,
  );
  return rewritten.bytes as Uint8Array;
}

export async function serializeKerasModel(model: LoadedModel, weights: WeightMap, fileName: string): Promise<SerializedModel> {
  const source = model.source as KerasSource | undefined;
  if (!source || (model.format !== 'keras' && model.format !== 'h5')) throw new Error('only a model loaded from a Keras file can be written as one');
  if (source.kind === 'h5') {
    return { files: [{ name: fileName, bytes: await rewriteHdf5(source.bytes, source.datasets, weights) }] };
  }
  const files: Record<string, Uint8Array> = unzipSync(source.bytes);
  files['model.weights.h5'] = await rewriteHdf5(files['model.weights.h5'], source.datasets, weights);
  return { files: [{ name: fileName, bytes: zipSync(files, { level: 6 }) }] };
}
