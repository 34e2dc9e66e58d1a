/**
 * Building blocks for kernels written as compositions of other tfjs ops.
 *
 * A kernel receives bare `TensorInfo`s (data ids owned by the caller) and must return bare
 * `TensorInfo`s. To use ordinary tf ops in between, the inputs are wrapped in tensors and the
 * result is unwrapped again. Two engine details make this delicate:
 * - `engine.makeTensorFromTensorInfo` does not add a backend reference. Disposing such a wrapper
 *   would free the caller's data, so every wrapped input gets `backend.incRef` first.
 * - The engine wraps a returned `TensorInfo` in a new tensor without adding a reference either,
 *   so the result's data gets one extra reference before its own tensor is disposed.
 * Ops run inside a kernel are not recorded on the gradient tape (the engine's kernel depth is
 * above zero), so composites are safe inside `tf.grad` and `tf.variableGrads`.
 *
 * Convolutions are run through `engine.runKernel` rather than `tf.conv2d`: the op checks that
 * strides or dilations are 1, while the gradient composites need both above 1 at once (a filter
 * gradient of a strided conv is a conv dilated by the stride).
 */
import * as tf from '@tensorflow/tfjs-core';

/** The argument of a kernel function. */
export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** A kernel's named input; the engine passes every input an op declares. */
export function inputOf(args: KernelArgs, name: string): tf.TensorInfo {
  const info = args.inputs[name];
  if (!info) throw new Error(`kernel input '${name}' is missing`);
  return info;
}

/** The backend a kernel runs on (typed loosely by tfjs to avoid a cyclic import). */
export function backendOf(args: KernelArgs): tf.KernelBackend {
  return args.backend as tf.KernelBackend;
}

/** Runs `body` on tensor wrappers of `inputs` and returns its result as a bare TensorInfo. */
export function runComposite<K extends string>(
  backend: tf.KernelBackend,
  inputs: Record<K, tf.TensorInfo>,
  body: (t: Record<K, tf.Tensor>) => tf.Tensor,
): tf.TensorInfo {
  const engine = tf.engine();
  const wrapped = {} as Record<K, tf.Tensor>;
  const wrappers: tf.Tensor[] = [];
  try {
    for (const name of Object.keys(inputs) as K[]) {
      const info = inputs[name];
      backend.incRef(info.dataId);
      const t = engine.makeTensorFromTensorInfo(info, backend);
      wrapped[name] = t;
      wrappers.push(t);
    }
    const out = tf.tidy(() => body(wrapped));
    backend.incRef(out.dataId);
    const info: tf.TensorInfo = { dataId: out.dataId, shape: out.shape, dtype: out.dtype };
    out.dispose();
    return info;
  } finally {
    for (const t of wrappers) t.dispose();
  }
}

/** Explicit NHWC padding as `computeConv2DInfo` and the conv kernels take it. */
export type NhwcPads = [[0, 0], [number, number], [number, number], [0, 0]];

/**
 * A forward conv through the registered kernel, with any combination of strides and dilations.
 * Pads must be explicit and non-negative (see `cropToPads`).
 */
export function conv2dRaw(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: [number, number],
  dilations: [number, number],
  pad: NhwcPads,
): tf.Tensor4D {
  return tf.engine().runKernel<tf.Tensor4D>(
    tf.Conv2D,
    { x, filter },
    { strides, dilations, pad, dataFormat: 'NHWC', dimRoundingMode: undefined } as unknown as tf.NamedAttrMap,
  );
}

/** A depthwise conv through the registered kernel; the same rules as `conv2dRaw`. */
export function depthwiseRaw(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: [number, number],
  dilations: [number, number],
  pad: NhwcPads,
): tf.Tensor4D {
  return tf.engine().runKernel<tf.Tensor4D>(
    tf.DepthwiseConv2dNative,
    { x, filter },
    { strides, dilations, pad, dataFormat: 'NHWC', dimRoundingMode: undefined } as unknown as tf.NamedAttrMap,
  );
}

/** Wanted rows of one spatial axis: `before` rows ahead of the data, `after` rows past its end. */
export interface AxisWindow {
  before: number;
  after: number;
}

/**
 * Realises a window on spatial axes 1 and 2: negative amounts are cropped away here, positive ones
 * are returned as conv pads, because the conv kernels pad for free while a pad op copies.
 * Returns undefined when nothing of the data is left inside the window.
 */
export function cropToPads(
  t: tf.Tensor4D,
  rows: AxisWindow,
  cols: AxisWindow,
): { t: tf.Tensor4D; pad: NhwcPads } | undefined {
  const [n, h, w, c] = t.shape;
  const top = Math.max(0, -rows.before);
  const bottom = Math.max(0, -rows.after);
  const left = Math.max(0, -cols.before);
  const right = Math.max(0, -cols.after);
  const keptH = h - top - bottom;
  const keptW = w - left - right;
  if (keptH <= 0 || keptW <= 0) return undefined;
  const cropped = top + bottom + left + right > 0 ? tf.slice(t, [0, top, left, 0], [n, keptH, keptW, c]) : t;
  const pad: NhwcPads = [
    [0, 0],
    [Math.max(0, rows.before), Math.max(0, rows.after)],
    [Math.max(0, cols.before), Math.max(0, cols.after)],
    [0, 0],
  ];
  return { t: cropped, pad };
}

/** The resolved forward geometry of a conv: pads, strides and dilations per spatial axis. */
export interface ConvGeometry {
  inShape: [number, number, number, number];
  outShape: [number, number, number, number];
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padTop: number;
  padLeft: number;
}

/** Resolves 'same', 'valid', numeric and explicit padding once, with tfjs' own rules. */
export function convGeometry(
  inShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  dilations: number | [number, number],
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding,
  roundingMode: 'floor' | 'round' | 'ceil' | undefined,
  depthwise: boolean,
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    inShape, filterShape, strides, dilations, pad, roundingMode, depthwise, 'channelsLast');
  return {
    inShape,
    outShape: info.outShape,
    kernel: [info.filterHeight, info.filterWidth],
    strides: [info.strideHeight, info.strideWidth],
    dilations: [info.dilationHeight, info.dilationWidth],
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** The backprop kernels only exist for NHWC, like the wasm forward convs they are built from. */
export function assertNhwc(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`${kernel} on wasm supports only dataFormat 'NHWC', got '${dataFormat}'`);
  }
}
