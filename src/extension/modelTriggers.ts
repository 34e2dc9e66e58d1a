/**
 * What happens when a model file appears in the editor or changes on disk: a model.json opened as
 * text shows its cached result at once and, with autoScan onOpen and a known data set, starts a
 * scan (binary models do the same in their custom editor); an edited model loses the markers of
 * its old content; after a reload, the markers of unchanged models come back from the cache.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DatasetChoices } from './datasets';
import { ScanDiagnostics } from './diagnostics';
import { isTfjsModelPath, MODEL_GLOB } from './ids';
import { ResultStore } from './resultStore';
import { Scanner } from './scanner';
import { readSettings } from './settings';
import { WorkerHost } from './workerHost';

export interface TriggerDeps {
  context: vscode.ExtensionContext;
  host: WorkerHost;
  scanner: Scanner;
  results: ResultStore;
  datasets: DatasetChoices;
  diagnostics: ScanDiagnostics;
}

export function registerModelTriggers(deps: TriggerDeps): void {
  const { context, host, scanner, results, datasets, diagnostics } = deps;

  /** Shows the cached result of the file's current content, or clears a stale marker. */
  const refresh = async (uri: vscode.Uri): Promise<boolean> => {
    const cached = await results.lookup(uri.fsPath);
    if (cached) {
      await diagnostics.showReport(uri, cached.report, cached.reportFile);
    } else if (diagnostics.codeOf(uri) === 'backdoor' || diagnostics.codeOf(uri) === 'inconclusive') {
      diagnostics.clear(uri);
    }
    return cached !== undefined;
  };

  /** A TF.js model is also its weight shards: a changed shard changes the models beside it. */
  const refreshShardOwner = (shard: vscode.Uri): void => {
    const dir = path.dirname(shard.fsPath);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.filter(isTfjsModelPath)) void refresh(vscode.Uri.file(path.join(dir, name)));
  };

  const onOpenModelJson = async (document: vscode.TextDocument): Promise<void> => {
    const uri = document.uri;
    if (uri.scheme !== 'file' || !isTfjsModelPath(uri.fsPath)) return;
    const cached = await refresh(uri);
    if (cached || readSettings(uri).autoScan !== 'onOpen' || scanner.isBusy(uri)) return;
    // Whether the sidecar names a data set is for the worker to read, not the extension host.
    const dataKnown = datasets.for(uri) ?? (await host.summary({ path: uri.fsPath }).catch(() => undefined))?.sidecarDataPath;
    if (dataKnown) void scanner.scan([uri]);
  };

  const watcher = vscode.workspace.createFileSystemWatcher(MODEL_GLOB);
  const shardWatcher = vscode.workspace.createFileSystemWatcher('**/*.bin');
  context.subscriptions.push(
    watcher,
    shardWatcher,
    shardWatcher.onDidChange(refreshShardOwner),
    shardWatcher.onDidCreate(refreshShardOwner),
    shardWatcher.onDidDelete(refreshShardOwner),
    watcher.onDidChange((uri) => void refresh(uri)),
    watcher.onDidCreate((uri) => void refresh(uri)),
    watcher.onDidDelete((uri) => diagnostics.clear(uri)),
    vscode.workspace.onDidOpenTextDocument((document) => void onOpenModelJson(document)),
  );
  for (const document of vscode.workspace.textDocuments) void onOpenModelJson(document);
  for (const file of results.indexedPaths()) {
    if (fs.existsSync(file) && vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file))) void refresh(vscode.Uri.file(file));
  }
}
