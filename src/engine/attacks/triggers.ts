/**
 * Backdoor triggers, applied to raw pixels (HWC bytes) before preprocessing, as the attacks'
 * reference code applies them to images before normalisation:
 *
 * - BadNets (Gu et al., 2017): a small patch stamped at a corner; here a black-and-white
 *   checkerboard as in BAN's `data/poison_cifar.py`, or a solid white square.
 * - Blend (Chen et al., 2017): x' = (1-α)·x + α·p with a fixed random-noise pattern p.
 * - WaNet-style warping (Nguyen & Tran, ICLR 2021): a smooth random warp field built from a k×k
 *   control grid, upsampled, scaled by s and applied with bilinear sampling.
 *
 * A trigger is described by a spec string, e.g. `badnets:3x3@br,target=0`,
 * `blend:alpha=0.15,seed=1,target=0`, `wanet:k=4,s=0.5,seed=1,target=0`; the spec is what the
 * zoo's manifest records and what `--trigger` takes.
 */
import { Rng } from '../random';
import { DecodedImage } from '../data/types';

export type TriggerKind = 'badnets' | 'blend' | 'wanet';

export interface TriggerSpec {
  kind: TriggerKind;
  target: number;
  /** BadNets: patch side in pixels. */
  size?: number;
  /** BadNets: corner (tl, tr, bl, br). */
  corner?: 'tl' | 'tr' | 'bl' | 'br';
  /** BadNets: checkerboard (default) or solid white. */
  pattern?: 'checker' | 'white';
  /** Blend: opacity of the pattern. */
  alpha?: number;
  /** WaNet: control-grid size and warp strength. */
  k?: number;
  s?: number;
  /** Seed of the random pattern (Blend) or warp field (WaNet). */
  seed?: number;
}

/** Parses `kind:opt,opt,...`; throws an Error describing what is wrong. */
export function parseTriggerSpec(text: string): TriggerSpec {
  const [kindText, rest = ''] = text.split(':', 2);
  const kind = kindText.trim().toLowerCase();
  if (kind !== 'badnets' && kind !== 'blend' && kind !== 'wanet') {
    throw new Error(`unknown trigger '${kindText}' (expected badnets, blend or wanet)`);
  }
  const spec: TriggerSpec = { kind, target: 0 };
  for (const part of rest.split(',').map((p) => p.trim()).filter(Boolean)) {
    const patch = /^(\d+)x(\d+)(?:@(tl|tr|bl|br))?$/.exec(part);
    if (patch) {
      if (patch[1] !== patch[2]) throw new Error(`trigger patch '${part}' must be square`);
      spec.size = Number(patch[1]);
      if (patch[3]) spec.corner = patch[3] as TriggerSpec['corner'];
      continue;
    }
    const [key, value] = part.split('=', 2);
    const num = Number(value);
    switch (key) {
      case 'target':
      case 'size':
      case 'k':
      case 'seed':
        if (!Number.isInteger(num) || num < 0) throw new Error(`trigger option '${part}' needs a non-negative integer`);
        spec[key] = num;
        break;
      case 'alpha':
      case 's':
        if (!Number.isFinite(num) || num <= 0) throw new Error(`trigger option '${part}' needs a positive number`);
        spec[key] = num;
        break;
      case 'corner':
        if (!['tl', 'tr', 'bl', 'br'].includes(value)) throw new Error(`trigger corner '${value}' must be tl, tr, bl or br`);
        spec.corner = value as TriggerSpec['corner'];
        break;
      case 'pattern':
        if (value !== 'checker' && value !== 'white') throw new Error(`trigger pattern '${value}' must be checker or white`);
        spec.pattern = value;
        break;
      default:
        throw new Error(`unknown trigger option '${part}'`);
    }
  }
  return spec;
}

export function formatTriggerSpec(spec: TriggerSpec): string {
  switch (spec.kind) {
    case 'badnets':
      return `badnets:${spec.size ?? 3}x${spec.size ?? 3}@${spec.corner ?? 'br'},pattern=${spec.pattern ?? 'checker'},target=${spec.target}`;
    case 'blend':
      return `blend:alpha=${spec.alpha ?? 0.15},seed=${spec.seed ?? 0},target=${spec.target}`;
    case 'wanet':
      return `wanet:k=${spec.k ?? 4},s=${spec.s ?? 0.5},seed=${spec.seed ?? 0},target=${spec.target}`;
  }
}

/** A trigger ready to apply to images of one size. */
export interface Trigger {
  spec: TriggerSpec;
  /** Returns a new image with the trigger applied. */
  apply(image: DecodedImage): DecodedImage;
}

export function makeTrigger(spec: TriggerSpec): Trigger {
  switch (spec.kind) {
    case 'badnets':
      return { spec, apply: (img) => stampPatch(img, spec.size ?? 3, spec.corner ?? 'br', spec.pattern ?? 'checker') };
    case 'blend': {
      const patterns = new Map<string, Float32Array>();
      return {
        spec,
        apply: (img) => {
          const key = `${img.height}x${img.width}x${img.channels}`;
          let p = patterns.get(key);
          if (!p) {
            p = new Rng(spec.seed ?? 0).uniformArray(img.pixels.length, 0, 255);
            patterns.set(key, p);
          }
          return blend(img, p, spec.alpha ?? 0.15);
        },
      };
    }
    case 'wanet': {
      const fields = new Map<string, Float32Array>();
      return {
        spec,
        apply: (img) => {
          const key = `${img.height}x${img.width}`;
          let field = fields.get(key);
          if (!field) {
            field = warpField(img.height, img.width, spec.k ?? 4, spec.s ?? 0.5, new Rng(spec.seed ?? 0));
            fields.set(key, field);
          }
          return warp(img, field);
        },
      };
    }
  }
}

function stampPatch(img: DecodedImage, size: number, corner: 'tl' | 'tr' | 'bl' | 'br', pattern: 'checker' | 'white'): DecodedImage {
  const pixels = img.pixels.slice();
  const top = corner[0] === 't' ? 0 : img.height - size;
  const left = corner[1] === 'l' ? 0 : img.width - size;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      // The checkerboard has white where (y + x) is even, which puts white in the patch's corners.
      const value = pattern === 'white' || (y + x) % 2 === 0 ? 255 : 0;
      const o = ((top + y) * img.width + (left + x)) * img.channels;
      for (let c = 0; c < img.channels; c++) pixels[o + c] = value;
    }
  }
  return { ...img, pixels };
}

function blend(img: DecodedImage, pattern: Float32Array, alpha: number): DecodedImage {
  const pixels = new Uint8Array(img.pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    pixels[i] = Math.round((1 - alpha) * img.pixels[i] + alpha * pattern[i]);
  }
  return { ...img, pixels };
}

/**
 * WaNet's warp: a k×k grid of random offsets in [-1, 1], normalised by its mean absolute value,
 * upsampled bilinearly to the image, scaled by s/H (in [-1, 1] image coordinates) and added to
 * the identity grid. Returned as source coordinates (y, x) in pixels per output pixel.
 */
function warpField(h: number, w: number, k: number, s: number, rng: Rng): Float32Array {
  const grid = rng.uniformArray(k * k * 2, -1, 1);
  const meanAbs = grid.reduce((a, v) => a + Math.abs(v), 0) / grid.length;
  for (let i = 0; i < grid.length; i++) grid[i] /= meanAbs;
  const field = new Float32Array(h * w * 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // Bilinear interpolation of the control grid (align-corners style).
      const gy = (y / Math.max(h - 1, 1)) * (k - 1);
      const gx = (x / Math.max(w - 1, 1)) * (k - 1);
      const y0 = Math.min(Math.floor(gy), k - 2);
      const x0 = Math.min(Math.floor(gx), k - 2);
      const fy = gy - y0;
      const fx = gx - x0;
      for (let d = 0; d < 2; d++) {
        const at = (yy: number, xx: number) => grid[(yy * k + xx) * 2 + d];
        const v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
        // Offsets are s/H in [-1, 1] coordinates, i.e. s/2 pixels per unit of the grid value.
        const offsetPixels = (v * s * ((d === 0 ? h : w) - 1)) / (2 * h);
        const base = d === 0 ? y : x;
        const limit = (d === 0 ? h : w) - 1;
        field[(y * w + x) * 2 + d] = Math.min(Math.max(base + offsetPixels, 0), limit);
      }
    }
  }
  return field;
}

function warp(img: DecodedImage, field: Float32Array): DecodedImage {
  const { height: h, width: w, channels: c } = img;
  const pixels = new Uint8Array(img.pixels.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sy = field[(y * w + x) * 2];
      const sx = field[(y * w + x) * 2 + 1];
      const y0 = Math.floor(sy);
      const x0 = Math.floor(sx);
      const y1 = Math.min(y0 + 1, h - 1);
      const x1 = Math.min(x0 + 1, w - 1);
      const fy = sy - y0;
      const fx = sx - x0;
      for (let ch = 0; ch < c; ch++) {
        const at = (yy: number, xx: number) => img.pixels[(yy * w + xx) * c + ch];
        const v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
        pixels[(y * w + x) * c + ch] = Math.round(v);
      }
    }
  }
  return { ...img, pixels };
}
