/**
 * JPEG and PNG decoding to HWC bytes with 1 or 3 channels. The format is told by the leading
 * bytes, not the file name, so a mislabelled file still decodes and a broken one fails clearly.
 */
import * as jpeg from 'jpeg-js';
import { convertIndexedToRgb, decode as decodePngBytes } from 'fast-png';
import type { DecodedPng } from 'fast-png';
import { entryError } from './bytes';
import type { DecodedImage } from './types';

/** File name endings that ImageFolder sources pick up. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png'];

/** Image formats met in the wild that we do not decode; finding one is an error, not a skip. */
export const UNSUPPORTED_IMAGE_EXTENSIONS = ['.bmp', '.gif', '.webp', '.tif', '.tiff', '.ppm', '.pgm'];

export function hasExtension(name: string, extensions: string[]): boolean {
  const lower = name.toLowerCase();
  return extensions.some((ext) => lower.endsWith(ext));
}

function isJpeg(b: Uint8Array): boolean {
  return b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

function isPng(b: Uint8Array): boolean {
  return b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}

/**
 * Number of colour components in a JPEG's frame header. jpeg-js always hands back RGB, so this is
 * how a greyscale JPEG keeps its single channel.
 */
function jpegComponents(b: Uint8Array): number | undefined {
  let pos = 2;
  while (pos + 4 <= b.length) {
    if (b[pos] !== 0xff) return undefined;
    const marker = b[pos + 1];
    if (marker === 0xff) {
      pos++;
      continue;
    }
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      return pos + 9 < b.length ? b[pos + 9] : undefined;
    }
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      pos += 2;
      continue;
    }
    pos += 2 + ((b[pos + 2] << 8) | b[pos + 3]);
  }
  return undefined;
}

function decodeJpeg(bytes: Uint8Array, file: string, entry: string | undefined): DecodedImage {
  let rgb: { width: number; height: number; data: Uint8Array };
  try {
    rgb = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
  } catch (err) {
    throw entryError(file, entry, `corrupt JPEG (${(err as Error).message})`);
  }
  const { width, height } = rgb;
  if (!(width > 0 && height > 0)) {
    throw entryError(file, entry, 'corrupt JPEG (no image size)');
  }
  if (jpegComponents(bytes) !== 1) {
    return { height, width, channels: 3, pixels: rgb.data };
  }
  const grey = new Uint8Array(width * height);
  for (let i = 0; i < grey.length; i++) grey[i] = rgb.data[3 * i];
  return { height, width, channels: 1, pixels: grey };
}

/** Greyscale PNGs of 1, 2 or 4 bits per pixel come packed, rows padded to whole bytes. */
function unpackLowDepth(png: DecodedPng): Uint8Array {
  const { width, height, depth } = png;
  const packed = png.data as Uint8Array;
  const rowBytes = Math.ceil((width * depth) / 8);
  const maxValue = (1 << depth) - 1;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = packed[y * rowBytes + (bit >> 3)];
      const value = (byte >> (8 - depth - (bit & 7))) & maxValue;
      out[y * width + x] = Math.round((value * 255) / maxValue);
    }
  }
  return out;
}

function decodePng(bytes: Uint8Array, file: string, entry: string | undefined): DecodedImage {
  let png: DecodedPng;
  let samples: Uint8Array;
  let channels: number;
  try {
    png = decodePngBytes(bytes);
    if (png.palette) {
      samples = convertIndexedToRgb(png);
      channels = png.palette[0].length;
    } else if (png.depth === 16) {
      const wide = png.data as Uint16Array;
      samples = new Uint8Array(wide.length);
      for (let i = 0; i < wide.length; i++) samples[i] = Math.round(wide[i] / 257);
      channels = png.channels;
    } else if (png.depth < 8) {
      samples = unpackLowDepth(png);
      channels = 1;
    } else {
      samples = png.data as Uint8Array;
      channels = png.channels;
    }
  } catch (err) {
    throw entryError(file, entry, `corrupt PNG (${(err as Error).message})`);
  }
  const { width, height } = png;
  // Alpha is dropped rather than composited, as PIL's convert('RGB') does, so that pixels match
  // what a PyTorch pipeline would have fed the model.
  const keep = channels === 2 || channels === 4 ? channels - 1 : channels;
  if (keep === channels) {
    return { height, width, channels, pixels: samples };
  }
  const pixels = new Uint8Array(width * height * keep);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < keep; c++) pixels[p * keep + c] = samples[p * channels + c];
  }
  return { height, width, channels: keep, pixels };
}

/** Decodes a JPEG or PNG; `entry` names the archive entry in errors when there is one. */
export function decodeImage(bytes: Uint8Array, file: string, entry?: string): DecodedImage {
  if (isJpeg(bytes)) return decodeJpeg(bytes, file, entry);
  if (isPng(bytes)) return decodePng(bytes, file, entry);
  throw entryError(file, entry, bytes.length === 0 ? 'empty image file' : 'neither a JPEG nor a PNG image');
}
