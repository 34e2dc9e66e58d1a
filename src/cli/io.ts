/**
 * Where a command writes: stdout for results (text, JSON, SARIF), stderr for progress and
 * errors. Commands take it as a parameter so tests can capture output without touching the
 * process streams (which node's test runner itself reports through).
 */
export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
}

export const PROCESS_IO: CliIo = { stdout: process.stdout, stderr: process.stderr };
