/**
 * The feature mask m that BAN learns at the split layer: m keeps the benign features (the positive
 * mask still classifies correctly) and 1 - m holds the backdoor features (the negative mask collapses
 * onto the target). The heatmaps show where, in the feature map, the mask keeps or removes features
 * for the channels it keeps most and removes most; the curve shows all mask values sorted.
 */
import { legend, lineChart, stackedBar } from '../charts';
import type { RenderContext } from '../context';
import { el } from '../dom';
import { num, percent, shape } from '../format';
import { channelHeatmap, colorKey } from '../heatmap';

/** How many channels each row of heatmaps shows. */
const CHANNELS_PER_ROW = 8;
/** The sorted curve is drawn through this many evenly spaced ranks, whatever the mask's size. */
const CURVE_POINTS = 200;

function heatmapRow(ctx: RenderContext, title: string, channels: number[], testId: string): HTMLElement {
  const { mask } = ctx.report.evidence;
  const figures = channels.map((c) =>
    el('figure', { class: 'heatmap-cell' },
      channelHeatmap(mask.values, mask.shape, c, `Mask of channel ${c}`),
      el('figcaption', undefined, `ch ${c} · ${num(mask.channelMeans[c])}`),
    ));
  return el('div', { class: 'heatmap-row', attrs: { 'data-testid': testId } }, el('h3', undefined, title), el('div', { class: 'heatmaps' }, ...figures));
}

export function renderMask(ctx: RenderContext): HTMLElement {
  const { mask } = ctx.report.evidence;
  const channels = mask.shape[2] ?? mask.channelMeans.length;
  const byMean = Array.from({ length: channels }, (_, c) => c).sort((a, b) => mask.channelMeans[b] - mask.channelMeans[a]);
  const count = Math.min(CHANNELS_PER_ROW, Math.floor(channels / 2) || channels);
  const kept = byMean.slice(0, count);
  const removed = byMean.slice(-count).reverse();

  const share = [
    { name: 'Benign features (m)', value: mask.benignShare, cls: 'c-green' },
    { name: 'Backdoor features (1 − m)', value: 1 - mask.benignShare, cls: 'c-red' },
  ];
  const summary = el('div', { class: 'share' },
    el('p', undefined,
      'Benign share ', el('strong', { attrs: { 'data-testid': 'benign-share' } }, percent(mask.benignShare)),
      ', backdoor share ', el('strong', undefined, percent(1 - mask.benignShare)),
      ` of the ${shape(mask.shape)} feature map at the split layer.`),
    stackedBar(share, 'Benign vs backdoor share of the mask', (v) => percent(v)),
    legend(share),
  );

  const sorted = Float64Array.from(mask.values).sort().reverse();
  const points = Math.min(CURVE_POINTS, sorted.length);
  const xs = Array.from({ length: points }, (_, i) => (points > 1 ? i / (points - 1) : 0));
  const ys = xs.map((f) => sorted[Math.round(f * (sorted.length - 1))] ?? 0);
  const curve = lineChart({
    xs,
    series: [{ name: 'Mask value', cls: 'c-purple', ys }],
    xFormat: (v) => percent(v, 0),
    yFormat: (v) => num(v),
    yMax: 1,
    dots: false,
    xTicks: [0, 0.25, 0.5, 0.75, 1],
    label: 'All mask values, sorted from largest to smallest',
    width: Math.min(ctx.width, 640),
  });

  return el('div', undefined,
    summary,
    el('div', { class: 'mask-maps' },
      heatmapRow(ctx, 'Channels the mask keeps most (benign)', kept, 'mask-kept'),
      heatmapRow(ctx, 'Channels the mask removes most (backdoor)', removed, 'mask-removed'),
      colorKey(),
    ),
    el('figure', undefined,
      el('h3', undefined, 'Sorted mask values'),
      curve,
      el('figcaption', undefined, 'Every mask value, largest first, against its rank. A sharp drop separates the few features the backdoor lives in from the rest.'),
    ),
  );
}
