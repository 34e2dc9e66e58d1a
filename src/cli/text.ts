/** Small text-formatting helpers for the CLI's human-readable output. */
import { percent } from '../engine/percent';

export function pct(x: number, digits = 1): string {
  return Number.isFinite(x) ? percent(x, digits) : 'n/a';
}

export function int(n: number): string {
  return n.toLocaleString('en-US');
}

/** Left-aligned label column followed by values, one line per row. */
export function fields(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

/** A plain table: the first row is the header; columns are right-aligned except the first. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

export function describeBackend(b: { name: string; simd: boolean; threads: number; adapter?: string }): string {
  const parts = [b.name];
  if (b.name === 'wasm') parts.push(b.simd ? 'SIMD' : 'no SIMD');
  parts.push(`${b.threads} thread${b.threads === 1 ? '' : 's'}`);
  if (b.adapter) parts.push(b.adapter);
  return parts.join(', ');
}
