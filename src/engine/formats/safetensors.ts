/**
 * safetensors: an 8-byte little-endian header length, a JSON header mapping each tensor name to
 * {dtype, shape, data_offsets} (offsets relative to the end of the header), then the raw
 * little-endian data. It holds weights only, with PyTorch's names and layouts, so the tensors map
 * onto a built-in architecture exactly as a PyTorch state_dict does (formats/pytorch.ts).
 */
import { WeightMap, tensorSize } from '../graph/ir';
import { DTYPE_BYTES, TorchDType } from './pickle';
import { NamedTensor, StateDictBinding, decodeElements, encodeElements, isFloatDType, mapStateDict, toStateDictLayout } from './pytorch';
import { LoadOptions, LoadedModel, SerializedModel } from './types';

const DTYPES: Record<string, TorchDType> = {
  F32: 'float32',
  F64: 'float64',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

interface SafetensorsSource {
  header: Record<string, unknown>;
  data: Uint8Array;
  bindings: StateDictBinding[];
}

/** The largest header the format allows (100 MB), which also bounds what a detector reads. */
const MAX_HEADER = 100_000_000;

/** True when the bytes start like a safetensors file: a sane header length and a '{'. */
export function looksLikeSafetensors(head: Uint8Array): boolean {
  if (head.length < 9) return false;
  const n = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
  return n >= 2 && n <= MAX_HEADER && head[8] === 0x7b;
}

function parseHeader(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  if (bytes.length < 8) throw new Error('is too short to be a safetensors file');
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n > MAX_HEADER || 8 + n > bytes.length) throw new Error(`declares a ${n}-byte header, which the file cannot hold (truncated?)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`has an unreadable safetensors header (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new Error('has a safetensors header that is not a JSON object');
  return { header, data: bytes.subarray(8 + n) };
}

function entryOf(name: string, v: unknown, dataLength: number): HeaderEntry & { dt: TorchDType } {
  const e = v as HeaderEntry;
  const dt = DTYPES[e?.dtype];
  if (!dt) throw new Error(`tensor '${name}' has dtype ${JSON.stringify(e?.dtype)}, which is not supported`);
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`tensor '${name}' has an invalid shape`);
  const [begin, end] = e.data_offsets ?? [];
  if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end < begin || end > dataLength) {
    throw new Error(`tensor '${name}' has data offsets ${JSON.stringify(e.data_offsets)} outside the file's ${dataLength} data bytes`);
  }
  if (end - begin !== tensorSize(e.shape) * DTYPE_BYTES[dt]) throw new Error(`tensor '${name}' holds ${end - begin} bytes, not the ${tensorSize(e.shape) * DTYPE_BYTES[dt]} its shape needs`);
  return { ...e, dt };
}

export function parseSafetensors(bytes: Uint8Array, filePath: string, options: LoadOptions): LoadedModel {
  const { header, data } = parseHeader(bytes);
  const tensors = new Map<string, NamedTensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = entryOf(name, v, data.length);
    tensors.set(name, { shape: e.shape, values: decodeElements(data.subarray(e.data_offsets[0], e.data_offsets[1]), e.dt, tensorSize(e.shape)) });
  }
  if (tensors.size === 0) throw new Error('holds no tensors');
  const mapping = mapStateDict(tensors, options);
  return {
    format: 'safetensors',
    path: filePath,
    graph: mapping.graph,
    weights: mapping.weights,
    source: { header, data, bindings: mapping.bindings } satisfies SafetensorsSource,
    notes: mapping.notes,
  };
}

/**
 * Writes the file again with new weights: same tensor names, order, dtypes and metadata; the
 * data re-laid out contiguously and the header padded with spaces to 8 bytes, as the format
 * recommends.
 */
export function serializeSafetensors(model: LoadedModel, weights: WeightMap, fileName: string): SerializedModel {
  const source = model.source as SafetensorsSource | undefined;
  if (!source || model.format !== 'safetensors') throw new Error('only a model loaded from safetensors can be written as safetensors');
  const byName = new Map(source.bindings.map((b) => [b.stateKey, b]));
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, v] of Object.entries(source.header)) {
    if (name === '__metadata__') {
      header[name] = v;
      continue;
    }
    const e = entryOf(name, v, source.data.length);
    let bytes = source.data.subarray(e.data_offsets[0], e.data_offsets[1]);
    const binding = byName.get(name);
    if (binding) {
      const w = weights.get(binding.irKey);
      if (!w) throw new Error(`the weights have no ${binding.irKey}`);
      if (!isFloatDType(e.dt)) throw new Error(`tensor '${name}' is stored as ${e.dtype}; only float weights can be written`);
      const t = toStateDictLayout(binding, w);
      if (t.shape.join() !== e.shape.join()) throw new Error(`${binding.irKey} does not fit '${name}' [${e.shape}]`);
      bytes = encodeElements(t.data, e.dt);
    }
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return { files: [{ name: fileName, bytes: out }] };
}
