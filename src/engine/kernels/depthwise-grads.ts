/**
 * Depthwise conv gradients for the wasm backend (both absent from tfjs-backend-wasm), built from
 * its XNNPACK depthwise forward conv.
 *
 * x is [N, H, W, C], the filter w is [kh, kw, C, m] (m = depth multiplier) and dy is
 * [N, Ho, Wo, C*m], with output channel c*m + q fed by input channel c through w[:, :, c, q].
 *
 * DepthwiseConv2dNativeBackpropFilter:
 *   dw[a, b, c, q] = sum_{n, i, j} xp[n, a*dh + i*sh, b*dw + j*sw, c] * dy[n, i, j, c*m + q].
 *   A depthwise conv sums over space but never across channels, so the batch is folded into the
 *   channels: x becomes one image [1, H, W, N*C] and dy a depthwise filter [Ho, Wo, N*C, m]. The
 *   conv (stride (dh, dw), dilation (sh, sw), over the window of `conv-plan.ts`) gives
 *   [1, kh, kw, N*C*m], and summing its N axis gives dw. Folding the batch into channels instead
 *   of using a regular conv over [C, H, W, N] avoids computing all C*C channel pairs.
 *
 * DepthwiseConv2dNativeBackpropInput:
 *   dx[n, h, w, c] = sum_q sum over i*s + a*d = h + p of dy[n, i, j, c*m + q] * w[a, b, c, q].
 *   Reshaping w to [kh, kw, C*m, 1] gives every dy channel its own filter, so the phase
 *   decomposition of `input-grad.ts` applies with depthwise convs of multiplier 1; a final sum
 *   over the m copies of each input channel finishes dx. The flipped sub-filters are cached per
 *   filter data, as for Conv2D.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendOf, convGeometry, cropToPads, depthwiseRaw, inputOf, runComposite, type KernelArgs } from './composite';
import { filterWindow, inputGradPlan, planKey } from './conv-plan';
import type { FilterCache } from './filter-cache';
import { flippedSubFilters, phaseConvolve } from './input-grad';

function depthwiseBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const x = inputOf(args, 'x');
  const dy = inputOf(args, 'dy');
  const backend = backendOf(args);
  const { strides, dilations, pad, dimRoundingMode, filterShape } =
    args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const g = convGeometry(x.shape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, true);
  const [n, h, w, c] = g.inShape;
  const [, ho, wo] = g.outShape;
  const [kh, kw, , m] = filterShape;
  const rows = filterWindow(h, kh, g.strides[0], g.dilations[0], g.padTop, ho);
  const cols = filterWindow(w, kw, g.strides[1], g.dilations[1], g.padLeft, wo);
  return runComposite(backend, { x, dy }, (t) => {
    const window = cropToPads(t.x as tf.Tensor4D, rows, cols);
    if (!window) return tf.zeros(filterShape);
    const [, hc, wc] = window.t.shape;
    const xFolded = tf.reshape(tf.transpose(window.t, [1, 2, 0, 3]), [1, hc, wc, n * c]);
    const dyAsFilter = tf.reshape(tf.transpose(t.dy as tf.Tensor4D, [1, 2, 0, 3]), [ho, wo, n * c, m]);
    const out = depthwiseRaw(xFolded as tf.Tensor4D, dyAsFilter as tf.Tensor4D, g.dilations, g.strides, window.pad);
    return tf.reshape(tf.sum(tf.reshape(out, [kh, kw, n, c * m]), 2), filterShape);
  });
}

function depthwiseBackpropInput(
  cache: FilterCache,
  args: KernelArgs,
): tf.TensorInfo {
  const dy = inputOf(args, 'dy');
  const filter = inputOf(args, 'filter');
  const backend = backendOf(args);
  const { strides, dilations, pad, dimRoundingMode, inputShape } =
    args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const filterShape = filter.shape as [number, number, number, number];
  const g = convGeometry(inputShape, filterShape, strides, dilations, pad, dimRoundingMode, true);
  const plan = inputGradPlan(g);
  const [n, h, w, c] = inputShape;
  const [kh, kw, , m] = filterShape;
  return runComposite(backend, { dy, filter }, (t) => {
    const filters = cache.get(backend, filter, planKey(plan, 'depthwise'), () =>
      flippedSubFilters(tf.reshape(t.filter, [kh, kw, c * m, 1]) as tf.Tensor4D, plan, (f) => f),
    ) as (tf.Tensor4D | undefined)[];
    const dx = phaseConvolve(
      t.dy as tf.Tensor4D,
      filters,
      plan,
      (d, f, dil, p) => depthwiseRaw(d, f, [1, 1], dil, p),
      h,
      w,
      c * m,
    );
    return m === 1 ? dx : tf.sum(tf.reshape(dx, [n, h, w, c, m]), 4);
  });
}

export function depthwiseBackpropFilterConfig(): tf.KernelConfig {
  return {
    kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
    backendName: 'wasm',
    kernelFunc: depthwiseBackpropFilter,
  };
}

export function depthwiseBackpropInputConfig(cache: FilterCache): tf.KernelConfig {
  return {
    kernelName: tf.DepthwiseConv2dNativeBackpropInput,
    backendName: 'wasm',
    kernelFunc: (args) => depthwiseBackpropInput(cache, args),
  };
}
