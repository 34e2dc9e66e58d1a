/**
 * One line of progress for the notification and the status bar: the phase, how far it is, and
 * when it should end at the rate seen so far in that phase. The engine's phases (mask, noise,
 * evaluate, sweeps) run at different speeds, so an estimate across phases would mislead.
 */
import type { ProgressEvent } from '../engine/progress';

export class PhaseProgress {
  private phase = '';
  private phaseStart = 0;

  constructor(private readonly now: () => number = Date.now) {}

  describe(event: ProgressEvent): string {
    const t = this.now();
    if (event.phase !== this.phase) {
      this.phase = event.phase;
      this.phaseStart = t;
    }
    if (!event.total) return event.phase;
    const fraction = Math.min(event.done / event.total, 1);
    const elapsed = (t - this.phaseStart) / 1000;
    const eta = fraction > 0.02 && fraction < 1 && elapsed > 1 ? ` · ETA ${formatSeconds((elapsed / fraction) * (1 - fraction))}` : '';
    return `${event.phase} ${Math.floor(fraction * 100)}%${eta}`;
  }
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${Math.max(1, Math.round(s))}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
