/**
 * PyTorch checkpoints (`.pt`, `.pth`): the zip format `torch.save` writes since PyTorch 1.6
 * (`<archive>/data.pkl`, one `<archive>/data/<key>` file per storage, `version`, `byteorder`).
 *
 * A checkpoint holds weights, not a graph: the tensors are mapped onto a built-in architecture
 * (src/engine/arch), chosen by `--arch` or guessed from the key names, with widths and depths
 * read from the tensor shapes. The pickle is interpreted by formats/pickle.ts, which never runs
 * code and refuses any global outside a state_dict's needs.
 *
 * The state_dict mapping (key names, NCHW -> NHWC) is shared with safetensors, which stores the
 * same tensors under the same names.
 */
import { unzipSync, zipSync } from 'fflate';
import { buildArchitectureForWeights, guessArchitecture, listArchitectures } from '../arch';
import { Graph, TensorData, WeightMap, WeightRole, tensorSize } from '../graph/ir';
import { inferShapes } from '../graph/shapes';
import { convKernelFromOihw, convKernelToOihw, denseFromOutIn, denseToOutIn, depthwiseKernelFromOihw, depthwiseKernelToOihw } from './layout';
import { DTYPE_BYTES, PickleValue, Pickler, PyDict, PyGlobal, PyTuple, STORAGE_TYPES, StorageRef, TensorRef, TorchDType, unpickle } from './pickle';
import { LoadOptions, LoadedModel, SerializedModel } from './types';

/** A named tensor of a state_dict, decoded to float32 for mapping. */
export interface NamedTensor {
  shape: number[];
  values: Float32Array;
}

/** How one IR weight sits in the state_dict: the original key and the layout conversion. */
export interface StateDictBinding {
  irKey: string;
  stateKey: string;
  layout: 'conv' | 'depthwise' | 'dense' | 'vector';
  /** For a dense layer that reads a flattened feature map: its [h, w, c] shape. */
  flattenedFrom?: number[];
}

export interface StateDictMapping {
  graph: Graph;
  weights: WeightMap;
  bindings: StateDictBinding[];
  architecture: string;
  notes: string[];
}

/** Checkpoint wrappers that hold the state_dict under a key, in the order they are tried. */
const WRAPPER_KEYS = ['netC', 'model_state_dict', 'state_dict', 'model', 'net'];

const ROLE_SUFFIX: Record<WeightRole, string> = {
  kernel: 'weight',
  bias: 'bias',
  gamma: 'weight',
  beta: 'bias',
  movingMean: 'running_mean',
  movingVariance: 'running_var',
};

/** Keys that a state_dict carries but no built-in architecture needs. */
function isBookkeeping(key: string): boolean {
  return key.endsWith('.num_batches_tracked');
}

/**
 * Canonical module names: the `module.` prefix of DataParallel checkpoints removed, and
 * torchvision's ResNet names (`downsample`, `fc`) turned into the CIFAR ones (`shortcut`, `linear`).
 * Returns the canonical name for each original key.
 */
function canonicalKeys(keys: string[]): Map<string, string> {
  const allPrefixed = keys.length > 0 && keys.every((k) => k.startsWith('module.'));
  const out = new Map<string, string>();
  for (const key of keys) {
    let k = allPrefixed ? key.slice('module.'.length) : key;
    k = k.replace(/\.downsample\./, '.shortcut.').replace(/^fc\./, 'linear.');
    out.set(key, k);
  }
  return out;
}

/**
 * Builds the architecture a state_dict describes and binds its tensors to the IR weights.
 * `tensors` are keyed by the original names; errors name the key and the architecture.
 */
export function mapStateDict(tensors: Map<string, NamedTensor>, options: LoadOptions): StateDictMapping {
  const canonical = canonicalKeys([...tensors.keys()]);
  const byCanonical = new Map<string, string>();
  for (const [original, name] of canonical) byCanonical.set(name, original);
  const shapes = new Map<string, number[]>();
  for (const [original, t] of tensors) shapes.set(canonical.get(original) as string, t.shape);

  const notes: string[] = [];
  let architecture = options.arch;
  if (!architecture) {
    architecture = guessArchitecture([...shapes.keys()]);
    if (!architecture) {
      const sample = [...shapes.keys()].slice(0, 6).join(', ');
      throw new Error(
        `holds weights only, and their names (${sample}, ...) match no built-in architecture; give one with --arch (${listArchitectures()
          .map((a) => a.name)
          .join(', ')})`,
      );
    }
    notes.push(`architecture ${architecture} guessed from the checkpoint's key names`);
  }
  const built = buildArchitectureForWeights(architecture, shapes, { inputShape: options.inputShape });
  if (options.numClasses !== undefined) {
    const classes = inferShapes(built.graph).get(built.graph.output)?.[0];
    if (classes !== options.numClasses) throw new Error(`the checkpoint's classifier has ${classes} outputs, not the ${options.numClasses} classes asked for`);
  }
  const graphShapes = inferShapes(built.graph);
  const nodes = new Map(built.graph.nodes.map((n) => [n.name, n]));
  const weights: WeightMap = new Map();
  const bindings: StateDictBinding[] = [];
  const used = new Set<string>();
  for (const [irKey, fresh] of built.weights) {
    const slash = irKey.lastIndexOf('/');
    const nodeName = irKey.slice(0, slash);
    const role = irKey.slice(slash + 1) as WeightRole;
    const node = nodes.get(nodeName);
    if (!node) throw new Error(`internal: weight ${irKey} has no node`);
    const name = `${nodeName}.${ROLE_SUFFIX[role]}`;
    const stateKey = byCanonical.get(name);
    if (stateKey === undefined) throw new Error(`the checkpoint has no '${name}', which ${architecture} needs`);
    used.add(stateKey);
    const t = tensors.get(stateKey) as NamedTensor;
    let converted: TensorData;
    let binding: StateDictBinding;
    if (role === 'kernel' && node.op.kind === 'conv2d') {
      binding = { irKey, stateKey, layout: 'conv' };
      converted = t.shape.length === 4 ? convKernelFromOihw(t.values, t.shape) : { shape: t.shape, data: t.values };
    } else if (role === 'kernel' && node.op.kind === 'depthwiseConv2d') {
      binding = { irKey, stateKey, layout: 'depthwise' };
      const channels = fresh.shape[2];
      converted = t.shape.length === 4 ? depthwiseKernelFromOihw(t.values, t.shape, channels) : { shape: t.shape, data: t.values };
    } else if (role === 'kernel' && node.op.kind === 'dense') {
      const input = nodes.get(node.inputs[0]);
      const flattenedFrom = input?.op.kind === 'flatten' ? graphShapes.get(input.inputs[0]) : undefined;
      binding = { irKey, stateKey, layout: 'dense', flattenedFrom };
      converted = t.shape.length === 2 ? denseFromOutIn(t.values, t.shape[0], t.shape[1], flattenedFrom) : { shape: t.shape, data: t.values };
    } else {
      binding = { irKey, stateKey, layout: 'vector' };
      converted = { shape: t.shape, data: t.values };
    }
    if (converted.shape.join() !== fresh.shape.join()) {
      throw new Error(`'${stateKey}' has shape [${t.shape}], which does not fit ${architecture} (layer ${nodeName} needs ${describeTorchShape(binding, fresh.shape)})`);
    }
    weights.set(irKey, converted);
    bindings.push(binding);
  }
  const unused = [...tensors.keys()].filter((k) => !used.has(k) && !isBookkeeping(k));
  if (unused.length > 0) {
    throw new Error(`the checkpoint has tensors that ${architecture} does not use: ${unused.slice(0, 8).join(', ')}${unused.length > 8 ? `, ... (${unused.length} in all)` : ''}; is --arch right?`);
  }
  return { graph: built.graph, weights, bindings, architecture, notes };
}

/** The PyTorch shape an IR weight shape corresponds to, for error messages. */
function describeTorchShape(binding: StateDictBinding, irShape: number[]): string {
  switch (binding.layout) {
    case 'conv':
      return `[${[irShape[3], irShape[2], irShape[0], irShape[1]]}]`;
    case 'depthwise':
      return `[${[irShape[2] * irShape[3], 1, irShape[0], irShape[1]]}]`;
    case 'dense':
      return `[${[irShape[1], irShape[0]]}]`;
    default:
      return `[${irShape}]`;
  }
}

/** An IR weight in the state_dict's own layout (the inverse of the load conversion). */
export function toStateDictLayout(binding: StateDictBinding, t: TensorData): { shape: number[]; data: Float32Array } {
  switch (binding.layout) {
    case 'conv':
      return convKernelToOihw(t);
    case 'depthwise':
      return depthwiseKernelToOihw(t);
    case 'dense':
      return denseToOutIn(t, binding.flattenedFrom);
    default:
      return { shape: [...t.shape], data: t.data };
  }
}

// ---- element decoding -------------------------------------------------------------------

function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function float32ToFloat16(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = (mant | 0x800000) >>> (1 - exp);
    // Round half to even on the bits shifted out.
    return sign | ((m + 0xfff + ((m >>> 13) & 1)) >>> 13);
  }
  const rounded = (mant + 0xfff + ((mant >>> 13) & 1)) >>> 13;
  return rounded === 0x400 ? sign | ((exp + 1) << 10) : sign | (exp << 10) | rounded;
}

/** Decodes `count` little-endian elements of `dtype` to float32. */
export function decodeElements(bytes: Uint8Array, dtype: TorchDType, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength < count * size) throw new Error(`a ${dtype} tensor needs ${count * size} bytes but its data holds ${bytes.byteLength}`);
  for (let i = 0; i < count; i++) {
    const o = i * size;
    switch (dtype) {
      case 'float32':
        out[i] = view.getFloat32(o, true);
        break;
      case 'float64':
        out[i] = view.getFloat64(o, true);
        break;
      case 'float16':
        out[i] = float16ToFloat32(view.getUint16(o, true));
        break;
      case 'bfloat16':
        out[i] = new Float32Array(new Uint32Array([view.getUint16(o, true) << 16]).buffer)[0];
        break;
      case 'int64':
        out[i] = Number(view.getBigInt64(o, true));
        break;
      case 'int32':
        out[i] = view.getInt32(o, true);
        break;
      case 'int16':
        out[i] = view.getInt16(o, true);
        break;
      case 'int8':
        out[i] = view.getInt8(o);
        break;
      case 'uint8':
      case 'bool':
        out[i] = bytes[o];
        break;
    }
  }
  return out;
}

/** Encodes float32 values as little-endian `dtype` elements (floating dtypes only). */
export function encodeElements(values: Float32Array, dtype: TorchDType): Uint8Array {
  const size = DTYPE_BYTES[dtype];
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const o = i * size;
    switch (dtype) {
      case 'float32':
        view.setFloat32(o, values[i], true);
        break;
      case 'float64':
        view.setFloat64(o, values[i], true);
        break;
      case 'float16':
        view.setUint16(o, float32ToFloat16(values[i]), true);
        break;
      case 'bfloat16': {
        const bits = new Uint32Array(new Float32Array([values[i]]).buffer)[0];
        // Round to nearest even on the 16 dropped bits.
        view.setUint16(o, ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff, true);
        break;
      }
      default:
        throw new Error(`cannot write float weights as ${dtype}`);
    }
  }
  return out;
}

export function isFloatDType(dtype: TorchDType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

/** A tensor's elements as contiguous raw bytes, following its offset and strides. */
function gatherTensorBytes(t: TensorRef): Uint8Array {
  const size = DTYPE_BYTES[t.storage.dtype];
  const count = tensorSize(t.size);
  const out = new Uint8Array(count * size);
  const src = t.storage.bytes;
  const rank = t.size.length;
  const index = new Array<number>(rank).fill(0);
  for (let i = 0; i < count; i++) {
    let element = t.offset;
    for (let d = 0; d < rank; d++) element += index[d] * t.stride[d];
    const from = element * size;
    if (from + size > src.byteLength) throw new Error(`a tensor reads past the end of storage ${t.storage.key}`);
    out.set(src.subarray(from, from + size), i * size);
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < t.size[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

// ---- the checkpoint file -----------------------------------------------------------------

interface PytorchSource {
  root: PickleValue;
  /** Keys leading from the root to the state_dict (empty when the root is the state_dict). */
  statePath: string[];
  bindings: StateDictBinding[];
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

export function isZipFile(head: Uint8Array): boolean {
  return ZIP_MAGIC.every((b, i) => head[i] === b);
}

/** True for the pre-1.6 torch.save format: a bare pickle starting with PyTorch's magic number. */
function isLegacyTorchFile(bytes: Uint8Array): boolean {
  // Pickled int 0x1950a86a20f9469cfc6c as LONG1: opcode 0x8a, length 10, little-endian bytes.
  const magic = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
  return magic.every((b, i) => bytes[i] === b);
}

/** The folder inside the zip that holds data.pkl (torch names it after the file). */
export function torchArchivePrefix(names: string[]): string | undefined {
  const pkl = names.find((n) => /^[^/]+\/data\.pkl$/.test(n));
  return pkl?.slice(0, -'data.pkl'.length);
}

function dictTensors(d: PyDict): Map<string, TensorRef> | undefined {
  const out = new Map<string, TensorRef>();
  for (const [k, v] of d.entries) {
    if (typeof k === 'string' && v instanceof TensorRef) out.set(k, v);
  }
  return out.size > 0 && out.size >= d.entries.size / 2 ? out : undefined;
}

/** Finds the state_dict: the root itself, or under one of the usual wrapper keys. */
function findStateDict(root: PickleValue): { path: string[]; tensors: Map<string, TensorRef> } {
  if (root instanceof PyDict) {
    const direct = dictTensors(root);
    if (direct) return { path: [], tensors: direct };
    for (const key of WRAPPER_KEYS) {
      const inner = root.entries.get(key);
      if (inner instanceof PyDict) {
        const tensors = dictTensors(inner);
        if (tensors) return { path: [key], tensors };
      }
    }
    const keys = [...root.entries.keys()].map(String).slice(0, 10).join(', ');
    throw new Error(`holds a dict (keys: ${keys}) with no state_dict at its top or under ${WRAPPER_KEYS.join(', ')}`);
  }
  throw new Error('does not hold a state_dict (a dict of tensors)');
}

export function parsePytorchCheckpoint(bytes: Uint8Array, filePath: string, options: LoadOptions): LoadedModel {
  if (!isZipFile(bytes)) {
    if (isLegacyTorchFile(bytes)) {
      throw new Error('is in the legacy (pre-1.6, non-zip) torch.save format, which is not read; re-save it with a current PyTorch (torch.save(torch.load(f), g))');
    }
    throw new Error('is not a zip-format PyTorch checkpoint');
  }
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new Error(`is a damaged zip archive (${(e as Error).message})`);
  }
  const names = Object.keys(files);
  const prefix = torchArchivePrefix(names);
  if (prefix === undefined) throw new Error('is a zip archive without data.pkl; it is not a torch.save checkpoint');
  const byteorder = files[`${prefix}byteorder`];
  if (byteorder && new TextDecoder().decode(byteorder).trim() !== 'little') {
    throw new Error('was saved on a big-endian machine, which is not supported');
  }
  const root = unpickle(files[`${prefix}data.pkl`], {
    persistentLoad(pid) {
      if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage') throw new Error('has a persistent id that is not a storage');
      const [, type, key, location, numel] = pid.items;
      if (!(type instanceof PyGlobal) || !(type.name in STORAGE_TYPES)) throw new Error('has a storage of an unknown type');
      if (typeof key !== 'string') throw new Error('has a storage without a key');
      const data = files[`${prefix}data/${key}`];
      if (!data) throw new Error(`has no data for storage ${key} (${prefix}data/${key})`);
      return new StorageRef(STORAGE_TYPES[type.name], key, typeof location === 'string' ? location : 'cpu', typeof numel === 'number' ? numel : 0, data);
    },
  });
  const { path, tensors } = findStateDict(root);
  const named = new Map<string, NamedTensor>();
  for (const [key, t] of tensors) {
    named.set(key, { shape: [...t.size], values: decodeElements(gatherTensorBytes(t), t.storage.dtype, tensorSize(t.size)) });
  }
  const mapping = mapStateDict(named, options);
  const notes = [...mapping.notes];
  if (path.length > 0) notes.push(`state_dict read from the checkpoint's '${path.join('.')}' entry`);
  return {
    format: 'pytorch',
    path: filePath,
    graph: mapping.graph,
    weights: mapping.weights,
    source: { root, statePath: path, bindings: mapping.bindings } satisfies PytorchSource,
    notes,
  };
}

/** Copies the pickled tree, giving each tensor the values from `replace` (keyed by tensor). */
function cloneWithTensors(v: PickleValue, replace: (t: TensorRef) => TensorRef): PickleValue {
  if (v instanceof TensorRef) return replace(v);
  if (Array.isArray(v)) return v.map((x) => cloneWithTensors(x, replace));
  if (v instanceof PyTuple) return new PyTuple(v.items.map((x) => cloneWithTensors(x, replace)));
  if (v instanceof PyDict) {
    const d = new PyDict(v.ordered);
    for (const [k, x] of v.entries) d.entries.set(k, cloneWithTensors(x, replace));
    d.attributes = v.attributes === undefined ? undefined : cloneWithTensors(v.attributes, replace);
    return d;
  }
  return v;
}

/**
 * Writes the checkpoint again with the new weights: the same pickled structure (wrapper dict,
 * key order, non-weight entries, dtypes), each tensor in a storage of its own.
 */
export function serializePytorchCheckpoint(model: LoadedModel, weights: WeightMap, fileName: string): SerializedModel {
  const source = model.source as PytorchSource | undefined;
  if (!source || model.format !== 'pytorch') throw new Error('only a model loaded from a PyTorch checkpoint can be written as one');
  const stateDict = source.statePath.reduce<PickleValue>((v, k) => (v as PyDict).entries.get(k) as PickleValue, source.root) as PyDict;
  const byStateKey = new Map(source.bindings.map((b) => [b.stateKey, b]));
  const replacement = new Map<TensorRef, { values?: Float32Array }>();
  for (const [key, t] of stateDict.entries) {
    if (!(t instanceof TensorRef) || typeof key !== 'string') continue;
    const binding = byStateKey.get(key);
    if (!binding) {
      replacement.set(t, {});
      continue;
    }
    const w = weights.get(binding.irKey);
    if (!w) throw new Error(`the weights have no ${binding.irKey}`);
    const torchLayout = toStateDictLayout(binding, w);
    if (torchLayout.shape.join() !== t.size.join()) throw new Error(`${binding.irKey} has shape [${w.shape}], which does not fit '${key}' [${t.size}]`);
    replacement.set(t, { values: torchLayout.data });
  }

  const archive = fileName.replace(/\.[^.]*$/, '') || 'archive';
  const entries: Record<string, Uint8Array> = {};
  let nextKey = 0;
  const root = cloneWithTensors(source.root, (t) => {
    const values = replacement.get(t)?.values;
    const data = values ? encodeElements(values, t.storage.dtype) : gatherTensorBytes(t);
    const key = String(nextKey++);
    entries[`${archive}/data/${key}`] = data;
    const storage = new StorageRef(t.storage.dtype, key, t.storage.location, tensorSize(t.size), data);
    return new TensorRef(storage, 0, [...t.size], contiguousStrides(t.size), t.requiresGrad, t.parameter);
  });
  const storageType = (dtype: TorchDType) => Object.keys(STORAGE_TYPES).find((k) => STORAGE_TYPES[k] === dtype) as string;
  const pickler = new Pickler((s) => new PyTuple(['storage', new PyGlobal('torch', storageType(s.dtype)), s.key, s.location, s.numel]));
  pickler.save(root);
  const zipped = zipSync(
    {
      [`${archive}/data.pkl`]: pickler.finish(),
      [`${archive}/byteorder`]: new TextEncoder().encode('little'),
      ...entries,
      [`${archive}/version`]: new TextEncoder().encode('3\n'),
    },
    { level: 0 },
  );
  return { files: [{ name: fileName, bytes: zipped }] };
}

function contiguousStrides(size: number[]): number[] {
  const strides = new Array<number>(size.length);
  let s = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= size[d];
  }
  return strides;
}
