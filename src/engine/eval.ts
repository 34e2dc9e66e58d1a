/**
 * Accuracy and confusion of a model over a stream of batches: `backdoor-scan eval`, and the clean
 * accuracy and attack success rate that every repair reports.
 */
import * as tf from '@tensorflow/tfjs-core';
import { throwIfAborted } from './errors';
import { Network, RunOptions } from './graph/executor';
import { argmaxRows } from './train/loss';

export interface Batch {
  /** NHWC, preprocessed. */
  x: Float32Array;
  y: Int32Array;
}

export interface EvalResult {
  total: number;
  correct: number;
  accuracy: number;
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  /** Accuracy per true class (NaN for classes with no samples). */
  perClassAccuracy: number[];
  /** How often each class was predicted. */
  predictedHistogram: number[];
}

export interface EvalOptions {
  signal?: AbortSignal;
  /** Called after each batch with the number of images done. */
  onBatch?: (done: number) => void;
  run?: RunOptions;
}

/** Runs the model in eval mode over all batches and tallies predictions. */
export async function evaluate(net: Network, batches: AsyncIterable<Batch> | Iterable<Batch>, options: EvalOptions = {}): Promise<EvalResult> {
  const k = net.numClasses;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let total = 0;
  for await (const batch of batches) {
    throwIfAborted(options.signal);
    const n = batch.y.length;
    const predicted = tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [n, ...net.inputShape]); // [N, H, W, C]
      return argmaxRows(net.logits(x, options.run));
    });
    for (let i = 0; i < n; i++) confusion[batch.y[i]][predicted[i]] += 1;
    total += n;
    options.onBatch?.(total);
  }
  return summarizeConfusion(confusion);
}

export function summarizeConfusion(confusion: number[][]): EvalResult {
  const k = confusion.length;
  const total = confusion.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0);
  const correct = confusion.reduce((s, row, i) => s + row[i], 0);
  return {
    total,
    correct,
    accuracy: total ? correct / total : NaN,
    confusion,
    perClassAccuracy: confusion.map((row, i) => {
      const n = row.reduce((a, b) => a + b, 0);
      return n ? row[i] / n : NaN;
    }),
    predictedHistogram: Array.from({ length: k }, (_, j) => confusion.reduce((s, row) => s + row[j], 0)),
  };
}
