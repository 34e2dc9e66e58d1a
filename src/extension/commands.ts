/**
 * The commands of package.json, as factories over the extension's services. A command invoked
 * from the Explorer gets the clicked file and the selection; from the palette, the active editor's
 * file; from a command link (custom editor), the file's URI as a string.
 */
import * as vscode from 'vscode';
import type { PanelAction } from '../protocol/webview';
import { DatasetChoices } from './datasets';
import { ScanDiagnostics } from './diagnostics';
import { COMMANDS, isModelPath } from './ids';
import { InvestigationPanel } from './investigationPanel';
import { Repairer, RepairMethod } from './repairer';
import { ResultStore } from './resultStore';
import { Scanner } from './scanner';
import { WorkerHost } from './workerHost';

export interface CommandDeps {
  context: vscode.ExtensionContext;
  host: WorkerHost;
  scanner: Scanner;
  repairer: Repairer;
  results: ResultStore;
  datasets: DatasetChoices;
  diagnostics: ScanDiagnostics;
  log: vscode.LogOutputChannel;
}

type UriArg = vscode.Uri | string | undefined;

function toUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  if (typeof arg === 'string') return vscode.Uri.parse(arg);
  return undefined;
}

/** The file of the active editor tab, text or custom. */
function activeFile(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputText || input instanceof vscode.TabInputCustom) return input.uri;
  return vscode.window.activeTextEditor?.document.uri;
}

/** The models a command applies to: the Explorer selection, else the clicked or active file. */
function targetModels(arg: UriArg, selection?: unknown): vscode.Uri[] {
  const selected = Array.isArray(selection) ? selection.map(toUri).filter((u): u is vscode.Uri => !!u) : [];
  const candidates = selected.length > 0 ? selected : [toUri(arg) ?? activeFile()].filter((u): u is vscode.Uri => !!u);
  return candidates.filter((u) => u.scheme === 'file' && isModelPath(u.fsPath));
}

const REPAIR_COMMANDS: Record<RepairMethod, string> = { none: COMMANDS.repairWithNone, ban: COMMANDS.repairWithBan };

const NOT_A_MODEL = 'Select or open a model file (.onnx, .h5, .keras, .pt, .pth, .safetensors or a TF.js model.json).';

export function registerCommands(deps: CommandDeps): void {
  const { context, host, scanner, repairer, results, datasets, diagnostics, log } = deps;

  /** Runs what the investigation panel's buttons ask for; the webview is untrusted, so paths are checked. */
  const onPanelAction = (action: PanelAction): void => {
    switch (action.kind) {
      case 'rescan':
        if (isModelPath(action.modelPath)) {
          refreshPanelAfterScan.add(vscode.Uri.file(action.modelPath).toString());
          void scanner.scan([vscode.Uri.file(action.modelPath)]);
        }
        return;
      case 'openFile':
        void vscode.commands.executeCommand('vscode.open', vscode.Uri.file(action.path));
        return;
      case 'repair':
        if (isModelPath(action.modelPath)) {
          void vscode.commands.executeCommand(REPAIR_COMMANDS[action.method], vscode.Uri.file(action.modelPath));
        }
        return;
      case 'ready':
        return;
    }
  };

  // Panels that asked for a rescan show its report when it arrives.
  const refreshPanelAfterScan = new Set<string>();
  context.subscriptions.push(
    scanner.onDidChange(({ uri, outcome }) => {
      if (!outcome || !refreshPanelAfterScan.delete(uri.toString())) return;
      if (outcome.kind === 'report') InvestigationPanel.createOrShow(context, outcome.report, onPanelAction);
    }),
    InvestigationPanel.registerSerializer(context, (modelPath) => results.lastReportFor(modelPath), onPanelAction),
  );

  const showInvestigation = async (arg: UriArg): Promise<void> => {
    const [uri] = targetModels(arg);
    if (!uri) {
      void vscode.window.showWarningMessage(NOT_A_MODEL);
      return;
    }
    const report = (await results.lookup(uri.fsPath))?.report ?? results.lastReportFor(uri.fsPath);
    if (report) {
      InvestigationPanel.createOrShow(context, report, onPanelAction);
      return;
    }
    const choice = await vscode.window.showInformationMessage(`${vscode.workspace.asRelativePath(uri)} has not been scanned yet.`, 'Scan for Backdoors');
    if (choice) void scanner.scan([uri]);
  };

  const selectDataset = async (arg: UriArg): Promise<void> => {
    const [uri] = targetModels(arg);
    if (!uri) {
      void vscode.window.showWarningMessage(NOT_A_MODEL);
      return;
    }
    const dataPath = await datasets.pick(uri);
    if (!dataPath) return;
    diagnostics.clearCouldNotRun(uri);
    const choice = await vscode.window.showInformationMessage(
      `${vscode.workspace.asRelativePath(uri)} will be scanned against ${dataPath}.`,
      'Scan Now',
    );
    if (choice) void scanner.scan([uri]);
  };

  /** Repairs the clicked, given or active model; settles with the outcome, like the scan command. */
  const repair = (method: RepairMethod) => async (arg: UriArg) => {
    const [uri] = targetModels(arg);
    if (uri) return repairer.repair(uri, method);
    void vscode.window.showWarningMessage(NOT_A_MODEL);
    return undefined;
  };

  const handlers: Record<string, (...args: never[]) => unknown> = {
    // Settles with the outcomes once the models are scanned, for callers that wait (tests, other extensions).
    [COMMANDS.scan]: async (arg: UriArg, selection?: unknown) => {
      const uris = targetModels(arg, selection);
      if (uris.length > 0) return scanner.scan(uris);
      void vscode.window.showWarningMessage(NOT_A_MODEL);
      return [];
    },
    [COMMANDS.cancelScan]: () => scanner.cancel(),
    [COMMANDS.showInvestigation]: showInvestigation,
    [COMMANDS.selectDataset]: selectDataset,
    [REPAIR_COMMANDS.none]: repair('none'),
    [REPAIR_COMMANDS.ban]: repair('ban'),
    [COMMANDS.restartWorker]: () =>
      host.restart().then(
        (info) => vscode.window.showInformationMessage(`The detection worker runs again, on the '${info.backend.name}' backend.`),
        (e: Error) => vscode.window.showErrorMessage(e.message),
      ),
    [COMMANDS.showLog]: () => log.show(),
  };
  for (const [id, handler] of Object.entries(handlers)) {
    context.subscriptions.push(vscode.commands.registerCommand(id, handler));
  }
}
