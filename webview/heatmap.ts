/**
 * Heatmaps of the feature mask on <canvas>: one pixel per spatial position of the feature map,
 * enlarged by CSS with `image-rendering: pixelated` so each cell stays a crisp square. The colours
 * are a fixed perceptual ramp from dark violet (0) to yellow (1): mask values mean the same thing in
 * every theme, and the ramp reads on light and dark backgrounds alike.
 */
import { el } from './dom';

/** Anchor colours of the ramp at 0, ¼, ½, ¾ and 1 (the viridis family of colours). */
const RAMP: Array<[number, number, number]> = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

export function rampColor(t: number): [number, number, number] {
  const clamped = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0));
  const pos = clamped * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(pos));
  const f = pos - i;
  const a = RAMP[i];
  const b = RAMP[i + 1];
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/**
 * The spatial map of one channel of an HWC-flattened tensor, coloured on [0, 1].
 */
export function channelHeatmap(values: number[], shape: number[], channel: number, label: string): HTMLCanvasElement {
  const [h, w, c] = shape;
  const canvas = el('canvas', { class: 'heatmap', attrs: { width: w, height: h, role: 'img', 'aria-label': label } });
  const context = canvas.getContext('2d');
  if (!context) return canvas;
  const image = context.createImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = rampColor(values[(y * w + x) * c + channel]);
      const o = (y * w + x) * 4;
      image.data[o] = r;
      image.data[o + 1] = g;
      image.data[o + 2] = b;
      image.data[o + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

/** The colour key of the heatmaps: the ramp from 0 to 1 with its two ends labelled. */
export function colorKey(): HTMLElement {
  const width = 128;
  const canvas = el('canvas', { class: 'color-key', attrs: { width, height: 1, 'aria-hidden': 'true' } });
  const context = canvas.getContext('2d');
  if (context) {
    const image = context.createImageData(width, 1);
    for (let x = 0; x < width; x++) {
      const [r, g, b] = rampColor(x / (width - 1));
      image.data.set([r, g, b, 255], x * 4);
    }
    context.putImageData(image, 0, 0);
  }
  return el('div', { class: 'key' }, el('span', undefined, '0 · backdoor'), canvas, el('span', undefined, '1 · benign'));
}
