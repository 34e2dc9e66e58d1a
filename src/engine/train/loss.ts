/**
 * Cross-entropy from logits, the loss of every optimisation in the engine (training, BAN's mask
 * and noise, NONE's fine-tuning). Computed with logSoftmax for numerical stability.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Mean softmax cross-entropy of logits [N, K] against integer labels [N]. */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor1D | Int32Array): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[logits.shape.length - 1];
    const y = labels instanceof Int32Array ? tf.tensor1d(labels, 'int32') : labels;
    const oneHot = tf.oneHot(y, k); // [N, K]
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1))) as tf.Scalar;
  });
}

/** Predicted class per row of logits [N, K]. */
export function argmaxRows(logits: tf.Tensor): Int32Array {
  return tf.tidy(() => tf.argMax(logits, -1)).dataSync() as Int32Array;
}
