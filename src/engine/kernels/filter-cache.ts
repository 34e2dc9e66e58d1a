/**
 * A cache of the flipped sub-filters that the input-gradient kernels derive from a weight tensor.
 *
 * BAN's noise phase runs many backward passes through the same, unchanged weights, and each
 * pass would otherwise slice, reverse and transpose every conv filter again (profiling put
 * Reverse alone at about 6% of a ResNet-18 backward pass). Entries are keyed on the filter's
 * data id: tfjs data is immutable, and `Variable.assign` gives a variable a new data id, so a
 * cached entry can never go stale while its key is alive.
 *
 * Only filters seen a second time are cached. During training every step assigns new weights,
 * so each filter data id is used once and caching would only hold memory. Entries whose filter
 * data has been freed are dropped at the next lookup; `release` drops everything at once.
 *
 * The cached tensors are ordinary engine tensors (marked kept), so `tf.memory()` counts them.
 * With the `IS_TEST` flag on, the engine's per-kernel leak check would count a new entry as a
 * leak; this project's tests do not set it.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Upper bound on entries, as a guard against callers that keep creating long-lived filters. */
const MAX_ENTRIES = 512;

interface Entry {
  backend: tf.KernelBackend;
  key: string;
  tensors: (tf.Tensor | undefined)[];
}

export class FilterCache {
  private readonly entries = new Map<tf.DataId, Entry>();
  private readonly seen = new WeakSet<tf.DataId>();

  /**
   * Returns the derived tensors for `filter`, building them with `build` when they are not cached.
   * Call inside a tidy: uncached results are owned by that tidy, cached ones survive it.
   */
  get(
    backend: tf.KernelBackend,
    filter: tf.TensorInfo,
    key: string,
    build: () => (tf.Tensor | undefined)[],
  ): (tf.Tensor | undefined)[] {
    this.sweep();
    const fullKey = `${filter.shape.join('x')}|${key}`;
    const hit = this.entries.get(filter.dataId);
    if (hit && hit.key === fullKey && hit.backend === backend) {
      // Re-inserting keeps the map in least-recently-used order for the size bound.
      this.entries.delete(filter.dataId);
      this.entries.set(filter.dataId, hit);
      return hit.tensors;
    }
    if (hit) this.drop(filter.dataId, hit);
    const tensors = build();
    if (!this.seen.has(filter.dataId)) {
      this.seen.add(filter.dataId);
      return tensors;
    }
    // A derived tensor that is only a view of the filter (a 1x1 kernel needs no flip) costs
    // nothing to rebuild, and keeping it would hold the filter's data alive.
    if (tensors.some((t) => t?.dataId === filter.dataId)) return tensors;
    for (const t of tensors) if (t) tf.keep(t);
    this.entries.set(filter.dataId, { backend, key: fullKey, tensors });
    if (this.entries.size > MAX_ENTRIES) {
      const [oldestId, oldest] = this.entries.entries().next().value as [tf.DataId, Entry];
      this.drop(oldestId, oldest);
    }
    return tensors;
  }

  /** Number of cached filters (for diagnostics and tests). */
  get size(): number {
    this.sweep();
    return this.entries.size;
  }

  /** Frees every cached tensor. */
  release(): void {
    for (const [id, entry] of [...this.entries]) this.drop(id, entry);
  }

  /** Drops the entries whose filter data no longer exists on its backend. */
  private sweep(): void {
    for (const [id, entry] of [...this.entries]) {
      if (entry.backend.refCount(id) === 0) this.drop(id, entry);
    }
  }

  private drop(id: tf.DataId, entry: Entry): void {
    this.entries.delete(id);
    for (const t of entry.tensors) t?.dispose();
  }
}
