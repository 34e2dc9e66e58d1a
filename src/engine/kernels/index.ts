/**
 * The project's own gradient kernels for the tfjs wasm backend.
 *
 * tfjs-backend-wasm ships no Conv2DBackpropFilter and no depthwise gradients at all, so any
 * weight gradient through a conv throws there; its Conv2DBackpropInput is a naive loop, and the
 * stock FusedBatchNorm gradient spends most of its time in Tile. `registerWasmGradKernels` fills
 * these gaps with kernels built from XNNPACK forward convs, replaces the BatchNorm gradient, and
 * makes Identity share data rather than copy it (see identity.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
// The stock gradients must be registered before the BatchNorm override replaces one of them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { batchNormGradConfig } from './batchnorm-grad';
import { conv2DBackpropFilterConfig, conv2DBackpropInputConfig } from './conv-grads';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise-grads';
import { FilterCache } from './filter-cache';
import { identityConfig } from './identity';

const filterCache = new FilterCache();
let registered = false;

/**
 * Registers the wasm gradient kernels and the FusedBatchNorm gradient override. Idempotent.
 *
 * The BatchNorm gradient is registered for every backend (tfjs keeps one gradient per op); it
 * computes the same values as the stock one.
 */
export function registerWasmGradKernels(): void {
  if (registered) return;
  const kernels = [
    conv2DBackpropFilterConfig(),
    conv2DBackpropInputConfig(filterCache),
    depthwiseBackpropFilterConfig(),
    depthwiseBackpropInputConfig(filterCache),
    identityConfig(),
  ];
  for (const config of kernels) {
    // Stock kernels (Conv2DBackpropInput, Identity) are replaced. Unregistering first keeps tfjs
    // from logging an 'already registered' warning to the console.
    if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
  }
  tf.registerGradient(batchNormGradConfig());
  registered = true;
}

/** Frees the cached flipped filters (they are also dropped once their filter is disposed). */
export function releaseKernelCaches(): void {
  filterCache.release();
}

/** Number of filters whose flipped copies are cached. */
export function cachedFilterCount(): number {
  return filterCache.size;
}
