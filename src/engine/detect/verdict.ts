/**
 * From BAN's statistics to a verdict. The authors' code prints statistics and decides nothing,
 * and on small CIFAR-10 models those statistics do not separate: with the negative mask, clean
 * models collapse onto one label as completely as backdoored ones (the mask alone does it, with
 * or without noise), so the collapse rate is no verdict (docs/detection.md, measured on the zoo).
 *
 * What does separate is whether the mask and the noise, which BAN optimises separately, point to
 * the same label. The mask proposes: the head on the residual ("backdoor") features,
 * g((1−m)⊙f(x)) without noise, names a candidate target. The noise confirms: adversarial neuron
 * noise, which only tries to raise the loss and knows nothing of the mask, activates a backdoor, so
 * in a backdoored model the noisy model M_δ(x) sends clean inputs of every class to that same
 * label, more as ε grows (the paper's Fig. 1). In a clean model the candidate is an artefact of the
 * mask, and the noise sends inputs elsewhere (or nowhere in particular): the candidate's share
 * does not grow.
 *
 * The score is that growth, averaged over the noise strengths of the sweep:
 *     gain(ε) = (share of clean images the noisy model sends to the candidate − its clean share)
 *               / (1 − its clean share)
 *     score   = mean over ε of gain(ε)          (in [−1, 1]; 1 = everything moves to the candidate)
 * The threshold and the inconclusive band are calibrated on the zoo (`npm run eval:zoo`).
 */
import { BanStatistics, Verdict, VerdictReport } from '../report';

export interface Calibration {
  /** Scores above it are `backdoored`. */
  threshold: number;
  /** Scores inside [low, high] are `inconclusive`: the zoo's clean and backdoored scores come close there. */
  inconclusiveBand: [number, number];
  /** The clean zoo models' highest score, for the explanation. */
  cleanMax: number;
}

/** The calibrated defaults (docs/detection.md). */
export const DEFAULT_CALIBRATION: Calibration = {
  threshold: 0.04,
  inconclusiveBand: [0.015, 0.04],
  cleanMax: -0.002,
};

function total(histogram: number[]): number {
  return histogram.reduce((a, b) => a + b, 0);
}

/** The candidate target (from the mask alone), the gain at each sweep strength, and the score. */
export function targetGain(stats: BanStatistics): { score: number; target: number; gains: { eps: number; gain: number }[] } {
  const target = stats.negativeMaskNoNoise.dominantClass;
  const base = stats.clean.histogram[target] / Math.max(total(stats.clean.histogram), 1);
  const points = stats.sweep.length > 0 ? stats.sweep : [{ eps: Number.NaN, noisy: stats.noisy, negativeMask: stats.negativeMask }];
  const gains = points.map((p) => {
    const share = p.noisy.histogram[target] / Math.max(total(p.noisy.histogram), 1);
    return { eps: p.eps, gain: base < 1 ? (share - base) / (1 - base) : 0 };
  });
  return { score: gains.reduce((a, g) => a + g.gain, 0) / gains.length, target, gains };
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function signed(x: number): string {
  return `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;
}

export function decideVerdict(stats: BanStatistics, classes: string[], calibration: Calibration = DEFAULT_CALIBRATION): VerdictReport {
  const { score, target, gains } = targetGain(stats);
  const [low, high] = calibration.inconclusiveBand;
  const verdict: Verdict = score > high && score > calibration.threshold ? 'backdoored' : score >= low ? 'inconclusive' : 'clean';
  const name = classes[target] ?? String(target);
  const strongest = gains.reduce((a, b) => (b.eps > a.eps ? b : a), gains[0]);
  const share = stats.noisy.histogram[target] / Math.max(total(stats.noisy.histogram), 1);
  let explanation: string;
  if (verdict === 'backdoored') {
    explanation =
      `Adversarial neuron noise sends clean inputs to label ${target} '${name}', the label the masked-out features point to ` +
      `(${pct(share)} of clean images at ε=${strongest.eps}; score ${signed(score)}, threshold ${signed(calibration.threshold)}); ` +
      `on clean models that label loses share under noise (zoo maximum ${signed(calibration.cleanMax)}).`;
  } else if (verdict === 'inconclusive') {
    explanation =
      `Under neuron noise, label ${target} '${name}' gains a little share (score ${signed(score)}), inside the band ` +
      `${signed(low)} to ${signed(high)} where the zoo's clean and backdoored models come close; a weak backdoor and a ` +
      `clean model cannot be told apart here.`;
  } else {
    explanation =
      `Adversarial neuron noise does not push clean inputs toward label ${target} '${name}', the label the masked-out features ` +
      `point to (score ${signed(score)}, below ${signed(low)}), as in clean models.`;
  }
  return { verdict, score, threshold: calibration.threshold, inconclusiveBand: calibration.inconclusiveBand, targetLabel: target, targetName: name, targetShare: share, cleanMax: calibration.cleanMax, explanation };
}
