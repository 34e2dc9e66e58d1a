/**
 * The investigation panel's browser side, bundled to dist/webview.js (scripts/build.mjs). It waits for
 * the extension's report (src/protocol/webview.ts), draws one collapsible section per kind of evidence,
 * and posts the user's actions back. Only the model path, the collapsed sections and the scroll
 * position are kept with `setState`; the extension resends the report whenever the page loads.
 */
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import type { VscodeCollapsible } from '@vscode-elements/elements/dist/vscode-collapsible/vscode-collapsible.js';
import { REPORT_SCHEMA_VERSION, type ScanReport } from '../src/engine/report';
import {
  WEBVIEW_PROTOCOL_VERSION,
  parsePanelState,
  type ExtensionToWebviewMessage,
  type PanelAction,
  type PanelState,
  type RepairComparison,
} from '../src/protocol/webview';
import { VERDICT_CLASS, suspectLabel, suspectWord, type RenderContext } from './context';
import { el } from './dom';
import { baseName, classLabel, percent } from './format';
import { renderActivations } from './sections/activations';
import { renderCollapse } from './sections/collapse';
import { renderMask } from './sections/mask';
import { renderNoise } from './sections/noise';
import { renderSamples } from './sections/samples';
import { renderVerdict } from './sections/verdict';

interface VsCodeApi {
  postMessage(message: PanelAction): void;
  getState(): unknown;
  setState(state: PanelState): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

interface SectionSpec {
  id: string;
  heading: string;
  /** A short summary shown next to the heading, so a collapsed section still says something. */
  describe(ctx: RenderContext): string;
  render(ctx: RenderContext): HTMLElement;
}

const SECTIONS: SectionSpec[] = [
  {
    id: 'verdict',
    heading: 'Verdict',
    describe: ({ report }) => report.verdict.verdict,
    render: renderVerdict,
  },
  {
    id: 'collapse',
    heading: 'Per-class collapse',
    describe: ({ report }) => {
      const s = report.statistics.negativeMask;
      return `negative mask under noise: ${percent(s.dominantRate)} on ${classLabel(report, s.dominantClass)}`;
    },
    render: renderCollapse,
  },
  {
    id: 'mask',
    heading: 'Feature mask',
    describe: ({ report }) => `benign share ${percent(report.evidence.mask.benignShare)}`,
    render: renderMask,
  },
  {
    id: 'noise',
    heading: 'Neuron noise',
    describe: ({ report }) => `${report.evidence.noise.length} BatchNorm layers`,
    render: renderNoise,
  },
  {
    id: 'samples',
    heading: 'Samples',
    describe: ({ report }) => `${report.evidence.samples.length} images`,
    render: renderSamples,
  },
  {
    id: 'activations',
    heading: 'Activations',
    describe: ({ report }) => `split layer ${report.evidence.activations.layer}`,
    render: renderActivations,
  },
];

const vscode = acquireVsCodeApi();
const app = document.getElementById('app') as HTMLElement;
let state = parsePanelState(vscode.getState());
/** The scroll position is restored once, on the first report after the page loads. */
let restoreScroll = state !== undefined;

function saveState(patch: Partial<PanelState>): void {
  if (!state && patch.modelPath === undefined) return;
  state = { protocolVersion: WEBVIEW_PROTOCOL_VERSION, modelPath: '', collapsed: [], scrollY: 0, ...state, ...patch };
  vscode.setState(state);
}

function button(label: string, secondary: boolean, action: PanelAction, testId: string): VscodeButton {
  const b = document.createElement('vscode-button');
  b.textContent = label;
  b.secondary = secondary;
  b.setAttribute('data-testid', testId);
  b.addEventListener('click', () => vscode.postMessage(action));
  return b;
}

function toolbar(report: ScanReport): HTMLElement {
  const path = report.model.path;
  const v = report.verdict;
  const suspect = suspectLabel(report);
  const badge = document.createElement('vscode-badge');
  badge.className = `verdict-badge ${VERDICT_CLASS[v.verdict]}`;
  badge.textContent = v.verdict;
  return el('header', { class: 'toolbar' },
    el('div', { class: 'title' },
      el('h1', { title: path }, baseName(path)),
      badge,
      suspect !== undefined ? el('span', { class: 'muted' }, `${suspectWord(report)} `, classLabel(report, suspect)) : null,
    ),
    el('div', { class: 'actions' },
      button('Repair with NONE', v.verdict !== 'backdoored', { kind: 'repair', method: 'none', modelPath: path }, 'repair-none'),
      button('Repair with BAN fine-tuning', v.verdict !== 'backdoored', { kind: 'repair', method: 'ban', modelPath: path }, 'repair-ban'),
      button('Rescan', true, { kind: 'rescan', modelPath: path }, 'rescan'),
    ),
  );
}

/** One failing section (say, a report from a newer engine) must not blank the whole panel. */
function renderSafely(spec: SectionSpec, ctx: RenderContext): HTMLElement {
  try {
    return spec.render(ctx);
  } catch (error) {
    return el('p', { class: 'error' }, `This section could not be drawn: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function section(spec: SectionSpec, ctx: RenderContext, collapsed: Set<string>): VscodeCollapsible {
  const c = document.createElement('vscode-collapsible');
  c.id = `section-${spec.id}`;
  c.heading = spec.heading;
  try {
    c.description = spec.describe(ctx);
  } catch {
    c.description = '';
  }
  c.open = !collapsed.has(spec.id);
  c.addEventListener('vsc-collapsible-toggle', (event) => {
    const next = new Set(state?.collapsed ?? []);
    if (event.detail.open) next.delete(spec.id);
    else next.add(spec.id);
    saveState({ collapsed: [...next] });
  });
  c.append(el('div', { class: 'section-body' }, renderSafely(spec, ctx)));
  return c;
}

/** The width inside a section's padding and border, which the charts fill. */
function chartWidth(): number {
  return Math.max(320, app.clientWidth - 32);
}

let shown: { report: ScanReport; repair: RepairComparison | undefined; width: number } | undefined;

function show(report: ScanReport, repair: RepairComparison | undefined): void {
  const width = chartWidth();
  shown = { report, repair, width };
  const ctx: RenderContext = { report, repair, post: (action) => vscode.postMessage(action), width };
  if (state?.modelPath !== report.model.path) {
    saveState({ modelPath: report.model.path, collapsed: [], scrollY: 0 });
  }
  const collapsed = new Set(state?.collapsed ?? []);
  const warning = report.schemaVersion !== REPORT_SCHEMA_VERSION
    ? el('p', { class: 'error' }, `This report has schema version ${report.schemaVersion}; the panel reads version ${REPORT_SCHEMA_VERSION}. Some sections may be missing.`)
    : null;
  const body = el('div', { class: 'sections' }, ...SECTIONS.map((spec) => section(spec, ctx, collapsed)));
  app.replaceChildren(...[toolbar(report), warning, body].filter((n): n is HTMLElement => n !== null));
  document.title = `Investigation: ${baseName(report.model.path)}`;
  if (restoreScroll) {
    restoreScroll = false;
    requestAnimationFrame(() => window.scrollTo(0, state?.scrollY ?? 0));
  }
}

function showMissing(modelPath: string): void {
  shown = undefined;
  saveState({ modelPath });
  app.replaceChildren(el('div', { class: 'placeholder' },
    el('p', undefined, 'There is no scan result in memory for ', el('code', undefined, modelPath), '.'),
    button('Rescan', false, { kind: 'rescan', modelPath }, 'rescan'),
  ));
}

function showError(text: string): void {
  shown = undefined;
  app.replaceChildren(el('p', { class: 'error' }, text));
}

function isExtensionMessage(value: unknown): value is ExtensionToWebviewMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as { type?: unknown; report?: unknown; modelPath?: unknown };
  return (message.type === 'show' && typeof message.report === 'object' && message.report !== null)
    || (message.type === 'noReport' && typeof message.modelPath === 'string');
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const message = event.data;
  if (!isExtensionMessage(message)) return;
  if (message.protocolVersion !== WEBVIEW_PROTOCOL_VERSION) {
    showError(`The extension speaks panel protocol ${message.protocolVersion}, this page ${WEBVIEW_PROTOCOL_VERSION}. Reload the window.`);
    return;
  }
  if (message.type === 'show') show(message.report, message.repair);
  else showMissing(message.modelPath);
});

// The charts are drawn for the panel's width; when the user resizes the panel noticeably, draw them again.
let resizeTimer: ReturnType<typeof setTimeout> | undefined;
new ResizeObserver(() => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (shown && Math.abs(chartWidth() - shown.width) > 24) show(shown.report, shown.repair);
  }, 150);
}).observe(app);

let scrollPending = false;
window.addEventListener('scroll', () => {
  if (scrollPending) return;
  scrollPending = true;
  requestAnimationFrame(() => {
    scrollPending = false;
    saveState({ scrollY: window.scrollY });
  });
});

vscode.postMessage({ kind: 'ready', protocolVersion: WEBVIEW_PROTOCOL_VERSION });
