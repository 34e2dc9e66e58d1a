/**
 * The standard CIFAR training augmentation (as in BAN's, NONE's and BackdoorBench's loaders):
 * random crop after padding by 4 pixels, and a random horizontal flip. It runs on preprocessed
 * NHWC batches, so the pad value is what a black (0) pixel becomes after normalisation.
 */
import { Rng } from '../random';

export interface AugmentOptions {
  /** Pixels of padding before the random crop (4 for CIFAR). */
  pad: number;
  /** Flip horizontally with probability 0.5. */
  flip: boolean;
  /** Per-channel value of a padded pixel (the normalised value of raw 0). */
  padValue: number[];
}

/** Returns an augmented copy of the batch x [n, h, w, c]. */
export function augmentBatch(x: Float32Array, shape: [number, number, number, number], options: AugmentOptions, rng: Rng): Float32Array {
  const [n, h, w, c] = shape;
  const out = new Float32Array(x.length);
  const pad = options.pad;
  for (let i = 0; i < n; i++) {
    // The crop offset in the padded image, minus the pad, is the shift of the source image.
    const dy = rng.int(2 * pad + 1) - pad;
    const dx = rng.int(2 * pad + 1) - pad;
    const flip = options.flip && rng.next() < 0.5;
    const base = i * h * w * c;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      for (let xx = 0; xx < w; xx++) {
        const tx = flip ? w - 1 - xx : xx;
        const sx = tx + dx;
        const o = base + (y * w + xx) * c;
        if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
          for (let ch = 0; ch < c; ch++) out[o + ch] = options.padValue[ch % options.padValue.length];
        } else {
          const s = base + (sy * w + sx) * c;
          for (let ch = 0; ch < c; ch++) out[o + ch] = x[s + ch];
        }
      }
    }
  }
  return out;
}
