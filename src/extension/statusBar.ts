/**
 * The status-bar item: which backend the worker computes on while idle, the running scan's phase
 * and ETA while scanning (click to cancel), and a stopped worker (click to restart).
 */
import * as vscode from 'vscode';
import { COMMANDS } from './ids';
import type { WorkerStatus } from './workerHost';

export class ScannerStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('backdoorScanner.status', vscode.StatusBarAlignment.Left, 10);
  private worker: WorkerStatus = { state: 'stopped' };
  private scan: { name: string; progress: string } | undefined;

  constructor() {
    this.item.name = 'Backdoor Scanner';
    this.render();
    this.item.show();
  }

  setWorker(status: WorkerStatus): void {
    this.worker = status;
    this.render();
  }

  setScan(name: string, progress: string): void {
    this.scan = { name, progress };
    this.render();
  }

  clearScan(): void {
    this.scan = undefined;
    this.render();
  }

  dispose(): void {
    this.item.dispose();
  }

  private render(): void {
    const item = this.item;
    item.backgroundColor = undefined;
    if (this.scan) {
      item.text = `$(loading~spin) ${this.scan.name}: ${this.scan.progress}`;
      item.tooltip = `Scanning ${this.scan.name} for backdoors (${this.backendText()}). Click to cancel.`;
      item.command = COMMANDS.cancelScan;
      return;
    }
    switch (this.worker.state) {
      case 'running': {
        const { backend, pid } = this.worker.info;
        item.text = `$(shield) ${backend.name}`;
        item.tooltip = [`Backdoor Scanner: the detection worker (pid ${pid}) computes on ${this.backendText()}.`, ...backend.notes].join('\n');
        item.command = COMMANDS.showLog;
        return;
      }
      case 'starting':
        item.text = '$(loading~spin) Backdoor Scanner';
        item.tooltip = 'Backdoor Scanner: starting the detection worker.';
        item.command = COMMANDS.showLog;
        return;
      case 'failed':
        item.text = '$(error) Backdoor Scanner';
        item.tooltip = `${this.worker.reason}\nClick to restart the worker.`;
        item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
        item.command = COMMANDS.restartWorker;
        return;
      case 'stopped':
        item.text = '$(shield) Backdoor Scanner';
        item.tooltip = 'Backdoor Scanner: the detection worker starts with the first scan or model.';
        item.command = COMMANDS.showLog;
    }
  }

  private backendText(): string {
    if (this.worker.state !== 'running') return 'a backend not chosen yet';
    const { name, simd, adapter } = this.worker.info.backend;
    return `the '${name}' backend${simd ? ' with SIMD' : ''}${adapter ? ` on ${adapter}` : ''}`;
  }
}
