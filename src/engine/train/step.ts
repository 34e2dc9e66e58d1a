/**
 * One optimisation step over any loss of the network's parameters. Training, NONE's fine-tuning
 * and BAN's fine-tuning all go through here, each with its own loss.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Optimizer } from './optimizers';

/**
 * Computes the loss and gradients w.r.t. `vars` only (tfjs prunes everything else from the tape)
 * and applies the optimiser. Returns the loss value.
 */
export function optimizeStep(vars: tf.Variable[], loss: () => tf.Scalar, optimizer: Optimizer): number {
  const { value, grads } = tf.variableGrads(loss, vars);
  const ordered = vars.map((v) => grads[v.name]);
  optimizer.step(vars, ordered);
  const lossValue = value.dataSync()[0];
  value.dispose();
  for (const g of ordered) g.dispose();
  return lossValue;
}
