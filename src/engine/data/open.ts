/**
 * openDataset: one entry point for every source. The kind is told by content (magic bytes, zip
 * entries, record sizes) and, for folders, by what they hold; file names only pick between
 * parts (training or test batches) and find sibling label files.
 */
import { readdirSync, statSync, type Stats } from 'node:fs';
import { extname, join } from 'node:path';
import { InputError } from '../errors';
import { fileSource } from './bytes';
import { CIFAR_TEST_FILE, CIFAR_TRAIN_FILE, looksLikeCifar, openCifarBatches } from './cifar';
import { IDX_IMAGES_FILE, isGzip, isIdx, idxSource, openIdx } from './idx';
import { hasExtension, IMAGE_EXTENSIONS } from './images';
import { listTree, openImageFolderDir, openImageFolderZip } from './imagefolder';
import { isIgnoredPath } from './layout';
import { isNpy, openNpy, openNpz } from './npy';
import type { Dataset, OpenOptions, SplitName } from './types';
import { isZip, readZipDirectory } from './zip';

function checkOptions(path: string, opts: OpenOptions): void {
  const classes = opts.classes;
  if (classes === undefined) return;
  if (classes.length === 0) throw new InputError(path, 'the given class list is empty');
  const dup = classes.find((c, i) => classes.indexOf(c) !== i);
  if (dup !== undefined) throw new InputError(path, `class '${dup}' is listed twice in the given classes`);
}

function openFile(path: string, opts: OpenOptions): Dataset {
  const src = fileSource(path);
  const head = src.read(0, Math.min(16, src.size));
  if (isZip(head)) {
    const entries = readZipDirectory(src);
    const names = entries.map((e) => e.name).filter((n) => !n.endsWith('/') && !isIgnoredPath(n));
    const hasImages = names.some((n) => hasExtension(n, IMAGE_EXTENSIONS));
    if (!hasImages && names.some((n) => n.endsWith('.npy'))) return openNpz(src, entries, opts);
    if (!hasImages) throw new InputError(path, `zip holds no JPEG or PNG images and no .npy arrays (${names.length} files)`);
    return openImageFolderZip(src, entries, opts);
  }
  if (isNpy(head)) return openNpy(src, opts);
  if (isIdx(head)) return openIdx(path, path, opts);
  if (isGzip(head)) {
    const inflated = idxSource(path);
    if (!isIdx(inflated.read(0, Math.min(4, inflated.size)))) {
      throw new InputError(path, 'a gzip file that is not IDX (MNIST format) data; unpack it first');
    }
    return openIdx(path, path, opts, inflated);
  }
  if (hasExtension(path, IMAGE_EXTENSIONS)) throw new InputError(path, 'a single image is not a dataset; open the folder or zip of class folders');
  if (looksLikeCifar(src)) return openCifarBatches(path, [path], opts);
  if (extname(path).toLowerCase() === '.bin') return openCifarBatches(path, [path], opts);
  throw new InputError(path, 'unrecognised dataset format (expected an ImageFolder folder or zip, CIFAR-10 .bin, .npy/.npz or IDX)');
}

function pick(dir: string, names: string[], what: string, train: string[], test: string[], split: SplitName | undefined): string[] {
  const want = split ?? (test.length > 0 ? 'test' : 'train');
  const chosen = want === 'test' ? test : train;
  if (chosen.length === 0) throw new InputError(dir, `holds no ${want} ${what} (found ${names.join(', ')})`);
  return chosen.map((n) => join(dir, n));
}

function openDirectory(dir: string, opts: OpenOptions): Dataset {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => !isIgnoredPath(n)).sort();
  } catch (err) {
    throw new InputError(dir, `cannot list folder: ${(err as Error).message}`);
  }
  const trainBatches = names
    .filter((n) => CIFAR_TRAIN_FILE.test(n))
    .sort((a, b) => Number(CIFAR_TRAIN_FILE.exec(a)![1]) - Number(CIFAR_TRAIN_FILE.exec(b)![1]));
  const testBatches = names.filter((n) => CIFAR_TEST_FILE.test(n));
  if (trainBatches.length + testBatches.length > 0) {
    return openCifarBatches(dir, pick(dir, names, 'CIFAR-10 batches', trainBatches, testBatches, opts.split), opts);
  }
  const idxImages = names.filter((n) => IDX_IMAGES_FILE.test(n));
  if (idxImages.length > 0) {
    const isTrain = (n: string): boolean => /^train/i.test(n);
    const chosen = pick(dir, names, 'IDX images', idxImages.filter(isTrain), idxImages.filter((n) => !isTrain(n)), opts.split);
    if (chosen.length > 1) throw new InputError(dir, `holds several IDX image files (${chosen.join(', ')}); open one of them`);
    return openIdx(dir, chosen[0], opts);
  }
  const listing = listTree(dir);
  if (listing.images.length === 0) {
    const subdirs = names.filter((n) => statSync(join(dir, n)).isDirectory());
    // A dataset unpacked into a folder of its own (cifar-10-batches-bin/ inside a download folder).
    if (subdirs.length === 1) return openDirectory(join(dir, subdirs[0]), opts);
    const arrays = listing.others.filter((p) => /\.(npz|npy|zip)$/i.test(p));
    const hint = arrays.length > 0 ? `; to use ${arrays[0]}, open that file itself` : '';
    throw new InputError(dir, `holds no JPEG or PNG images in class folders, no CIFAR-10 batches and no IDX files${hint}`);
  }
  return openImageFolderDir(dir, listing, opts);
}

/**
 * Opens a dataset: an ImageFolder folder or .zip, CIFAR-10 binary batches (a file or a folder),
 * .npy (with a sibling labels file) or .npz, or IDX files (MNIST, Fashion-MNIST; gzipped or not).
 * Labels are read now; images are decoded one at a time by readImage.
 */
export async function openDataset(path: string, opts: OpenOptions = {}): Promise<Dataset> {
  checkOptions(path, opts);
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch {
    throw new InputError(path, 'no such file or folder');
  }
  return stats.isDirectory() ? openDirectory(path, opts) : openFile(path, opts);
}
