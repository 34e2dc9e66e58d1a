/**
 * Progress on stderr, so that stdout stays clean for JSON and SARIF. On a TTY it is one bar line
 * with the phase, percentage and ETA, redrawn in place; elsewhere (CI logs, pipes) a plain line
 * per phase change and at most one line every few seconds.
 */
import { ProgressEvent } from '../engine/progress';
import { OutputStream } from './io';

export class ProgressPrinter {
  private lastPhase = '';
  private lastPrint = 0;
  private phaseStart = Date.now();
  private readonly tty: boolean;

  constructor(
    private readonly stream: OutputStream,
    private readonly quiet = false,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  readonly report = (event: ProgressEvent): void => {
    if (this.quiet) return;
    const now = Date.now();
    const changed = event.phase !== this.lastPhase;
    if (changed) {
      if (this.tty && this.lastPhase) this.stream.write('\n');
      this.lastPhase = event.phase;
      this.phaseStart = now;
    }
    const fraction = event.total ? Math.min(event.done / event.total, 1) : undefined;
    const elapsed = (now - this.phaseStart) / 1000;
    const eta = fraction && fraction > 0 && fraction < 1 ? (elapsed / fraction) * (1 - fraction) : undefined;
    const detail = event.message ? ` ${event.message}` : '';
    if (this.tty) {
      const width = 24;
      const bar = fraction === undefined ? '' : `[${'#'.repeat(Math.round(fraction * width)).padEnd(width, '.')}] ${(fraction * 100).toFixed(0).padStart(3)}%`;
      const etaText = eta === undefined ? '' : ` ETA ${formatSeconds(eta)}`;
      this.stream.write(`\r\x1b[2K${event.phase} ${bar}${etaText}${detail}`);
    } else if (changed || now - this.lastPrint > 5000 || fraction === 1) {
      const pct = fraction === undefined ? '' : ` ${(fraction * 100).toFixed(0)}%`;
      const etaText = eta === undefined ? '' : ` (ETA ${formatSeconds(eta)})`;
      this.stream.write(`${event.phase}${pct}${etaText}${detail}\n`);
      this.lastPrint = now;
    }
  };

  /** Ends the bar line on a TTY. */
  finish(): void {
    if (this.tty && this.lastPhase && !this.quiet) this.stream.write('\n');
    this.lastPhase = '';
  }
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
