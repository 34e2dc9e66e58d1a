/**
 * The read-only editor of binary model files (.onnx, .h5, .keras, .pt, .pth, .safetensors): the
 * model summary from the worker, the last scan from the cache (at once, when the file is
 * unchanged), the running scan's progress, and buttons for the commands. Its page runs no script:
 * the buttons are command links, and every string from the model file is escaped.
 */
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ScanReport } from '../engine/report';
import type { ModelSummaryResult } from '../protocol/worker';
import { DatasetChoices } from './datasets';
import { signed } from './findings';
import { COMMANDS } from './ids';
import { ResultStore } from './resultStore';
import { Scanner } from './scanner';
import { readSettings } from './settings';
import { WorkerHost, WorkerRequestError } from './workerHost';

export interface ModelEditorDeps {
  host: WorkerHost;
  results: ResultStore;
  scanner: Scanner;
  datasets: DatasetChoices;
}

const PROGRESS_RENDER_MS = 3000;

interface ViewState {
  summary?: ModelSummaryResult;
  summaryError?: string;
  report?: ScanReport;
  progress?: string;
}

export class ModelEditorProvider implements vscode.CustomReadonlyEditorProvider {
  constructor(private readonly deps: ModelEditorDeps) {}

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  async resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): Promise<void> {
    const { host, results, scanner, datasets } = this.deps;
    const uri = document.uri;
    const state: ViewState = {};
    panel.webview.options = { enableScripts: false, enableCommandUris: Object.values(COMMANDS), localResourceRoots: [] };
    const render = (): void => {
      panel.webview.html = renderPage(uri, state, scanner.isBusy(uri));
    };
    render();
    // Replacing the page resets its scroll position, so progress redraws it at most every few seconds.
    let lastProgressRender = 0;
    const subscription = scanner.onDidChange((event) => {
      if (event.uri.toString() !== uri.toString()) return;
      state.progress = event.outcome ? undefined : event.progress;
      if (event.outcome?.kind === 'report') state.report = event.outcome.report;
      if (!event.outcome && Date.now() - lastProgressRender < PROGRESS_RENDER_MS) return;
      lastProgressRender = Date.now();
      render();
    });
    panel.onDidDispose(() => subscription.dispose());

    state.report = (await results.lookup(uri.fsPath))?.report;
    render();
    try {
      state.summary = await host.summary({ path: uri.fsPath, arch: readSettings(uri).arch || undefined });
    } catch (e) {
      state.summaryError = e instanceof WorkerRequestError && e.data?.kind === 'input' ? `${e.data.file}: ${e.data.problem}` : (e as Error).message;
    }
    render();
    const dataKnown = datasets.for(uri) ?? state.summary?.sidecarDataPath;
    if (readSettings(uri).autoScan === 'onOpen' && !state.report && dataKnown && !scanner.isBusy(uri)) void scanner.scan([uri]);
  }
}

function escape(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function commandLink(command: string, uri: vscode.Uri, label: string): string {
  return `<a class="button" href="command:${command}?${encodeURIComponent(JSON.stringify([uri.toString()]))}">${escape(label)}</a>`;
}

function rows(entries: [string, string][]): string {
  return entries.map(([k, v]) => `<tr><th>${escape(k)}</th><td>${v}</td></tr>`).join('');
}

function shape(dims: number[] | undefined): string {
  return dims ? `[${dims.map(escape).join(', ')}]` : '';
}

function summarySection(state: ViewState): string {
  if (state.summaryError) return `<p class="error">${escape(state.summaryError)}</p>`;
  const m = state.summary;
  if (!m) return '<p class="muted">Reading the model in the detection worker…</p>';
  const s = m.summary;
  const layers = s.layers
    .map((l) => `<tr><td>${escape(l.name)}</td><td>${escape(l.kind)}</td><td>${shape(l.outputShape)}</td><td class="num">${escape(l.params.toLocaleString('en-US'))}</td></tr>`)
    .join('');
  return `
    <table class="facts">${rows([
      ['Format', escape(m.format)],
      ['SHA-256', `<code>${escape(m.sha256)}</code>`],
      ['Input', `${shape(s.inputShape)} (height, width, channels)`],
      ['Classes', `${escape(s.numClasses)}: ${m.classes.map(escape).join(', ')}`],
      ['Parameters', escape(s.parameters.toLocaleString('en-US'))],
      ['Layers', escape(s.layers.length)],
      ['BatchNorm', `${escape(s.batchNormLayers.length)} layers, ${escape(s.batchNormChannels.toLocaleString('en-US'))} channels`],
      ['Split point', s.splitPoint ? `<code>${escape(s.splitPoint)}</code> ${shape(s.splitPointShape)}` : `none (${escape(s.splitPointError ?? 'unknown')})`],
      ['Output', s.outputSoftmax ? 'softmax (removed: the scanner reads logits)' : 'logits'],
      ['Clean data (sidecar)', m.sidecarDataPath ? escape(m.sidecarDataPath) : '<span class="muted">none</span>'],
    ])}</table>
    ${m.notes.map((n) => `<p class="note">${escape(n)}</p>`).join('')}
    <details><summary>${escape(s.layers.length)} layers</summary>
      <table class="layers"><tr><th>Layer</th><th>Kind</th><th>Output</th><th>Parameters</th></tr>${layers}</table>
    </details>`;
}

function scanSection(state: ViewState): string {
  const progress = state.progress ? `<p class="progress">Scanning: ${escape(state.progress)}</p>` : '';
  const r = state.report;
  if (!r) return `${progress}<p class="muted">This version of the file has not been scanned yet.</p>`;
  const v = r.verdict;
  const target = v.targetLabel === undefined ? '' : `${escape(v.targetLabel)}${v.targetName ? ` '${escape(v.targetName)}'` : ''}`;
  return `${progress}
    <p class="verdict ${escape(v.verdict)}">${escape(v.verdict)}</p>
    <p>${escape(v.explanation)}</p>
    <table class="facts">${rows([
      ['Score', `${escape(signed(v.score))} (threshold ${escape(signed(v.threshold))}, inconclusive ${escape(signed(v.inconclusiveBand[0]))} to ${escape(signed(v.inconclusiveBand[1]))})`],
      ['Likeliest target', target],
      ['Clean data', `${escape(r.data.path)} (${escape(r.data.optimisationImages)} optimisation, ${escape(r.data.evaluationImages)} evaluation images)`],
      ['Settings', `ε ${escape(r.settings.eps)}, ${escape(r.settings.steps)} steps, seed ${escape(r.settings.seed)}`],
      ['Backend', escape(r.backend.name)],
      ['Scanned', `${escape(new Date(r.createdAt).toLocaleString())} in ${escape(r.timings.reduce((t, p) => t + p.seconds, 0).toFixed(0))} s`],
    ])}</table>`;
}

function renderPage(uri: vscode.Uri, state: ViewState, busy: boolean): string {
  const nonce = crypto.randomBytes(16).toString('base64');
  const buttons = [
    busy ? commandLink(COMMANDS.cancelScan, uri, 'Cancel Scan') : commandLink(COMMANDS.scan, uri, 'Scan for Backdoors'),
    commandLink(COMMANDS.selectDataset, uri, 'Select Dataset…'),
    state.report ? commandLink(COMMANDS.showInvestigation, uri, 'Show Investigation') : '',
  ].join(' ');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style nonce="${nonce}">
  body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 20px 20px; max-width: 60em; }
  h1 { font-size: 1.4em; font-weight: 600; } h2 { font-size: 1.1em; font-weight: 600; margin-top: 1.6em; border-bottom: 1px solid var(--vscode-panel-border); padding-bottom: 4px; }
  table { border-collapse: collapse; } th, td { text-align: left; padding: 2px 12px 2px 0; vertical-align: top; } th { font-weight: 600; white-space: nowrap; }
  .layers td, .layers th { font-family: var(--vscode-editor-font-family); font-size: 0.95em; } .num { text-align: right; }
  .muted { color: var(--vscode-descriptionForeground); } .note { color: var(--vscode-editorWarning-foreground); } .error { color: var(--vscode-errorForeground); }
  .verdict { display: inline-block; font-weight: 700; text-transform: uppercase; padding: 2px 10px; border-radius: 3px; color: var(--vscode-badge-foreground); background: var(--vscode-badge-background); }
  .verdict.backdoored { background: var(--vscode-inputValidation-errorBackground); border: 1px solid var(--vscode-inputValidation-errorBorder); color: var(--vscode-foreground); }
  .verdict.inconclusive { background: var(--vscode-inputValidation-warningBackground); border: 1px solid var(--vscode-inputValidation-warningBorder); color: var(--vscode-foreground); }
  .progress { color: var(--vscode-progressBar-background); font-weight: 600; }
  .button { display: inline-block; padding: 4px 12px; margin: 2px 4px 2px 0; color: var(--vscode-button-foreground); background: var(--vscode-button-background); text-decoration: none; border-radius: 2px; }
  .button:hover { background: var(--vscode-button-hoverBackground); }
  code { font-family: var(--vscode-editor-font-family); overflow-wrap: anywhere; }
</style>
<title>${escape(path.basename(uri.fsPath))}</title></head>
<body>
  <h1>${escape(path.basename(uri.fsPath))}</h1>
  <p class="muted">${escape(uri.fsPath)}</p>
  <p>${buttons}</p>
  <h2>Last scan</h2>
  ${scanSection(state)}
  <h2>Model</h2>
  ${summarySection(state)}
</body></html>`;
}
