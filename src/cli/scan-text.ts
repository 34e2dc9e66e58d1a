/** The scan report as text for a terminal: verdict first, then the statistics behind it. */
import { PredictionStats, ScanReport } from '../engine/report';
import { describeBackend, fields, int, pct, table } from './text';

function label(report: ScanReport, k: number): string {
  return `${report.model.classes[k] ?? k} (${k})`;
}

function row(report: ScanReport, name: string, s: PredictionStats): string[] {
  return [name, pct(s.accuracy), label(report, s.dominantClass), pct(s.dominantRate)];
}

export function formatScanText(report: ScanReport): string {
  const v = report.verdict;
  const st = report.statistics;
  const m = report.model;
  const p = report.data.preprocessing;
  const heading = v.verdict === 'backdoored' ? `BACKDOORED: target label ${v.targetLabel} '${v.targetName}'` : v.verdict === 'inconclusive' ? `INCONCLUSIVE (most likely target ${v.targetLabel} '${v.targetName}')` : 'CLEAN: no backdoor found';
  const total = report.timings.reduce((s, t) => s + t.seconds, 0);
  const lines = [
    fields([
      ['Model', `${m.path} (${m.format}, ${int(m.parameters)} parameters, ${m.batchNormLayers} BatchNorm layers / ${int(m.batchNormChannels)} channels)`],
      ['Split point', `${m.splitPoint} [${m.splitShape.join(', ')}]`],
      ['Data', `${report.data.path} (${report.data.kind}): ${int(report.data.optimisationImages)} optimisation + ${int(report.data.evaluationImages)} evaluation images`],
      ['Preprocessing', `(pixel / ${p.scale} - [${p.mean.join(', ')}]) / [${p.std.join(', ')}], from ${p.source}${p.resized ? `, resized to ${p.inputShape[0]}x${p.inputShape[1]}` : ''}`],
      ['Backend', describeBackend(report.backend)],
      ['Settings', `ε ${report.settings.eps}, ${report.settings.steps} steps, λ ${report.settings.lambda}, ${report.settings.noiseVariant} noise${report.settings.faithful ? ', faithful replay' : ''}, seed ${report.settings.seed}`],
    ]),
    ...m.notes.map((n) => `Note: ${n}`),
    '',
    `Verdict: ${heading}`,
    `  score ${v.score.toFixed(3)} (threshold ${v.threshold}; inconclusive ${v.inconclusiveBand[0]}-${v.inconclusiveBand[1]})`,
    `  ${v.explanation}`,
    '',
    table([
      ['', 'accuracy', 'dominant label', 'rate'],
      row(report, 'clean', st.clean),
      row(report, `noise ε=${report.settings.eps}`, st.noisy),
      row(report, 'noise + negative mask', st.negativeMask),
      row(report, 'positive mask, no noise', st.positiveMask),
    ]),
    '',
    'Collapse sweep (dominant label and rate under noise, without / with the negative mask):',
    table([
      ['ε', 'noisy', '', 'negative mask', ''],
      ...st.sweep.map((s) => [String(s.eps), label(report, s.noisy.dominantClass), pct(s.noisy.dominantRate), label(report, s.negativeMask.dominantClass), pct(s.negativeMask.dominantRate)]),
    ]),
    '',
    'Predictions per class (clean / noise / noise + negative mask):',
    table([['class', 'clean', 'noise', 'neg. mask'], ...m.classes.map((c, k) => [`${c} (${k})`, String(st.clean.histogram[k]), String(st.noisy.histogram[k]), String(st.negativeMask.histogram[k])])]),
    '',
    `Time: ${report.timings.map((t) => `${t.phase} ${t.seconds.toFixed(1)} s`).join(', ')}; total ${total.toFixed(1)} s`,
  ];
  return `${lines.join('\n')}\n`;
}
