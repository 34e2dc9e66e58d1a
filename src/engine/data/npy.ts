/**
 * NumPy arrays: `.npy` files and `.npz` archives (zips of `.npy` files). Images are uint8 or
 * float, NHWC or NCHW, 1 or 3 channels; labels are integers or one-hot rows. Stored npz entries
 * are read in place; deflated ones (np.savez_compressed) are inflated once, since deflate does
 * not allow seeking to one image.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { entryError, fileSource, memorySource, sliceSource, type ByteSource } from './bytes';
import { checkLabels, classNames, makeDataset } from './dataset';
import type { Dataset, DecodedImage, OpenOptions } from './types';
import { entryDataOffset, readZipEntry, type ZipEntry } from './zip';
import { InputError } from '../errors';

export interface NpyArray {
  file: string;
  /** The npz entry, when the array comes from one. */
  entry?: string;
  dtype: string;
  itemSize: number;
  shape: number[];
  src: ByteSource;
  dataOffset: number;
}

export function isNpy(head: Uint8Array): boolean {
  return head.length >= 6 && head[0] === 0x93 && String.fromCharCode(...head.subarray(1, 6)) === 'NUMPY';
}

const SUPPORTED_DTYPES: Record<string, number> = {
  u1: 1, i1: 1, b1: 1, u2: 2, i2: 2, u4: 4, i4: 4, u8: 8, i8: 8, f4: 4, f8: 8,
};

/** Reads the header of a .npy: magic, version, then a Python dict literal padded with spaces. */
export function parseNpy(src: ByteSource, file: string, entry?: string): NpyArray {
  const fail = (problem: string): InputError => entryError(file, entry, problem);
  if (src.size < 10 || !isNpy(src.read(0, 6))) throw fail('not a .npy array (bad magic)');
  const pre = src.read(6, Math.min(6, src.size - 6));
  const major = pre[0];
  const headerLength = major === 1 ? pre[2] | (pre[3] << 8) : (pre[2] | (pre[3] << 8) | (pre[4] << 16)) + pre[5] * 2 ** 24;
  const headerStart = major === 1 ? 10 : 12;
  if (major < 1 || major > 3 || headerStart + headerLength > src.size) throw fail(`unsupported or truncated .npy header (version ${major})`);
  const header = new TextDecoder('latin1').decode(src.read(headerStart, headerLength));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw fail(`unreadable .npy header (${header.trim()}); structured dtypes are not supported`);
  }
  if (fortran === 'True') throw fail('Fortran-ordered arrays are not supported; save with np.ascontiguousarray');
  const code = descr.slice(1);
  const itemSize = SUPPORTED_DTYPES[code];
  if (itemSize === undefined || (descr[0] === '>' && itemSize > 1)) {
    throw fail(`dtype '${descr}' is not supported (use little-endian uint8, integers or float32/64)`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  const dataOffset = headerStart + headerLength;
  const count = shape.reduce((a, b) => a * b, 1);
  if (dataOffset + count * itemSize > src.size) {
    throw fail(`truncated: shape (${shape.join(', ')}) of ${descr} needs ${count * itemSize} data bytes, the array has ${src.size - dataOffset}`);
  }
  return { file, entry, dtype: code, itemSize, shape, src, dataOffset };
}

/** Elements [start, start + count) as numbers. */
function readElements(arr: NpyArray, start: number, count: number): Float64Array | Uint8Array {
  const bytes = arr.src.read(arr.dataOffset + start * arr.itemSize, count * arr.itemSize);
  if (arr.dtype === 'u1' || arr.dtype === 'b1') return bytes;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(count);
  const get: (at: number) => number = {
    i1: (at: number) => dv.getInt8(at),
    u2: (at: number) => dv.getUint16(at, true),
    i2: (at: number) => dv.getInt16(at, true),
    u4: (at: number) => dv.getUint32(at, true),
    i4: (at: number) => dv.getInt32(at, true),
    u8: (at: number) => Number(dv.getBigUint64(at, true)),
    i8: (at: number) => Number(dv.getBigInt64(at, true)),
    f4: (at: number) => dv.getFloat32(at, true),
    f8: (at: number) => dv.getFloat64(at, true),
  }[arr.dtype]!;
  for (let k = 0; k < count; k++) out[k] = get(k * arr.itemSize);
  return out;
}

/** Integer labels from a (N,), (N, 1) or one-hot / score (N, K) array. */
export function readLabelArray(arr: NpyArray): Int32Array {
  const fail = (problem: string): InputError => entryError(arr.file, arr.entry, problem);
  const [n, k = 1] = arr.shape;
  if (arr.shape.length === 0 || arr.shape.length > 2) throw fail(`labels must have shape (N,) or (N, K), not (${arr.shape.join(', ')})`);
  const values = readElements(arr, 0, n * k);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (k === 1) {
      const v = values[i];
      if (!Number.isInteger(v)) throw fail(`label ${v} of item ${i} is not a whole number`);
      labels[i] = v;
    } else {
      let best = 0;
      for (let j = 1; j < k; j++) if (values[i * k + j] > values[i * k + best]) best = j;
      labels[i] = best;
    }
  }
  return labels;
}

interface ImageLayout {
  count: number;
  height: number;
  width: number;
  channels: number;
  channelsFirst: boolean;
  /** Multiplier that brings stored values to 0..255 (255 for floats in [0, 1]). */
  factor: number;
}

/** Scans a float array once for its range: [0, 1] data is scaled up, [0, 255] kept, anything else refused. */
function floatFactor(arr: NpyArray, total: number): number {
  let min = Infinity;
  let max = -Infinity;
  const chunk = 1 << 20;
  for (let start = 0; start < total; start += chunk) {
    const values = readElements(arr, start, Math.min(chunk, total - start));
    for (const v of values) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  const fail = (problem: string): InputError => entryError(arr.file, arr.entry, problem);
  if (Number.isNaN(min) || Number.isNaN(max)) throw fail('image values include NaN');
  if (min < 0) throw fail(`image values go down to ${min}: they look normalised already; give raw pixels in [0, 1] or [0, 255]`);
  if (max > 255) throw fail(`image values go up to ${max}; expected pixels in [0, 1] or [0, 255]`);
  return max <= 1 ? 255 : 1;
}

function imageLayout(arr: NpyArray): ImageLayout {
  const fail = (problem: string): InputError => entryError(arr.file, arr.entry, problem);
  const s = arr.shape;
  let layout: Omit<ImageLayout, 'factor'>;
  if (s.length === 3) {
    layout = { count: s[0], height: s[1], width: s[2], channels: 1, channelsFirst: false };
  } else if (s.length === 4 && (s[3] === 1 || s[3] === 3)) {
    layout = { count: s[0], height: s[1], width: s[2], channels: s[3], channelsFirst: false };
  } else if (s.length === 4 && (s[1] === 1 || s[1] === 3)) {
    layout = { count: s[0], height: s[2], width: s[3], channels: s[1], channelsFirst: true };
  } else {
    throw fail(`images must have shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3, not (${s.join(', ')})`);
  }
  if (!['u1', 'f4', 'f8'].includes(arr.dtype)) {
    throw fail(`image dtype '${arr.dtype}' is not supported (use uint8 or float32/64)`);
  }
  const total = layout.count * layout.height * layout.width * layout.channels;
  return { ...layout, factor: arr.dtype === 'u1' ? 1 : floatFactor(arr, total) };
}

function readArrayImage(arr: NpyArray, l: ImageLayout, i: number): DecodedImage {
  const plane = l.height * l.width;
  const n = plane * l.channels;
  const values = readElements(arr, i * n, n);
  const pixels = new Uint8Array(n);
  for (let c = 0; c < l.channels; c++) {
    for (let p = 0; p < plane; p++) {
      const v = values[l.channelsFirst ? c * plane + p : p * l.channels + c];
      pixels[p * l.channels + c] = Math.min(255, Math.max(0, Math.round(v * l.factor)));
    }
  }
  return { height: l.height, width: l.width, channels: l.channels, pixels };
}

function arrayName(arr: NpyArray): string {
  return arr.entry ?? basename(arr.file);
}

function arrayDataset(path: string, kind: string, images: NpyArray, labels: Int32Array, opts: OpenOptions): Dataset {
  const layout = imageLayout(images);
  if (labels.length !== layout.count) {
    throw new InputError(path, `${layout.count} images in ${arrayName(images)} but ${labels.length} labels`);
  }
  const classes = classNames(labels, opts.classes, undefined);
  checkLabels(path, labels, classes);
  const scaled = layout.factor === 255 ? ', float values in [0, 1] scaled by 255' : '';
  const order = layout.channelsFirst ? 'NCHW' : 'NHWC';
  return makeDataset({
    path,
    kind,
    classes,
    labels,
    itemName: (i) => `${arrayName(images)}[${i}]`,
    read: (i) => readArrayImage(images, layout, i),
    details: `Array ${arrayName(images)} (${images.dtype}, ${order}, ${layout.height}x${layout.width}x${layout.channels}${scaled}).`,
  });
}

const IMAGE_KEY = /^(x|images?|imgs|inputs?|data)(?:_(\w+))?$/i;
const LABEL_KEY = /^(y|labels?|targets?)(?:_(\w+))?$/i;
const LABEL_PREFIXES = ['y', 'labels', 'label', 'targets', 'Y'];

function suffixSplit(suffix: string): string {
  const lower = suffix.toLowerCase();
  if (lower === 'train' || lower === 'training') return 'train';
  if (['test', 'testing', 'val', 'valid', 'validation'].includes(lower)) return 'test';
  return lower;
}

/** An npz: picks the image and label arrays by their names (x/y, images/labels, x_test/y_test, ...). */
export function openNpz(src: ByteSource, entries: ZipEntry[], opts: OpenOptions): Dataset {
  const arrays = new Map<string, ZipEntry>();
  for (const e of entries) if (e.name.endsWith('.npy')) arrays.set(e.name.slice(0, -4), e);
  const keys = [...arrays.keys()];
  const images = new Map<string, string>();
  const labels = new Map<string, string>();
  for (const key of keys) {
    const im = IMAGE_KEY.exec(key);
    if (im) images.set(im[2] ?? '', key);
    const lb = LABEL_KEY.exec(key);
    if (lb) labels.set(lb[2] ?? '', key);
  }
  if (images.size === 0) {
    throw new InputError(src.file, `no image array (named x, images, x_test, ...); the arrays are ${keys.join(', ')}`);
  }
  let suffix = [...images.keys()][0];
  if (images.size > 1) {
    const want = opts.split ?? 'test';
    const match = [...images.keys()].find((s) => suffixSplit(s) === want);
    if (match === undefined) {
      throw new InputError(src.file, `no ${want} images among the arrays ${[...images.values()].join(', ')}`);
    }
    suffix = match;
  }
  const imageKey = images.get(suffix)!;
  // A lone label array goes with a lone image array whatever their suffixes (x_test with y).
  const labelKey = labels.get(suffix) ?? (images.size === 1 && labels.size === 1 ? [...labels.values()][0] : undefined);
  if (labelKey === undefined) {
    throw new InputError(src.file, `no labels for '${imageKey}' (expected an array named ${suffix ? `y_${suffix}` : 'y or labels'}); the arrays are ${keys.join(', ')}`);
  }
  const load = (key: string): NpyArray => {
    const entry = arrays.get(key)!;
    const offset = entryDataOffset(src, entry);
    const bytes = entry.method === 0 ? sliceSource(src, offset, entry.size) : memorySource(src.file, readZipEntry(src, entry, offset));
    return parseNpy(bytes, src.file, entry.name);
  };
  return arrayDataset(src.file, 'npz', load(imageKey), readLabelArray(load(labelKey)), opts);
}

/** A lone .npy holds images only; its labels come from a sibling such as y.npy or y_test.npy. */
export function openNpy(src: ByteSource, opts: OpenOptions): Dataset {
  const file = src.file;
  const images = parseNpy(src, file);
  const stem = basename(file).replace(/\.npy$/i, '');
  const candidates: string[] = [];
  const m = IMAGE_KEY.exec(stem);
  if (m) for (const p of LABEL_PREFIXES) candidates.push(`${p}${m[2] === undefined ? '' : `_${m[2]}`}.npy`);
  if (/images?/i.test(stem)) candidates.push(`${stem.replace(/images?/i, 'labels')}.npy`);
  const labelFile = candidates.map((c) => join(dirname(file), c)).find((c) => c !== file && existsSync(c));
  if (labelFile === undefined) {
    const hint = candidates.length > 0 ? `a sibling ${candidates.slice(0, 2).join(' or ')}` : 'a sibling file (name the images x.npy and the labels y.npy)';
    throw new InputError(file, `a .npy holds images but no labels; expected ${hint}, or use an .npz with both arrays`);
  }
  const labels = readLabelArray(parseNpy(fileSource(labelFile), labelFile));
  return arrayDataset(file, 'npy', images, labels, opts);
}
