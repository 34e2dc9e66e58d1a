/**
 * What scans and repairs share on the extension side: the progress notification with its Cancel
 * button and phase line, and what a failed run means for the user.
 */
import * as vscode from 'vscode';
import { CancelledError } from '../engine/errors';
import type { ProgressCallback } from '../engine/progress';
import { WorkerErrorCode } from '../protocol/worker';
import { PhaseProgress } from './progressText';
import { WorkerRequestError } from './workerHost';

/** How a scan or repair can end without a result. */
export type JobFailure = { kind: 'cancelled' } | { kind: 'noDataset' } | { kind: 'failed'; message: string };

/**
 * Sorts out why a worker request failed. Bad input reads "file: problem", as the engine words it;
 * a failure inside the worker also leaves its stack in the log, where a bug report can quote it.
 */
export function jobFailure(e: unknown, what: 'scan' | 'repair', log: vscode.LogOutputChannel): JobFailure {
  if (e instanceof CancelledError) return { kind: 'cancelled' };
  if (e instanceof WorkerRequestError && e.code === WorkerErrorCode.NoDataset) return { kind: 'noDataset' };
  if (e instanceof WorkerRequestError && e.data?.kind === 'input') return { kind: 'failed', message: `${e.data.file}: ${e.data.problem}` };
  if (e instanceof WorkerRequestError && e.data?.kind === 'internal') log.error(`The ${what} failed inside the worker: ${e.data.stack ?? e.message}`);
  return { kind: 'failed', message: (e as Error).message };
}

/**
 * Runs a worker job under a progress notification: its Cancel button aborts `controller`, and each
 * progress event becomes one line (phase, percent, ETA) in the notification and, through `onText`,
 * wherever else the caller shows it.
 */
export function withJobProgress<T>(
  title: string,
  controller: AbortController,
  run: (onProgress: ProgressCallback) => Promise<T>,
  onText?: (text: string) => void,
): Thenable<T> {
  const phases = new PhaseProgress();
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) => {
    token.onCancellationRequested(() => controller.abort());
    const show = (text: string): void => {
      progress.report({ message: text });
      onText?.(text);
    };
    show('starting…');
    return run((event) => show(phases.describe(event)));
  });
}
