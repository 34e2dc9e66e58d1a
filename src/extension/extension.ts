/**
 * The extension's entry point: creates the services and registers commands, editors, providers and
 * listeners. The work itself happens in the detection worker (src/worker), which parses the
 * untrusted model and data files in its own process.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { DatasetChoices } from './datasets';
import { ScanCodeActions, ScanDiagnostics } from './diagnostics';
import { BINARY_MODEL_EXTENSIONS, COMMANDS, MODEL_EDITOR_VIEW_TYPE, TFJS_MODEL_GLOB } from './ids';
import { ModelEditorProvider } from './modelEditor';
import { registerModelTriggers } from './modelTriggers';
import { Repairer } from './repairer';
import { ResultStore } from './resultStore';
import { Scanner } from './scanner';
import { readSettings, WORKER_SETTINGS } from './settings';
import { ScannerStatusBar } from './statusBar';
import { WorkerHost } from './workerHost';

let host: WorkerHost | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Backdoor Scanner', { log: true });
  host = new WorkerHost({
    workerPath: context.asAbsolutePath(path.join('dist', 'worker.js')),
    execArgv: () => [`--max-old-space-size=${readSettings().workerMemoryMb}`],
    initializeParams: () => {
      const settings = readSettings();
      return { backend: settings.backend, tfjsNodePath: settings.tfjsNodePath || undefined };
    },
    logger: log,
  });
  const storage = context.storageUri ?? context.globalStorageUri;
  const results = new ResultStore(path.join(storage.fsPath, 'reports'), context.workspaceState);
  const diagnostics = new ScanDiagnostics(vscode.Uri.joinPath(context.extensionUri, 'docs', 'detection.md'));
  const statusBar = new ScannerStatusBar();
  const datasets = new DatasetChoices(context.workspaceState);
  const scanner = new Scanner({ host, results, diagnostics, datasets, statusBar, log });
  const repairer = new Repairer({ host, datasets, diagnostics, log });
  const workerHost = host;

  context.subscriptions.push(
    log,
    diagnostics,
    statusBar,
    scanner,
    workerHost.onDidChangeStatus((status) => {
      statusBar.setWorker(status);
      if (status.state === 'failed') {
        void vscode.window.showErrorMessage(status.reason, 'Restart Worker', 'Show Log').then((choice) => {
          if (choice === 'Restart Worker') void vscode.commands.executeCommand(COMMANDS.restartWorker);
          if (choice === 'Show Log') log.show();
        });
      }
    }),
    vscode.window.registerCustomEditorProvider(MODEL_EDITOR_VIEW_TYPE, new ModelEditorProvider({ host, results, scanner, datasets }), {
      supportsMultipleEditorsPerDocument: true,
    }),
    vscode.languages.registerCodeActionsProvider(
      [{ scheme: 'file', pattern: TFJS_MODEL_GLOB }, ...BINARY_MODEL_EXTENSIONS.map((ext) => ({ scheme: 'file', pattern: `**/*${ext}` }))],
      new ScanCodeActions(),
      ScanCodeActions.metadata,
    ),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (workerHost.status.state !== 'stopped' && WORKER_SETTINGS.some((key) => event.affectsConfiguration(key))) {
        log.info('Worker settings changed; restarting the detection worker.');
        workerHost.restart().catch(() => undefined);
      }
    }),
    // Restricted settings (paths, memory) only apply once the workspace is trusted.
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      if (workerHost.status.state !== 'stopped') workerHost.restart().catch(() => undefined);
    }),
  );
  registerCommands({ context, host, scanner, repairer, results, datasets, diagnostics, log });
  registerModelTriggers({ context, host, scanner, results, datasets, diagnostics });
}

export async function deactivate(): Promise<void> {
  await host?.dispose();
  host = undefined;
}
