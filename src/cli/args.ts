/**
 * Option parsing shared by the commands: node's util.parseArgs plus conversions with messages
 * that say which option is wrong. A usage error is an exit-code-2 error like any bad input.
 */
import { parseArgs, ParseArgsConfig } from 'node:util';
import { BACKEND_CHOICES, BackendChoice } from '../engine/backend';
import { Preprocessing } from '../engine/data';

export class UsageError extends Error {}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Options every command that computes takes. */
export const COMPUTE_OPTIONS: OptionSpec = {
  backend: { type: 'string' },
  threads: { type: 'string' },
  format: { type: 'string', default: 'text' },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

/** Options of commands that read data. */
export const DATA_OPTIONS: OptionSpec = {
  data: { type: 'string' },
  split: { type: 'string' },
  scale: { type: 'string' },
  mean: { type: 'string' },
  std: { type: 'string' },
  arch: { type: 'string' },
  'batch-size': { type: 'string' },
  limit: { type: 'string' },
};

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parse(argv: string[], options: OptionSpec): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function str(values: Parsed['values'], key: string): string | undefined {
  const v = values[key];
  return typeof v === 'string' ? v : undefined;
}

export function num(values: Parsed['values'], key: string, check: (n: number) => boolean = Number.isFinite, what = 'a number'): number | undefined {
  const v = str(values, key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`--${key} must be ${what}, got '${v}'`);
  return n;
}

export function positiveInt(values: Parsed['values'], key: string): number | undefined {
  return num(values, key, (n) => Number.isInteger(n) && n > 0, 'a positive integer');
}

export function numberList(values: Parsed['values'], key: string): number[] | undefined {
  const v = str(values, key);
  if (v === undefined) return undefined;
  const list = v.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isFinite(n))) throw new UsageError(`--${key} must be a comma-separated list of numbers, got '${v}'`);
  return list;
}

export function backendChoice(values: Parsed['values']): BackendChoice | undefined {
  const v = str(values, 'backend');
  if (v === undefined) return undefined;
  if (!(BACKEND_CHOICES as readonly string[]).includes(v)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}, got '${v}'`);
  return v as BackendChoice;
}

export function outputFormat<T extends string>(values: Parsed['values'], allowed: readonly T[]): T {
  const v = str(values, 'format') ?? allowed[0];
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--format must be one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

export function preprocessingOptions(values: Parsed['values']): Partial<Preprocessing> {
  const out: Partial<Preprocessing> = {};
  const scale = num(values, 'scale', (n) => n > 0, 'a positive number');
  if (scale !== undefined) out.scale = scale;
  const mean = numberList(values, 'mean');
  if (mean) out.mean = mean;
  const std = numberList(values, 'std');
  if (std) {
    if (std.some((s) => s <= 0)) throw new UsageError('--std values must be positive');
    out.std = std;
  }
  return out;
}

export function splitName(values: Parsed['values']): 'train' | 'test' | undefined {
  const v = str(values, 'split');
  if (v === undefined) return undefined;
  if (v !== 'train' && v !== 'test') throw new UsageError(`--split must be train or test, got '${v}'`);
  return v;
}

export function requireOne(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${what}, got ${positionals.length}`);
  return positionals[0];
}
