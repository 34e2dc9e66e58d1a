/**
 * Identity for wasm that shares its input's data instead of copying it.
 *
 * The engine saves every tensor a gradient needs by cloning it (`keep(clone(t))`), and clone
 * runs the Identity kernel. The stock wasm Identity copies the data, so each recorded op copied
 * its saved inputs: extra time and memory on every training step, and a new data id for every
 * saved conv filter, which made the flipped-filter cache (keyed on data ids) miss every time.
 * tfjs data is immutable (variables get a new data id on assign), and the wasm backend already
 * shares data between tensors through its reference counts for Reshape, so sharing it here as
 * the cpu and webgl backends do is safe.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendOf, inputOf, type KernelArgs } from './composite';

function identity(args: KernelArgs): tf.TensorInfo {
  const x = inputOf(args, 'x');
  backendOf(args).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export function identityConfig(): tf.KernelConfig {
  return { kernelName: tf.Identity, backendName: 'wasm', kernelFunc: identity };
}
