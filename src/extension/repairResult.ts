/**
 * What a repair report means for the user, as plain data: the before/after comparison the
 * investigation panel draws and the one-line summary of the message. No `vscode` import, so that
 * the unit tests check it against a real report.
 */
import type { ModelMetrics, RepairReport } from '../engine/report';
import type { RepairComparison, RepairMetrics } from '../protocol/webview';
import { percent as pct } from '../engine/percent';

export function methodName(method: RepairReport['method']): string {
  return method === 'none' ? 'NONE' : 'BAN fine-tuning';
}

function metrics(m: ModelMetrics): RepairMetrics {
  return {
    cleanAccuracy: m.cleanAccuracy,
    attackSuccessRate: m.attackSuccessRate,
    verdict: m.verdict?.verdict,
    noisyDominantRate: m.verdict?.noisyDominantRate,
  };
}

export function repairComparison(report: RepairReport): RepairComparison {
  return {
    method: report.method,
    repairedModelPath: report.output.path,
    before: metrics(report.before),
    after: metrics(report.after),
    outcome: report.outcome,
    seconds: report.timings.reduce((sum, t) => sum + t.seconds, 0),
  };
}


/**
 * "name repaired with NONE: clean accuracy 67.2% → 62.9%, attack success rate 100.0% → 6.2%,
 * BAN verdict backdoored → clean. The backdoor is removed: … Repaired model: output". The attack
 * success rate needs a known trigger and the verdict a scan before and after, so each appears only
 * when the repair measured it; the outcome sentence says what they mean together.
 */
export function repairSummary(report: RepairReport, name: string, outputName: string): string {
  const { before, after } = report;
  const parts = [`clean accuracy ${pct(before.cleanAccuracy)} → ${pct(after.cleanAccuracy)}`];
  if (before.attackSuccessRate !== undefined && after.attackSuccessRate !== undefined) {
    parts.push(`attack success rate ${pct(before.attackSuccessRate)} → ${pct(after.attackSuccessRate)}`);
  }
  if (before.verdict && after.verdict) parts.push(`BAN verdict ${before.verdict.verdict} → ${after.verdict.verdict}`);
  return `${name} repaired with ${methodName(report.method)}: ${parts.join(', ')}. ${report.outcome.explanation} Repaired model: ${outputName}.`;
}
