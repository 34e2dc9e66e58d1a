/**
 * Repairs a model with NONE or BAN fine-tuning in the worker, on the data set its scans use, and
 * publishes the result: the repaired model opens beside the original, the investigation panel of
 * the original shows the before/after comparison, and a message gives the headline numbers. The
 * worker writes the new file; the original and its cached scan stay as they were.
 */
import * as vscode from 'vscode';
import { backdoorRemains, type RepairReport } from '../engine/report';
import { DatasetChoices } from './datasets';
import { ScanDiagnostics } from './diagnostics';
import { COMMANDS, MODEL_EDITOR_VIEW_TYPE } from './ids';
import { InvestigationPanel } from './investigationPanel';
import { JobFailure, jobFailure, withJobProgress } from './jobs';
import { methodName, repairComparison, repairSummary } from './repairResult';
import { readSettings, repairRequestFor } from './settings';
import { WorkerHost } from './workerHost';

export type RepairMethod = RepairReport['method'];

export type RepairOutcome = { kind: 'repaired'; report: RepairReport } | JobFailure;

export interface RepairerDeps {
  host: WorkerHost;
  datasets: DatasetChoices;
  diagnostics: ScanDiagnostics;
  log: vscode.LogOutputChannel;
}

export class Repairer {
  /** Models being repaired: a second request for one of them would only queue the same work. */
  private readonly running = new Set<string>();

  constructor(private readonly deps: RepairerDeps) {}

  /**
   * Repairs the model and settles with the outcome; undefined when nothing ran (a repair of this
   * model already runs, or the user backed out of choosing a data set).
   */
  async repair(uri: vscode.Uri, method: RepairMethod): Promise<RepairOutcome | undefined> {
    const name = vscode.workspace.asRelativePath(uri);
    const key = uri.toString();
    if (this.running.has(key)) {
      void vscode.window.showInformationMessage(`${name} is being repaired already.`);
      return undefined;
    }
    this.running.add(key);
    try {
      return await this.run(uri, name, method);
    } finally {
      this.running.delete(key);
    }
  }

  private async run(uri: vscode.Uri, name: string, method: RepairMethod): Promise<RepairOutcome | undefined> {
    const { host, log } = this.deps;
    const controller = new AbortController();
    const started = Date.now();
    let outcome: RepairOutcome;
    try {
      const dataPath = await this.dataPathFor(uri);
      if (!dataPath) return undefined;
      const request = repairRequestFor(uri.fsPath, method, dataPath, readSettings(uri));
      log.info(`Repairing ${uri.fsPath} with ${methodName(method)} on ${dataPath}.`);
      outcome = await withJobProgress(`Repairing ${name} with ${methodName(method)}`, controller, async (onProgress): Promise<RepairOutcome> => {
        const report = await host.repair(request, { signal: controller.signal, onProgress });
        return { kind: 'repaired', report };
      });
    } catch (e) {
      outcome = jobFailure(e, 'repair', log);
    }
    log.info(`Repair of ${uri.fsPath} ended after ${((Date.now() - started) / 1000).toFixed(1)} s: ${outcome.kind}.`);
    await this.publish(uri, name, outcome);
    return outcome;
  }

  /**
   * The data set the model's scans use: the one chosen for it or set in the settings, else the one
   * its sidecar names (which only the worker reads), else one the user picks now.
   */
  private async dataPathFor(uri: vscode.Uri): Promise<string | undefined> {
    const { host, datasets, diagnostics } = this.deps;
    const known = datasets.for(uri) ?? (await host.summary({ path: uri.fsPath, arch: readSettings(uri).arch || undefined })).sidecarDataPath;
    if (known) return known;
    const picked = await datasets.pick(uri);
    if (picked) diagnostics.clearCouldNotRun(uri);
    return picked;
  }

  private async publish(uri: vscode.Uri, name: string, outcome: RepairOutcome): Promise<void> {
    const { log } = this.deps;
    // The request names its data set, so no repair ends with 'noDataset'.
    switch (outcome.kind) {
      case 'repaired': {
        const { report } = outcome;
        InvestigationPanel.recordRepair(uri.fsPath, report.model.sha256, repairComparison(report));
        await openBeside(report).then(undefined, (e: Error) => log.warn(`The repaired model ${report.output.path} could not be opened: ${e.message}`));
        const summary = repairSummary(report, name, vscode.workspace.asRelativePath(report.output.path));
        // A repair that left the backdoor in is a warning, not news.
        void (backdoorRemains(report.outcome) ? vscode.window.showWarningMessage(summary) : vscode.window.showInformationMessage(summary));
        return;
      }
      case 'cancelled':
        void vscode.window.showInformationMessage(`Repair of ${name} cancelled.`);
        return;
      case 'failed':
        log.error(`Repair of ${uri.fsPath} failed: ${outcome.message}`);
        void vscode.window.showErrorMessage(`Repair of ${name} failed: ${outcome.message}`, 'Show Log').then((choice) => {
          if (choice) void vscode.commands.executeCommand(COMMANDS.showLog);
        });
    }
  }
}

/** Opens the repaired model beside the editor in use: a TF.js model.json as text, other formats in the model editor. */
async function openBeside(report: RepairReport): Promise<void> {
  const uri = vscode.Uri.file(report.output.path);
  if (report.model.format === 'tfjs') {
    await vscode.window.showTextDocument(uri, { viewColumn: vscode.ViewColumn.Beside, preview: false });
  } else {
    await vscode.commands.executeCommand('vscode.openWith', uri, MODEL_EDITOR_VIEW_TYPE, vscode.ViewColumn.Beside);
  }
}
