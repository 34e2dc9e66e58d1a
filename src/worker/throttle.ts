/**
 * Engine progress can fire once per batch, hundreds of times a second on small models; the
 * extension needs a few updates a second. A phase change and the end of a phase always pass,
 * so the extension never shows a stale phase.
 */
import { ProgressCallback, ProgressEvent } from '../engine/progress';

export class ProgressThrottle {
  private lastPhase: string | undefined;
  private lastSent = 0;

  constructor(
    private readonly send: ProgressCallback,
    private readonly intervalMs = 200,
    private readonly now: () => number = Date.now,
  ) {}

  readonly report = (event: ProgressEvent): void => {
    const t = this.now();
    const phaseChanged = event.phase !== this.lastPhase;
    const phaseDone = event.total !== undefined && event.done >= event.total;
    if (!phaseChanged && !phaseDone && t - this.lastSent < this.intervalMs) return;
    this.lastPhase = event.phase;
    this.lastSent = t;
    this.send(event);
  };
}
