/** ImageFolder datasets (`root/<class>/<image>`) from a folder on disk or from a zip archive. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors';
import type { ByteSource } from './bytes';
import { makeDataset } from './dataset';
import { decodeImage, hasExtension, IMAGE_EXTENSIONS, UNSUPPORTED_IMAGE_EXTENSIONS } from './images';
import { imageFolderLayout, isIgnoredPath, type Layout } from './layout';
import type { Dataset, OpenOptions } from './types';
import { checkReadable, entryDataOffset, readZipEntry, type ZipEntry } from './zip';

/** Deeper trees than this are not ImageFolder layouts; the limit also stops symlink loops. */
const MAX_DEPTH = 8;

export interface Listing {
  images: string[];
  dirs: string[];
  /** Paths of other files: the caller uses them to say what the folder holds instead. */
  others: string[];
}

/** Lists a folder tree as relative '/'-separated paths. */
export function listTree(root: string): Listing {
  const listing: Listing = { images: [], dirs: [], others: [] };
  const walk = (rel: string, depth: number): void => {
    const abs = rel === '' ? root : join(root, rel);
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch (err) {
      throw new InputError(abs, `cannot list folder: ${(err as Error).message}`);
    }
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      if (isIgnoredPath(name)) continue;
      let isDir: boolean;
      try {
        isDir = statSync(join(root, childRel)).isDirectory();
      } catch {
        // A dangling symlink is not data; skipping it matches what torchvision does.
        continue;
      }
      if (isDir) {
        listing.dirs.push(childRel);
        if (depth < MAX_DEPTH) walk(childRel, depth + 1);
      } else if (hasExtension(name, IMAGE_EXTENSIONS)) {
        listing.images.push(childRel);
      } else {
        listing.others.push(childRel);
      }
    }
  };
  walk('', 0);
  return listing;
}

/** Images in formats we do not decode would silently vanish from the dataset; refuse instead. */
function refuseUnsupported(source: string, others: string[]): void {
  const bad = others.find((p) => hasExtension(p, UNSUPPORTED_IMAGE_EXTENSIONS));
  if (bad !== undefined) {
    throw new InputError(source, `'${bad}': only JPEG and PNG images are supported; convert the dataset to one of them`);
  }
}

function layoutDetails(layout: Layout, how: string): string {
  const where = layout.root === '' ? '' : ` under '${layout.root}'`;
  const split = layout.split ? ` (split '${layout.split}')` : '';
  return `Class folders${where}${split}; ${how}.`;
}

export function openImageFolderDir(dir: string, listing: Listing, opts: OpenOptions): Dataset {
  refuseUnsupported(dir, listing.others);
  const layout = imageFolderLayout(dir, listing.images, listing.dirs, opts);
  return makeDataset({
    path: dir,
    kind: 'imagefolder',
    classes: layout.classes,
    labels: layout.labels,
    itemName: (i) => layout.files[i],
    read: (i) => {
      const file = join(dir, layout.files[i]);
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(file);
      } catch (err) {
        throw new InputError(file, `cannot read: ${(err as Error).message}`);
      }
      return decodeImage(bytes, file);
    },
    details: layoutDetails(layout, 'each image file is read and decoded when used'),
  });
}

export function openImageFolderZip(src: ByteSource, entries: ZipEntry[], opts: OpenOptions): Dataset {
  const files = entries.filter((e) => !e.name.endsWith('/') && !isIgnoredPath(e.name));
  refuseUnsupported(src.file, files.map((e) => e.name));
  const images = files.filter((e) => hasExtension(e.name, IMAGE_EXTENSIONS));
  const dirs = entries.filter((e) => e.name.endsWith('/')).map((e) => e.name.slice(0, -1));
  const layout = imageFolderLayout(src.file, images.map((e) => e.name), dirs, opts);
  const byName = new Map(images.map((e) => [e.name, e]));
  const chosen = layout.files.map((name) => byName.get(name)!);
  for (const entry of chosen) checkReadable(src.file, entry);
  // Data offsets need each local header; they are found on first read and kept (8 bytes each).
  const dataOffsets = new Float64Array(chosen.length).fill(-1);
  const stored = chosen.every((e) => e.method === 0);
  return makeDataset({
    path: src.file,
    kind: 'imagefolder-zip',
    classes: layout.classes,
    labels: layout.labels,
    itemName: (i) => layout.files[i],
    read: (i) => {
      const entry = chosen[i];
      if (dataOffsets[i] < 0) dataOffsets[i] = entryDataOffset(src, entry);
      return decodeImage(readZipEntry(src, entry, dataOffsets[i]), src.file, entry.name);
    },
    details: layoutDetails(layout, `${stored ? 'stored' : 'compressed'} zip entries, each decoded when used`),
  });
}
