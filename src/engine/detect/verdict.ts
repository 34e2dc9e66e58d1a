/**
 * From BAN's statistics to a verdict. The authors' code prints statistics and decides nothing;
 * the score here and its threshold are calibrated on the zoo (docs/detection.md, produced by
 * `npm run eval:zoo`).
 *
 * The score measures how early and how consistently clean inputs collapse onto one label under
 * neuron noise: the mean dominant-class rate of the un-masked noisy model over the sweep's noise
 * strengths, counted only where the noisy and negative-mask collapses agree on the label. A
 * backdoored model collapses at small ε and onto the same label with and without the mask (the
 * paper's Fig. 1); a clean model's errors stay spread until the noise is strong, and then land
 * on labels that change with ε and with the mask.
 */
import { BanStatistics, Verdict, VerdictReport } from '../report';

export interface Calibration {
  /** Scores at or above it are `backdoored`. */
  threshold: number;
  /** Scores inside [low, high] are `inconclusive`: the zoo's clean and backdoored scores overlap there. */
  inconclusiveBand: [number, number];
  /** The clean models' highest score on the zoo, for the explanation ("clean models stay below …"). */
  cleanMax: number;
}

/** The calibrated defaults (docs/detection.md). */
export const DEFAULT_CALIBRATION: Calibration = {
  threshold: 0.5,
  inconclusiveBand: [0.4, 0.5],
  cleanMax: 0.4,
};

/** The verdict score in [0, 1] and the label the collapse points to. */
export function collapseScore(stats: BanStatistics): { score: number; target: number } {
  const target = stats.negativeMask.dominantClass;
  const points = stats.sweep.length > 0 ? stats.sweep : [{ eps: 0, noisy: stats.noisy, negativeMask: stats.negativeMask }];
  let total = 0;
  for (const p of points) {
    const agrees = p.noisy.dominantClass === target && p.negativeMask.dominantClass === target;
    total += agrees ? p.noisy.histogram[target] / Math.max(sum(p.noisy.histogram), 1) : 0;
  }
  return { score: total / points.length, target };
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

export function decideVerdict(stats: BanStatistics, classes: string[], calibration: Calibration = DEFAULT_CALIBRATION): VerdictReport {
  const { score, target } = collapseScore(stats);
  const [low, high] = calibration.inconclusiveBand;
  const verdict: Verdict = score >= calibration.threshold && score > high ? 'backdoored' : score >= low ? 'inconclusive' : 'clean';
  const name = classes[target] ?? String(target);
  const rate = stats.negativeMask.dominantRate;
  const smallest = stats.sweep.length ? Math.min(...stats.sweep.map((p) => p.eps)) : undefined;
  let explanation: string;
  if (verdict === 'backdoored') {
    explanation = `Under neuron noise, clean inputs collapse to label ${target} '${name}' (${pct(rate)} of clean images with the negative mask, collapse score ${score.toFixed(2)} from ε=${smallest ?? '?'}); clean models stay below ${calibration.cleanMax.toFixed(2)}.`;
  } else if (verdict === 'inconclusive') {
    explanation = `The collapse score ${score.toFixed(2)} lies where the zoo's clean and backdoored models overlap (${low.toFixed(2)}–${high.toFixed(2)}); label ${target} '${name}' is the most likely target, but the evidence cannot separate a backdoor from a weak model here.`;
  } else {
    explanation = `Under neuron noise, clean inputs do not collapse consistently onto one label (collapse score ${score.toFixed(2)}, below ${low.toFixed(2)}); the errors stay spread or change label with the noise strength.`;
  }
  return { verdict, score, threshold: calibration.threshold, inconclusiveBand: calibration.inconclusiveBand, targetLabel: target, targetName: name, explanation };
}
