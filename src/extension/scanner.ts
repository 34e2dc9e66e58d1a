/**
 * Runs scans one after another in the worker and publishes their outcome: progress in a
 * cancellable notification and the status bar, the report in the cache and the Problems panel,
 * and a short message. A multi-selection queues its models.
 */
import * as vscode from 'vscode';
import type { ScanReport } from '../engine/report';
import { DatasetChoices } from './datasets';
import { ScanDiagnostics } from './diagnostics';
import { cannotScanFinding, findingOf, noDatasetFinding, signed } from './findings';
import { COMMANDS, SCANNING_CONTEXT } from './ids';
import { JobFailure, jobFailure, withJobProgress } from './jobs';
import { ResultStore } from './resultStore';
import { readSettings, scanRequestFor } from './settings';
import { ScannerStatusBar } from './statusBar';
import { WorkerHost } from './workerHost';

export type ScanOutcome = { kind: 'report'; report: ScanReport; reportFile: string } | JobFailure;

export interface ScanEvent {
  uri: vscode.Uri;
  /** Absent while the scan runs; `progress` then says how far it is. */
  outcome?: ScanOutcome;
  progress?: string;
}

export interface ScannerDeps {
  host: WorkerHost;
  results: ResultStore;
  diagnostics: ScanDiagnostics;
  datasets: DatasetChoices;
  statusBar: ScannerStatusBar;
  log: vscode.LogOutputChannel;
}

interface ScanJob {
  uri: vscode.Uri;
  outcome: Promise<ScanOutcome>;
  settle: (outcome: ScanOutcome) => void;
}

export class Scanner implements vscode.Disposable {
  private readonly queue: ScanJob[] = [];
  private current: (ScanJob & { controller: AbortController }) | undefined;
  private readonly events = new vscode.EventEmitter<ScanEvent>();
  readonly onDidChange = this.events.event;

  constructor(private readonly deps: ScannerDeps) {}

  /**
   * Queues the models, joining a scan of the same model that is already running or queued; settles
   * with their outcomes once all of them have been scanned (or cancelled).
   */
  scan(uris: vscode.Uri[]): Promise<ScanOutcome[]> {
    const outcomes = uris.map((uri) => {
      const pending = this.jobOf(uri);
      if (pending) return pending.outcome;
      let settle: (outcome: ScanOutcome) => void = () => undefined;
      const outcome = new Promise<ScanOutcome>((resolve) => (settle = resolve));
      this.queue.push({ uri, outcome, settle });
      return outcome;
    });
    if (!this.current && this.queue.length) void this.drain();
    return Promise.all(outcomes);
  }

  /** Cancels the running scan and drops the queued ones. */
  cancel(): void {
    for (const job of this.queue.splice(0)) job.settle({ kind: 'cancelled' });
    this.current?.controller.abort();
  }

  isBusy(uri: vscode.Uri): boolean {
    return this.jobOf(uri) !== undefined;
  }

  dispose(): void {
    this.cancel();
    this.events.dispose();
  }

  private jobOf(uri: vscode.Uri): ScanJob | undefined {
    const key = uri.toString();
    return this.current?.uri.toString() === key ? this.current : this.queue.find((job) => job.uri.toString() === key);
  }

  private async drain(): Promise<void> {
    await vscode.commands.executeCommand('setContext', SCANNING_CONTEXT, true);
    for (let job = this.queue.shift(); job; job = this.queue.shift()) {
      const controller = new AbortController();
      this.current = { ...job, controller };
      let outcome: ScanOutcome = { kind: 'cancelled' };
      try {
        outcome = await this.runOne(job.uri, controller);
      } finally {
        this.current = undefined;
        this.deps.statusBar.clearScan();
        job.settle(outcome);
      }
    }
    await vscode.commands.executeCommand('setContext', SCANNING_CONTEXT, false);
  }

  private async runOne(uri: vscode.Uri, controller: AbortController): Promise<ScanOutcome> {
    const { host, results, datasets, statusBar, log } = this.deps;
    const name = vscode.workspace.asRelativePath(uri);
    const request = scanRequestFor(uri.fsPath, datasets.for(uri), readSettings(uri));
    log.info(`Scanning ${uri.fsPath} against ${request.dataPath ?? 'the data set named by its sidecar'}.`);
    const started = Date.now();
    const outcome = await withJobProgress(
      `Scanning ${name} for backdoors`,
      controller,
      async (onProgress): Promise<ScanOutcome> => {
        try {
          // The key of the content that is scanned: the file may change while the scan runs.
          const key = await results.keyOf(uri.fsPath);
          const report = await host.scan(request, { signal: controller.signal, onProgress });
          return { kind: 'report', report, reportFile: await results.save(uri.fsPath, key, report) };
        } catch (e) {
          return jobFailure(e, 'scan', log);
        }
      },
      (text) => {
        statusBar.setScan(name, this.queue.length ? `${text} (+${this.queue.length} queued)` : text);
        this.events.fire({ uri, progress: text });
      },
    );
    log.info(`Scan of ${uri.fsPath} ended after ${((Date.now() - started) / 1000).toFixed(1)} s: ${outcome.kind}.`);
    await this.publish(uri, name, outcome);
    this.events.fire({ uri, outcome });
    return outcome;
  }

  /** A rescan that cannot run leaves the marker of an earlier scan of the same content in place. */
  private async hasResult(uri: vscode.Uri): Promise<boolean> {
    return (await this.deps.results.lookup(uri.fsPath)) !== undefined;
  }

  private async publish(uri: vscode.Uri, name: string, outcome: ScanOutcome): Promise<void> {
    const { diagnostics, log } = this.deps;
    switch (outcome.kind) {
      case 'report': {
        const { report, reportFile } = outcome;
        await diagnostics.showReport(uri, report, reportFile);
        const finding = findingOf(report);
        const summary = `${name}: ${finding ? finding.message : `no backdoor found (score ${signed(report.verdict.score)}, threshold ${signed(report.verdict.threshold)}).`}`;
        if (finding) {
          void vscode.window.showWarningMessage(summary, 'Show Investigation').then((choice) => {
            if (choice) void vscode.commands.executeCommand(COMMANDS.showInvestigation, uri);
          });
        } else {
          void vscode.window.showInformationMessage(summary);
        }
        return;
      }
      case 'cancelled':
        void vscode.window.showInformationMessage(`Scan of ${name} cancelled.`);
        return;
      case 'noDataset':
        if (!(await this.hasResult(uri))) diagnostics.showFinding(uri, noDatasetFinding());
        void vscode.window.showInformationMessage(`${name} cannot be scanned without clean data.`, 'Select Dataset…').then((choice) => {
          if (choice) void vscode.commands.executeCommand(COMMANDS.selectDataset, uri);
        });
        return;
      case 'failed':
        if (!(await this.hasResult(uri))) diagnostics.showFinding(uri, cannotScanFinding(outcome.message));
        log.error(`Scan of ${uri.fsPath} failed: ${outcome.message}`);
        void vscode.window.showErrorMessage(outcome.message, 'Show Log').then((choice) => {
          if (choice) void vscode.commands.executeCommand(COMMANDS.showLog);
        });
    }
  }
}
