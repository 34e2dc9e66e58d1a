/**
 * What a scan report means for the Problems panel, as plain data: the severity and sentence of
 * each finding, and where in a TF.js model.json the split-point layer is declared. No `vscode`
 * import, so that it reads (and tests) like the rest of the non-UI code; diagnostics.ts turns it
 * into vscode.Diagnostics.
 */
// The ES module build: the package's `main` is a UMD wrapper whose inner requires esbuild cannot
// follow, so bundling it leaves `require('./impl/format')` to fail at run time.
import { findNodeAtLocation, Node, parseTree } from 'jsonc-parser/lib/esm/main';
import type { ScanReport } from '../engine/report';
import { wholePercent as pct } from '../engine/percent';

/** Diagnostic codes; also what the quick fixes look for. */
export type FindingCode = 'backdoor' | 'inconclusive' | 'noDataset' | 'cannotScan';

export interface Finding {
  code: FindingCode;
  severity: 'error' | 'warning' | 'information';
  message: string;
}


/** Scores can be negative; they are written with their sign, as the engine's explanation does. */
export function signed(x: number): string {
  return `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;
}

function label(report: ScanReport): string {
  const { targetLabel, targetName } = report.verdict;
  if (targetLabel === undefined) return 'one label';
  return targetName && targetName !== String(targetLabel) ? `label ${targetLabel} '${targetName}'` : `label ${targetLabel}`;
}

/** The share of clean images that the noisy model sends to the suspected target. */
function targetShare(report: ScanReport): number {
  const { noisy } = report.statistics;
  const target = report.verdict.targetLabel ?? noisy.dominantClass;
  const images = noisy.histogram.reduce((a, b) => a + b, 0);
  return images > 0 ? (noisy.histogram[target] ?? 0) / images : 0;
}

/** The finding of a report, or undefined for a clean model (which gets no marker). */
export function findingOf(report: ScanReport): Finding | undefined {
  const { verdict, score, threshold, inconclusiveBand } = report.verdict;
  const share = pct(targetShare(report));
  const [low, high] = inconclusiveBand;
  if (verdict === 'backdoored') {
    return {
      code: 'backdoor',
      severity: 'error',
      message:
        `Backdoor detected: inputs collapse to ${label(report)} under neuron noise (${share} of clean images); ` +
        `score ${signed(score)}, threshold ${signed(threshold)}; clean models score below ${signed(low)}.`,
    };
  }
  if (verdict === 'inconclusive') {
    return {
      code: 'inconclusive',
      severity: 'warning',
      message:
        `Backdoor scan inconclusive: score ${signed(score)} lies between ${signed(low)} and ${signed(high)}, ` +
        `where clean and backdoored models come close; ${label(report)} is the likeliest target (${share} of clean images under neuron noise).`,
    };
  }
  return undefined;
}

export function noDatasetFinding(): Finding {
  return {
    code: 'noDataset',
    severity: 'information',
    message: 'Backdoor scan could not run: no clean data set is selected for this model. Select a folder or zip of labelled images.',
  };
}

/** A scan that failed on bad input: "file: problem", as the engine words it. */
export function cannotScanFinding(fileAndProblem: string): Finding {
  return { code: 'cannotScan', severity: 'information', message: `Backdoor scan could not run: ${fileAndProblem}` };
}

/**
 * The [start, end) offsets of the split-point layer's name in a TF.js model.json, or undefined
 * when the text is not JSON or declares no such layer. Sequential and functional topologies keep
 * their layers under `config.layers`, possibly inside `model_config`.
 */
export function layerNameRange(jsonText: string, layerName: string): [number, number] | undefined {
  const root = parseTree(jsonText);
  if (!root) return undefined;
  const topology = findNodeAtLocation(root, ['modelTopology']);
  const config = topology && (findNodeAtLocation(topology, ['model_config', 'config']) ?? findNodeAtLocation(topology, ['config']));
  const layers = config && findNodeAtLocation(config, ['layers']);
  for (const layer of layers?.children ?? []) {
    const name: Node | undefined = findNodeAtLocation(layer, ['config', 'name']) ?? findNodeAtLocation(layer, ['name']);
    if (name?.type === 'string' && name.value === layerName) return [name.offset, name.offset + name.length];
  }
  return undefined;
}
