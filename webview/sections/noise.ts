/**
 * Neuron noise: the adversarial perturbation BAN puts on each BatchNorm layer's scale and shift
 * (|δw|, |δb| per channel, bounded by ε) and how much each layer's noise alone raised the loss. Rows
 * are sorted by that loss increase, so the layers the backdoor is most sensitive through come first.
 */
import { boxPlot, hbar } from '../charts';
import type { RenderContext } from '../context';
import { el } from '../dom';
import { num } from '../format';

export function renderNoise(ctx: RenderContext): HTMLElement {
  const { settings } = ctx.report;
  const layers = [...ctx.report.evidence.noise].sort((a, b) => b.lossIncrease - a.lossIncrease);
  if (layers.length === 0) return el('p', { class: 'muted' }, 'The model has no BatchNorm layers, so there is no neuron noise to show.');
  // The axes end at the noise bound, so a box near the right edge reads as noise at its limit: the
  // projected variant clips δ to ε; the official one takes S signed steps of ε/S from U(-ε, ε), so 2ε.
  const bound = settings.noiseVariant === 'projected' ? settings.eps : 2 * settings.eps;
  const boundName = settings.noiseVariant === 'projected' ? 'ε' : '2ε';
  const maxScale = Math.max(bound, ...layers.flatMap((l) => l.absScale));
  const maxShift = Math.max(bound, ...layers.flatMap((l) => l.absShift));
  const maxLoss = Math.max(0, ...layers.map((l) => l.lossIncrease));

  const head = el('thead', undefined, el('tr', undefined,
    el('th', { attrs: { scope: 'col' } }, 'BatchNorm layer'),
    el('th', { class: 'num', attrs: { scope: 'col' } }, 'Channels'),
    el('th', { attrs: { scope: 'col' } }, '|δw| per channel', el('span', { class: 'axis-range' }, `0 – ${num(maxScale)}${maxScale === bound ? ` (${boundName})` : ''}`)),
    el('th', { attrs: { scope: 'col' } }, '|δb| per channel', el('span', { class: 'axis-range' }, `0 – ${num(maxShift)}${maxShift === bound ? ` (${boundName})` : ''}`)),
    el('th', { attrs: { scope: 'col' } }, 'Loss increase'),
  ));
  const body = el('tbody', undefined, ...layers.map((l) => el('tr', { attrs: { 'data-testid': 'noise-row' } },
    el('th', { class: 'layer-name', attrs: { scope: 'row' }, title: l.name }, l.name),
    el('td', { class: 'num' }, String(l.channels)),
    el('td', undefined, boxPlot(l.absScale, maxScale, 'c-blue', `|δw| of ${l.name}`, num)),
    el('td', undefined, boxPlot(l.absShift, maxShift, 'c-purple', `|δb| of ${l.name}`, num)),
    el('td', { class: 'loss' }, hbar(l.lossIncrease, maxLoss, 'c-orange', `Loss increase of ${l.name}: ${num(l.lossIncrease)}`), el('span', { class: 'num' }, num(l.lossIncrease))),
  )));
  return el('div', undefined,
    el('p', { class: 'muted' }, `ε ${num(settings.eps)} (${settings.noiseVariant} noise, |δ| up to ${boundName}), ${layers.length} layers, the largest loss increase first. Boxes span the middle half of a layer's channels; whiskers reach the smallest and largest.`),
    el('div', { class: 'scroll-x' }, el('table', { class: 'data-table noise-table' }, head, body)),
  );
}
