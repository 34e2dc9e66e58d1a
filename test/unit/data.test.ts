import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { zipSync, type Zippable } from 'fflate';
import { encode as encodePng } from 'fast-png';
import * as jpeg from 'jpeg-js';
import { CancelledError, InputError } from '../../src/engine/errors';
import { Rng } from '../../src/engine/random';
import {
  batches,
  buildBatch,
  CIFAR10_CLASSES,
  describePreprocessing,
  imageToInput,
  openDataset,
  parseSidecar,
  permutationPrefix,
  readSidecar,
  resizeBilinear,
  resolvePreprocessing,
  sampleWithReplacement,
  splitIndices,
  subsetIndices,
  type Dataset,
  type Preprocessing,
} from '../../src/engine/data';
import { fileSource } from '../../src/engine/data/bytes';
import { readZipDirectory, readZipEntry } from '../../src/engine/data/zip';

// shared/ sits beside the repository root, on developer machines and in CI alike.
const CIFAR_DIR = resolve(__dirname, '../../../shared/datasets/cifar10');
const FIXTURES = resolve(__dirname, '../fixtures/data');

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'backdoor-scan-data-'));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Deterministic pixel bytes that differ between images and positions. */
function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, k) => (k * 37 + seed * 11) % 256);
}

function png(width: number, height: number, channels: number, data: Uint8Array | Uint16Array, depth: 8 | 16 = 8): Uint8Array {
  return encodePng({ width, height, channels, depth, data });
}

function write(path: string, bytes: Uint8Array | string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
}

/** Writes files under a new folder of tmp and returns it. */
function tree(name: string, files: Record<string, Uint8Array | string>): string {
  const root = join(tmp, name);
  for (const [rel, bytes] of Object.entries(files)) write(join(root, rel), bytes);
  return root;
}

function zipFile(name: string, files: Record<string, Uint8Array>, level: 0 | 6 = 0): string {
  const entries: Zippable = {};
  for (const [rel, bytes] of Object.entries(files)) entries[rel] = [bytes, { level }];
  const path = join(tmp, name);
  writeFileSync(path, zipSync(entries));
  return path;
}

/** A .npy file: magic, version 1.0, a Python dict header padded to 64 bytes, then the data. */
function npy(descr: string, shape: number[], data: Uint8Array): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1) + '\n';
  const out = new Uint8Array(total + data.length);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(data, total);
  return out;
}

function bytesOf(arr: Float32Array | BigInt64Array | Int32Array): Uint8Array {
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

async function rejectsInput(promise: Promise<unknown>, file: string, problem: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.match(err.problem, problem);
    return true;
  });
}

function allLabels(ds: Dataset): number[] {
  return Array.from(ds.labels);
}

describe('ImageFolder', () => {
  const rgbA = pattern(2 * 3 * 3, 1);
  const rgbB = pattern(2 * 3 * 3, 2);
  const greyC = pattern(2 * 3, 3);
  const rgbaD = pattern(2 * 3 * 4, 4);
  const files = (): Record<string, Uint8Array> => ({
    'cat/b.png': png(3, 2, 3, rgbB),
    'cat/a.png': png(3, 2, 3, rgbA),
    'dog/c.png': png(3, 2, 1, greyC),
    'Bird/d.png': png(3, 2, 4, rgbaD),
  });

  test('folder: sorted classes, labels and exact pixels; grey keeps 1 channel, alpha is dropped', async () => {
    const root = tree('folder', { ...files(), 'README.txt': 'not data', '.hidden/x.png': png(1, 1, 1, new Uint8Array(1)) });
    const ds = await openDataset(root);
    assert.equal(ds.kind, 'imagefolder');
    // Code-point order, as torchvision sorts: upper case before lower case.
    assert.deepEqual(ds.classes, ['Bird', 'cat', 'dog']);
    assert.equal(ds.size, 4);
    assert.deepEqual(allLabels(ds), [0, 1, 1, 2]);
    assert.deepEqual([0, 1, 2, 3].map((i) => ds.itemName(i)), ['Bird/d.png', 'cat/a.png', 'cat/b.png', 'dog/c.png']);
    assert.deepEqual(ds.readImage(1), { height: 2, width: 3, channels: 3, pixels: rgbA });
    assert.deepEqual(ds.readImage(3), { height: 2, width: 3, channels: 1, pixels: greyC });
    const d = ds.readImage(0);
    assert.equal(d.channels, 3);
    assert.deepEqual(Array.from(d.pixels.subarray(0, 6)), [rgbaD[0], rgbaD[1], rgbaD[2], rgbaD[4], rgbaD[5], rgbaD[6]]);
    assert.match(ds.describe(), /4 images in 3 classes \(Bird 1, cat 2, dog 1\)/);
    assert.throws(() => ds.readImage(4), RangeError);
  });

  test('16-bit and grey+alpha PNGs become 8-bit', async () => {
    const wide = Uint16Array.from([0, 257, 65535, 32896]);
    const root = tree('depth', { 'a/x.png': png(2, 2, 1, wide, 16), 'b/y.png': png(2, 1, 2, Uint8Array.from([10, 255, 20, 0])) });
    const ds = await openDataset(root);
    assert.deepEqual(Array.from(ds.readImage(0).pixels), [0, 1, 255, 128]);
    assert.deepEqual(ds.readImage(1), { height: 1, width: 2, channels: 1, pixels: Uint8Array.from([10, 20]) });
  });

  test('one extra top-level folder, and train/test side by side', async () => {
    const single = tree('single', Object.fromEntries(Object.entries(files()).map(([k, v]) => [`test/${k}`, v])));
    const ds = await openDataset(single);
    assert.deepEqual(ds.classes, ['Bird', 'cat', 'dog']);
    assert.equal(ds.itemName(0), 'test/Bird/d.png');
    await rejectsInput(openDataset(single, { split: 'train' }), single, /only the 'test' split/);

    const both = tree('both', { 'train/x/0.png': png(1, 1, 1, Uint8Array.of(1)), 'train/y/0.png': png(1, 1, 1, Uint8Array.of(2)), 'test/x/0.png': png(1, 1, 1, Uint8Array.of(3)) });
    const test1 = await openDataset(both);
    assert.deepEqual([test1.size, test1.classes, test1.readImage(0).pixels[0]], [1, ['x'], 3]);
    const train = await openDataset(both, { split: 'train' });
    assert.deepEqual([train.size, train.classes, train.readImage(1).pixels[0]], [2, ['x', 'y'], 2]);
  });

  test('given classes fix the label order', async () => {
    const root = tree('given', files());
    const ds = await openDataset(root, { classes: ['dog', 'cat', 'Bird', 'horse'] });
    assert.deepEqual(ds.classes, ['dog', 'cat', 'Bird', 'horse']);
    assert.deepEqual(allLabels(ds), [0, 1, 1, 2]);
    assert.equal(ds.itemName(0), 'dog/c.png');
    await rejectsInput(openDataset(root, { classes: ['cat', 'dog'] }), root, /Bird are not among the given classes/);
  });

  test('zip, stored and deflated, reads the same pixels as the folder', async () => {
    const folder = await openDataset(tree('for-zip', files()));
    for (const level of [0, 6] as const) {
      const entries = Object.fromEntries(Object.entries(files()).map(([k, v]) => [`test/${k}`, v]));
      const path = zipFile(`images-${level}.zip`, { ...entries, '__MACOSX/test/cat/._a.png': new Uint8Array(3) }, level);
      const ds = await openDataset(path);
      assert.equal(ds.kind, 'imagefolder-zip');
      assert.deepEqual(ds.classes, folder.classes);
      assert.deepEqual(allLabels(ds), allLabels(folder));
      for (let i = 0; i < ds.size; i++) assert.deepEqual(ds.readImage(i), folder.readImage(i));
      assert.match(ds.describe(), level === 0 ? /stored zip entries/ : /compressed zip entries/);
    }
  });

  test('ZIP64 records (written by Python with tiny limits) are read', async () => {
    const path = join(FIXTURES, 'zip64-imagefolder.zip');
    const ds = await openDataset(path);
    assert.deepEqual(ds.classes, ['cls_a', 'cls_b']);
    assert.deepEqual(ds.readImage(0).pixels, Uint8Array.from({ length: 12 }, (_, k) => k));
    assert.deepEqual(ds.readImage(1).pixels, Uint8Array.from({ length: 12 }, (_, k) => 100 + k));
  });

  test('a zip read piecewise from disk gives the same bytes as one read into memory', () => {
    const path = zipFile('piecewise.zip', files(), 6);
    const inMemory = fileSource(path);
    const onDisk = fileSource(path, 0);
    const entries = readZipDirectory(onDisk);
    assert.deepEqual(entries, readZipDirectory(inMemory));
    for (const e of entries) assert.deepEqual(readZipEntry(onDisk, e), readZipEntry(inMemory, e));
  });

  test('JPEG: colour decodes to 3 channels and greyscale to 1', async () => {
    const w = 16;
    const h = 8;
    const rgba = new Uint8Array(w * h * 4).fill(255);
    for (let p = 0; p < w * h; p++) rgba.set([200, 100, 50], p * 4);
    const colour = jpeg.encode({ width: w, height: h, data: rgba }, 95).data;
    // jpeg-js cannot write greyscale JPEGs; this one was saved by PIL at quality 100 from pixels
    // (30x + 7y) mod 256, which it reproduces exactly.
    const grey = readFileSync(join(FIXTURES, 'grey-8x6.jpg'));
    const ds = await openDataset(zipFile('jpeg.zip', { 'c/a.jpg': colour, 'g/b.JPEG': grey }));
    const img = ds.readImage(0);
    assert.deepEqual([img.height, img.width, img.channels], [h, w, 3]);
    assert.ok(Math.abs(img.pixels[0] - 200) <= 3 && Math.abs(img.pixels[1] - 100) <= 3 && Math.abs(img.pixels[2] - 50) <= 3);
    const expected = Uint8Array.from({ length: 48 }, (_, k) => ((k % 8) * 30 + Math.floor(k / 8) * 7) % 256);
    assert.deepEqual(ds.readImage(1), { height: 6, width: 8, channels: 1, pixels: expected });
  });

  test('bad input names the file and the entry', async () => {
    const empty = tree('emptyclass', { 'cat/a.png': png(1, 1, 1, Uint8Array.of(1)) });
    mkdirSync(join(empty, 'dog'));
    await rejectsInput(openDataset(empty), empty, /class folder 'dog' holds no JPEG or PNG images/);

    const flat = tree('flat', { 'a.png': png(1, 1, 1, Uint8Array.of(1)) });
    await rejectsInput(openDataset(flat), flat, /image 'a.png' is not inside a class folder/);

    const noImages = zipFile('noimages.zip', { 'test/readme.txt': Buffer.from('hi') });
    await rejectsInput(openDataset(noImages), noImages, /no JPEG or PNG images/);

    const corrupt = zipFile('corrupt.zip', { 'test/cat/1.jpg': Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3), 'test/cat/2.png': png(1, 1, 1, Uint8Array.of(1)) });
    const ds = await openDataset(corrupt);
    assert.throws(
      () => ds.readImage(0),
      (err: unknown) => err instanceof InputError && err.file === corrupt && /entry 'test\/cat\/1\.jpg': corrupt JPEG/.test(err.problem),
    );

    const bmp = tree('bmp', { 'cat/a.png': png(1, 1, 1, Uint8Array.of(1)), 'cat/b.bmp': 'BM' });
    await rejectsInput(openDataset(bmp), bmp, /'cat\/b\.bmp': only JPEG and PNG/);

    const missing = join(tmp, 'nope');
    await rejectsInput(openDataset(missing), missing, /no such file or folder/);

    const notZip = join(tmp, 'truncated.zip');
    writeFileSync(notZip, zipSync({ 'a/b.png': png(1, 1, 1, Uint8Array.of(1)) }).subarray(0, 40));
    await rejectsInput(openDataset(notZip), notZip, /no end-of-directory record/);
  });
});

/** CIFAR records: label, then R, G and B planes of 32x32. */
function cifarRecords(labels: number[], seed: number): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((l, r) => {
    out[r * 3073] = l;
    out.set(pattern(3072, seed + r), r * 3073 + 1);
  });
  return out;
}

describe('CIFAR-10 binary', () => {
  test('a single batch: CHW records become HWC images', async () => {
    const path = join(tmp, 'test_batch.bin');
    const bytes = cifarRecords([0, 5, 9], 7);
    writeFileSync(path, bytes);
    const ds = await openDataset(path);
    assert.equal(ds.kind, 'cifar10-bin');
    assert.deepEqual(ds.classes, CIFAR10_CLASSES);
    assert.deepEqual(allLabels(ds), [0, 5, 9]);
    const img = ds.readImage(1);
    assert.deepEqual([img.height, img.width, img.channels], [32, 32, 3]);
    const base = 3073 + 1;
    // Pixel (row 2, column 5) of record 1: offset 2 * 32 + 5 = 69 within each plane.
    assert.deepEqual(Array.from(img.pixels.subarray(69 * 3, 69 * 3 + 3)), [bytes[base + 69], bytes[base + 1024 + 69], bytes[base + 2048 + 69]]);
    assert.equal(ds.itemName(2), 'test_batch.bin#2');
  });

  test('a folder: test batch by default, training batches in numeric order, names from batches.meta.txt', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    const dir = tree('cifar/cifar-10-batches-bin', {
      'data_batch_1.bin': cifarRecords([1, 2], 1),
      'data_batch_2.bin': cifarRecords([3], 2),
      'data_batch_10.bin': cifarRecords([4], 3),
      'test_batch.bin': cifarRecords([9], 4),
      'batches.meta.txt': `${names.join('\n')}\n\n`,
    });
    const test1 = await openDataset(join(tmp, 'cifar'));
    assert.deepEqual([test1.size, allLabels(test1), test1.classes], [1, [9], names]);
    const train = await openDataset(dir, { split: 'train' });
    assert.deepEqual(allLabels(train), [1, 2, 3, 4]);
    assert.equal(train.itemName(3), 'data_batch_10.bin#0');
  });

  test('truncated batch and out-of-range labels are refused', async () => {
    const path = join(tmp, 'data_batch_9.bin');
    writeFileSync(path, cifarRecords([1, 2], 1).subarray(0, 5000));
    await rejectsInput(openDataset(path), path, /truncated or not a CIFAR-10 batch: 5000 bytes/);
    const bad = join(tmp, 'bad.bin');
    writeFileSync(bad, cifarRecords([1, 12], 1));
    await rejectsInput(openDataset(bad), bad, /label 12 of item 1 is outside the 10 classes/);
  });
});

describe('NumPy', () => {
  const hwc = pattern(2 * 2 * 3 * 3, 5);
  const labels = BigInt64Array.from([2n, 0n]);

  test('npz with uint8 NHWC images and int64 labels, stored and deflated', async () => {
    for (const level of [0, 6] as const) {
      const path = zipFile(`arrays-${level}.npz`, { 'x.npy': npy('|u1', [2, 2, 3, 3], hwc), 'y.npy': npy('<i8', [2], bytesOf(labels)) }, level);
      const ds = await openDataset(path);
      assert.equal(ds.kind, 'npz');
      assert.deepEqual([ds.size, allLabels(ds), ds.classes], [2, [2, 0], ['0', '1', '2']]);
      assert.deepEqual(ds.readImage(1), { height: 2, width: 3, channels: 3, pixels: hwc.subarray(18) });
      assert.equal(ds.itemName(1), 'x.npy[1]');
    }
  });

  test('float32 NCHW in [0, 1] and one-hot labels; x_train/x_test pick the split', async () => {
    // Image 0 is CHW with channel c, pixel p holding (10c + p) / 255.
    const chw = Float32Array.from({ length: 2 * 3 * 2 * 2 }, (_, k) => ((k % 12 >> 2) * 10 + (k % 4)) / 255);
    const oneHot = Float32Array.from([0, 1, 1, 0]);
    const path = zipFile('split.npz', {
      'x_test.npy': npy('<f4', [2, 3, 2, 2], bytesOf(chw)),
      'y_test.npy': npy('<f4', [2, 2], bytesOf(oneHot)),
      'x_train.npy': npy('|u1', [1, 2, 2], Uint8Array.of(1, 2, 3, 4)),
      'y_train.npy': npy('<i8', [1], bytesOf(BigInt64Array.of(1n))),
    });
    const ds = await openDataset(path, { classes: ['no', 'yes'] });
    assert.deepEqual([allLabels(ds), ds.classes], [[1, 0], ['no', 'yes']]);
    assert.deepEqual(Array.from(ds.readImage(0).pixels), [0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23]);
    assert.match(ds.describe(), /NCHW.*scaled by 255/);
    const train = await openDataset(path, { split: 'train' });
    assert.deepEqual(train.readImage(0), { height: 2, width: 2, channels: 1, pixels: Uint8Array.of(1, 2, 3, 4) });
  });

  test('.npy images with a sibling labels file, and without one', async () => {
    const dir = tree('npy', { 'x_test.npy': npy('|u1', [2, 2, 3, 3], hwc), 'y_test.npy': npy('<i8', [2], bytesOf(labels)), 'images.npy': npy('|u1', [1, 1, 1], Uint8Array.of(7)) });
    const ds = await openDataset(join(dir, 'x_test.npy'));
    assert.deepEqual([ds.kind, allLabels(ds)], ['npy', [2, 0]]);
    assert.deepEqual(ds.readImage(0).pixels, hwc.subarray(0, 18));
    const lonely = join(dir, 'images.npy');
    await rejectsInput(openDataset(lonely), lonely, /holds images but no labels; expected a sibling y\.npy or labels\.npy/);
  });

  test('mismatched counts, normalised floats and missing labels are refused', async () => {
    const mismatch = zipFile('mismatch.npz', { 'x.npy': npy('|u1', [2, 2, 3, 3], hwc), 'y.npy': npy('<i8', [1], bytesOf(BigInt64Array.of(0n))) });
    await rejectsInput(openDataset(mismatch), mismatch, /2 images in x\.npy but 1 labels/);
    const normalised = zipFile('normalised.npz', { 'x.npy': npy('<f4', [1, 1, 1], bytesOf(Float32Array.of(-1.5))), 'y.npy': npy('<i8', [1], bytesOf(BigInt64Array.of(0n))) });
    await rejectsInput(openDataset(normalised), normalised, /entry 'x\.npy': image values go down to -1\.5/);
    const noLabels = zipFile('nolabels.npz', { 'images.npy': npy('|u1', [1, 1, 1], Uint8Array.of(1)), 'other.npy': npy('|u1', [1], Uint8Array.of(1)) });
    await rejectsInput(openDataset(noLabels), noLabels, /no labels for 'images'.*other/);
    const truncated = zipFile('short.npz', { 'x.npy': npy('|u1', [2, 2, 3, 3], hwc.subarray(0, 20)), 'y.npy': npy('<i8', [2], bytesOf(labels)) });
    await rejectsInput(openDataset(truncated), truncated, /entry 'x\.npy': truncated/);
  });
});

/** An IDX file of unsigned bytes: magic 0 0 8 rank, big-endian dimensions, data. */
function idx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const dv = new DataView(out.buffer);
  out.set([0, 0, 8, dims.length]);
  dims.forEach((d, k) => dv.setUint32(4 + 4 * k, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

describe('IDX (MNIST format)', () => {
  test('gzipped and plain files, labels found beside the images', async () => {
    const pixels = pattern(3 * 2 * 2, 9);
    const dir = tree('mnist', {
      't10k-images-idx3-ubyte.gz': gzipSync(idx([3, 2, 2], pixels)),
      't10k-labels-idx1-ubyte.gz': gzipSync(idx([3], Uint8Array.of(4, 0, 2))),
      'train-images-idx3-ubyte': idx([1, 2, 2], Uint8Array.of(1, 2, 3, 4)),
      'train-labels-idx1-ubyte': idx([1], Uint8Array.of(1)),
    });
    const ds = await openDataset(dir);
    assert.equal(ds.kind, 'idx');
    assert.deepEqual([allLabels(ds), ds.classes], [[4, 0, 2], ['0', '1', '2', '3', '4']]);
    assert.deepEqual(ds.readImage(2), { height: 2, width: 2, channels: 1, pixels: pixels.subarray(8) });
    const train = await openDataset(join(dir, 'train-images-idx3-ubyte'));
    assert.deepEqual(allLabels(train), [1]);
    const labelsOnly = join(dir, 'train-labels-idx1-ubyte');
    await rejectsInput(openDataset(labelsOnly), labelsOnly, /this is a labels file/);
  });

  test('Debian dataset-fashion-mnist, when installed', async (t) => {
    const dir = '/usr/share/datasets/fashion-mnist';
    if (!existsSync(dir)) {
      t.skip(`${dir} is absent (apt-get install dataset-fashion-mnist)`);
      return;
    }
    const ds = await openDataset(dir);
    assert.equal(ds.size, 10000);
    assert.equal(ds.classes[9], 'Ankle boot');
    const img = ds.readImage(0);
    assert.deepEqual([img.height, img.width, img.channels], [28, 28, 1]);
  });
});

describe('real CIFAR-10 test zip', () => {
  test('10,000 JPEGs in 10 alphabetical classes; the first decodes to 32x32x3', async (t) => {
    const path = join(CIFAR_DIR, 'cifar10-test.zip');
    if (!existsSync(path)) {
      t.skip(`${path} is absent: shared/ is not beside the repository`);
      return;
    }
    const ds = await openDataset(path);
    assert.equal(ds.size, 10000);
    assert.deepEqual(ds.classes, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    assert.deepEqual(ds.classes, CIFAR10_CLASSES);
    const counts = new Array<number>(10).fill(0);
    for (const l of ds.labels) counts[l]++;
    assert.deepEqual(counts, new Array<number>(10).fill(1000));
    const img = ds.readImage(0);
    assert.deepEqual([img.height, img.width, img.channels, img.pixels.length], [32, 32, 3, 3072]);
    assert.equal(ds.itemName(0), 'test/airplane/0000.jpg');
    const last = ds.readImage(9999);
    assert.deepEqual([last.height, last.width, last.channels], [32, 32, 3]);
  });
});

describe('preprocessing', () => {
  const prep: Preprocessing = { scale: 255, mean: [0.5, 0.25, 0], std: [0.25, 0.5, 1] };

  test('normalisation per channel, by hand', () => {
    const out = new Float32Array(3);
    imageToInput({ height: 1, width: 1, channels: 3, pixels: Uint8Array.of(51, 102, 255) }, [1, 1, 3], prep, out, 0);
    // (51/255 - 0.5) / 0.25 = -1.2; (102/255 - 0.25) / 0.5 = 0.3; (255/255 - 0) / 1 = 1.
    assert.deepEqual(Array.from(out, (v) => Number(v.toFixed(5))), [-1.2, 0.3, 1]);
  });

  test('bilinear resize: half-pixel centres when enlarging, triangle filter when shrinking', () => {
    // 1x2 -> 1x4: output centres fall at input positions -0.25, 0.25, 0.75, 1.25.
    assert.deepEqual(Array.from(resizeBilinear([0, 100], 1, 2, 1, 1, 4)), [0, 25, 75, 100]);
    // 1x4 -> 1x2: output 0 is centred at 1.0 with weights 0.75, 0.75, 0.25 on inputs 0, 1, 2.
    const down = Array.from(resizeBilinear([0, 10, 20, 30], 1, 4, 1, 1, 2));
    assert.ok(Math.abs(down[0] - 12.5 / 1.75) < 1e-5 && Math.abs(down[1] - 40 / 1.75) < 1e-5, String(down));
    // 2x2 -> 3x3 in both axes: the centre output is the mean of the four inputs.
    const grid = resizeBilinear([0, 10, 20, 30], 2, 2, 1, 3, 3);
    assert.ok(Math.abs(grid[4] - 15) < 1e-5);
  });

  test('channel conversion: grey is repeated, RGB becomes BT.601 luma', () => {
    const identity: Preprocessing = { scale: 1, mean: [0], std: [1] };
    const rgb = new Float32Array(3);
    imageToInput({ height: 1, width: 1, channels: 1, pixels: Uint8Array.of(40) }, [1, 1, 3], identity, rgb, 0);
    assert.deepEqual(Array.from(rgb), [40, 40, 40]);
    const grey = new Float32Array(1);
    imageToInput({ height: 1, width: 1, channels: 3, pixels: Uint8Array.of(10, 20, 30) }, [1, 1, 1], identity, grey, 0);
    assert.ok(Math.abs(grey[0] - (0.299 * 10 + 0.587 * 20 + 0.114 * 30)) < 1e-4);
  });

  test('buildBatch lays images out NHWC with their labels', async () => {
    const ds = await openDataset(tree('batch', { 'a/0.png': png(1, 1, 3, Uint8Array.of(0, 51, 255)), 'b/0.png': png(1, 1, 3, Uint8Array.of(255, 0, 51)) }));
    const { x, y } = buildBatch(ds, [1, 0], [1, 1, 3], { scale: 255, mean: [0], std: [1] });
    assert.deepEqual(Array.from(x, (v) => Number(v.toFixed(5))), [1, 0, 0.2, 0, 0.2, 1]);
    assert.deepEqual(Array.from(y), [1, 0]);
  });

  test('describePreprocessing states each value and where it came from', () => {
    const sidecar = parseSidecar(JSON.stringify({ preprocessing: { mean: [0.4914, 0.4822, 0.4465] } }), '/m/backdoor-scan.json');
    const resolved = resolvePreprocessing({ std: [0.247, 0.2435, 0.2616] }, sidecar, { scale: 255, mean: [0], std: [1] }, 3);
    assert.equal(
      describePreprocessing(resolved, [32, 32, 3]),
      'Images resized (bilinear) to 32x32 with 3 channels; input = (pixel / 255 - mean) / std per channel; ' +
        'scale 255 (default), mean [0.4914, 0.4822, 0.4465] (from /m/backdoor-scan.json), std [0.247, 0.2435, 0.2616] (set by option).',
    );
  });
});

describe('sidecar', () => {
  const good = {
    preprocessing: { scale: 255, mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
    inputShape: [32, 32, 3],
    classes: CIFAR10_CLASSES,
    data: 'clean-images.zip',
    comment: 'made by hand',
  };

  test('readSidecar finds backdoor-scan.json beside the model and resolves data against it', async () => {
    const dir = tree('model', { 'backdoor-scan.json': JSON.stringify(good), 'model.onnx': 'x' });
    const sidecar = await readSidecar(join(dir, 'model.onnx'));
    assert.ok(sidecar);
    assert.equal(sidecar.data, join(dir, 'clean-images.zip'));
    assert.deepEqual(sidecar.inputShape, [32, 32, 3]);
    assert.deepEqual(sidecar.preprocessing, good.preprocessing);
    assert.equal(sidecar.warnings.length, 1);
    assert.match(sidecar.warnings[0], /unknown key 'comment'/);
    assert.equal(await readSidecar(join(tree('bare', { 'model.onnx': 'x' }), 'model.onnx')), undefined);
  });

  test('invalid sidecars fail with messages that say what to write', () => {
    const file = '/m/backdoor-scan.json';
    const cases: [unknown, RegExp][] = [
      [{ preprocessing: { scale: -1 } }, /scale must be a positive number/],
      [{ preprocessing: { mean: 'imagenet' } }, /mean must be a non-empty list of numbers/],
      [{ preprocessing: { std: [0.2, 0] } }, /std values must be positive/],
      [{ preprocessing: { mean: [0, 0, 0], std: [1, 1] } }, /mean has 3 values but std has 2/],
      [{ inputShape: [3, 32, 32] }, /inputShape must be \[height, width, channels\]/],
      [{ classes: ['a', 'a'] }, /class 'a' is listed twice/],
      [{ data: 3 }, /data must be a path/],
      [[1, 2], /must hold a JSON object/],
    ];
    for (const [json, problem] of cases) {
      assert.throws(
        () => parseSidecar(JSON.stringify(json), file),
        (err: unknown) => err instanceof InputError && err.file === file && problem.test(err.problem),
        problem.source,
      );
    }
    assert.throws(() => parseSidecar('{"preprocessing": ', file), /not valid JSON/);
  });

  test('resolvePreprocessing: options win over the sidecar, the sidecar over defaults', () => {
    const sidecar = parseSidecar(JSON.stringify(good), '/m/backdoor-scan.json');
    const defaults: Preprocessing = { scale: 1, mean: [0], std: [1] };
    const r = resolvePreprocessing({ mean: [0.5] }, sidecar, defaults, 3);
    assert.deepEqual(r.preprocessing, { scale: 255, mean: [0.5], std: good.preprocessing.std });
    assert.deepEqual(r.origins, { scale: 'sidecar', mean: 'option', std: 'sidecar' });
    assert.equal(r.sidecarPath, '/m/backdoor-scan.json');
    const plain = resolvePreprocessing(undefined, undefined, defaults);
    assert.deepEqual([plain.origins, plain.sidecarPath], [{ scale: 'default', mean: 'default', std: 'default' }, undefined]);
    assert.throws(() => resolvePreprocessing(undefined, sidecar, defaults, 1), /mean has 3 values but the model input has 1 channel/);
  });
});

describe('splits', () => {
  test('splitIndices is repeatable, disjoint and covers everything when fractions add to 1', () => {
    const parts = splitIndices(103, [0.7, 0.2, 0.1], 42);
    assert.deepEqual(parts, splitIndices(103, [0.7, 0.2, 0.1], 42));
    assert.notDeepEqual(parts, splitIndices(103, [0.7, 0.2, 0.1], 43));
    assert.deepEqual(parts.map((p) => p.length), [72, 20, 11]);
    const all = parts.flatMap((p) => Array.from(p)).sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: 103 }, (_, i) => i));
    assert.throws(() => splitIndices(10, [0.8, 0.3], 1), /add up to 1.1/);
  });

  test('stratified splits keep class proportions', () => {
    const labels = Int32Array.from({ length: 100 }, (_, i) => (i < 80 ? 0 : 1));
    const [a, b] = splitIndices(100, [0.5, 0.5], 3, { labels });
    const ones = (p: Int32Array): number => Array.from(p).filter((i) => labels[i] === 1).length;
    assert.deepEqual([a.length, b.length, ones(a), ones(b)], [50, 50, 10, 10]);
    assert.equal(new Set([...a, ...b]).size, 100);
  });

  test('permutationPrefix is the first fraction of one seeded permutation, as BAN draws it', () => {
    const p = permutationPrefix(50, 0.3, 9);
    assert.deepEqual(p, new Rng(9).permutation(50).slice(0, 15));
    assert.equal(new Set(p).size, 15);
  });

  test('subsetIndices: exact count, stratified by largest remainder', () => {
    const labels = Int32Array.from([0, 0, 0, 0, 0, 0, 1, 1, 1, 2]);
    const s = subsetIndices(10, 5, 1, { labels });
    const counts = [0, 1, 2].map((c) => Array.from(s).filter((i) => labels[i] === c).length);
    // Exact shares 3, 1.5 and 0.5: class 1 wins the spare place on its tie with class 2 by order.
    assert.deepEqual(counts, [3, 2, 0]);
    assert.deepEqual(s, subsetIndices(10, 5, 1, { labels }));
    assert.equal(new Set(subsetIndices(10, 10, 2)).size, 10);
  });

  test('sampleWithReplacement stays in range and repeats for a seed', () => {
    const s = sampleWithReplacement(5, 1000, 4);
    assert.ok(s.every((i) => i >= 0 && i < 5));
    assert.ok(new Set(s).size === 5 && s.length === 1000);
    assert.deepEqual(s, sampleWithReplacement(5, 1000, new Rng(4)));
  });
});

describe('batches', () => {
  test('yields consecutive batches with progress, and stops with CancelledError', async () => {
    const files: Record<string, Uint8Array> = {};
    for (let i = 0; i < 5; i++) files[`c${i % 2}/${i}.png`] = png(2, 2, 1, Uint8Array.of(i, i, i, i));
    const ds = await openDataset(tree('batches', files));
    const progress: string[] = [];
    const seen: number[][] = [];
    const prep: Preprocessing = { scale: 1, mean: [0], std: [1] };
    for await (const b of batches(ds, [4, 3, 2, 1, 0], 2, [1, 1, 1], prep, { onProgress: (d, t) => progress.push(`${d}/${t}`) })) {
      seen.push(Array.from(b.indices));
      assert.equal(b.x.length, b.indices.length);
      assert.deepEqual(Array.from(b.y), Array.from(b.indices, (i) => ds.labels[i]));
      assert.deepEqual(Array.from(b.x), Array.from(b.indices, (i) => Number(ds.itemName(i).split('/')[1][0])));
    }
    assert.deepEqual(seen, [[4, 3], [2, 1], [0]]);
    assert.deepEqual(progress, ['2/5', '4/5', '5/5']);

    const controller = new AbortController();
    const running = batches(ds, [0, 1, 2, 3], 1, [1, 1, 1], prep, { signal: controller.signal });
    assert.equal((await running.next()).done, false);
    controller.abort();
    await assert.rejects(running.next(), CancelledError);
  });
});
