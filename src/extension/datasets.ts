/**
 * The clean data set of each model, chosen with Select Dataset… and remembered per model path in
 * workspace state. A model without a choice falls back to the backdoorScanner.dataPath setting,
 * then to the `data` of its sidecar (backdoor-scan.json), which the worker reads.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readSettings, settingDataPath } from './settings';

const STATE_KEY = 'backdoorScanner.datasets';

export class DatasetChoices {
  constructor(private readonly state: vscode.Memento) {}

  /** The data set chosen for this model, else the setting's; undefined leaves it to the sidecar. */
  for(modelUri: vscode.Uri): string | undefined {
    return this.choices()[modelUri.fsPath] ?? settingDataPath(modelUri, readSettings(modelUri));
  }

  /** Asks for a folder or zip of labelled images; returns it, or undefined when the user backs out. */
  async pick(modelUri: vscode.Uri): Promise<string | undefined> {
    const current = this.for(modelUri);
    const picked = await vscode.window.showOpenDialog({
      title: `Clean data set for ${path.basename(path.dirname(modelUri.fsPath))}/${path.basename(modelUri.fsPath)}`,
      openLabel: 'Use as clean data',
      canSelectFiles: true,
      canSelectFolders: true,
      canSelectMany: false,
      defaultUri: current ? vscode.Uri.file(current) : vscode.workspace.getWorkspaceFolder(modelUri)?.uri,
      filters: { 'Image folders, zips and arrays': ['zip', 'npz', 'npy', 'bin', 'gz'], 'All files': ['*'] },
    });
    if (!picked?.[0]) return undefined;
    const dataPath = picked[0].fsPath;
    await this.state.update(STATE_KEY, { ...this.choices(), [modelUri.fsPath]: dataPath });
    return dataPath;
  }

  private choices(): Record<string, string> {
    return this.state.get<Record<string, string>>(STATE_KEY) ?? {};
  }
}
