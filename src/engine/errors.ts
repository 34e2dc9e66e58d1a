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

/**
 * True for the ways a compute backend reports that it ran out of memory. The wasm backend lives in
 * a 32-bit address space (4 GB at most), and a full-width ResNet-18 at batch 128 with gradients
 * needs more than that; tfjs then fails deep inside a kernel with a message that names no cause.
 */
export function isOutOfMemory(e: unknown): boolean {
  const message = e instanceof Error ? e.message : String(e);
  // Emscripten's abort() ("Aborted()") is how the wasm backend's malloc fails when the heap cannot grow.
  return /memory access out of bounds|out of memory|Cannot enlarge memory|Aborted\(|Array buffer allocation failed/i.test(message);
}

/**
 * A model that does not fit the backend's memory. After one, the wasm backend's heap is in an
 * undefined state (Emscripten aborted), so a long-lived host starts a fresh process for the next job.
 */
export class OutOfMemoryError extends InputError {
  constructor(file: string, problem: string) {
    super(file, problem);
    this.name = 'OutOfMemoryError';
  }
}

/**
 * Runs `work` and turns a backend's out-of-memory failure into an InputError that names the model
 * and says what to change, so a user sees a cause and a remedy instead of a wasm stack trace.
 */
export async function explainOutOfMemory<T>(modelPath: string, backend: string, batchSize: number, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (!isOutOfMemory(e)) throw e;
    throw new OutOfMemoryError(
      modelPath,
      `does not fit in the ${backend} backend's memory at batch ${batchSize} (${(e as Error).message}); lower the batch size (--batch-size 32 on the command line, or {"batchSize": 32} in the backdoorScanner.banSettings setting) or use a GPU backend`,
    );
  }
}
