/**
 * The detection worker: a Node process forked by the extension (src/extension/workerHost.ts) that
 * parses untrusted model and data files and runs the engine, so that neither a slow scan nor a
 * crash in a parser or backend can freeze or take down the editor. It speaks the protocol of
 * src/protocol/worker.ts over the IPC channel of `child_process.fork`.
 */
import { CancellationToken, createMessageConnection, IPCMessageReader, IPCMessageWriter, ResponseError } from 'vscode-jsonrpc/node';
import { initBackend } from '../engine/backend';
import { readSidecar } from '../engine/data';
import { CancelledError } from '../engine/errors';
import { ProgressEvent } from '../engine/progress';
import { ScanReport } from '../engine/report';
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
  RunProgressNotification,
  ScanModelRequest,
  ScanParams,
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
/** Scans run one at a time: tfjs holds one backend and one memory pool per process. */
let scanQueue: Promise<unknown> = Promise.resolve();
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

connection.onRequest(ScanModelRequest, async (params, token): Promise<ScanReport | ResponseError<WorkerErrorData>> => {
  const controller = new AbortController();
  const stop = token.onCancellationRequested(() => controller.abort());
  running.add(controller);
  const turn = scanQueue.then(() => runScan(params, controller.signal));
  scanQueue = turn.catch(() => undefined);
  try {
    return await turn;
  } catch (e) {
    return toResponseError(controller.signal.aborted ? new CancelledError() : e);
  } finally {
    stop.dispose();
    running.delete(controller);
  }
});

async function runScan(params: ScanParams, signal: AbortSignal): Promise<ScanReport> {
  if (signal.aborted || shuttingDown) throw new CancelledError();
  const { request, runId } = params;
  if (!request.dataPath) {
    const sidecar = await readSidecar(request.modelPath);
    if (!sidecar?.data) {
      throw new ResponseError<WorkerErrorData>(WorkerErrorCode.NoDataset, `${request.modelPath}: no clean data set is selected for this model`, {
        kind: 'noDataset',
        modelPath: request.modelPath,
      });
    }
  }
  const throttle = new ProgressThrottle((event: ProgressEvent) => {
    void connection.sendNotification(RunProgressNotification, { runId, event });
  });
  return scanModel(request, { signal, onProgress: throttle.report });
}

connection.onRequest(ShutdownRequest, async (_token: CancellationToken) => {
  shuttingDown = true;
  for (const controller of running) controller.abort();
  await scanQueue;
});

connection.onNotification(ExitNotification, () => process.exit(shuttingDown ? 0 : 1));

connection.listen();
