/**
 * CIFAR-10 binary batches: records of 1 label byte and 3,072 pixel bytes (1,024 each for R, G
 * and B, row-major 32x32). A dataset is one batch file or a folder's training or test batches.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../errors';
import { fileSource, type ByteSource } from './bytes';
import { checkLabels, makeDataset } from './dataset';
import type { Dataset, OpenOptions } from './types';

const SIDE = 32;
const PLANE = SIDE * SIDE;
export const CIFAR_RECORD = 1 + 3 * PLANE;

/** The label order of the binary release, used when no batches.meta.txt sits beside the batches. */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

export const CIFAR_TRAIN_FILE = /^data_batch_(\d+)\.bin$/;
export const CIFAR_TEST_FILE = /^test_batch\.bin$/;

/** Labels of every record, read in chunks so that a file kept on disk is not read record by record. */
function readLabels(src: ByteSource): Int32Array {
  const count = src.size / CIFAR_RECORD;
  const labels = new Int32Array(count);
  const chunkRecords = 4096;
  for (let start = 0; start < count; start += chunkRecords) {
    const n = Math.min(chunkRecords, count - start);
    const chunk = src.read(start * CIFAR_RECORD, n * CIFAR_RECORD);
    for (let r = 0; r < n; r++) labels[start + r] = chunk[r * CIFAR_RECORD];
  }
  return labels;
}

function checkRecordSize(src: ByteSource): void {
  if (src.size === 0 || src.size % CIFAR_RECORD !== 0) {
    throw new InputError(
      src.file,
      `truncated or not a CIFAR-10 batch: ${src.size} bytes is not a whole number of ${CIFAR_RECORD}-byte records (1 label byte + 3072 pixel bytes)`,
    );
  }
}

/** Content check for a file of unknown kind: whole records whose label bytes are all below 10. */
export function looksLikeCifar(src: ByteSource): boolean {
  if (src.size === 0 || src.size % CIFAR_RECORD !== 0) return false;
  return readLabels(src).every((l) => l < CIFAR10_CLASSES.length);
}

function readMeta(folder: string): string[] | undefined {
  const metaPath = join(folder, 'batches.meta.txt');
  if (!existsSync(metaPath)) return undefined;
  const names = readFileSync(metaPath, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (names.length === 0) throw new InputError(metaPath, 'lists no class names');
  return names;
}

/**
 * @param path what the user opened (a batch file or the folder)
 * @param files the batch files, in order
 */
export function openCifarBatches(path: string, files: string[], opts: OpenOptions): Dataset {
  const sources = files.map((f) => fileSource(f));
  const perFile = sources.map((src) => {
    checkRecordSize(src);
    return readLabels(src);
  });
  const labels = new Int32Array(perFile.reduce((n, l) => n + l.length, 0));
  const starts: number[] = [];
  let offset = 0;
  for (const l of perFile) {
    starts.push(offset);
    labels.set(l, offset);
    offset += l.length;
  }
  const metaFolder = dirname(files[0]);
  const classes = opts.classes ?? readMeta(metaFolder) ?? CIFAR10_CLASSES;
  checkLabels(files.length === 1 ? files[0] : path, labels, classes);
  const locate = (i: number): [number, number] => {
    let f = starts.length - 1;
    while (starts[f] > i) f--;
    return [f, i - starts[f]];
  };
  return makeDataset({
    path,
    kind: 'cifar10-bin',
    classes,
    labels,
    itemName: (i) => {
      const [f, r] = locate(i);
      return `${basename(files[f])}#${r}`;
    },
    read: (i) => {
      const [f, r] = locate(i);
      const record = sources[f].read(r * CIFAR_RECORD, CIFAR_RECORD);
      const pixels = new Uint8Array(3 * PLANE);
      for (let p = 0; p < PLANE; p++) {
        pixels[3 * p] = record[1 + p];
        pixels[3 * p + 1] = record[1 + PLANE + p];
        pixels[3 * p + 2] = record[1 + 2 * PLANE + p];
      }
      return { height: SIDE, width: SIDE, channels: 3, pixels };
    },
    details: `CIFAR-10 binary batches ${files.map((f) => basename(f)).join(', ')}; 32x32 RGB records.`,
  });
}
