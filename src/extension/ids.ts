/**
 * Identifiers shared by the extension's modules and package.json: commands, context keys, the
 * custom editor, and which files are models.
 */
import * as path from 'node:path';

export const COMMANDS = {
  scan: 'backdoorScanner.scan',
  cancelScan: 'backdoorScanner.cancelScan',
  showInvestigation: 'backdoorScanner.showInvestigation',
  selectDataset: 'backdoorScanner.selectDataset',
  repairWithNone: 'backdoorScanner.repairWithNone',
  repairWithBan: 'backdoorScanner.repairWithBan',
  restartWorker: 'backdoorScanner.restartWorker',
  showLog: 'backdoorScanner.showLog',
} as const;

/** Context key that is true while a scan runs (enables Cancel Scan). */
export const SCANNING_CONTEXT = 'backdoorScanner.scanning';

export const MODEL_EDITOR_VIEW_TYPE = 'backdoorScanner.model';

/** Binary model formats: the custom editor is their default. */
export const BINARY_MODEL_EXTENSIONS = ['.onnx', '.h5', '.keras', '.pt', '.pth', '.safetensors'];

/**
 * A TF.js model is its model.json, which stays a text file; a repair writes `model.repaired.json`
 * beside it (and `model.repaired-2.json`, …), which is a model too. package.json's menus use the
 * same pattern.
 */
const TFJS_MODEL_NAME = /^model(\.[\w-]+)?\.json$/;

/** File-name glob of the TF.js model files (a superset of TFJS_MODEL_NAME; isTfjsModelPath decides). */
const TFJS_MODEL_FILE_GLOB = 'model*.json';

/** Glob of the TF.js model files, for watchers and document selectors. */
export const TFJS_MODEL_GLOB = `**/${TFJS_MODEL_FILE_GLOB}`;

/** Glob of every model file the extension recognises. */
export const MODEL_GLOB = `**/{${[...BINARY_MODEL_EXTENSIONS.map((e) => `*${e}`), TFJS_MODEL_FILE_GLOB].join(',')}}`;

export function isTfjsModelPath(file: string): boolean {
  return TFJS_MODEL_NAME.test(path.basename(file));
}

export function isModelPath(file: string): boolean {
  return isTfjsModelPath(file) || BINARY_MODEL_EXTENSIONS.includes(path.extname(file).toLowerCase());
}
