/**
 * Works out the ImageFolder layout from a list of relative paths, the same way for a folder on
 * disk and for a zip: `root/<class>/.../image`, with the root found by stripping folders that
 * every image shares (e.g. `test/`) and, where train and test folders sit side by side, by
 * picking one of them.
 */
import { InputError } from '../errors';
import type { OpenOptions, SplitName } from './types';

export interface Layout {
  /** Relative paths of the images, in dataset order: by label, then by path. */
  files: string[];
  labels: Int32Array;
  classes: string[];
  /** The folder, relative to the source, that holds the class folders ('' for the source itself). */
  root: string;
  /** The split folder the images come from, when the layout has one. */
  split?: string;
}

const SPLIT_FOLDERS: Record<SplitName, string[]> = {
  test: ['test', 'testing', 'val', 'valid', 'validation'],
  train: ['train', 'training'],
};

/** Code-point order, as Python's sorted() gives, so labels match torchvision's ImageFolder. */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Hidden files and macOS resource forks are never data. */
export function isIgnoredPath(relPath: string): boolean {
  return relPath.split('/').some((seg) => seg.startsWith('.') || seg === '__MACOSX');
}

function splitOf(name: string): SplitName | undefined {
  const lower = name.toLowerCase();
  return (Object.keys(SPLIT_FOLDERS) as SplitName[]).find((s) => SPLIT_FOLDERS[s].includes(lower));
}

/**
 * @param source the folder or zip, for error messages
 * @param imagePaths relative image paths with '/' separators, ignored paths already removed
 * @param dirPaths relative folder paths known to exist (to report empty class folders)
 */
export function imageFolderLayout(source: string, imagePaths: string[], dirPaths: string[], opts: OpenOptions): Layout {
  if (imagePaths.length === 0) {
    throw new InputError(source, 'no JPEG or PNG images found (expected <class>/<image> folders)');
  }
  let items = imagePaths.map((path) => ({ path, segs: path.split('/') }));
  const prefix: string[] = [];
  let split: string | undefined;
  for (;;) {
    const depth = prefix.length;
    // A shared folder is stripped only while a class folder and a file remain below it.
    const deepEnough = items.every((it) => it.segs.length >= depth + 3);
    const first = items[0].segs[depth];
    if (deepEnough && items.every((it) => it.segs[depth] === first)) {
      prefix.push(first);
      if (splitOf(first)) split = first;
      continue;
    }
    const tops = [...new Set(items.map((it) => it.segs[depth]))].sort(byCodePoint);
    if (split === undefined && deepEnough && tops.every((t) => splitOf(t))) {
      const want: SplitName = opts.split ?? (tops.some((t) => splitOf(t) === 'test') ? 'test' : 'train');
      const chosen = tops.find((t) => splitOf(t) === want);
      if (chosen === undefined) {
        throw new InputError(source, `no ${want} folder; the split folders are ${tops.join(', ')}`);
      }
      items = items.filter((it) => it.segs[depth] === chosen);
      prefix.push(chosen);
      split = chosen;
      continue;
    }
    break;
  }
  if (opts.split && split && splitOf(split) !== opts.split) {
    throw new InputError(source, `holds only the '${split}' split, not ${opts.split}`);
  }
  const rootDepth = prefix.length;
  const root = prefix.map((p) => `${p}/`).join('');
  const chosen: { path: string; folder: string }[] = [];
  for (const { path, segs } of items) {
    if (segs.length < rootDepth + 2) {
      throw new InputError(source, `image '${path}' is not inside a class folder (expected ${root}<class>/<image>)`);
    }
    chosen.push({ path, folder: segs[rootDepth] });
  }
  const folders = [...new Set(chosen.map((c) => c.folder))].sort(byCodePoint);
  for (const dir of dirPaths) {
    if (!dir.startsWith(root) || isIgnoredPath(dir)) continue;
    const rest = dir.slice(root.length);
    if (rest !== '' && !rest.includes('/') && !folders.includes(rest)) {
      throw new InputError(source, `class folder '${root}${rest}' holds no JPEG or PNG images`);
    }
  }
  let classes = folders;
  if (opts.classes) {
    classes = opts.classes;
    const unknown = folders.filter((f) => !classes.includes(f));
    if (unknown.length > 0) {
      throw new InputError(source, `class folders ${unknown.join(', ')} are not among the given classes (${classes.join(', ')})`);
    }
  }
  const labelOf = new Map(classes.map((c, i) => [c, i]));
  chosen.sort((a, b) => labelOf.get(a.folder)! - labelOf.get(b.folder)! || byCodePoint(a.path, b.path));
  return {
    files: chosen.map((c) => c.path),
    labels: Int32Array.from(chosen, (c) => labelOf.get(c.folder)!),
    classes,
    root,
    split,
  };
}
