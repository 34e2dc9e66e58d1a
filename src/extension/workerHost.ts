/**
 * Owns the detection worker process: forks it, performs the version handshake, forwards requests
 * with their progress and cancellation, restarts it after a crash (at most `maxRestarts` times in
 * `restartWindowMs`, then gives up and says why), and kills a worker that does not stop within a
 * grace period after a cancel or a shutdown.
 *
 * It imports nothing from `vscode`, so that node:test can drive it with a fake worker script.
 */
import { ChildProcess, fork } from 'node:child_process';
import {
  CancellationTokenSource,
  createMessageConnection,
  IPCMessageReader,
  IPCMessageWriter,
  MessageConnection,
  RequestType,
  ResponseError,
} from 'vscode-jsonrpc/node';
import { CancelledError } from '../engine/errors';
import { RunControl } from '../engine/progress';
import type { RepairRequest } from '../engine/repair';
import type { RepairReport, ScanReport } from '../engine/report';
import type { ScanRequest } from '../engine/scan';
import {
  ExitNotification,
  FatalNotification,
  FatalParams,
  InitializeParams,
  InitializeRequest,
  InitializeResult,
  LogNotification,
  ModelSummaryParams,
  ModelSummaryRequest,
  ModelSummaryResult,
  PROTOCOL_VERSION,
  RepairModelRequest,
  RunProgressNotification,
  ScanModelRequest,
  ShutdownRequest,
  WorkerErrorCode,
  WorkerErrorData,
} from '../protocol/worker';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface WorkerHostOptions {
  /** The worker script (dist/worker.js). */
  workerPath: string;
  /** The Node binary; defaults to the running one (Electron's, made a Node by ELECTRON_RUN_AS_NODE). */
  execPath?: string;
  /** Node flags of each new worker process, read at every start so that a changed setting applies. */
  execArgv?: () => string[];
  /** The handshake's settings, read at every start. */
  initializeParams: () => Omit<InitializeParams, 'protocolVersion'>;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** The clock of the restart window. */
  now?: () => number;
  maxRestarts?: number;
  restartWindowMs?: number;
  /** How long a cancelled request may take to end before its worker is killed. */
  cancelGraceMs?: number;
  /** How long a shutdown may take before the worker is killed. */
  shutdownGraceMs?: number;
}

export type WorkerStatus =
  | { state: 'stopped' }
  | { state: 'starting' }
  | { state: 'running'; info: InitializeResult }
  | { state: 'failed'; reason: string };

/** The worker answered with an error: bad input, no data set, or a failure inside it. */
export class WorkerRequestError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: WorkerErrorData,
  ) {
    super(message);
    this.name = 'WorkerRequestError';
  }
}

/** No worker could answer: it crashed during the request, or it crashed too often to restart. */
export class WorkerUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerUnavailableError';
  }
}

interface WorkerProcess {
  child: ChildProcess;
  connection: MessageConnection;
  /** Settles when the process has exited; never rejects. */
  exited: Promise<void>;
  hasExited: boolean;
  /** Stopped or killed on purpose: its exit is no crash. */
  intentional: boolean;
  fatal?: FatalParams;
  stderrTail: string[];
  ready: Promise<InitializeResult>;
}

type Listener<T> = (value: T) => void;

const STDERR_LINES_KEPT = 20;

export class WorkerHost {
  private proc: WorkerProcess | undefined;
  private statusValue: WorkerStatus = { state: 'stopped' };
  private crashTimes: number[] = [];
  private runCounter = 0;
  private disposed = false;
  private readonly progressListeners = new Map<string, RunControl['onProgress']>();
  private readonly statusListeners = new Set<Listener<WorkerStatus>>();
  private readonly now: () => number;
  private readonly maxRestarts: number;
  private readonly restartWindowMs: number;
  private readonly cancelGraceMs: number;
  private readonly shutdownGraceMs: number;

  constructor(private readonly options: WorkerHostOptions) {
    this.now = options.now ?? Date.now;
    this.maxRestarts = options.maxRestarts ?? 4;
    this.restartWindowMs = options.restartWindowMs ?? 3 * 60_000;
    this.cancelGraceMs = options.cancelGraceMs ?? 1000;
    this.shutdownGraceMs = options.shutdownGraceMs ?? 2000;
  }

  get status(): WorkerStatus {
    return this.statusValue;
  }

  /** The worker's process id while one runs (tests use it to check that a process really died). */
  get pid(): number | undefined {
    return this.proc?.child.pid;
  }

  onDidChangeStatus(listener: Listener<WorkerStatus>): { dispose(): void } {
    this.statusListeners.add(listener);
    return { dispose: () => this.statusListeners.delete(listener) };
  }

  /** Starts the worker if none runs and waits for its handshake. */
  async start(): Promise<InitializeResult> {
    const proc = this.ensureProcess();
    return proc.ready;
  }

  async summary(params: ModelSummaryParams, control: RunControl = {}): Promise<ModelSummaryResult> {
    return this.send(ModelSummaryRequest, () => params, control);
  }

  async scan(request: ScanRequest, control: RunControl = {}): Promise<ScanReport> {
    return this.send(ScanModelRequest, (runId) => ({ runId, request }), control);
  }

  /** Repairs a model in the worker; the report names the new file, which the worker wrote beside the input. */
  async repair(request: RepairRequest, control: RunControl = {}): Promise<RepairReport> {
    return this.send(RepairModelRequest, (runId) => ({ runId, request }), control);
  }

  /** Shuts the worker down: asks it to stop, then kills it if it has not exited within the grace period. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (proc && !proc.hasExited) {
      proc.intentional = true;
      const deadline = this.now() + this.shutdownGraceMs;
      const left = () => Math.max(0, deadline - this.now());
      try {
        await withTimeout(proc.connection.sendRequest(ShutdownRequest), left());
        await proc.connection.sendNotification(ExitNotification);
      } catch {
        // A worker that cannot answer is killed below.
      }
      if (!(await withTimeout(proc.exited.then(() => true), left()).catch(() => false))) {
        this.options.logger.warn(`The detection worker (pid ${proc.child.pid}) did not exit within ${this.shutdownGraceMs} ms of shutdown; killing it.`);
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
    }
    if (this.statusValue.state !== 'failed') this.setStatus({ state: 'stopped' });
  }

  /** Stops the worker and starts a fresh one, forgetting earlier crashes (after a settings change, or on request). */
  async restart(): Promise<InitializeResult> {
    await this.stop();
    this.crashTimes = [];
    this.setStatus({ state: 'stopped' });
    return this.start();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.stop();
    this.statusListeners.clear();
  }

  private setStatus(status: WorkerStatus): void {
    this.statusValue = status;
    for (const listener of this.statusListeners) listener(status);
  }

  private ensureProcess(): WorkerProcess {
    if (this.disposed) throw new WorkerUnavailableError('The backdoor scanner is shutting down.');
    if (this.statusValue.state === 'failed') throw new WorkerUnavailableError(this.statusValue.reason);
    this.proc ??= this.launch();
    return this.proc;
  }

  private launch(): WorkerProcess {
    const { options } = this;
    this.setStatus({ state: 'starting' });
    const child = fork(options.workerPath, [], {
      execPath: options.execPath ?? process.execPath,
      execArgv: options.execArgv?.() ?? [],
      env: { ...(options.env ?? process.env), ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const connection = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    let markExited: () => void = () => undefined;
    const base: Omit<WorkerProcess, 'ready'> = {
      child,
      connection,
      exited: new Promise<void>((resolve) => (markExited = resolve)),
      hasExited: false,
      intentional: false,
      stderrTail: [],
    };
    forwardLines(child.stdout, (line) => options.logger.info(`[worker] ${line}`));
    forwardLines(child.stderr, (line) => {
      base.stderrTail.push(line);
      if (base.stderrTail.length > STDERR_LINES_KEPT) base.stderrTail.shift();
      options.logger.warn(`[worker] ${line}`);
    });
    let exitSeen = false;
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (exitSeen) return;
      exitSeen = true;
      base.hasExited = true;
      connection.dispose();
      markExited();
      this.handleExit(base, code, signal);
    };
    child.on('exit', onExit);
    child.on('error', (e) => {
      options.logger.error(`The detection worker could not run: ${e.message}`);
      onExit(null, null);
    });
    connection.onNotification(RunProgressNotification, ({ runId, event }) => this.progressListeners.get(runId)?.(event));
    connection.onNotification(LogNotification, ({ level, message }) => options.logger[level](`[worker] ${message}`));
    connection.onNotification(FatalNotification, (fatal) => {
      base.fatal = fatal;
      options.logger.error(`[worker] uncaught error: ${fatal.stack ?? fatal.message}`);
    });
    connection.onError(([error]) => {
      if (!base.hasExited) options.logger.warn(`The connection to the detection worker failed: ${error.message}`);
    });
    connection.listen();

    // The same object as `base`, now complete: the handshake can only start once the connection listens.
    const proc: WorkerProcess = Object.assign(base, { ready: this.handshake(base) });
    proc.ready.then(
      (info) => {
        if (this.proc === proc) {
          options.logger.info(`Detection worker ${info.pid} runs on the '${info.backend.name}' backend.`);
          this.setStatus({ state: 'running', info });
        }
      },
      (e: Error) => {
        // A worker that answered the handshake with an error would fail the same way again:
        // no restart until the settings change (restart()).
        if (this.proc === proc && !proc.hasExited) {
          const reason = `The detection worker could not start: ${e.message}`;
          options.logger.error(reason);
          this.proc = undefined;
          this.setStatus({ state: 'failed', reason });
          proc.intentional = true;
          proc.child.kill('SIGKILL');
        }
      },
    );
    return proc;
  }

  private async handshake(proc: Omit<WorkerProcess, 'ready'>): Promise<InitializeResult> {
    const params: InitializeParams = { protocolVersion: PROTOCOL_VERSION, ...this.options.initializeParams() };
    const result = await this.race(proc, proc.connection.sendRequest(InitializeRequest, params)).catch((e) => {
      throw translate(e);
    });
    if (result.protocolVersion !== PROTOCOL_VERSION) {
      throw new WorkerRequestError(
        WorkerErrorCode.ProtocolMismatch,
        `the worker speaks protocol version ${result.protocolVersion} but the extension speaks ${PROTOCOL_VERSION}; reinstall the extension`,
      );
    }
    return result;
  }

  private handleExit(proc: Omit<WorkerProcess, 'ready'>, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.proc !== proc) return;
    this.proc = undefined;
    if (proc.intentional || this.disposed) {
      if (this.statusValue.state !== 'failed') this.setStatus({ state: 'stopped' });
      return;
    }
    const cause = describeExit(proc, code, signal);
    const now = this.now();
    this.crashTimes = [...this.crashTimes.filter((t) => now - t < this.restartWindowMs), now];
    const minutes = Math.round(this.restartWindowMs / 60_000);
    if (this.crashTimes.length > this.maxRestarts) {
      const reason =
        `The detection worker crashed ${this.crashTimes.length} times in the last ${minutes} minutes and will not be restarted ` +
        `(last: ${cause}). Run 'Backdoor Scanner: Restart Worker' after fixing the cause.`;
      this.options.logger.error(reason);
      this.setStatus({ state: 'failed', reason });
      return;
    }
    this.options.logger.warn(
      `The detection worker crashed (${cause}); restarting it (restart ${this.crashTimes.length} of at most ${this.maxRestarts} in ${minutes} minutes).`,
    );
    this.proc = this.launch();
    this.proc.ready.catch(() => undefined);
  }

  /** Settles with the request, or rejects as soon as the worker process exits. */
  private race<R>(proc: Omit<WorkerProcess, 'ready'>, request: Promise<R>): Promise<R> {
    const gone = (): Error =>
      new WorkerUnavailableError(
        proc.intentional ? 'The detection worker was stopped.' : `The detection worker crashed: ${describeExit(proc, proc.child.exitCode, proc.child.signalCode)}`,
      );
    const crashed = proc.exited.then((): never => {
      throw gone();
    });
    // Disposing the connection of an exited worker rejects its pending requests too; the exit is the real cause.
    const answered = request.catch((e: unknown): never => {
      throw proc.hasExited ? gone() : e;
    });
    return Promise.race([answered, crashed]);
  }

  private async send<P, R>(type: RequestType<P, R, WorkerErrorData>, makeParams: (runId: string) => P, control: RunControl): Promise<R> {
    const { signal, onProgress } = control;
    if (signal?.aborted) throw new CancelledError();
    const proc = this.ensureProcess();
    await proc.ready;
    if (signal?.aborted) throw new CancelledError();
    const runId = String(++this.runCounter);
    if (onProgress) this.progressListeners.set(runId, onProgress);
    const source = new CancellationTokenSource();
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      source.cancel();
      killTimer = setTimeout(() => {
        if (proc.hasExited) return;
        this.options.logger.warn(`The detection worker (pid ${proc.child.pid}) did not stop within ${this.cancelGraceMs} ms of a cancel; killing it.`);
        proc.intentional = true;
        proc.child.kill('SIGKILL');
      }, this.cancelGraceMs);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.race(proc, proc.connection.sendRequest(type, makeParams(runId), source.token));
    } catch (e) {
      if (signal?.aborted) throw new CancelledError();
      throw translate(e);
    } finally {
      clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
      this.progressListeners.delete(runId);
      source.dispose();
    }
  }
}

function translate(e: unknown): Error {
  if (e instanceof ResponseError) {
    if (e.code === WorkerErrorCode.Cancelled) return new CancelledError();
    return new WorkerRequestError(e.code, e.message, e.data as WorkerErrorData | undefined);
  }
  return e instanceof Error ? e : new Error(String(e));
}

function describeExit(proc: Omit<WorkerProcess, 'ready'>, code: number | null, signal: NodeJS.Signals | null): string {
  if (proc.fatal) return `uncaught error: ${proc.fatal.message}`;
  if (proc.stderrTail.some((line) => /heap out of memory|Allocation failed/i.test(line))) {
    return 'it ran out of memory; raise backdoorScanner.workerMemoryMb or scan with fewer images';
  }
  if (signal) return `killed by ${signal}`;
  const last = proc.stderrTail.at(-1);
  return `exit code ${code ?? 'unknown'}${last ? `: ${last}` : ''}`;
}

function forwardLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split(/\r?\n/);
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) onLine(line);
  });
  stream.on('end', () => {
    if (buffered.trim()) onLine(buffered);
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
