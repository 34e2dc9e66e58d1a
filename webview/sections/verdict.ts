/**
 * The verdict card: what BAN decided and on what grounds (score against threshold and the
 * inconclusive band), then everything needed to judge whether the run was sound: the model, the data
 * and its preprocessing, the settings, the compute backend and the time each phase took.
 */
import type { RepairComparison } from '../../src/protocol/webview';
import { gauge, legend, stackedBar } from '../charts';
import { VERDICT_CLASS, suspectLabel, suspectWord, type RenderContext } from '../context';
import { el, facts, type Child } from '../dom';
import { baseName, classLabel, num, percent, seconds, shape } from '../format';

const PHASE_COLOURS = ['c-blue', 'c-orange', 'c-purple', 'c-green', 'c-yellow', 'c-red'];

/** A path the user can click to open; the extension decides whether it may. */
function fileLink(ctx: RenderContext, path: string): HTMLElement {
  const link = el('a', { class: 'file-link', attrs: { href: '#' }, title: `Open ${path}` }, path);
  link.addEventListener('click', (event) => {
    event.preventDefault();
    ctx.post({ kind: 'openFile', path });
  });
  return link;
}

/** Pixel scales are nearly always 1/255 or 1/127.5; they read better as the fraction. */
function scaleText(scale: number): string {
  const inverse = 1 / scale;
  return scale > 0 && Math.abs(inverse * 2 - Math.round(inverse * 2)) < 1e-6 ? `1/${Number(inverse.toFixed(1))}` : num(scale);
}

function list(values: number[]): string {
  return values.map((v) => num(v)).join(', ');
}

/**
 * The engine records the noise and evaluation of each sweep strength as phases named `… ε=<eps>`;
 * they are folded into one "ε sweep" part so that the main phases stay readable.
 */
function foldSweepPhases(phases: Array<{ phase: string; seconds: number }>): Array<{ phase: string; seconds: number }> {
  const folded: Array<{ phase: string; seconds: number }> = [];
  for (const p of phases) {
    const name = / ε=/.test(p.phase) ? 'ε sweep' : p.phase;
    const existing = folded.find((f) => f.phase === name);
    if (existing) existing.seconds += p.seconds;
    else folded.push({ phase: name, seconds: p.seconds });
  }
  return folded;
}

function timings(ctx: RenderContext): HTMLElement {
  const phases = foldSweepPhases(ctx.report.timings);
  const total = phases.reduce((sum, p) => sum + p.seconds, 0);
  const series = phases.map((p, i) => ({ name: p.phase, value: p.seconds, cls: PHASE_COLOURS[i % PHASE_COLOURS.length] }));
  return el('div', { class: 'timings' },
    el('h3', undefined, `Time per phase · ${seconds(total)} in all`),
    stackedBar(series, 'Time per phase', seconds),
    legend(series.map((s) => ({ name: `${s.name} ${seconds(s.value)}`, cls: s.cls }))),
  );
}

/** The colour of a repair's outcome, as the verdict colours: gone green, weakened orange, still there red. */
const OUTCOME_CLASS: Record<RepairComparison['outcome']['outcome'], string> = {
  removed: 'c-green',
  reduced: 'c-orange',
  remains: 'c-red',
  unmeasured: '',
};

function repairTable(repair: RepairComparison): HTMLElement {
  const cell = (value: number | string | undefined): HTMLTableCellElement => el('td', undefined, value === undefined ? '—' : typeof value === 'number' ? percent(value) : value);
  const row = (name: string, before: number | string | undefined, after: number | string | undefined): HTMLTableRowElement =>
    el('tr', undefined, el('th', { attrs: { scope: 'row' } }, name), cell(before), cell(after));
  return el('div', { class: 'repair' },
    el('h3', undefined, `After repair with ${repair.method === 'none' ? 'NONE' : 'BAN fine-tuning'} · ${seconds(repair.seconds)}`),
    el('table', { class: 'data-table compact' },
      el('thead', undefined, el('tr', undefined, el('th', undefined, ''), el('th', undefined, 'Before'), el('th', undefined, 'After'))),
      el('tbody', undefined,
        row('Clean accuracy', repair.before.cleanAccuracy, repair.after.cleanAccuracy),
        row('Attack success rate', repair.before.attackSuccessRate, repair.after.attackSuccessRate),
        row('BAN verdict', repair.before.verdict, repair.after.verdict),
        row('Collapse under noise', repair.before.noisyDominantRate, repair.after.noisyDominantRate),
      ),
    ),
    el('p', { class: `repair-outcome ${OUTCOME_CLASS[repair.outcome.outcome]}`, attrs: { 'data-testid': 'repair-outcome' } }, repair.outcome.explanation),
    el('p', { class: 'muted' }, 'Repaired model: ', repair.repairedModelPath),
  );
}

export function renderVerdict(ctx: RenderContext): HTMLElement {
  const { report } = ctx;
  const v = report.verdict;
  const suspect = suspectLabel(report);
  const headline = el('div', { class: 'headline' },
    el('span', { class: `verdict-word ${VERDICT_CLASS[v.verdict]}`, attrs: { 'data-testid': 'verdict' } }, v.verdict),
    suspect !== undefined
      ? el('span', { class: 'target' }, `${suspectWord(report)} `, el('strong', { attrs: { 'data-testid': 'target-label' } }, classLabel(report, suspect)))
      : el('span', { class: 'target muted' }, 'no target label'),
  );
  const explanation = el('p', { class: 'explanation', attrs: { 'data-testid': 'explanation' } }, v.explanation);
  const score = el('div', { class: 'gauge' },
    gauge({ score: v.score, threshold: v.threshold, band: v.inconclusiveBand, cls: VERDICT_CLASS[v.verdict], format: num }),
    el('p', { class: 'muted' }, `Scores from ${num(v.inconclusiveBand[0])} to ${num(v.inconclusiveBand[1])} are inconclusive.`),
  );

  const m = report.model;
  const d = report.data;
  const p = d.preprocessing;
  const b = report.backend;
  const s = report.settings;
  const groups = el('div', { class: 'fact-groups' },
    el('section', undefined, el('h3', undefined, 'Model'), facts([
      ['File', fileLink(ctx, m.path)],
      ['Format', m.format],
      ['Input', shape(m.inputShape)],
      ['Classes', String(m.numClasses)],
      ['Parameters', m.parameters.toLocaleString('en-US')],
      ['BatchNorm', `${m.batchNormLayers} layers, ${m.batchNormChannels} channels`],
      ['Split point', `${m.splitPoint} ${shape(m.splitShape)}`],
      ['SHA-256', el('code', { title: m.sha256 }, m.sha256.slice(0, 16) + '…')],
    ])),
    el('section', undefined, el('h3', undefined, 'Data'), facts([
      ['Source', fileLink(ctx, d.path)],
      ['Kind', d.kind],
      ['Images', `${d.size.toLocaleString('en-US')}: ${d.optimisationImages} to optimise, ${d.evaluationImages} to evaluate (${Math.min(s.sweepImages, d.evaluationImages)} per sweep strength)`],
      ['Preprocessing', `scale ${scaleText(p.scale)}, mean [${list(p.mean)}], std [${list(p.std)}]`],
      ['Taken from', p.source],
      ['Resized', p.resized ? `yes, to ${shape(p.inputShape)}` : `no ${shape(p.inputShape)}`],
    ])),
    el('section', undefined, el('h3', undefined, 'Run'), facts([
      ['Backend', `${b.name}${b.simd ? ', SIMD' : ''}, ${b.threads} thread${b.threads === 1 ? '' : 's'}`],
      ['Adapter', b.adapter ?? '—'],
      ['Noise', `ε ${num(s.eps)}, ${s.steps} steps, ${s.noiseVariant}${s.faithful ? ', faithful' : ''}`],
      ['Mask', `λ ${num(s.lambda)}, lr ${num(s.maskLr)}, ${s.maskEpochs} epochs × ${s.batchesPerEpoch} batches of ${s.batchSize}`],
      ['Seed', String(s.seed)],
      ['Tool', `${report.tool.name} ${report.tool.version}, ${report.createdAt}`],
    ])),
  );
  const notes = [...m.notes, ...b.notes];
  const children: Child[] = [
    headline,
    explanation,
    score,
    ctx.repair ? repairTable(ctx.repair) : null,
    groups,
    timings(ctx),
    notes.length > 0 ? el('ul', { class: 'notes' }, ...notes.map((n) => el('li', undefined, n))) : null,
  ];
  return el('div', { class: 'verdict-card', attrs: { 'aria-label': `Verdict for ${baseName(m.path)}` } }, ...children);
}
