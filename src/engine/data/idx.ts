/**
 * IDX files, the MNIST and Fashion-MNIST format: a magic number (two zero bytes, a type code, the
 * number of dimensions), big-endian 32-bit dimensions, then the data. Files may be gzipped; a
 * gzipped file is inflated once in memory (Fashion-MNIST's training images are 47 MB).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../errors';
import { fileSource, memorySource, type ByteSource } from './bytes';
import { checkLabels, classNames, makeDataset } from './dataset';
import type { Dataset, OpenOptions } from './types';

const UBYTE = 0x08;

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** Image files as MNIST names them: train-images-idx3-ubyte, t10k-images.idx3-ubyte, optionally .gz. */
export const IDX_IMAGES_FILE = /idx3[-.]ubyte(\.gz)?$/i;

export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

export function isIdx(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0 && head[1] === 0 && head[2] >= 0x08 && head[2] <= 0x0e && head[3] >= 1 && head[3] <= 4;
}

/** The file's bytes, gunzipped when they are gzip. */
export function idxSource(file: string): ByteSource {
  const src = fileSource(file);
  if (!isGzip(src.read(0, Math.min(2, src.size)))) return src;
  try {
    return memorySource(file, gunzipSync(src.read(0, src.size)));
  } catch (err) {
    throw new InputError(file, `corrupt gzip data (${(err as Error).message})`);
  }
}

interface IdxHeader {
  dims: number[];
  dataOffset: number;
}

function readHeader(src: ByteSource): IdxHeader {
  const head = src.read(0, Math.min(4, src.size));
  if (!isIdx(head)) throw new InputError(src.file, 'not an IDX file (bad magic number)');
  if (head[2] !== UBYTE) throw new InputError(src.file, `IDX type code 0x${head[2].toString(16)} is not supported (only unsigned bytes)`);
  const rank = head[3];
  const raw = src.read(4, 4 * rank);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims = Array.from({ length: rank }, (_, k) => dv.getUint32(4 * k, false));
  const dataOffset = 4 + 4 * rank;
  const need = dims.reduce((a, b) => a * b, 1);
  if (dataOffset + need > src.size) {
    throw new InputError(src.file, `truncated: dimensions ${dims.join('x')} need ${need} data bytes, the file has ${src.size - dataOffset}`);
  }
  return { dims, dataOffset };
}

/** The labels file beside an images file: 'images-idx3' becomes 'labels-idx1', with or without .gz. */
function labelsFileFor(imagesFile: string): string {
  const stem = basename(imagesFile).replace(/\.gz$/i, '').replace(/images([-.])idx3/i, 'labels$1idx1');
  const candidates = [stem, `${stem}.gz`].map((n) => join(dirname(imagesFile), n));
  const found = candidates.find((c) => c !== imagesFile && existsSync(c));
  if (found === undefined) {
    throw new InputError(imagesFile, `no labels file beside it (expected ${basename(candidates[0])} or ${basename(candidates[1])})`);
  }
  return found;
}

/**
 * @param path what the user opened: the images file or its folder
 * @param images the images file's bytes when the caller has already gunzipped them
 */
export function openIdx(path: string, imagesFile: string, opts: OpenOptions, images = idxSource(imagesFile)): Dataset {
  const { dims, dataOffset } = readHeader(images);
  if (dims.length === 1) {
    throw new InputError(imagesFile, 'this is a labels file; open the images file (…-images-idx3-ubyte) or its folder');
  }
  if (dims.length !== 3 && !(dims.length === 4 && (dims[3] === 1 || dims[3] === 3))) {
    throw new InputError(imagesFile, `images must have dimensions N x H x W (or N x H x W x C with C = 1 or 3), not ${dims.join('x')}`);
  }
  const [count, height, width, channels = 1] = dims;
  const labelsFile = labelsFileFor(imagesFile);
  const labelSrc = idxSource(labelsFile);
  const lh = readHeader(labelSrc);
  if (lh.dims.length !== 1) throw new InputError(labelsFile, `labels must be one-dimensional, not ${lh.dims.join('x')}`);
  if (lh.dims[0] !== count) throw new InputError(imagesFile, `${count} images but ${lh.dims[0]} labels in ${basename(labelsFile)}`);
  const labels = Int32Array.from(labelSrc.read(lh.dataOffset, count));
  // The file format carries no class names; Fashion-MNIST's are well known and worth showing.
  const fashion = /fashion/i.test(imagesFile) ? FASHION_MNIST_CLASSES : undefined;
  const classes = classNames(labels, opts.classes, fashion);
  checkLabels(labelsFile, labels, classes);
  const n = height * width * channels;
  return makeDataset({
    path,
    kind: 'idx',
    classes,
    labels,
    itemName: (i) => `${basename(imagesFile)}[${i}]`,
    read: (i) => ({ height, width, channels, pixels: images.read(dataOffset + i * n, n).slice() }),
    details: `IDX ${basename(imagesFile)} with labels ${basename(labelsFile)}; ${height}x${width}x${channels} bytes per image.`,
  });
}
