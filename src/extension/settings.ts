/**
 * The `backdoorScanner.*` settings (declared in package.json), read in one place, and the scan
 * request they make for a model.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { BackendChoice } from '../engine/backend';
import type { BanSettings } from '../engine/report';
import type { ScanRequest } from '../engine/scan';

export const SECTION = 'backdoorScanner';

export type AutoScan = 'off' | 'onOpen';

export interface ScannerSettings {
  dataPath: string;
  epsilon: number;
  steps: number;
  seed: number;
  maxImages: number;
  banSettings: Partial<BanSettings>;
  arch: string;
  backend: BackendChoice;
  tfjsNodePath: string;
  workerMemoryMb: number;
  autoScan: AutoScan;
}

/** The settings that apply to a resource (workspace folder settings win over workspace and user ones). */
export function readSettings(scope?: vscode.Uri): ScannerSettings {
  const c = vscode.workspace.getConfiguration(SECTION, scope);
  return {
    dataPath: c.get<string>('dataPath', ''),
    epsilon: c.get<number>('epsilon', 0.3),
    steps: c.get<number>('steps', 30),
    seed: c.get<number>('seed', 0),
    maxImages: c.get<number>('maxImages', 0),
    banSettings: c.get<Partial<BanSettings>>('banSettings', {}),
    arch: c.get<string>('arch', ''),
    backend: c.get<BackendChoice>('backend', 'auto'),
    tfjsNodePath: c.get<string>('tfjsNodePath', ''),
    workerMemoryMb: c.get<number>('workerMemoryMb', 4096),
    autoScan: c.get<AutoScan>('autoScan', 'off'),
  };
}

/** Settings whose change needs a new worker process (its flags or its backend). */
export const WORKER_SETTINGS = ['backend', 'tfjsNodePath', 'workerMemoryMb'].map((key) => `${SECTION}.${key}`);

/**
 * The dataset setting as an absolute path: a relative one is relative to the model's workspace
 * folder, or to the model's own folder outside any workspace.
 */
export function settingDataPath(modelUri: vscode.Uri, settings: ScannerSettings): string | undefined {
  if (!settings.dataPath) return undefined;
  if (path.isAbsolute(settings.dataPath)) return settings.dataPath;
  const folder = vscode.workspace.getWorkspaceFolder(modelUri);
  return path.resolve(folder ? folder.uri.fsPath : path.dirname(modelUri.fsPath), settings.dataPath);
}

export function scanRequestFor(modelPath: string, dataPath: string | undefined, settings: ScannerSettings): ScanRequest {
  return {
    modelPath,
    dataPath,
    arch: settings.arch || undefined,
    settings: { ...settings.banSettings, eps: settings.epsilon, steps: settings.steps, seed: settings.seed },
    backend: settings.backend,
    tfjsNodePath: settings.tfjsNodePath || undefined,
    maxImages: settings.maxImages > 0 ? settings.maxImages : undefined,
  };
}
