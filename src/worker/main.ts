/**
 * The detection worker: a Node process forked by the extension (src/extension/workerHost.ts) that
 * parses untrusted model and data files and runs the engine, so that neither a slow scan nor a
 * crash in a parser or backend can freeze or take down the editor. It speaks the protocol of
 * src/protocol/worker.ts over the IPC channel of `child_process.fork`.
 */
import { CancellationToken, createMessageConnection, IPCMessageReader, IPCMessageWriter, ResponseError } from 'vscode-jsonrpc/node';
import { initBackend } from '../engine/backend';
import { readSidecar } from '../engine/data';
import { CancelledError, isOutOfMemory } from '../engine/errors';
import { ProgressEvent, RunControl } from '../engine/progress';
import { repairModel } from '../engine/repair';
import { scanModel } from '../engine/scan';
import { openModel } from '../engine/session';
import {
  ExitNotification,
  FatalNotification,
  InitializeRequest,
  InitializeResult,
  LogNotification,
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
import { toResponseError } from './errors';
import { ProgressThrottle } from './throttle';

if (typeof process.send !== 'function') {
  process.stderr.write('The backdoor scanner worker runs as a forked child of the VS Code extension; use the CLI (backdoor-scan) from a terminal.\n');
  process.exit(2);
}

const connection = createMessageConnection(new IPCMessageReader(process), new IPCMessageWriter(process));

let exiting = false;

/** Tells the extension why the worker dies, then exits; the exit happens even if the message cannot be sent. */
function die(error: unknown): void {
  if (exiting) return;
  exiting = true;
  const e = error instanceof Error ? error : new Error(String(error));
  process.stderr.write(`backdoor scanner worker: uncaught ${e.stack ?? e.message}\n`);
  setTimeout(() => process.exit(1), 1000).unref();
  connection
    .sendNotification(FatalNotification, { message: e.message, stack: e.stack })
    .finally(() => process.exit(1))
    .catch(() => undefined);
}

process.on('uncaughtException', die);
process.on('unhandledRejection', die);
// The extension host is gone (closed window, crashed host): nobody is left to answer.
process.on('disconnect', () => process.exit(0));

let shuttingDown = false;
/** Scans and repairs run one at a time: tfjs holds one backend and one memory pool per process. */
let jobQueue: Promise<unknown> = Promise.resolve();
const running = new Set<AbortController>();

connection.onRequest(InitializeRequest, async (params) => {
  if (params.protocolVersion !== PROTOCOL_VERSION) {
    return new ResponseError<WorkerErrorData>(
      WorkerErrorCode.ProtocolMismatch,
      `the extension speaks protocol version ${params.protocolVersion} but its worker speaks ${PROTOCOL_VERSION}; reinstall the extension`,
    );
  }
  try {
    const backend = await initBackend({ backend: params.backend, tfjsNodePath: params.tfjsNodePath });
    for (const note of backend.notes) void connection.sendNotification(LogNotification, { level: 'info', message: note });
    const result: InitializeResult = { protocolVersion: PROTOCOL_VERSION, pid: process.pid, backend };
    return result;
  } catch (e) {
    return new ResponseError<WorkerErrorData>(WorkerErrorCode.BackendUnavailable, (e as Error).message);
  }
});

connection.onRequest(ModelSummaryRequest, async (params): Promise<ModelSummaryResult | ResponseError<WorkerErrorData>> => {
  try {
    const model = await openModel(params.path, { arch: params.arch });
    return {
      path: params.path,
      format: model.loaded.format,
      sha256: model.sha256,
      classes: model.classes,
      summary: model.summary,
      notes: [...model.loaded.notes, ...(model.sidecar?.warnings ?? [])],
      sidecarDataPath: model.sidecar?.data,
    };
  } catch (e) {
    return toResponseError(e);
  }
});

/** What scans and repairs have in common: a run id for progress, and a model with its data set. */
interface EngineJobParams {
  runId: string;
  request: { modelPath: string; dataPath?: string };
}

/**
 * Runs one scan or repair: queued behind the running one, its progress throttled into
 * `run/progress` notifications, `$/cancelRequest` turned into the engine's AbortSignal, and its
 * failure turned into the protocol's error (a cancelled job fails as cancelled, whatever the
 * engine threw on its way out).
 */
async function runEngineJob<P extends EngineJobParams, R>(
  params: P,
  token: CancellationToken,
  run: (request: P['request'], control: RunControl) => Promise<R>,
): Promise<R | ResponseError<WorkerErrorData>> {
  const controller = new AbortController();
  const stop = token.onCancellationRequested(() => controller.abort());
  running.add(controller);
  const turn = jobQueue.then(async () => {
    const { signal } = controller;
    if (signal.aborted || shuttingDown) throw new CancelledError();
    await requireDataset(params.request);
    const throttle = new ProgressThrottle((event: ProgressEvent) => {
      void connection.sendNotification(RunProgressNotification, { runId: params.runId, event });
    });
    return run(params.request, { signal, onProgress: throttle.report });
  });
  jobQueue = turn.catch(() => undefined);
  try {
    return await turn;
  } catch (e) {
    if (isOutOfMemory(e)) exitAfterReply(e);
    return toResponseError(controller.signal.aborted ? new CancelledError() : e);
  } finally {
    stop.dispose();
    running.delete(controller);
  }
}

/** Gives the reply to a job that ran out of memory time to leave before the process ends. */
const OUT_OF_MEMORY_EXIT_DELAY_MS = 500;

/**
 * After the backend ran out of memory its wasm heap is in an undefined state (Emscripten aborted),
 * and every later job in this process would fail in confusing ways. The job's reply already says
 * what happened; the process then exits, and the WorkerHost starts a fresh one for the next job.
 */
function exitAfterReply(e: unknown): void {
  setTimeout(() => {
    process.stderr.write(`the compute backend ran out of memory (${e instanceof Error ? e.message : String(e)}); exiting so that the next job gets a fresh process\n`);
    process.exit(3);
  }, OUT_OF_MEMORY_EXIT_DELAY_MS);
}

/**
 * A job without a data set fails with NoDataset, which the extension answers by offering Select
 * Dataset, rather than with the engine's input error, which it would only show.
 */
async function requireDataset(request: EngineJobParams['request']): Promise<void> {
  if (request.dataPath || (await readSidecar(request.modelPath))?.data) return;
  throw new ResponseError<WorkerErrorData>(WorkerErrorCode.NoDataset, `${request.modelPath}: no clean data set is selected for this model`, {
    kind: 'noDataset',
    modelPath: request.modelPath,
  });
}

connection.onRequest(ScanModelRequest, (params, token) => runEngineJob(params, token, scanModel));

connection.onRequest(RepairModelRequest, (params, token) => runEngineJob(params, token, repairModel));

connection.onRequest(ShutdownRequest, async (_token: CancellationToken) => {
  shuttingDown = true;
  for (const controller of running) controller.abort();
  await jobQueue;
});

connection.onNotification(ExitNotification, () => process.exit(shuttingDown ? 0 : 1));

connection.listen();
