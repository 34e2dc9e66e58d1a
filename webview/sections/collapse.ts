/**
 * Per-class collapse: BAN's central observation. On a backdoored model, noise on the BatchNorm neurons
 * (and, more so, the features outside the mask) sends clean images to one class, the target; on a
 * clean model the predictions stay spread. The grouped bars show the predicted-class histograms of
 * the evaluation images in three configurations, and the sweep shows how the collapse grows with ε.
 */
import type { PredictionStats } from '../../src/engine/report';
import { groupedBars, legend, lineChart } from '../charts';
import { suspectLabel, suspectWord, type RenderContext } from '../context';
import { el } from '../dom';
import { className, classLabel, num, percent } from '../format';

function shares(stats: PredictionStats): number[] {
  const total = stats.histogram.reduce((sum, n) => sum + n, 0);
  return stats.histogram.map((n) => (total > 0 ? n / total : 0));
}

function tile(label: string, value: string, detail: string, testId: string): HTMLElement {
  return el('div', { class: 'tile', attrs: { 'data-testid': testId } },
    el('div', { class: 'tile-label' }, label),
    el('div', { class: 'tile-value' }, value),
    el('div', { class: 'tile-detail' }, detail),
  );
}

export function renderCollapse(ctx: RenderContext): HTMLElement {
  const { report } = ctx;
  const st = report.statistics;
  const target = suspectLabel(report);
  const dominant = (s: PredictionStats): string => `${percent(s.dominantRate)} on ${classLabel(report, s.dominantClass)}`;
  const tiles = el('div', { class: 'tiles' },
    tile('No noise', percent(st.clean.accuracy), 'accuracy on clean images', 'clean-accuracy'),
    tile('Noise, no mask', percent(st.noisy.dominantRate), dominant(st.noisy), 'noisy-rate'),
    tile('Noise, negative mask', percent(st.negativeMask.dominantRate), dominant(st.negativeMask), 'negative-rate'),
    tile('Positive mask only', percent(st.positiveMask.accuracy), 'accuracy on benign features', 'positive-accuracy'),
  );

  const series = [
    { name: 'No noise', cls: 'c-blue', values: shares(st.clean) },
    { name: 'Noise, no mask', cls: 'c-orange', values: shares(st.noisy) },
    { name: 'Noise, negative mask', cls: 'c-red', values: shares(st.negativeMask) },
  ];
  const categories = Array.from({ length: report.model.numClasses }, (_, i) => className(report, i));
  const bars = groupedBars({
    categories,
    series,
    highlight: target,
    yMax: 1,
    yFormat: (v) => percent(v, 0),
    label: 'Share of evaluation images predicted as each class',
    width: ctx.width,
  });

  const sweep = st.sweep;
  const sweepChart = sweep.length > 0
    ? lineChart({
      xs: sweep.map((p) => p.eps),
      series: [
        { name: 'Noise, no mask', cls: 'c-orange', ys: sweep.map((p) => p.noisy.dominantRate),
          titles: sweep.map((p) => `Noise, no mask at ε ${num(p.eps)}: ${dominant(p.noisy)}`) },
        { name: 'Noise, negative mask', cls: 'c-red', ys: sweep.map((p) => p.negativeMask.dominantRate),
          titles: sweep.map((p) => `Noise, negative mask at ε ${num(p.eps)}: ${dominant(p.negativeMask)}`) },
      ],
      xFormat: (v) => `ε ${num(v)}`,
      yFormat: (v) => percent(v, 0),
      yMax: 1,
      marker: { x: report.settings.eps, label: `scan ε ${num(report.settings.eps)}` },
      dots: true,
      label: 'Share of images on the most-predicted class as the noise grows',
      width: Math.min(ctx.width, 640),
      height: 220,
    })
    : el('p', { class: 'muted' }, 'This scan ran no ε sweep.');

  return el('div', undefined,
    tiles,
    el('figure', { class: 'wide' },
      el('div', { class: 'scroll-x' }, bars),
      el('figcaption', undefined, legend(series),
        target !== undefined ? el('span', { class: 'muted' }, `Highlighted: the ${suspectWord(report)}, ${classLabel(report, target)}.`) : null),
    ),
    el('figure', undefined,
      el('h3', undefined, 'ε sweep: most-predicted class'),
      sweepChart,
      el('figcaption', undefined, 'The share of evaluation images on the most-predicted class at each noise strength. A backdoored model collapses at small ε; a clean one needs far more noise.'),
    ),
  );
}
