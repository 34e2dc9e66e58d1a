/**
 * Scan results in the Problems panel: one diagnostic per model file with a finding, placed on the
 * split-point layer in a TF.js model.json and at the start of binary files, linked to the stored
 * report and to docs/detection.md, with quick fixes (show the investigation, repair the model,
 * select a data set).
 */
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { ScanReport } from '../engine/report';
import { Finding, FindingCode, findingOf, layerNameRange } from './findings';
import { COMMANDS, isTfjsModelPath } from './ids';

export const DIAGNOSTIC_SOURCE = 'Backdoor Scanner';

const SEVERITY: Record<Finding['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  information: vscode.DiagnosticSeverity.Information,
};

export class ScanDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('backdoorScanner');

  constructor(private readonly docsUri: vscode.Uri) {}

  /** Shows a report's finding on its model, or clears the model's markers when it is clean. */
  async showReport(modelUri: vscode.Uri, report: ScanReport, reportFile: string): Promise<void> {
    const finding = findingOf(report);
    if (!finding) {
      this.collection.delete(modelUri);
      return;
    }
    const diagnostic = this.diagnostic(finding, await splitPointRange(modelUri, report.model.splitPoint));
    diagnostic.relatedInformation = [
      new vscode.DiagnosticRelatedInformation(
        new vscode.Location(vscode.Uri.file(reportFile), new vscode.Position(0, 0)),
        `Full scan report of ${new Date(report.createdAt).toLocaleString()} (JSON): split point '${report.model.splitPoint}', ${report.data.evaluationImages} evaluation images from ${report.data.path}`,
      ),
    ];
    this.collection.set(modelUri, [diagnostic]);
  }

  /** A scan that could not run (no data set, bad input): an Information marker with a quick fix. */
  showFinding(modelUri: vscode.Uri, finding: Finding): void {
    this.collection.set(modelUri, [this.diagnostic(finding, new vscode.Range(0, 0, 0, 0))]);
  }

  codeOf(modelUri: vscode.Uri): FindingCode | undefined {
    const first = this.collection.get(modelUri)?.[0];
    return first ? findingCode(first) : undefined;
  }

  clear(modelUri: vscode.Uri): void {
    this.collection.delete(modelUri);
  }

  /** Drops a marker of a scan that could not run, which a newly chosen data set makes stale. */
  clearCouldNotRun(modelUri: vscode.Uri): void {
    const code = this.codeOf(modelUri);
    if (code === 'noDataset' || code === 'cannotScan') this.clear(modelUri);
  }

  dispose(): void {
    this.collection.dispose();
  }

  private diagnostic(finding: Finding, range: vscode.Range): vscode.Diagnostic {
    const diagnostic = new vscode.Diagnostic(range, finding.message, SEVERITY[finding.severity]);
    diagnostic.source = DIAGNOSTIC_SOURCE;
    diagnostic.code = { value: finding.code, target: this.docsUri };
    return diagnostic;
  }
}

function findingCode(diagnostic: vscode.Diagnostic): FindingCode | undefined {
  if (diagnostic.source !== DIAGNOSTIC_SOURCE) return undefined;
  const code = typeof diagnostic.code === 'object' ? diagnostic.code.value : diagnostic.code;
  return typeof code === 'string' ? (code as FindingCode) : undefined;
}

/** The split-point layer's name in a model.json, else the start of the file. */
async function splitPointRange(modelUri: vscode.Uri, splitPoint: string): Promise<vscode.Range> {
  const start = new vscode.Range(0, 0, 0, 0);
  if (!isTfjsModelPath(modelUri.fsPath)) return start;
  let text: string;
  try {
    text = await fs.promises.readFile(modelUri.fsPath, 'utf8');
  } catch {
    return start;
  }
  const offsets = layerNameRange(text, splitPoint);
  return offsets ? new vscode.Range(positionAt(text, offsets[0]), positionAt(text, offsets[1])) : start;
}

function positionAt(text: string, offset: number): vscode.Position {
  let line = 0;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return new vscode.Position(line, offset - lineStart);
}

/** Quick fixes on the scanner's markers, in model.json editors and in the Problems panel. */
export class ScanCodeActions implements vscode.CodeActionProvider {
  static readonly metadata: vscode.CodeActionProviderMetadata = { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] };

  provideCodeActions(document: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const actions: vscode.CodeAction[] = [];
    for (const diagnostic of context.diagnostics) {
      const code = findingCode(diagnostic);
      const fix = (title: string, command: string, isPreferred: boolean): void => {
        const action = new vscode.CodeAction(title, vscode.CodeActionKind.QuickFix);
        action.command = { command, title, arguments: [document.uri] };
        action.diagnostics = [diagnostic];
        action.isPreferred = isPreferred;
        actions.push(action);
      };
      if (code === 'backdoor' || code === 'inconclusive') {
        fix('Show investigation', COMMANDS.showInvestigation, true);
        fix('Repair with NONE', COMMANDS.repairWithNone, false);
        fix('Repair with BAN fine-tuning', COMMANDS.repairWithBan, false);
      } else if (code === 'noDataset' || code === 'cannotScan') {
        fix('Select dataset…', COMMANDS.selectDataset, code === 'noDataset');
      }
    }
    return actions;
  }
}
