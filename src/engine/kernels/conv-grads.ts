/**
 * Conv2D gradients for the wasm backend, built from its XNNPACK forward conv.
 *
 * x is [N, H, W, Ci], the filter w is [kh, kw, Ci, Co] and dy is [N, Ho, Wo, Co].
 *
 * Conv2DBackpropFilter (absent from tfjs-backend-wasm):
 *   dw[a, b, ci, co] = sum_{n, i, j} xp[n, a*dh + i*sh, b*dw + j*sw, ci] * dy[n, i, j, co]
 *   where xp is x padded as in the forward pass. Transposing x to [Ci, H, W, N] makes Ci the batch
 *   and N the channels; transposing dy to [Ho, Wo, N, Co] makes it a filter over that. A forward
 *   conv with stride (dh, dw) and dilation (sh, sw), over the window of x described in
 *   `conv-plan.ts`, then yields [Ci, kh, kw, Co], and a transpose gives dw. The sum over
 *   n, i and j is the conv's own reduction, so XNNPACK does all the arithmetic.
 *
 * Conv2DBackpropInput (replaces the stock wasm kernel, a naive loop about 12x slower than the
 * forward conv):
 *   dx[n, h, w, ci] = sum over i*s + a*d = h + p of dy[n, i, j, co] * w[a, b, ci, co],
 *   computed phase by phase (see `input-grad.ts`), each phase a stride-1 conv of dy with a
 *   flipped sub-filter transposed to [kh', kw', Co, Ci]. The sub-filters are cached per filter
 *   data (see `filter-cache.ts`).
 *
 * Neither kernel's attributes carry dilations (tfjs' conv gradient rejects dilated convs), so the
 * forward dilation is taken as 1 here; the maths in `conv-plan.ts` handles any dilation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertNhwc, backendOf, conv2dRaw, convGeometry, cropToPads, inputOf, runComposite, type KernelArgs } from './composite';
import { filterWindow, inputGradPlan, planKey } from './conv-plan';
import type { FilterCache } from './filter-cache';
import { flippedSubFilters, phaseConvolve } from './input-grad';

function conv2DBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const x = inputOf(args, 'x');
  const dy = inputOf(args, 'dy');
  const backend = backendOf(args);
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertNhwc(tf.Conv2DBackpropFilter, dataFormat);
  const g = convGeometry(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false);
  const [, h, w] = g.inShape;
  const [, ho, wo] = g.outShape;
  const rows = filterWindow(h, g.kernel[0], g.strides[0], g.dilations[0], g.padTop, ho);
  const cols = filterWindow(w, g.kernel[1], g.strides[1], g.dilations[1], g.padLeft, wo);
  return runComposite(backend, { x, dy }, (t) => {
    const window = cropToPads(t.x as tf.Tensor4D, rows, cols);
    if (!window) return tf.zeros(filterShape);
    const xT = tf.transpose(window.t, [3, 1, 2, 0]);
    const dyAsFilter = tf.transpose(t.dy as tf.Tensor4D, [1, 2, 0, 3]);
    const out = conv2dRaw(xT, dyAsFilter, g.dilations, g.strides, window.pad);
    return tf.transpose(out, [1, 2, 0, 3]);
  });
}

function conv2DBackpropInput(
  cache: FilterCache,
  args: KernelArgs,
): tf.TensorInfo {
  const dy = inputOf(args, 'dy');
  const filter = inputOf(args, 'filter');
  const backend = backendOf(args);
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  assertNhwc(tf.Conv2DBackpropInput, dataFormat);
  const filterShape = filter.shape as [number, number, number, number];
  const g = convGeometry(inputShape, filterShape, strides, 1, pad, dimRoundingMode, false);
  const plan = inputGradPlan(g);
  const [, h, w, ci] = inputShape;
  return runComposite(backend, { dy, filter }, (t) => {
    const filters = cache.get(backend, filter, planKey(plan, 'conv'), () =>
      flippedSubFilters(t.filter as tf.Tensor4D, plan, (f) => tf.transpose(f, [0, 1, 3, 2])),
    ) as (tf.Tensor4D | undefined)[];
    return phaseConvolve(
      t.dy as tf.Tensor4D,
      filters,
      plan,
      (d, f, dilations, p) => conv2dRaw(d, f, [1, 1], dilations, p),
      h,
      w,
      ci,
    );
  });
}

export function conv2DBackpropFilterConfig(): tf.KernelConfig {
  return { kernelName: tf.Conv2DBackpropFilter, backendName: 'wasm', kernelFunc: conv2DBackpropFilter };
}

export function conv2DBackpropInputConfig(cache: FilterCache): tf.KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropInput,
    backendName: 'wasm',
    kernelFunc: (args) => conv2DBackpropInput(cache, args),
  };
}
