/**
 * backdoor-scan.json beside a model file: what the model file itself cannot say (how its inputs
 * were normalised, its class names, where its clean data lives). Options given by the user win
 * over it, and it wins over built-in defaults; resolvePreprocessing records which one each value
 * came from so that reports can state it.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { InputError } from '../errors';
import { checkPreprocessing, type InputShape, type Preprocessing, type ResolvedPreprocessing } from './preprocess';

export const SIDECAR_NAME = 'backdoor-scan.json';

export interface Sidecar {
  /** The sidecar file itself. */
  path: string;
  preprocessing?: Partial<Preprocessing>;
  inputShape?: InputShape;
  classes?: string[];
  /** The clean data set, resolved against the sidecar's folder. */
  data?: string;
  /** Keys we do not know, kept as warnings rather than errors so that newer files still load. */
  warnings: string[];
}

const KNOWN_KEYS = ['preprocessing', 'inputShape', 'classes', 'data'];
const PREPROCESSING_KEYS = ['scale', 'mean', 'std'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function numberList(file: string, key: string, v: unknown): number[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new InputError(file, `${key} must be a non-empty list of numbers, e.g. [0.5, 0.5, 0.5]`);
  }
  return v as number[];
}

/** Validates the parsed JSON of a sidecar file; `path` is the file, for messages and for `data`. */
export function parseSidecar(text: string, path: string): Sidecar {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(path, `not valid JSON (${(err as Error).message})`);
  }
  if (!isRecord(json)) throw new InputError(path, 'must hold a JSON object');
  const sidecar: Sidecar = { path, warnings: [] };
  for (const key of Object.keys(json)) {
    if (!KNOWN_KEYS.includes(key)) sidecar.warnings.push(`${path}: unknown key '${key}' ignored (known: ${KNOWN_KEYS.join(', ')})`);
  }
  if (json.preprocessing !== undefined) {
    const p = json.preprocessing;
    if (!isRecord(p)) throw new InputError(path, 'preprocessing must be an object with scale, mean and std');
    for (const key of Object.keys(p)) {
      if (!PREPROCESSING_KEYS.includes(key)) sidecar.warnings.push(`${path}: unknown key 'preprocessing.${key}' ignored (known: scale, mean, std)`);
    }
    const prep: Partial<Preprocessing> = {};
    if (p.scale !== undefined) {
      if (typeof p.scale !== 'number' || !(p.scale > 0) || !Number.isFinite(p.scale)) {
        throw new InputError(path, 'preprocessing.scale must be a positive number (255 for pixels in 0..255 to become 0..1, 1 to keep them)');
      }
      prep.scale = p.scale;
    }
    if (p.mean !== undefined) prep.mean = numberList(path, 'preprocessing.mean', p.mean);
    if (p.std !== undefined) {
      prep.std = numberList(path, 'preprocessing.std', p.std);
      if (!prep.std.every((s) => s > 0)) throw new InputError(path, 'preprocessing.std values must be positive');
    }
    if (prep.mean && prep.std && prep.mean.length !== prep.std.length && prep.mean.length !== 1 && prep.std.length !== 1) {
      throw new InputError(path, `preprocessing.mean has ${prep.mean.length} values but std has ${prep.std.length}`);
    }
    sidecar.preprocessing = prep;
  }
  if (json.inputShape !== undefined) {
    const s = json.inputShape;
    if (!Array.isArray(s) || s.length !== 3 || !s.every((d) => Number.isInteger(d) && d > 0) || (s[2] !== 1 && s[2] !== 3)) {
      throw new InputError(path, 'inputShape must be [height, width, channels] with channels 1 or 3, e.g. [32, 32, 3]');
    }
    sidecar.inputShape = [s[0], s[1], s[2]];
  }
  if (json.classes !== undefined) {
    const c = json.classes;
    if (!Array.isArray(c) || c.length === 0 || !c.every((x) => typeof x === 'string' && x !== '')) {
      throw new InputError(path, 'classes must be a non-empty list of class names in label order');
    }
    const dup = c.find((x, i) => c.indexOf(x) !== i);
    if (dup !== undefined) throw new InputError(path, `class '${dup}' is listed twice in classes`);
    sidecar.classes = c as string[];
  }
  if (json.data !== undefined) {
    if (typeof json.data !== 'string' || json.data === '') {
      throw new InputError(path, 'data must be a path to the clean data set, relative to this file');
    }
    sidecar.data = resolve(dirname(path), json.data);
  }
  return sidecar;
}

/** Reads the sidecar beside a model file; undefined when there is none. */
export async function readSidecar(modelPath: string): Promise<Sidecar | undefined> {
  const path = join(dirname(resolve(modelPath)), SIDECAR_NAME);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InputError(path, `cannot read: ${(err as Error).message}`);
  }
  return parseSidecar(text, path);
}

/**
 * Merges preprocessing values: options (command line or settings) win, then the sidecar, then
 * the defaults (built-in, or what the model format records). `channels`, when given, is checked
 * against the number of mean and std values.
 */
export function resolvePreprocessing(
  options: Partial<Preprocessing> | undefined,
  sidecar: Sidecar | undefined,
  defaults: Preprocessing,
  channels?: number,
): ResolvedPreprocessing {
  const origins: ResolvedPreprocessing['origins'] = { scale: 'default', mean: 'default', std: 'default' };
  const pick = <K extends keyof Preprocessing>(key: K): Preprocessing[K] => {
    const fromOption = options?.[key];
    if (fromOption !== undefined) {
      origins[key] = 'option';
      return fromOption;
    }
    const fromSidecar = sidecar?.preprocessing?.[key];
    if (fromSidecar !== undefined) {
      origins[key] = 'sidecar';
      return fromSidecar;
    }
    return defaults[key];
  };
  const result: ResolvedPreprocessing = {
    preprocessing: { scale: pick('scale'), mean: pick('mean'), std: pick('std') },
    origins,
  };
  if (Object.values(origins).includes('sidecar')) result.sidecarPath = sidecar?.path;
  const p = result.preprocessing;
  const where = result.sidecarPath ?? 'preprocessing';
  checkPreprocessing(p, channels ?? Math.max(p.mean.length, p.std.length), where);
  return result;
}
