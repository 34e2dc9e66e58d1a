/**
 * Weight layout conversions between the channels-first formats (PyTorch, ONNX) and the IR.
 * PyTorch and ONNX store convolution kernels as [out, in/groups, kh, kw] and dense weights as
 * [out, in]; the IR uses [kh, kw, in/groups, out], depthwise [kh, kw, in, multiplier] and dense
 * [in, out]. Every function returns a new array and has an exact inverse, so a model written
 * back holds bit-identical values.
 */
import { TensorData } from '../graph/ir';

/** [out, inPerGroup, kh, kw] -> [kh, kw, inPerGroup, out]. */
export function convKernelFromOihw(data: Float32Array, shape: readonly number[]): TensorData {
  const [o, i, kh, kw] = shape;
  const out = new Float32Array(data.length);
  for (let a = 0; a < o; a++) {
    for (let b = 0; b < i; b++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          out[((y * kw + x) * i + b) * o + a] = data[((a * i + b) * kh + y) * kw + x];
        }
      }
    }
  }
  return { shape: [kh, kw, i, o], data: out };
}

/** [kh, kw, inPerGroup, out] -> [out, inPerGroup, kh, kw]. */
export function convKernelToOihw(t: TensorData): { shape: number[]; data: Float32Array } {
  const [kh, kw, i, o] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let a = 0; a < o; a++) {
    for (let b = 0; b < i; b++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          out[((a * i + b) * kh + y) * kw + x] = t.data[((y * kw + x) * i + b) * o + a];
        }
      }
    }
  }
  return { shape: [o, i, kh, kw], data: out };
}

/**
 * A depthwise kernel [channels·multiplier, 1, kh, kw] (output channel c·m + j reads input c)
 * -> [kh, kw, channels, multiplier].
 */
export function depthwiseKernelFromOihw(data: Float32Array, shape: readonly number[], channels: number): TensorData {
  const [o, , kh, kw] = shape;
  const m = o / channels;
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) {
    for (let j = 0; j < m; j++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          out[((y * kw + x) * channels + c) * m + j] = data[((c * m + j) * kh + y) * kw + x];
        }
      }
    }
  }
  return { shape: [kh, kw, channels, m], data: out };
}

/** [kh, kw, channels, multiplier] -> [channels·multiplier, 1, kh, kw]. */
export function depthwiseKernelToOihw(t: TensorData): { shape: number[]; data: Float32Array } {
  const [kh, kw, channels, m] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let c = 0; c < channels; c++) {
    for (let j = 0; j < m; j++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          out[((c * m + j) * kh + y) * kw + x] = t.data[((y * kw + x) * channels + c) * m + j];
        }
      }
    }
  }
  return { shape: [channels * m, 1, kh, kw], data: out };
}

/** Swaps the two axes of a matrix: [rows, cols] -> [cols, rows]. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
}

/**
 * The row permutation that turns a dense kernel written for a channels-first flatten (rows in
 * C·H·W order) into one for the IR's channels-last flatten (rows in H·W·C order):
 * IR row `hwcIndex` takes source row `perm[hwcIndex]`.
 */
export function chwToHwcRowOrder(h: number, w: number, c: number): Int32Array {
  const perm = new Int32Array(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) perm[(y * w + x) * c + ch] = (ch * h + y) * w + x;
    }
  }
  return perm;
}

/** Reorders the rows of a [rows, cols] matrix: row r of the result is row perm[r] of the input. */
export function permuteRows(data: Float32Array, cols: number, perm: Int32Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < perm.length; r++) out.set(data.subarray(perm[r] * cols, perm[r] * cols + cols), r * cols);
  return out;
}

/** The inverse of permuteRows with the same permutation. */
export function unpermuteRows(data: Float32Array, cols: number, perm: Int32Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < perm.length; r++) out.set(data.subarray(r * cols, r * cols + cols), perm[r] * cols);
  return out;
}

/**
 * A dense weight in PyTorch/ONNX-Gemm layout [out, in] -> the IR's [in, out], with the input
 * rows reordered from C·H·W to H·W·C when the layer reads a flattened feature map.
 */
export function denseFromOutIn(data: Float32Array, outFeatures: number, inFeatures: number, flattenedFrom?: readonly number[]): TensorData {
  let kernel = transpose2d(data, outFeatures, inFeatures);
  if (flattenedFrom && flattenedFrom.length === 3 && flattenedFrom[0] * flattenedFrom[1] > 1) {
    const [h, w, c] = flattenedFrom;
    kernel = permuteRows(kernel, outFeatures, chwToHwcRowOrder(h, w, c));
  }
  return { shape: [inFeatures, outFeatures], data: kernel };
}

/** The inverse of denseFromOutIn: the IR's [in, out] -> [out, in] in channels-first row order. */
export function denseToOutIn(t: TensorData, flattenedFrom?: readonly number[]): { shape: number[]; data: Float32Array } {
  const [inFeatures, outFeatures] = t.shape;
  let kernel = t.data;
  if (flattenedFrom && flattenedFrom.length === 3 && flattenedFrom[0] * flattenedFrom[1] > 1) {
    const [h, w, c] = flattenedFrom;
    kernel = unpermuteRows(kernel, outFeatures, chwToHwcRowOrder(h, w, c));
  }
  return { shape: [outFeatures, inFeatures], data: transpose2d(kernel, inFeatures, outFeatures) };
}
