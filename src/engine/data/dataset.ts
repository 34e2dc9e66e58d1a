/** The parts every source shares: bounds checks, label checks and the describe() text. */
import { InputError } from '../errors';
import type { Dataset, DecodedImage } from './types';

export interface DatasetParts {
  path: string;
  kind: string;
  classes: string[];
  labels: Int32Array;
  read(i: number): DecodedImage;
  itemName(i: number): string;
  /** How the images are stored and read, for describe(). */
  details: string;
}

function checkIndex(i: number, size: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= size) {
    throw new RangeError(`image index ${i} is outside 0..${size - 1}`);
  }
}

export function makeDataset(parts: DatasetParts): Dataset {
  const { path, kind, classes, labels } = parts;
  const size = labels.length;
  return {
    path,
    kind,
    classes,
    labels,
    size,
    readImage(i) {
      checkIndex(i, size);
      return parts.read(i);
    },
    itemName(i) {
      checkIndex(i, size);
      return parts.itemName(i);
    },
    describe() {
      const counts = new Array<number>(classes.length).fill(0);
      for (const l of labels) counts[l]++;
      const perClass = classes.map((c, i) => `${c} ${counts[i]}`).join(', ');
      return `${path} (${kind}): ${size} images in ${classes.length} classes (${perClass}). ${parts.details}`;
    },
  };
}

/** Numeric labels must index the class list; a label past its end means the wrong class list. */
export function checkLabels(file: string, labels: Int32Array, classes: string[]): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0 || labels[i] >= classes.length) {
      throw new InputError(file, `label ${labels[i]} of item ${i} is outside the ${classes.length} classes (0..${classes.length - 1})`);
    }
  }
}

/** Names for numeric labels: the caller's, else the source's own, else the numbers themselves. */
export function classNames(labels: Int32Array, given: string[] | undefined, fromSource: string[] | undefined): string[] {
  if (given) return given;
  if (fromSource) return fromSource;
  let max = -1;
  for (const l of labels) max = Math.max(max, l);
  return Array.from({ length: max + 1 }, (_, i) => String(i));
}
