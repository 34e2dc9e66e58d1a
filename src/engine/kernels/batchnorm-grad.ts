/**
 * A replacement gradient for FusedBatchNorm that avoids Tile.
 *
 * Forward: y = (x - mean) * inv * scale + offset with inv = 1 / sqrt(variance + eps), where
 * mean, variance, scale and offset broadcast against x (per channel in practice).
 *
 * With S1 = sum(dy) and S2 = sum(dy * (x - mean)) over the broadcast axes:
 *   dx       = dy * (inv * scale)
 *   doffset  = S1
 *   dscale   = S2 * inv
 *   dmean    = -inv * scale * S1
 *   dvariance = -1/2 * inv^3 * scale * S2
 * (mean and variance are inputs here; when training computes them from x, their own gradients
 * flow back to x through the ops that made them.)
 *
 * The stock gradient tiles inv up to the full activation shape before multiplying, and wasm's
 * Tile took a third of a ResNet-18 training step; broadcasting a [C] factor does the same work
 * without the copy. Per-channel sums of a [N, H, W, C] tensor are computed as
 * ones[1, M] x t[M, C] (M = N*H*W), which XNNPACK runs faster than a reduction over three axes.
 *
 * The engine runs each input's thunk in its own tidy, so a tensor shared by two thunks cannot be
 * memoised in one of them (the first tidy would free it); S1 and S2 are recomputed where needed.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Sums `t` (shaped like x) down to the shape of a broadcast statistic. */
function reduceToStat(t: tf.Tensor, statShape: number[]): tf.Tensor {
  const c = t.shape[t.rank - 1];
  if (statShape.length === 1 && statShape[0] === c && t.rank > 1) {
    const m = t.size / c;
    return tf.reshape(tf.matMul(tf.ones([1, m]), tf.reshape(t, [m, c])), statShape);
  }
  const axes = tf.broadcast_util.getReductionAxes(statShape, t.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(t, axes) : t, statShape);
}

export function batchNormGradConfig(): tf.GradConfig {
  return {
    kernelName: tf.FusedBatchNorm,
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const g = dy as tf.Tensor;
      const [x, mean, variance, scale] = saved;
      const eps = (attrs as unknown as tf.FusedBatchNormAttrs).varianceEpsilon;
      const statShape = mean.shape;
      const scaleOf = (): tf.Tensor => scale ?? tf.scalar(1);
      const inv = (): tf.Tensor => tf.rsqrt(tf.add(variance, tf.scalar(eps)));
      const s2 = (): tf.Tensor => reduceToStat(tf.mul(g, tf.sub(x, mean)), statShape);
      return {
        x: () => tf.mul(g, tf.mul(inv(), scaleOf())),
        offset: () => reduceToStat(g, statShape),
        scale: () => tf.mul(s2(), inv()),
        mean: () => tf.reshape(tf.mul(tf.neg(tf.mul(inv(), scaleOf())), reduceToStat(g, statShape)), statShape),
        variance: () => {
          const i = inv();
          const factor = tf.mul(tf.scalar(-0.5), tf.mul(tf.mul(tf.mul(i, i), i), scaleOf()));
          return tf.reshape(tf.mul(factor, s2()), statShape);
        },
      };
    },
  };
}
