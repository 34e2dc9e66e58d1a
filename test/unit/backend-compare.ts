/**
 * Helpers for tests that compute the same values on two tfjs backends (the `cpu` backend's reference
 * loops against wasm) and compare them.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { relativeError } from '../../src/engine/backend';

/** Runs `fn` on a backend and reads its results back. */
export async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(fn).map((t) => {
    const values = t.dataSync() as Float32Array;
    t.dispose();
    return values;
  });
}

/** max |got - want| / max |want| over the whole tensor (the engine's own measure, with a size check). */
export function relErr(got: Float32Array, want: Float32Array): number {
  assert.equal(got.length, want.length, 'sizes differ');
  return relativeError(got, want);
}

/** Every output of `got` within `tolerance` relative error of the same output of `want`. */
export function assertClose(got: Float32Array[], want: Float32Array[], label: string, tolerance = 1e-5): void {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => {
    const err = relErr(g, want[i]);
    assert.ok(err < tolerance, `${label}, output ${i}: relative error ${err.toExponential(2)}`);
  });
}
