/**
 * Activations at the split layer: the mean activation of each channel on inputs of the target class
 * against the other inputs, one point per channel. Channels far above the diagonal fire for the
 * target much more than for the rest; they are the candidates a neuron-level repair such as NONE
 * resets, and the table lists the largest gaps.
 */
import { scatter } from '../charts';
import type { RenderContext } from '../context';
import { el } from '../dom';
import { classLabel, num } from '../format';

/** How many channels the table of largest target-vs-other gaps lists (and the chart highlights). */
const TOP_CHANNELS = 8;

export function renderActivations(ctx: RenderContext): HTMLElement {
  const { report } = ctx;
  const a = report.evidence.activations;
  const channels = Math.min(a.targetMeans.length, a.otherMeans.length);
  if (channels === 0) return el('p', { class: 'muted' }, 'This report holds no split-layer activations.');
  const gap = (c: number): number => a.targetMeans[c] - a.otherMeans[c];
  const order = Array.from({ length: channels }, (_, c) => c).sort((x, y) => gap(y) - gap(x));
  const top = order.slice(0, Math.min(TOP_CHANNELS, channels));
  // The engine compares the class the collapse points to with all others, whatever the verdict.
  const label = report.verdict.targetLabel;
  const targetName = label === undefined ? 'the collapse class' : `${report.verdict.verdict === 'clean' ? 'class' : 'target'} ${classLabel(report, label)}`;
  const chart = scatter({
    xs: a.otherMeans.slice(0, channels),
    ys: a.targetMeans.slice(0, channels),
    highlight: new Set(top),
    pointTitle: (c) => `channel ${c}: ${num(a.targetMeans[c])} on ${targetName}, ${num(a.otherMeans[c])} on the others`,
    xLabel: 'mean activation, other classes',
    yLabel: `mean activation, ${targetName}`,
    label: 'Mean activation per channel, target against other classes',
  });
  const rows = top.map((c) => el('tr', undefined,
    el('td', { class: 'num' }, String(c)),
    el('td', { class: 'num' }, num(a.targetMeans[c])),
    el('td', { class: 'num' }, num(a.otherMeans[c])),
    el('td', { class: 'num' }, num(gap(c))),
  ));
  return el('div', { class: 'activations' },
    el('p', { class: 'muted' }, 'Layer ', el('code', { attrs: { 'data-testid': 'activation-layer' } }, a.layer), `, ${channels} channels, one point each; channels above the diagonal are more active on ${targetName} than on the other classes.`),
    el('div', { class: 'side-by-side' },
      el('figure', undefined, chart),
      el('div', undefined,
        el('h3', undefined, 'Largest gaps (highlighted)'),
        el('table', { class: 'data-table compact', attrs: { 'data-testid': 'activation-top' } },
          el('thead', undefined, el('tr', undefined, el('th', { class: 'num' }, 'Channel'), el('th', { class: 'num' }, 'Target'), el('th', { class: 'num' }, 'Other'), el('th', { class: 'num' }, 'Gap'))),
          el('tbody', undefined, ...rows),
        ),
      ),
    ),
  );
}
