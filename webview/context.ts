/** What every section of the panel gets to draw from and to act with. */
import type { ScanReport } from '../src/engine/report';
import type { PanelAction, RepairComparison } from '../src/protocol/webview';

export interface RenderContext {
  report: ScanReport;
  repair?: RepairComparison;
  post(action: PanelAction): void;
  /** Width in CSS pixels a chart may take; the panel redraws when it changes. */
  width: number;
}

/** Colour class of each verdict, shared by the badge, the gauge marker and the samples. */
/**
 * The label the collapse points to, when the verdict makes it a finding: a backdoor's target, or the
 * suspect of an inconclusive scan. The engine names a label for clean models too (where the noise
 * pushes most), but the panel does not present that as a target.
 */
export function suspectLabel(report: ScanReport): number | undefined {
  return report.verdict.verdict === 'clean' ? undefined : report.verdict.targetLabel;
}

/** How the panel names the suspect label for this verdict. */
export function suspectWord(report: ScanReport): string {
  return report.verdict.verdict === 'backdoored' ? 'target label' : 'most likely target';
}

export const VERDICT_CLASS: Record<ScanReport['verdict']['verdict'], string> = {
  backdoored: 'c-red',
  clean: 'c-green',
  inconclusive: 'c-yellow',
};
