/**
 * Batches for training and evaluation loops: one NHWC batch at a time, so memory holds one batch
 * and not the dataset, with a cancellation check and a progress report per batch.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { throwIfAborted } from '../errors';
import { buildBatch, checkPreprocessing, type InputShape, type Preprocessing } from './preprocess';
import type { Dataset } from './types';

export interface Batch {
  /** indices.length x h x w x c, NHWC. */
  x: Float32Array;
  y: Int32Array;
  /** The dataset indices of the batch's images, in order. */
  indices: Int32Array;
}

export interface BatchOptions {
  signal?: AbortSignal;
  /** Called after each batch with the images done so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Yields consecutive batches of `indices` (the last one may be smaller). Decoding is synchronous,
 * so the generator gives the event loop a turn before each batch: that is what lets a cancel
 * message arrive and fire the signal while a long pass runs.
 */
export async function* batches(
  ds: Dataset,
  indices: ArrayLike<number>,
  batchSize: number,
  inputShape: InputShape,
  prep: Preprocessing,
  opts: BatchOptions = {},
): AsyncGenerator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, not ${batchSize}`);
  checkPreprocessing(prep, inputShape[2]);
  const all = Int32Array.from(indices);
  for (let start = 0; start < all.length; start += batchSize) {
    await nextTurn();
    throwIfAborted(opts.signal);
    const batchIndices = all.slice(start, start + batchSize);
    const { x, y } = buildBatch(ds, batchIndices, inputShape, prep);
    opts.onProgress?.(start + batchIndices.length, all.length);
    yield { x, y, indices: batchIndices };
  }
}
