/**
 * The input gradient of a conv as a sum of stride-1 forward convs, one per sub-pixel phase.
 * The phase maths is in `conv-plan.ts`; this file turns a plan into tensors.
 *
 * For a stride of s in both axes there are s*s phases. Phase (rh, rw) convolves dy with the
 * sub-filter w[a0h::stepH, a0w::stepW] flipped in both spatial axes, and the phase outputs,
 * each [N, Qh, Qw, C], interleave into [N, Qh*sh, Qw*sw, C] as row q*sh + rh, column
 * p*sw + rw, which a final crop aligns with dx. Compared with convolving a zero-inserted dy,
 * this does 1/(sh*sw) of the arithmetic and never materialises the zero-inserted tensor.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cropToPads, type NhwcPads } from './composite';
import type { InputGradPlan } from './conv-plan';

/** A stride-1 forward conv of a (cropped) dy with one phase filter. */
export type PhaseConv = (dy: tf.Tensor4D, filter: tf.Tensor4D, dilations: [number, number], pad: NhwcPads) => tf.Tensor4D;

/**
 * Flipped sub-filters of `filter` ([kh, kw, a, b]), row-major over the phase pairs (rh, rw);
 * undefined where a phase has no taps. `finish` applies the kernel-specific layout change.
 */
export function flippedSubFilters(
  filter: tf.Tensor4D,
  plan: InputGradPlan,
  finish: (f: tf.Tensor4D) => tf.Tensor4D,
): (tf.Tensor4D | undefined)[] {
  const [kh, kw, a, b] = filter.shape;
  const out: (tf.Tensor4D | undefined)[] = [];
  for (const ph of plan.rows.phases) {
    for (const pw of plan.cols.phases) {
      if (!ph || !pw) {
        out.push(undefined);
        continue;
      }
      let sub: tf.Tensor4D = filter;
      if (ph.taps !== kh || pw.taps !== kw) {
        sub = tf.stridedSlice(filter, [ph.firstTap, pw.firstTap, 0, 0], [kh, kw, a, b], [ph.tapStep, pw.tapStep, 1, 1]) as tf.Tensor4D;
      }
      const flipAxes = [...(ph.taps > 1 ? [0] : []), ...(pw.taps > 1 ? [1] : [])];
      if (flipAxes.length > 0) sub = tf.reverse(sub, flipAxes) as tf.Tensor4D;
      out.push(finish(sub));
    }
  }
  return out;
}

/** Runs the phase convs of `plan` on dy and assembles dx with shape [N, h, w, channels]. */
export function phaseConvolve(
  dy: tf.Tensor4D,
  filters: (tf.Tensor4D | undefined)[],
  plan: InputGradPlan,
  conv: PhaseConv,
  h: number,
  w: number,
  channels: number,
): tf.Tensor4D {
  const n = dy.shape[0];
  const qh = plan.rows.length;
  const qw = plan.cols.length;
  const outputs: tf.Tensor4D[] = [];
  let index = 0;
  for (const ph of plan.rows.phases) {
    for (const pw of plan.cols.phases) {
      const filter = filters[index++];
      const window = ph && pw && filter ? cropToPads(dy, ph.window, pw.window) : undefined;
      outputs.push(
        ph && pw && filter && window
          ? conv(window.t, filter, [ph.dilation, pw.dilation], window.pad)
          : tf.zeros([n, qh, qw, channels]),
      );
    }
  }
  const sh = plan.rows.stride;
  const sw = plan.cols.stride;
  let full: tf.Tensor4D;
  if (outputs.length === 1) {
    full = outputs[0];
  } else {
    // Stacking the column phases on a new axis after the column axis, then the row phases after
    // the row axis, lays row phase rh of row q at q*sh + rh once the result is reshaped.
    const rows: tf.Tensor[] = [];
    for (let rh = 0; rh < sh; rh++) rows.push(tf.stack(outputs.slice(rh * sw, (rh + 1) * sw), 3));
    full = tf.reshape(tf.stack(rows, 2), [n, qh * sh, qw * sw, channels]);
  }
  const top = plan.rows.offset;
  const left = plan.cols.offset;
  if (top === 0 && left === 0 && full.shape[1] === h && full.shape[2] === w) return full;
  return tf.slice(full, [0, top, left, 0], [n, h, w, channels]);
}
