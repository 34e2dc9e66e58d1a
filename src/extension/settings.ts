/**
 * The `backdoorScanner.*` settings (declared in package.json), read in one place, and the scan
 * and repair requests they make for a model.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { BackendChoice } from '../engine/backend';
import type { RepairRequest } from '../engine/repair';
import type { BanFinetuneSettings, BanSettings, NoneSettings } from '../engine/report';
import type { ScanRequest } from '../engine/scan';

export const SECTION = 'backdoorScanner';

export type AutoScan = 'off' | 'onOpen';

/** `backdoorScanner.repairSettings`: the options of `backdoor-scan repair` that the extension offers. */
export interface RepairSettings {
  verdict?: boolean;
  trigger?: string;
  dataFraction?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  evalImages?: number;
}

export interface ScannerSettings {
  dataPath: string;
  epsilon: number;
  steps: number;
  seed: number;
  maxImages: number;
  banSettings: Partial<BanSettings>;
  repairSettings: RepairSettings;
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
    repairSettings: c.get<RepairSettings>('repairSettings', {}),
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

/** The object without its undefined fields, so that spreading it over defaults keeps them. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * A repair of the model on the data set its scans use (the engine picks the split and the share
 * of it), with BAN's verdict before and after measured as the scan settings say.
 */
export function repairRequestFor(modelPath: string, method: 'none' | 'ban', dataPath: string | undefined, settings: ScannerSettings): RepairRequest {
  const scan = scanRequestFor(modelPath, dataPath, settings);
  const r = settings.repairSettings;
  const tuning = { dataFraction: r.dataFraction, batchSize: r.batchSize, learningRate: r.learningRate };
  return {
    method,
    modelPath,
    dataPath,
    arch: scan.arch,
    trigger: r.trigger || undefined,
    evalImages: r.evalImages,
    none: method === 'none' ? defined<Partial<NoneSettings>>({ ...tuning, epochsPerRound: r.epochs }) : undefined,
    ban: method === 'ban' ? defined<Partial<BanFinetuneSettings>>({ ...tuning, epochs: r.epochs }) : undefined,
    verdict: r.verdict ?? true,
    verdictSettings: scan.settings,
    verdictImages: scan.maxImages,
    backend: scan.backend,
    tfjsNodePath: scan.tfjsNodePath,
  };
}
