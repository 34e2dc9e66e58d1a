/**
 * The protocol between the extension host and the detection worker: JSON-RPC 2.0 (vscode-jsonrpc)
 * over the IPC channel of `child_process.fork`. The extension's WorkerHost
 * (src/extension/workerHost.ts) forks dist/worker.js (src/worker/main.ts) and is its only client.
 * Untrusted model and data bytes are parsed only on the worker side of this boundary; the
 * extension sees paths, summaries and reports.
 *
 * A session is: `initialize` (version handshake, backend start), any number of `model/summary`,
 * `scan` and `repair` requests, then `shutdown` and `exit`. Cancelling a request uses JSON-RPC's
 * own `$/cancelRequest`, which the worker turns into the engine's AbortSignal.
 *
 * Bump PROTOCOL_VERSION on any incompatible change: `initialize` refuses a mismatch, so an
 * extension never drives a worker bundle from another build.
 */
import { NotificationType, NotificationType0, RequestType, RequestType0 } from 'vscode-jsonrpc';
import type { BackendChoice, BackendInfo } from '../engine/backend';
import type { ModelFormat } from '../engine/formats/types';
import type { ModelSummary } from '../engine/graph/summary';
import type { ProgressEvent } from '../engine/progress';
import type { RepairRequest } from '../engine/repair';
import type { RepairReport, ScanReport } from '../engine/report';
import type { ScanRequest } from '../engine/scan';

/** Version 2 added the `repair` request. */
export const PROTOCOL_VERSION = 2;

// ---------------------------------------------------------------------------------------------
// Lifecycle

export interface InitializeParams {
  /** The extension's PROTOCOL_VERSION; the worker refuses any other. */
  protocolVersion: number;
  /** Which compute backend to start ('auto' picks the fastest that loads). */
  backend: BackendChoice;
  /** Where the user installed tfjs-node(-gpu), for the 'tensorflow' backend. */
  tfjsNodePath?: string;
}

export interface InitializeResult {
  /** The worker's PROTOCOL_VERSION; the extension refuses any other. */
  protocolVersion: number;
  pid: number;
  /** The backend the worker computes on, shown in the status bar. */
  backend: BackendInfo;
}

/**
 * Extension → worker, first message of every worker process. The worker checks the protocol
 * version, starts the compute backend and answers which one runs. A version mismatch fails with
 * WorkerErrorCode.ProtocolMismatch, a backend that cannot start with BackendUnavailable.
 */
export const InitializeRequest = new RequestType<InitializeParams, InitializeResult, WorkerErrorData>('initialize');

/**
 * Extension → worker: stop accepting work and abort what runs. The worker answers once its
 * current request has ended; the extension then sends `exit`, and kills a worker that has not
 * exited within its grace period.
 */
export const ShutdownRequest = new RequestType0<void, WorkerErrorData>('shutdown');

/** Extension → worker, after `shutdown` has been answered: exit the process now. */
export const ExitNotification = new NotificationType0('exit');

// ---------------------------------------------------------------------------------------------
// Work

export interface ModelSummaryParams {
  path: string;
  /** Built-in architecture for weight-only formats (PyTorch state_dict, safetensors). */
  arch?: string;
}

export interface ModelSummaryResult {
  path: string;
  format: ModelFormat;
  /** SHA-256 of the model file (model.json for TF.js): the extension's cache key. */
  sha256: string;
  /** Class names: the model file's, else the sidecar's, else numbers. */
  classes: string[];
  summary: ModelSummary;
  /** Facts about the load worth showing, e.g. an architecture guessed from weight names. */
  notes: string[];
  /** The clean data set named by the sidecar (backdoor-scan.json), resolved to an absolute path. */
  sidecarDataPath?: string;
}

/**
 * Extension → worker: load a model and describe it (layers, parameters, input shape, BatchNorm
 * layers, split point). Runs alongside a scan; it touches no compute backend.
 */
export const ModelSummaryRequest = new RequestType<ModelSummaryParams, ModelSummaryResult, WorkerErrorData>('model/summary');

export interface ScanParams {
  /** Chosen by the extension; progress notifications for this scan carry it. */
  runId: string;
  request: ScanRequest;
}

/**
 * Extension → worker: run BAN detection and answer the report. Scans and repairs run one at a
 * time in the worker, in the order they arrive; a second one waits for the first. Progress
 * arrives as `run/progress` notifications; `$/cancelRequest` stops the scan at the engine's next
 * step and the request fails with WorkerErrorCode.Cancelled. A scan without a data set (none
 * given, none named by the model's sidecar) fails with WorkerErrorCode.NoDataset.
 */
export const ScanModelRequest = new RequestType<ScanParams, ScanReport, WorkerErrorData>('scan');

export interface RepairParams {
  /** Chosen by the extension; progress notifications for this repair carry it. */
  runId: string;
  request: RepairRequest;
}

/**
 * Extension → worker: repair a model with NONE or BAN fine-tuning and answer the report. The
 * worker writes the repaired model to a new file beside the input (never over it) and measures
 * both. Queued, reported, cancelled and refused without a data set exactly like `scan`.
 */
export const RepairModelRequest = new RequestType<RepairParams, RepairReport, WorkerErrorData>('repair');

export interface RunProgressParams {
  /** The runId of the scan or repair this belongs to. */
  runId: string;
  event: ProgressEvent;
}

/**
 * Worker → extension: progress of a long run, at most a few per second (phase changes and the
 * end of a phase always come through).
 */
export const RunProgressNotification = new NotificationType<RunProgressParams>('run/progress');

// ---------------------------------------------------------------------------------------------
// Diagnostics of the worker itself

export interface LogParams {
  level: 'info' | 'warn' | 'error';
  message: string;
}

/** Worker → extension: a line for the extension's output channel (backend notes, warnings). */
export const LogNotification = new NotificationType<LogParams>('worker/log');

export interface FatalParams {
  message: string;
  stack?: string;
}

/**
 * Worker → extension: an uncaught exception or unhandled rejection, sent just before the worker
 * exits with a non-zero code, so the crash report names the cause and not only the exit code.
 */
export const FatalNotification = new NotificationType<FatalParams>('worker/fatal');

// ---------------------------------------------------------------------------------------------
// Errors

/** Error codes of ResponseErrors the worker sends, besides JSON-RPC's own. */
export const WorkerErrorCode = {
  /** A model or data file is unreadable or does not fit; data: InputErrorData. */
  InputError: 1001,
  /** The scan or repair needs a clean data set and none was given or named by a sidecar; data: NoDatasetData. */
  NoDataset: 1002,
  /** The extension and worker bundles speak different protocol versions. */
  ProtocolMismatch: 1003,
  /** The requested compute backend cannot start; the message says why. */
  BackendUnavailable: 1004,
  /** The request was cancelled (LSP's RequestCancelled). */
  Cancelled: -32800,
  /** Anything else; data: InternalErrorData with the worker-side stack. */
  Internal: -32603,
} as const;

export interface InputErrorData {
  kind: 'input';
  /** The file that is at fault (the model, its sidecar, or the data set). */
  file: string;
  problem: string;
}

export interface NoDatasetData {
  kind: 'noDataset';
  modelPath: string;
}

export interface InternalErrorData {
  kind: 'internal';
  stack?: string;
}

export type WorkerErrorData = InputErrorData | NoDatasetData | InternalErrorData;
