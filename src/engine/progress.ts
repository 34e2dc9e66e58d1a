/**
 * Progress of long engine work, reported through a callback. Hosts turn it into a terminal bar
 * (CLI), protocol notifications (worker) or a VS Code progress notification (extension).
 */
export interface ProgressEvent {
  /** A short name of the current phase, e.g. 'mask', 'noise', 'evaluate'. */
  phase: string;
  /** Units done and total in this phase (batches, images or steps). */
  done: number;
  total?: number;
  /** Optional detail, e.g. the current loss. */
  message?: string;
}

export type ProgressCallback = (event: ProgressEvent) => void;

/** Options every long-running engine function takes. */
export interface RunControl {
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}
