/**
 * Index arithmetic shared by the conv and depthwise gradient kernels, per spatial axis.
 *
 * Forward conv along one axis (input length H, kernel k, stride s, dilation d, top pad p,
 * output length Ho):   y[i] = sum_a x[i*s + a*d - p] * w[a].
 *
 * Filter gradient:   dw[a] = sum_i x[a*d + i*s - p] * dy[i].
 *   Read with dy as the filter, this is a forward conv over x with stride d and dilation s whose
 *   output has exactly k positions when x is seen through the window of
 *   R = (Ho-1)*s + (k-1)*d + 1 rows starting p rows above it (`filterWindow`).
 *
 * Input gradient:   dx[h] = sum over (i, a) with i*s + a*d = h + p of dy[i] * w[a].
 *   Zero-inserting dy and convolving it with the flipped filter computes this, but spends
 *   s*s times the useful work in 2-D. Instead the rows of dx are split into s phases by
 *   r = (h + p) mod s (the sub-pixel form of a transposed conv). Write h + p = s*q + r. A tap a
 *   reaches phase r only when a*d = r (mod s); with g = gcd(s, d) that needs g | r and then
 *   holds for a = a0, a0 + s/g, a0 + 2s/g, ... The matching dy index is
 *   i = q - o0 - t*(d/g) for tap a0 + t*s/g, with o0 = (a0*d - r)/s. So each phase is a
 *   stride-1 correlation of dy with the flipped sub-filter w[a0::s/g] at dilation d/g, and
 *   its output rows q are interleaved back: row s*q + r of the interleaved result is dx row
 *   s*q + r - p. All phases are computed over the same range q0 <= q < q0 + Q, with
 *   q0 = floor(p/s) and Q = ceil((p+H)/s) - q0, so they stack into one tensor that covers dx
 *   after dropping the first `p - s*q0` rows. With s = 1 there is one phase: the familiar conv
 *   with the flipped filter.
 */
import type { AxisWindow, ConvGeometry } from './composite';

/** The slice of x a filter-gradient conv reads along one axis (see the header). */
export function filterWindow(h: number, k: number, s: number, d: number, p: number, ho: number): AxisWindow {
  const needed = (ho - 1) * s + (k - 1) * d + 1;
  return { before: p, after: needed - p - h };
}

/** One phase of the input gradient along one axis. */
export interface AxisPhase {
  /** First tap of the sub-filter and the step between its taps. */
  firstTap: number;
  tapStep: number;
  /** Number of taps in the sub-filter. */
  taps: number;
  /** Dilation of the sub-filter conv. */
  dilation: number;
  /** Window of dy rows the phase conv reads. */
  window: AxisWindow;
}

/** The input-gradient decomposition along one axis; `phases[r]` is undefined for an all-zero phase. */
export interface AxisPhasePlan {
  stride: number;
  /** Rows per phase output (Q in the header). */
  length: number;
  /** Rows dropped at the start of the interleaved result (p - s*q0). */
  offset: number;
  phases: (AxisPhase | undefined)[];
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export function inputGradAxisPlan(h: number, k: number, s: number, d: number, p: number, ho: number): AxisPhasePlan {
  const q0 = Math.floor(p / s);
  const length = Math.ceil((p + h) / s) - q0;
  const g = gcd(s, d);
  const tapStep = s / g;
  const dilation = d / g;
  const phases: (AxisPhase | undefined)[] = [];
  for (let r = 0; r < s; r++) {
    let firstTap = -1;
    if (r % g === 0) {
      for (let a = 0; a < tapStep; a++) {
        if ((a * d - r) % s === 0) {
          firstTap = a;
          break;
        }
      }
    }
    if (firstTap < 0 || firstTap >= k) {
      phases.push(undefined);
      continue;
    }
    const taps = Math.ceil((k - firstTap) / tapStep);
    const o0 = (firstTap * d - r) / s;
    phases.push({
      firstTap,
      tapStep,
      taps,
      dilation,
      window: { before: (taps - 1) * dilation + o0 - q0, after: q0 - o0 + length - ho },
    });
  }
  return { stride: s, length, offset: p - s * q0, phases };
}

/** The input-gradient plan of a conv in both spatial axes. */
export interface InputGradPlan {
  rows: AxisPhasePlan;
  cols: AxisPhasePlan;
}

export function inputGradPlan(g: ConvGeometry): InputGradPlan {
  const [, h, w] = g.inShape;
  const [, ho, wo] = g.outShape;
  return {
    rows: inputGradAxisPlan(h, g.kernel[0], g.strides[0], g.dilations[0], g.padTop, ho),
    cols: inputGradAxisPlan(w, g.kernel[1], g.strides[1], g.dilations[1], g.padLeft, wo),
  };
}

/** A string that identifies a plan's sub-filters, for the flipped-filter cache. */
export function planKey(plan: InputGradPlan, kind: string): string {
  const axis = (a: AxisPhasePlan) =>
    a.phases.map((ph) => (ph ? `${ph.firstTap}+${ph.tapStep}x${ph.taps}` : '-')).join(',');
  return `${kind}|${axis(plan.rows)}|${axis(plan.cols)}`;
}
