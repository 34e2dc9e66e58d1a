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
 *
 * The mask is the weak link for weak backdoors: on low-poison-rate models it can name a label the
 * noise ignores while the noise, already at the weakest strength of the sweep, sends most clean
 * images to another label (the zoo's clean models stay far below that at the same ε). The two
 * signals then disagree, and such a scan is `inconclusive`, naming the label the noise found.
 *
 * The proposal must also be firm. On a backdoored model the mask alone sends (nearly) every clean
 * image to the target; on clean models it often names a label for only a third to two thirds of
 * them, and if the noise happens to favour that same label (a clean ResNet-8 of the zoo collapses
 * onto 'frog' under noise), the score alone would call a clean model backdoored. Without a firm
 * proposal the mask has found no backdoor features for the noise to confirm, so a high score on a
 * weak proposal is `clean`, and the explanation names the label the noise favours.
 */
import { wholePercent as pct } from '../percent';
import { BanStatistics, Verdict, VerdictReport } from '../report';

export interface Calibration {
  /** Scores above it are `backdoored`. */
  threshold: number;
  /** Scores inside [low, high] are `inconclusive`: the zoo's clean and backdoored scores come close there. */
  inconclusiveBand: [number, number];
  /** The highest score of the clean zoo models with a firm proposal, for the explanation. */
  cleanMax: number;
  /**
   * A share of clean images the noisy model sends to one label at the sweep's weakest ε at or above
   * which a scan is never `clean`, whatever the mask names.
   */
  weakNoiseCollapse: number;
  /** The clean zoo models' highest such share, for the explanation. */
  cleanWeakNoiseMax: number;
  /**
   * The least share of clean images the negative-mask head without noise must send to the candidate
   * for a `backdoored` (or `inconclusive`) verdict; below it the scan is `clean`.
   */
  firmProposal: number;
}

/** The calibrated defaults (docs/detection.md). */
export const DEFAULT_CALIBRATION: Calibration = {
  threshold: 0.08,
  inconclusiveBand: [0.05, 0.08],
  cleanMax: 0.035,
  weakNoiseCollapse: 0.4,
  cleanWeakNoiseMax: 0.184,
  firmProposal: 0.9,
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


function signed(x: number): string {
  return `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;
}

/** The noisy model's dominant label and its share at the weakest noise strength of the sweep. */
export function weakNoiseCollapse(stats: BanStatistics): { eps: number; label: number; share: number } | undefined {
  if (stats.sweep.length === 0) return undefined;
  const weakest = stats.sweep.reduce((a, b) => (b.eps < a.eps ? b : a));
  return { eps: weakest.eps, label: weakest.noisy.dominantClass, share: weakest.noisy.dominantRate };
}

export function decideVerdict(stats: BanStatistics, classes: string[], calibration: Calibration = DEFAULT_CALIBRATION): VerdictReport {
  const { score, target: maskTarget, gains } = targetGain(stats);
  const [low, high] = calibration.inconclusiveBand;
  let verdict: Verdict = score > high && score > calibration.threshold ? 'backdoored' : score >= low ? 'inconclusive' : 'clean';
  const proposal = stats.negativeMaskNoNoise.dominantRate;
  const weakProposal = verdict !== 'clean' && proposal < calibration.firmProposal;
  if (weakProposal) verdict = 'clean';
  const weak = weakNoiseCollapse(stats);
  const disagreement = verdict === 'clean' && weak !== undefined && weak.share >= calibration.weakNoiseCollapse && weak.label !== maskTarget;
  if (disagreement) verdict = 'inconclusive';
  // When the signals disagree, the label the noise collapses onto is the one a user should check.
  const target = disagreement && weak ? weak.label : maskTarget;
  const name = classes[target] ?? String(target);
  const strongest = gains.reduce((a, b) => (b.eps > a.eps ? b : a), gains[0]);
  const share = stats.noisy.histogram[target] / Math.max(total(stats.noisy.histogram), 1);
  let explanation: string;
  if (disagreement && weak) {
    const maskName = classes[maskTarget] ?? String(maskTarget);
    explanation =
      `Already at weak neuron noise (ε=${weak.eps}) the model sends ${pct(weak.share)} of clean images to label ${target} '${name}' ` +
      `(the zoo's clean models stay at or below ${pct(calibration.cleanWeakNoiseMax)}), but the masked-out features point to label ` +
      `${maskTarget} '${maskName}' instead (score ${signed(score)}); the two signals disagree, as on weak, low-poison-rate backdoors.`;
  } else if (weakProposal) {
    explanation =
      `Neuron noise favours label ${target} '${name}' (score ${signed(score)}, threshold ${signed(calibration.threshold)}), ` +
      `but the masked-out features alone point there for only ${pct(proposal)} of clean images (backdoored zoo models: at least ` +
      `${pct(calibration.firmProposal)}): the mask found no backdoor features, and this is a clean model's favourite label under noise.`;
  } else if (verdict === 'backdoored') {
    explanation =
      `Adversarial neuron noise sends clean inputs to label ${target} '${name}', the label the masked-out features point to ` +
      `(${pct(share)} of clean images at ε=${strongest.eps}; score ${signed(score)}, threshold ${signed(calibration.threshold)}); ` +
      `clean zoo models with as firm a proposal score at most ${signed(calibration.cleanMax)}.`;
  } else if (verdict === 'inconclusive') {
    explanation =
      `Under neuron noise, label ${target} '${name}' gains a little share (score ${signed(score)}), inside the band ` +
      `${signed(low)} to ${signed(high)} where the zoo's clean and backdoored models come close; a weak backdoor and a ` +
      `clean model cannot be told apart here.`;
  } else {
    explanation =
      `Adversarial neuron noise pushes clean inputs toward label ${target} '${name}', the label the masked-out features ` +
      `point to, no more than it does in clean models (score ${signed(score)}, below ${signed(low)}).`;
  }
  return { verdict, score, threshold: calibration.threshold, inconclusiveBand: calibration.inconclusiveBand, targetLabel: target, targetName: name, targetShare: share, cleanMax: calibration.cleanMax, explanation };
}
