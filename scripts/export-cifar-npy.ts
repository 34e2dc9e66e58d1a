/**
 * Decodes CIFAR-10 from ../shared with this project's own JPEG decoder and writes the pixels as
 * .npy arrays (uint8 NHWC images, int32 labels), so that the PyTorch zoo trainer sees exactly the
 * pixels the scanner sees when it reads the same zips.
 *
 *   node --import tsx scripts/export-cifar-npy.ts OUT_DIR
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openDataset } from '../src/engine/data';

function npyHeader(descr: string, shape: number[]): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  // The header (magic 6 + version 2 + length 2 + text + newline) is padded to a multiple of 64.
  const pad = 64 - ((10 + header.length + 1) % 64);
  header = header + ' '.repeat(pad % 64) + '\n';
  const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1')]);
}

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: export-cifar-npy.ts OUT_DIR');
  fs.mkdirSync(out, { recursive: true });
  const shared = path.resolve(__dirname, '../../shared/datasets/cifar10');
  for (const split of ['train', 'test'] as const) {
    const ds = await openDataset(path.join(shared, `cifar10-${split}.zip`), { split });
    const pixels = Buffer.alloc(ds.size * 32 * 32 * 3);
    for (let i = 0; i < ds.size; i++) {
      const img = ds.readImage(i);
      if (img.height !== 32 || img.width !== 32 || img.channels !== 3) throw new Error(`${ds.itemName(i)} is not 32x32 RGB`);
      pixels.set(img.pixels, i * 3072);
    }
    fs.writeFileSync(path.join(out, `cifar10-${split}-x.npy`), Buffer.concat([npyHeader('|u1', [ds.size, 32, 32, 3]), pixels]));
    fs.writeFileSync(path.join(out, `cifar10-${split}-y.npy`), Buffer.concat([npyHeader('<i4', [ds.size]), Buffer.from(ds.labels.buffer)]));
    process.stderr.write(`${split}: ${ds.size} images\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
