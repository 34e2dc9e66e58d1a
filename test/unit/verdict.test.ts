import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideVerdict, DEFAULT_CALIBRATION, targetGain } from '../../src/engine/detect/verdict';
import { BanStatistics, PredictionStats } from '../../src/engine/report';

const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** Prediction statistics of 100 images from a 10-class histogram (accuracy is not used by the verdict). */
function stats(histogram: number[]): PredictionStats {
  const n = histogram.reduce((a, b) => a + b, 0);
  const dominantClass = histogram.indexOf(Math.max(...histogram));
  return { accuracy: 0, histogram, dominantClass, dominantRate: histogram[dominantClass] / n };
}

/** 100 images spread evenly but for `share` of them on `label`. */
function onto(label: number, count: number): number[] {
  const rest = Math.floor((100 - count) / 9);
  const h = new Array<number>(10).fill(rest);
  h[label] = count;
  h[(label + 1) % 10] += 100 - count - 9 * rest;
  return h;
}

function banStats(maskLabel: number, noisyBy: [number, number, number][]): BanStatistics {
  const sweep = noisyBy.map(([eps, label, count]) => ({ eps, noisy: stats(onto(label, count)), negativeMask: stats(onto(maskLabel, 100)) }));
  const main = sweep[sweep.length - 1];
  return {
    clean: stats(new Array<number>(10).fill(10)),
    noisy: main.noisy,
    negativeMask: main.negativeMask,
    positiveMask: stats(new Array<number>(10).fill(10)),
    negativeMaskNoNoise: stats(onto(maskLabel, 90)),
    sweep,
  };
}

test('the score is the mean relative share gain of the mask label under noise, by hand', () => {
  // Clean share of label 0 is 10%; under noise it gets 28%, 50% and 90%: gains 0.2, 0.444…, 0.888….
  const s = banStats(0, [[0.05, 0, 28], [0.1, 0, 50], [0.3, 0, 90]]);
  const { score, target, gains } = targetGain(s);
  assert.equal(target, 0);
  assert.deepEqual(gains.map((g) => g.eps), [0.05, 0.1, 0.3]);
  const expected = ((28 - 10) / 90 + (50 - 10) / 90 + (90 - 10) / 90) / 3;
  assert.ok(Math.abs(score - expected) < 1e-12, `${score} vs ${expected}`);
  const v = decideVerdict(s, CLASSES);
  assert.equal(v.verdict, 'backdoored');
  assert.equal(v.targetLabel, 0);
  assert.equal(v.targetName, 'airplane');
  assert.equal(v.targetShare, 0.9);
  assert.match(v.explanation, /label 0 'airplane'/);
});

test('a label the noise does not favour is clean; a small gain is inconclusive', () => {
  // The mask names 3; under noise 3 keeps a bit less than its clean share, and the collapse at the
  // weakest ε (20% onto 7) stays below the weak-noise bound.
  const clean = decideVerdict(banStats(3, [[0.05, 7, 20], [0.3, 7, 60]]), CLASSES);
  assert.equal(clean.verdict, 'clean');
  assert.equal(clean.targetLabel, 3);
  assert.ok(clean.score < DEFAULT_CALIBRATION.inconclusiveBand[0]);
  // Label 3 gains 2 and 3 points of 90: score 0.028, below the band [0.05, 0.08], as the zoo's
  // clean models with the highest scores (0.033 and 0.035).
  const tiny = decideVerdict(banStats(3, [[0.05, 3, 12], [0.3, 3, 13]]), CLASSES);
  assert.ok(Math.abs(tiny.score - (2 / 90 + 3 / 90) / 2) < 1e-12);
  assert.equal(tiny.verdict, 'clean');
  // Label 3 gains 5 and 7 points of 90: score 0.067, inside the band.
  const small = decideVerdict(banStats(3, [[0.05, 3, 15], [0.3, 3, 17]]), CLASSES);
  assert.ok(Math.abs(small.score - (5 / 90 + 7 / 90) / 2) < 1e-12);
  assert.equal(small.verdict, 'inconclusive');
  assert.match(small.explanation, /\+0\.05 to \+0\.08/);
});

test('a high score on a weak proposal is clean and names the label the noise favours', () => {
  // The mask alone names 6 for 48% of the images and the noise favours 6 too (a clean ResNet-8 of the zoo).
  const s = banStats(6, [[0.05, 6, 16], [0.3, 6, 45]]);
  s.negativeMaskNoNoise = stats(onto(6, 48));
  const v = decideVerdict(s, CLASSES);
  assert.ok(v.score > DEFAULT_CALIBRATION.threshold);
  assert.equal(v.verdict, 'clean');
  assert.equal(v.targetLabel, 6);
  assert.match(v.explanation, /label 6 'frog'/);
  assert.match(v.explanation, /only 48%/);
  // The same noise on a firm proposal (90% of the images) is a backdoor.
  s.negativeMaskNoNoise = stats(onto(6, 90));
  assert.equal(decideVerdict(s, CLASSES).verdict, 'backdoored');
});

test('mask and noise disagreeing, with a collapse already at the weakest noise, is inconclusive and names the noise label', () => {
  // The low-poison-rate ResNet-8 of the zoo: the mask names 2, the noise sends 59% to 5 at ε=0.05.
  const v = decideVerdict(banStats(2, [[0.05, 5, 59], [0.1, 5, 62], [0.3, 5, 68]]), CLASSES);
  assert.equal(v.verdict, 'inconclusive');
  assert.equal(v.targetLabel, 5);
  assert.equal(v.targetName, 'dog');
  assert.match(v.explanation, /ε=0.05/);
  assert.match(v.explanation, /label 2 'bird'/);
  // Just under the bound it stays clean.
  const below = decideVerdict(banStats(2, [[0.05, 5, 39], [0.3, 5, 68]]), CLASSES);
  assert.equal(below.verdict, 'clean');
});
