/**
 * Seeded index selection: splits, subsets and resampling of a dataset's 0..n-1. The same seed
 * gives the same indices on every machine, so a scan's data choice can be repeated and reported.
 */
import { Rng } from '../random';

function checkFraction(f: number): void {
  if (!(f >= 0 && f <= 1)) throw new RangeError(`fraction ${f} is outside [0, 1]`);
}

/** Ends of consecutive parts of `n` items for cumulative fractions, so the parts never overlap. */
function boundaries(n: number, fractions: number[]): number[] {
  const ends: number[] = [];
  let cumulative = 0;
  for (const f of fractions) {
    cumulative += f;
    // Fractions such as [0.7, 0.3] must cover every item despite rounding in their sum.
    ends.push(Math.abs(cumulative - 1) < 1e-9 ? n : Math.floor(cumulative * n));
  }
  return ends;
}

/** Indices of each class: result[c] lists, in order, the items with label c. */
export function classIndices(labels: Int32Array, classCount: number): Int32Array[] {
  const counts = new Int32Array(classCount);
  for (const l of labels) counts[l]++;
  const out = Array.from(counts, (n) => new Int32Array(n));
  const fill = new Int32Array(classCount);
  for (let i = 0; i < labels.length; i++) out[labels[i]][fill[labels[i]]++] = i;
  return out;
}

function classCountOf(labels: Int32Array): number {
  let max = -1;
  for (const l of labels) max = Math.max(max, l);
  return max + 1;
}

/**
 * The subset BAN draws: one seeded permutation of 0..n-1, of which the first floor(n * fraction)
 * indices are kept (as `np.random.permutation(n)[:int(n * ratio)]`).
 */
export function permutationPrefix(n: number, fraction: number, seed: number): Int32Array {
  checkFraction(fraction);
  return new Rng(seed).permutation(n).slice(0, Math.floor(n * fraction));
}

export interface SplitOptions {
  /** Labels of the n items: each class is then split in the same proportions. */
  labels?: Int32Array;
}

/**
 * Disjoint seeded parts of 0..n-1 with the given fractions (summing to at most 1); the part sizes
 * are differences of floor(cumulative fraction * n). With labels, every class is split on its
 * own and each part is shuffled, so classes are mixed through it.
 */
export function splitIndices(n: number, fractions: number[], seed: number, opts: SplitOptions = {}): Int32Array[] {
  fractions.forEach(checkFraction);
  const sum = fractions.reduce((a, b) => a + b, 0);
  if (sum > 1 + 1e-9) throw new RangeError(`split fractions add up to ${sum}, more than 1`);
  const rng = new Rng(seed);
  const { labels } = opts;
  if (labels === undefined) {
    const order = rng.permutation(n);
    const ends = boundaries(n, fractions);
    return ends.map((end, k) => order.slice(k === 0 ? 0 : ends[k - 1], end));
  }
  if (labels.length !== n) throw new RangeError(`${labels.length} labels for ${n} items`);
  const parts: number[][] = fractions.map(() => []);
  for (const members of classIndices(labels, classCountOf(labels))) {
    rng.shuffle(members);
    const ends = boundaries(members.length, fractions);
    ends.forEach((end, k) => {
      for (let j = k === 0 ? 0 : ends[k - 1]; j < end; j++) parts[k].push(members[j]);
    });
  }
  return parts.map((part) => {
    const arr = Int32Array.from(part);
    rng.shuffle(arr);
    return arr;
  });
}

/**
 * `count` seeded indices of 0..n-1 without repeats. With labels, classes keep their proportions
 * (largest-remainder rounding, so the total is exactly `count`) and the result is shuffled.
 */
export function subsetIndices(n: number, count: number, seed: number, opts: SplitOptions = {}): Int32Array {
  if (!Number.isInteger(count) || count < 0 || count > n) throw new RangeError(`cannot take ${count} of ${n} items`);
  const rng = new Rng(seed);
  const { labels } = opts;
  if (labels === undefined) return rng.permutation(n).slice(0, count);
  if (labels.length !== n) throw new RangeError(`${labels.length} labels for ${n} items`);
  const groups = classIndices(labels, classCountOf(labels));
  const exact = groups.map((g) => (n === 0 ? 0 : (count * g.length) / n));
  const quota = exact.map(Math.floor);
  let left = count - quota.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((e, c) => ({ c, r: e - quota[c] })).sort((a, b) => b.r - a.r || a.c - b.c);
  for (const { c } of byRemainder) {
    if (left === 0) break;
    quota[c]++;
    left--;
  }
  const out = new Int32Array(count);
  let at = 0;
  groups.forEach((members, c) => {
    rng.shuffle(members);
    out.set(members.subarray(0, quota[c]), at);
    at += quota[c];
  });
  rng.shuffle(out);
  return out;
}

/** `count` indices drawn uniformly from 0..n-1 with replacement (bootstrap resampling). */
export function sampleWithReplacement(n: number, count: number, seed: number | Rng): Int32Array {
  if (n <= 0 && count > 0) throw new RangeError('cannot sample from an empty set');
  const rng = typeof seed === 'number' ? new Rng(seed) : seed;
  const out = new Int32Array(count);
  for (let k = 0; k < count; k++) out[k] = rng.int(n);
  return out;
}
