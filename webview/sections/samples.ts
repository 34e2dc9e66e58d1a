/**
 * Samples: clean evaluation images with their label, the clean prediction and the prediction under
 * BAN's noise. Images the noise sends to the target label are outlined, so the collapse shows on real
 * inputs, not only in the histograms.
 */
import type { SampleEvidence } from '../../src/engine/report';
import { legend } from '../charts';
import { suspectLabel, suspectWord, type RenderContext } from '../context';
import { el } from '../dom';
import { classLabel } from '../format';

/**
 * Only base64 PNG data URIs are shown. The engine writes nothing else; anything else in a report is
 * refused rather than handed to an <img>.
 */
const PNG_DATA_URI = /^data:image\/png;base64,[A-Za-z0-9+/]+={0,2}$/;

export function renderSamples(ctx: RenderContext): HTMLElement {
  const { report } = ctx;
  const target = suspectLabel(report);
  const samples = report.evidence.samples;
  if (samples.length === 0) return el('p', { class: 'muted' }, 'This report holds no sample images.');
  const toTarget = (s: SampleEvidence): boolean => target !== undefined && s.noisyPrediction === target && s.label !== target;
  const flipped = samples.filter(toTarget).length;
  const changed = samples.filter((s) => s.noisyPrediction !== s.cleanPrediction).length;

  const cards = samples.map((s) => {
    const kind = toTarget(s) ? 'to-target' : s.noisyPrediction !== s.cleanPrediction ? 'changed' : 'kept';
    const image = PNG_DATA_URI.test(s.png)
      ? el('img', { attrs: { src: s.png, alt: `Evaluation image ${s.index}` } })
      : el('div', { class: 'no-image' }, 'no image');
    return el('figure', { class: `sample ${kind}`, attrs: { 'data-testid': 'sample' } },
      image,
      el('figcaption', undefined,
        el('div', { class: 'item', title: s.item }, s.item),
        el('div', undefined, 'label ', classLabel(report, s.label)),
        el('div', undefined, 'clean ', classLabel(report, s.cleanPrediction)),
        el('div', { class: 'noisy' }, 'noise ', el('strong', undefined, classLabel(report, s.noisyPrediction))),
      ),
    );
  });
  return el('div', undefined,
    el('p', { attrs: { 'data-testid': 'samples-summary' } },
      target !== undefined ? `${flipped} of ${samples.length} images go to the ${suspectWord(report)} ${classLabel(report, target)} under noise; ` : '',
      `${changed} of ${samples.length} change their prediction.`),
    el('div', { class: 'samples-key' }, legend([
      ...(target !== undefined ? [{ name: 'goes to the target under noise', cls: 'key-to-target' }] : []),
      { name: 'changes to another class', cls: 'key-changed' },
      { name: 'keeps its prediction', cls: 'key-kept' },
    ])),
    el('div', { class: 'samples' }, ...cards),
  );
}
