/**
 * The investigation panel: a webview that shows the evidence behind a scan's verdict (webview/main.ts
 * draws it). There is one panel per model file, so two models can be compared side by side; opening
 * the panel again for the same model reveals it and redraws it with the newest report.
 *
 * The panel does not use `retainContextWhenHidden`: a hidden webview is torn down, and when it shows
 * again its page loads anew, posts `ready`, and gets the report again. The page keeps its own small
 * state (model path, collapsed sections, scroll position) with `setState`, which also lets the
 * serializer reopen the panel after a window reload.
 */
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import { panelHtml } from '../../webview/html';
import type { ScanReport } from '../engine/report';
import {
  WEBVIEW_PROTOCOL_VERSION,
  isPanelAction,
  parsePanelState,
  type ExtensionToWebviewMessage,
  type PanelAction,
  type RepairComparison,
} from '../protocol/webview';

function panelKey(modelPath: string): string {
  return vscode.Uri.file(modelPath).toString();
}

function panelTitle(modelPath: string): string {
  return `Investigation: ${modelPath.split(/[\\/]/).pop() ?? modelPath}`;
}

/** Scripts on, and the page may load only the bundle and the styles and icons. */
function webviewOptions(context: vscode.ExtensionContext): vscode.WebviewOptions {
  return {
    enableScripts: true,
    enableCommandUris: false,
    localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'dist'), vscode.Uri.joinPath(context.extensionUri, 'media')],
  };
}

export class InvestigationPanel {
  static readonly viewType = 'backdoorScanner.investigation';

  private static readonly panels = new Map<string, InvestigationPanel>();

  /**
   * The last repair of each model and the hash of the content it repaired, so that a panel opened
   * after the repair shows the comparison too, as long as it shows a scan of that same content.
   */
  private static readonly repairs = new Map<string, { modelSha256: string; comparison: RepairComparison }>();

  private readonly disposables: vscode.Disposable[] = [];
  private repair: RepairComparison | undefined;

  /** Opens the panel of the report's model, or reveals it and shows this report. */
  static createOrShow(context: vscode.ExtensionContext, report: ScanReport, onAction: (action: PanelAction) => void): InvestigationPanel {
    const existing = InvestigationPanel.panels.get(panelKey(report.model.path));
    if (existing) {
      existing.onAction = onAction;
      existing.update(report);
      existing.panel.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(
      InvestigationPanel.viewType,
      panelTitle(report.model.path),
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false },
      { ...webviewOptions(context), enableFindWidget: true },
    );
    return new InvestigationPanel(context, panel, report.model.path, report, onAction);
  }

  /** Remembers a finished repair of a model and shows it in the model's panel, if one is open. */
  static recordRepair(modelPath: string, modelSha256: string, comparison: RepairComparison): void {
    InvestigationPanel.repairs.set(panelKey(modelPath), { modelSha256, comparison });
    const panel = InvestigationPanel.panels.get(panelKey(modelPath));
    if (panel?.report?.model.sha256 === modelSha256) panel.showRepair(comparison);
  }

  /** The comparison of the last repair of the report's model, when it repaired the content that was scanned. */
  private static repairOf(report: ScanReport | undefined): RepairComparison | undefined {
    if (!report) return undefined;
    const repair = InvestigationPanel.repairs.get(panelKey(report.model.path));
    return repair && repair.modelSha256 === report.model.sha256 ? repair.comparison : undefined;
  }

  /**
   * Reopens panels after a window reload. `lookup` returns the extension's last report for a model, if
   * it still has one; without it the panel offers a rescan. Needs the `onWebviewPanel:` activation
   * event of `viewType` in package.json.
   */
  static registerSerializer(
    context: vscode.ExtensionContext,
    lookup: (modelPath: string) => ScanReport | undefined,
    onAction: (action: PanelAction) => void,
  ): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(InvestigationPanel.viewType, {
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel, rawState: unknown): Promise<void> => {
        const state = parsePanelState(rawState);
        if (!state || InvestigationPanel.panels.has(panelKey(state.modelPath))) {
          panel.dispose();
          return;
        }
        panel.webview.options = webviewOptions(context);
        new InvestigationPanel(context, panel, state.modelPath, lookup(state.modelPath), onAction);
      },
    });
  }

  private constructor(
    context: vscode.ExtensionContext,
    private readonly panel: vscode.WebviewPanel,
    private readonly modelPath: string,
    private report: ScanReport | undefined,
    private onAction: (action: PanelAction) => void,
  ) {
    InvestigationPanel.panels.set(panelKey(modelPath), this);
    this.repair = InvestigationPanel.repairOf(report);
    const webview = panel.webview;
    panel.iconPath = {
      light: vscode.Uri.joinPath(context.extensionUri, 'media', 'investigation-light.svg'),
      dark: vscode.Uri.joinPath(context.extensionUri, 'media', 'investigation-dark.svg'),
    };
    webview.html = panelHtml({
      cspSource: webview.cspSource,
      nonce: crypto.randomBytes(16).toString('base64'),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(context.extensionUri, 'dist', 'webview.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(context.extensionUri, 'media', 'panel.css')).toString(),
      title: panelTitle(modelPath),
    });
    this.disposables.push(
      webview.onDidReceiveMessage((message: unknown) => this.receive(message)),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  /** Adds a before/after comparison to the panel, once a repair of this model has finished. */
  showRepair(repair: RepairComparison): void {
    this.repair = repair;
    this.send();
  }

  dispose(): void {
    if (InvestigationPanel.panels.get(panelKey(this.modelPath)) === this) InvestigationPanel.panels.delete(panelKey(this.modelPath));
    // The listeners go first, so that disposing the panel does not call back into this method.
    const disposables = this.disposables.splice(0);
    if (disposables.length === 0) return;
    for (const d of disposables) d.dispose();
    this.panel.dispose();
  }

  private update(report: ScanReport): void {
    this.report = report;
    // A comparison belongs to the content it measured; a scan of changed content drops it.
    this.repair = InvestigationPanel.repairOf(report);
    this.send();
  }

  private send(): void {
    const message: ExtensionToWebviewMessage = this.report
      ? { type: 'show', protocolVersion: WEBVIEW_PROTOCOL_VERSION, report: this.report, repair: this.repair }
      : { type: 'noReport', protocolVersion: WEBVIEW_PROTOCOL_VERSION, modelPath: this.modelPath };
    void this.panel.webview.postMessage(message);
  }

  /**
   * The page shows strings from untrusted model files, so its messages are checked like any input:
   * actions must name this panel's model, and only the files the report names may be opened.
   */
  private receive(message: unknown): void {
    if (!isPanelAction(message)) return;
    switch (message.kind) {
      case 'ready':
        this.send();
        break;
      case 'repair':
      case 'rescan':
        if (message.modelPath !== this.modelPath) return;
        break;
      case 'openFile':
        if (message.path !== this.modelPath && message.path !== this.report?.data.path) return;
        break;
    }
    this.onAction(message);
  }
}
