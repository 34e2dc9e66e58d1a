/** Number and label formatting shared by the panel's sections. */
import { percent as sharedPercent } from '../src/engine/percent';
import type { ScanReport } from '../src/engine/report';

export function percent(rate: number, digits = 1): string {
  return Number.isFinite(rate) ? sharedPercent(rate, digits) : '—';
}

/** Three significant digits, switching to exponent notation for very small or large values. */
export function num(value: number): string {
  if (!Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return value.toExponential(2);
  return Number(value.toPrecision(3)).toString();
}

export function seconds(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(1)} s`;
  return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
}

/** The class's name from the model, or a placeholder when the model names no classes. */
export function className(report: ScanReport, index: number): string {
  const name = report.model.classes[index];
  return name !== undefined && name !== '' ? name : `class ${index}`;
}

/** "name (index)", the way the panel names a class everywhere. */
export function classLabel(report: ScanReport, index: number): string {
  return `${className(report, index)} (${index})`;
}

/** The last component of a path, for titles; the full path stays in the facts. */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter((p) => p !== '');
  return parts.length > 0 ? parts[parts.length - 1] : path;
}

export function shape(dims: number[]): string {
  return `[${dims.join(' × ')}]`;
}
