/**
 * From decoded pixels to model input: resize to the model's height and width, convert between
 * 1 and 3 channels, then normalise as input = (pixel / scale - mean) / std per channel. Batches
 * are NHWC Float32Arrays, the layout of the whole engine.
 */
import { InputError } from '../errors';
import type { Dataset, DecodedImage } from './types';

/** input = (pixel / scale - mean[c]) / std[c]; mean and std have one value per channel, or one for all. */
export interface Preprocessing {
  scale: number;
  mean: number[];
  std: number[];
}

/** A model's input without the batch dimension: [height, width, channels]. */
export type InputShape = readonly [number, number, number];

/** Where a preprocessing value came from, so that a report can say why it was used. */
export type Origin = 'option' | 'sidecar' | 'default';

export interface ResolvedPreprocessing {
  preprocessing: Preprocessing;
  origins: Record<keyof Preprocessing, Origin>;
  /** The sidecar file, when any value came from it. */
  sidecarPath?: string;
}

/** Checks a preprocessing against the channel count it will be applied to. */
export function checkPreprocessing(prep: Preprocessing, channels: number, where = 'preprocessing'): void {
  if (!(Number.isFinite(prep.scale) && prep.scale > 0)) {
    throw new InputError(where, `scale must be a positive number, not ${prep.scale}`);
  }
  for (const key of ['mean', 'std'] as const) {
    const values = prep[key];
    if (values.length !== 1 && values.length !== channels) {
      throw new InputError(where, `${key} has ${values.length} values but the model input has ${channels} channel${channels === 1 ? '' : 's'}`);
    }
    if (!values.every(Number.isFinite)) throw new InputError(where, `${key} must be finite numbers`);
  }
  if (!prep.std.every((s) => s > 0)) throw new InputError(where, 'std values must be positive');
}

/**
 * Sampling weights for one axis, as PIL's bilinear resize computes them: a triangle filter over
 * input pixel centres, widened by the shrink factor when shrinking so that every input pixel
 * counts (antialiasing), and equal to plain half-pixel bilinear interpolation when enlarging.
 */
interface AxisWeights {
  start: Int32Array;
  count: Int32Array;
  /** Row k holds the weights of output k, `taps` values, the first count[k] used. */
  weights: Float32Array;
  taps: number;
}

function axisWeights(inSize: number, outSize: number): AxisWeights {
  const ratio = inSize / outSize;
  const support = Math.max(1, ratio);
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * taps);
  for (let k = 0; k < outSize; k++) {
    const centre = (k + 0.5) * ratio;
    const lo = Math.max(0, Math.floor(centre - support + 0.5));
    const hi = Math.min(inSize, Math.floor(centre + support + 0.5));
    let total = 0;
    for (let j = lo; j < hi; j++) {
      const w = Math.max(0, 1 - Math.abs(j + 0.5 - centre) / support);
      weights[k * taps + (j - lo)] = w;
      total += w;
    }
    for (let j = 0; j < hi - lo; j++) weights[k * taps + j] /= total;
    start[k] = lo;
    count[k] = hi - lo;
  }
  return { start, count, weights, taps };
}

/** Resizes HWC values (bytes or floats) to outH x outW, keeping the channel count. */
export function resizeBilinear(src: ArrayLike<number>, h: number, w: number, c: number, outH: number, outW: number): Float32Array {
  if (h === outH && w === outW) return Float32Array.from(src);
  const wx = axisWeights(w, outW);
  const wy = axisWeights(h, outH);
  const rows = new Float32Array(h * outW * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < outW; x++) {
      for (let ch = 0; ch < c; ch++) {
        let v = 0;
        for (let t = 0; t < wx.count[x]; t++) v += wx.weights[x * wx.taps + t] * src[(y * w + wx.start[x] + t) * c + ch];
        rows[(y * outW + x) * c + ch] = v;
      }
    }
  }
  const out = new Float32Array(outH * outW * c);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      for (let ch = 0; ch < c; ch++) {
        let v = 0;
        for (let t = 0; t < wy.count[y]; t++) v += wy.weights[y * wy.taps + t] * rows[((wy.start[y] + t) * outW + x) * c + ch];
        out[(y * outW + x) * c + ch] = v;
      }
    }
  }
  return out;
}

/** ITU-R BT.601 luma, the weights PIL's convert('L') uses. */
const LUMA = [0.299, 0.587, 0.114];

/**
 * Writes one image as model input at `out[offset..]`: resized, channel-converted (grey is
 * repeated into RGB; RGB becomes luma) and normalised.
 */
export function imageToInput(img: DecodedImage, shape: InputShape, prep: Preprocessing, out: Float32Array, offset: number): void {
  const [h, w, c] = shape;
  const inC = img.channels;
  if (inC !== 1 && inC !== 3) throw new RangeError(`images must have 1 or 3 channels, not ${inC}`);
  if (c !== 1 && c !== 3) throw new RangeError(`model inputs must have 1 or 3 channels, not ${c}`);
  const values = resizeBilinear(img.pixels, img.height, img.width, inC, h, w);
  const mean = Array.from({ length: c }, (_, ch) => prep.mean[prep.mean.length === 1 ? 0 : ch]);
  const std = Array.from({ length: c }, (_, ch) => prep.std[prep.std.length === 1 ? 0 : ch]);
  for (let p = 0; p < h * w; p++) {
    for (let ch = 0; ch < c; ch++) {
      let v: number;
      if (inC === c) v = values[p * inC + ch];
      else if (inC === 1) v = values[p];
      else v = LUMA[0] * values[p * 3] + LUMA[1] * values[p * 3 + 1] + LUMA[2] * values[p * 3 + 2];
      out[offset + p * c + ch] = (v / prep.scale - mean[ch]) / std[ch];
    }
  }
}

export interface ArrayBatch {
  /** N x h x w x c, NHWC. */
  x: Float32Array;
  y: Int32Array;
}

/** Reads, decodes and preprocesses the images at `indices` into one NHWC batch with their labels. */
export function buildBatch(ds: Dataset, indices: ArrayLike<number>, shape: InputShape, prep: Preprocessing): ArrayBatch {
  checkPreprocessing(prep, shape[2]);
  const per = shape[0] * shape[1] * shape[2];
  const x = new Float32Array(indices.length * per);
  const y = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    imageToInput(ds.readImage(i), shape, prep, x, k * per);
    y[k] = ds.labels[i];
  }
  return { x, y };
}

function formatValues(values: number[]): string {
  return values.length === 1 ? String(values[0]) : `[${values.join(', ')}]`;
}

function originText(origin: Origin, sidecarPath: string | undefined): string {
  if (origin === 'option') return 'set by option';
  if (origin === 'sidecar') return `from ${sidecarPath ?? 'the sidecar file'}`;
  return 'default';
}

/** One line for reports, e.g. "input = (pixel / 255 - mean) / std; mean [...] (from ...), ...". */
export function describePreprocessing(prep: Preprocessing | ResolvedPreprocessing, shape?: InputShape): string {
  const resolved = 'preprocessing' in prep ? prep : undefined;
  const p = resolved ? resolved.preprocessing : (prep as Preprocessing);
  const note = (key: keyof Preprocessing): string => (resolved ? ` (${originText(resolved.origins[key], resolved.sidecarPath)})` : '');
  const size = shape ? `Images resized (bilinear) to ${shape[0]}x${shape[1]} with ${shape[2]} channel${shape[2] === 1 ? '' : 's'}; ` : '';
  return (
    `${size}input = (pixel / ${p.scale} - mean) / std per channel; ` +
    `scale ${p.scale}${note('scale')}, mean ${formatValues(p.mean)}${note('mean')}, std ${formatValues(p.std)}${note('std')}.`
  );
}
