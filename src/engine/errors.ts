/**
 * Errors the engine raises on purpose. Hosts map them to their own channels: the CLI to exit
 * codes (2 for bad input), the worker to protocol errors, the extension to diagnostics.
 */

/** Bad input: a file that cannot be read or does not fit. The message names the file. */
export class InputError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'InputError';
  }
}

/** Work stopped because its AbortSignal fired. */
export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}

/** Throws CancelledError when the signal has fired; called once per loop iteration. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new CancelledError();
  }
}
