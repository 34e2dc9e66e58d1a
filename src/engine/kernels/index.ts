/**
 * The project's own gradient kernels for the tfjs wasm backend.
 *
 * tfjs-backend-wasm ships no Conv2DBackpropFilter and no depthwise gradients at all, so any
 * weight gradient through a conv throws there; its Conv2DBackpropInput is a naive loop and its
 * MaxPoolGrad 20 times slower than the forward pool. `registerWasmGradKernels` fills these gaps
 * with kernels built from XNNPACK forward convs, replaces MaxPoolGrad with one pass over the heap,
 * and makes Identity share data rather than copy it (see identity.ts). BatchNorm, whose stock
 * kernels are slow on wasm too, is built from faster ops in graph/batchnorm.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
// The gradient kernels are reached through tfjs' gradient functions, which it registers only on request.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { conv2DBackpropFilterConfig, conv2DBackpropInputConfig } from './conv-grads';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise-grads';
import { FilterCache } from './filter-cache';
import { identityConfig } from './identity';
import { maxPoolGradConfig } from './maxpool-grad';

const filterCache = new FilterCache();
let registered = false;

/** Registers the wasm gradient kernels. Idempotent. */
export function registerWasmGradKernels(): void {
  if (registered) return;
  const kernels = [
    conv2DBackpropFilterConfig(),
    conv2DBackpropInputConfig(filterCache),
    depthwiseBackpropFilterConfig(),
    depthwiseBackpropInputConfig(filterCache),
    identityConfig(),
    maxPoolGradConfig(),
  ];
  for (const config of kernels) {
    // Stock kernels (Conv2DBackpropInput, Identity, MaxPoolGrad) are replaced. Unregistering first
    // keeps tfjs from logging an 'already registered' warning to the console.
    if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
  }
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
