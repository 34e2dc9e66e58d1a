/**
 * Datasets with a trigger applied: the poisoned training sets of the zoo (a fraction of the
 * images carry the trigger and the target label) and the triggered test sets that measure the
 * attack success rate (ASR: the share of non-target images the model sends to the target).
 */
import { makeDataset } from '../data/dataset';
import { Dataset } from '../data/types';
import { Trigger } from './triggers';

/** A view of `base` where the images at `poisoned` carry the trigger and the target label. */
export function poisonDataset(base: Dataset, trigger: Trigger, poisoned: Iterable<number>): Dataset {
  const set = new Set(poisoned);
  const labels = base.labels.slice();
  for (const i of set) labels[i] = trigger.spec.target;
  return makeDataset({
    path: base.path,
    kind: `${base.kind}+poisoned`,
    classes: base.classes,
    labels,
    read: (i) => (set.has(i) ? trigger.apply(base.readImage(i)) : base.readImage(i)),
    itemName: (i) => base.itemName(i) + (set.has(i) ? ' (triggered)' : ''),
    details: `${set.size} of ${base.size} images carry the trigger and label ${trigger.spec.target}.`,
  });
}

/**
 * The ASR test set: every image of `base` whose true label is not the target, with the trigger
 * applied and its true label kept. The ASR is the share of it predicted as the target.
 */
export function triggeredTestSet(base: Dataset, trigger: Trigger): Dataset {
  const keep: number[] = [];
  for (let i = 0; i < base.size; i++) if (base.labels[i] !== trigger.spec.target) keep.push(i);
  return makeDataset({
    path: base.path,
    kind: `${base.kind}+triggered`,
    classes: base.classes,
    labels: Int32Array.from(keep, (i) => base.labels[i]),
    read: (j) => trigger.apply(base.readImage(keep[j])),
    itemName: (j) => `${base.itemName(keep[j])} (triggered)`,
    details: `The ${keep.length} images not labelled ${trigger.spec.target}, each with the trigger.`,
  });
}
