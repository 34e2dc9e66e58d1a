/**
 * Turns whatever a request handler throws into the protocol's ResponseError, so that the
 * extension can tell bad input ("file: problem"), a cancelled run and a bug apart.
 */
import { ResponseError } from 'vscode-jsonrpc/node';
import { CancelledError, InputError } from '../engine/errors';
import { WorkerErrorCode, WorkerErrorData } from '../protocol/worker';

export function toResponseError(e: unknown): ResponseError<WorkerErrorData> {
  if (e instanceof ResponseError) return e as ResponseError<WorkerErrorData>;
  if (e instanceof InputError) {
    return new ResponseError(WorkerErrorCode.InputError, e.message, { kind: 'input', file: e.file, problem: e.problem });
  }
  if (e instanceof CancelledError) return new ResponseError(WorkerErrorCode.Cancelled, 'cancelled');
  const error = e instanceof Error ? e : new Error(String(e));
  return new ResponseError(WorkerErrorCode.Internal, error.message, { kind: 'internal', stack: error.stack });
}
