/**
 * `npm run eval:zoo`: scans every model of the zoo with BAN and writes the zoo section of
 * docs/detection.md (between its `zoo:begin` and `zoo:end` markers): per-model statistics, the
 * verdict score against the training ground truth, the ROC of each candidate statistic, the chosen
 * threshold and its error rates, on the calibration models and on the held-out ones apart.
 *
 *   npm run eval:zoo                         # zoo/calibration (scripts/zoo-torch.py) + test/fixtures/models
 *   npm run eval:zoo -- --faithful           # also scan with --faithful and compare
 *   npm run eval:zoo -- --report-only        # rebuild the table from the saved scans
 *
 * Scans are saved under zoo/results/ (one JSON per model and mode) and reused when the model
 * file and the settings have not changed, so an interrupted run resumes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { decideVerdict, DEFAULT_CALIBRATION, targetGain } from '../src/engine/detect/verdict';
import { DEFAULT_BAN_SETTINGS } from '../src/engine/detect/ban';
import { percent } from '../src/engine/percent';
import { BanStatistics, ScanReport } from '../src/engine/report';
import { scanModel } from '../src/engine/scan';
import { modelSha256 } from '../src/engine/session';
import { findZooModels, ZooEntry } from './zoo-models';

const ROOT = path.resolve(__dirname, '..');
const DATA = path.resolve(ROOT, '../shared/datasets/cifar10/cifar10-test.zip');

type Saved = Omit<ScanReport, 'evidence'> & { evidence?: undefined };

async function scanCached(entry: ZooEntry, faithful: boolean, outDir: string): Promise<Saved> {
  const file = path.join(outDir, `${entry.name}${faithful ? '.faithful' : ''}.json`);
  const sha = modelSha256(entry.modelPath);
  const settings = { ...DEFAULT_BAN_SETTINGS, faithful };
  if (fs.existsSync(file)) {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Saved;
    if (saved.model.sha256 === sha && JSON.stringify(saved.settings) === JSON.stringify(settings)) return saved;
  }
  const started = Date.now();
  const report = await scanModel({ modelPath: entry.modelPath, dataPath: DATA, settings });
  const { evidence: _evidence, ...rest } = report;
  void _evidence;
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(rest, null, 1)}\n`);
  process.stderr.write(`${entry.name}${faithful ? ' (faithful)' : ''}: ${report.verdict.verdict} score ${report.verdict.score.toFixed(3)} target ${report.verdict.targetLabel} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  return rest;
}

/** Candidate statistics for the verdict, each oriented so that higher means "backdoored". */
const CANDIDATES: { name: string; describe: string; value: (s: BanStatistics) => number }[] = [
  { name: 'target gain (the verdict score)', describe: 'how much share the label of the negative-mask head without noise gains in the noisy model, relative to its clean share, averaged over the sweep', value: (s) => targetGain(s).score },
  { name: 'gain of the noisy neg-mask label', describe: 'the same gain for the label g((1-m)·f_δ(x)) collapses to (mask and noise together, as the official code evaluates)', value: (s) => { const t = s.negativeMask.dominantClass; const tot = (h: number[]) => h.reduce((a, b) => a + b, 0); const base = s.clean.histogram[t] / tot(s.clean.histogram); return s.sweep.reduce((a, p) => a + (p.noisy.histogram[t] / tot(p.noisy.histogram) - base) / (1 - base), 0) / Math.max(s.sweep.length, 1); } },
  { name: 'target gain at ε=0.3 only', describe: 'the same gain at the main noise strength alone', value: (s) => { const g = targetGain(s).gains; return g[g.length - 1]?.gain ?? NaN; } },
  { name: 'label agreement × noisy rate', describe: 'mean over the sweep of the noisy dominant rate where the noisy and negative-mask dominant labels agree', value: (s) => s.sweep.reduce((a, p) => a + (p.noisy.dominantClass === s.negativeMask.dominantClass ? p.noisy.dominantRate : 0), 0) / Math.max(s.sweep.length, 1) },
  { name: 'neg-mask dominant rate, no noise', describe: 'share of clean images the head sends to one label on the negative-mask features alone', value: (s) => s.negativeMaskNoNoise?.dominantRate ?? NaN },
  { name: 'neg-mask dominant rate ε=0.3', describe: "the official target-label statistic: share of clean images g((1-m)·f_δ(x)) sends to its dominant label", value: (s) => s.negativeMask.dominantRate },
  { name: 'noisy dominant rate ε=0.3', describe: 'share of clean images the noisy model (no mask) sends to its dominant label', value: (s) => s.noisy.dominantRate },
  { name: '1 - neg-mask accuracy', describe: "the unused `--acc-threshold` of the authors' code reads acc_neg < 0.25 as backdoored", value: (s) => 1 - s.negativeMask.accuracy },
  { name: 'noisy dominant rate at smallest ε', describe: 'collapse of the noisy model at the weakest noise of the sweep', value: (s) => [...s.sweep].sort((a, b) => a.eps - b.eps)[0]?.noisy.dominantRate ?? NaN },
];

interface RocPoint {
  threshold: number;
  tpr: number;
  fpr: number;
}

function roc(scores: { score: number; positive: boolean }[]): { auc: number; points: RocPoint[]; best: RocPoint & { accuracy: number } } {
  const thresholds = [...new Set(scores.map((s) => s.score))].sort((a, b) => b - a);
  const P = scores.filter((s) => s.positive).length;
  const N = scores.length - P;
  const points: RocPoint[] = [{ threshold: Infinity, tpr: 0, fpr: 0 }];
  let best = { threshold: Infinity, tpr: 0, fpr: 0, accuracy: N / scores.length };
  for (const t of thresholds) {
    const tp = scores.filter((s) => s.positive && s.score >= t).length;
    const fp = scores.filter((s) => !s.positive && s.score >= t).length;
    const point = { threshold: t, tpr: P ? tp / P : 0, fpr: N ? fp / N : 0 };
    points.push(point);
    const accuracy = (tp + (N - fp)) / scores.length;
    if (accuracy > best.accuracy) best = { ...point, accuracy };
  }
  let auc = 0;
  for (let i = 1; i < points.length; i++) auc += (points[i].fpr - points[i - 1].fpr) * (points[i].tpr + points[i - 1].tpr) / 2;
  return { auc, points, best };
}

function pct(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '–' : percent(x);
}

/**
 * The models whose scans were known when the verdict's score and DEFAULT_CALIBRATION were chosen.
 * Every other model was scanned afterwards and never changed the verdict: the held-out set.
 * The calibration was last revised (threshold and band moved to the gap between the clean and
 * backdoored scores; a weak proposal made clean instead of inconclusive) with all 27 models below
 * known, 13 of which had been the previous calibration's held-out set; docs/detection.md tells how.
 */
const CALIBRATION_SET = new Set([
  'vgg-badnets-t0', 'vgg-badnets-white-t3', 'vgg-badnets-low-t5', 'vgg-blend10-t7', 'vgg-blend20-t2', 'vgg-wanet-t9',
  'vgg-clean-1', 'vgg-clean-2', 'vgg-clean-3', 'vgg-clean-4', 'vgg-clean-5', 'vgg-clean-6',
  'r8-badnets-t0', 'r8-badnets-white-t3', 'r8-badnets-low-t5', 'r8-blend10-t7', 'r8-blend20-t2', 'r8-wanet-t9',
  'r8-clean-1', 'r8-clean-2', 'r8-clean-3', 'r8-clean-4', 'r8-clean-5', 'r8-clean-6',
  'badnets-resnet', 'vgg-small-badnets', 'vgg-small-clean',
]);

const ZOO_BEGIN = '<!-- zoo:begin (generated by `npm run eval:zoo`; do not edit by hand) -->';
const ZOO_END = '<!-- zoo:end -->';

/** Replaces the generated section of the document, leaving the hand-written text around it. */
function writeSection(file: string, lines: string[]): void {
  const doc = fs.readFileSync(file, 'utf8');
  const begin = doc.indexOf(ZOO_BEGIN);
  const end = doc.indexOf(ZOO_END);
  if (begin < 0 || end < begin) throw new Error(`${file}: the markers ${ZOO_BEGIN} and ${ZOO_END} are missing`);
  fs.writeFileSync(file, `${doc.slice(0, begin + ZOO_BEGIN.length)}\n\n${lines.join('\n')}\n\n${doc.slice(end)}`);
}

/** Detection success, target accuracy and error rates over some of the rows. */
function rates(rows: ZooEntry[], scans: Map<string, Saved>): string[] {
  const verdictOf = (e: ZooEntry) => decideVerdict((scans.get(e.name) as Saved).statistics, (scans.get(e.name) as Saved).model.classes);
  const positives = rows.filter((e) => e.backdoored);
  const negatives = rows.filter((e) => !e.backdoored);
  const correct = rows.filter((e) => (verdictOf(e).verdict === 'backdoored') === e.backdoored && verdictOf(e).verdict !== 'inconclusive').length;
  const inconclusive = rows.filter((e) => verdictOf(e).verdict === 'inconclusive').length;
  const flagged = positives.filter((e) => verdictOf(e).verdict === 'backdoored');
  const targetRight = flagged.filter((e) => verdictOf(e).targetLabel === e.target).length;
  const fp = negatives.filter((e) => verdictOf(e).verdict === 'backdoored').length;
  const fn = positives.filter((e) => verdictOf(e).verdict === 'clean').length;
  return [
    `**Detection success rate** (backdoored flagged + clean passed): ${correct}/${rows.length} = ${pct(correct / Math.max(rows.length, 1))}; inconclusive: ${inconclusive}.`,
    `**Target label right** on ${targetRight}/${flagged.length} flagged backdoored models (${pct(targetRight / Math.max(flagged.length, 1))}); backdoored models: ${positives.length}, clean: ${negatives.length}.`,
    `False positive rate: ${fp}/${negatives.length} = ${pct(fp / Math.max(negatives.length, 1))}; false negative rate: ${fn}/${positives.length} = ${pct(fn / Math.max(positives.length, 1))}.`,
  ];
}

function writeTable(entries: ZooEntry[], scans: Map<string, Saved>, faithful: Map<string, Saved>, outFile: string): void {
  const rows = entries.filter((e) => scans.has(e.name));
  const lines: string[] = [];
  const cal = DEFAULT_CALIBRATION;
  lines.push('### Per model', '');
  lines.push(`Data: CIFAR-10 test set (${DATA.replace(path.resolve(ROOT, '..') + '/', '../')}); BAN defaults (ε ${DEFAULT_BAN_SETTINGS.eps}, ${DEFAULT_BAN_SETTINGS.steps} steps, λ ${DEFAULT_BAN_SETTINGS.lambda}, sweep ε ${DEFAULT_BAN_SETTINGS.sweepEps.join(', ')}, seed 0). Threshold ${cal.threshold}, inconclusive band ${cal.inconclusiveBand.join('–')}.`, '');
  lines.push('| model | set | trained with | attack | clean acc | ASR | true target | verdict | score | found target | neg-mask rate (label) | noisy rate (label) | sweep dominant rates (noisy) | scan time |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const e of rows) {
    const r = scans.get(e.name) as Saved;
    // Verdicts are recomputed from the saved statistics, so a new calibration needs no rescan.
    const v = decideVerdict(r.statistics, r.model.classes);
    const s = r.statistics;
    const right = (v.verdict === 'backdoored') === e.backdoored && v.verdict !== 'inconclusive';
    const seconds = r.timings.reduce((a, t) => a + t.seconds, 0);
    lines.push(
      `| ${e.name} | ${CALIBRATION_SET.has(e.name) ? 'calibration' : 'held-out'} | ${e.trainedWith.startsWith('PyTorch') ? 'PyTorch' : 'engine'} | ${e.attack ?? 'none'} | ${pct(e.cleanAccuracy)} | ${pct(e.attackSuccessRate)} | ${e.target ?? '–'} | ${right ? '' : '**'}${v.verdict}${right ? '' : '**'} | ${v.score.toFixed(3)} | ${v.targetLabel} | ${pct(s.negativeMask.dominantRate)} (${s.negativeMask.dominantClass}) | ${pct(s.noisy.dominantRate)} (${s.noisy.dominantClass}) | ${s.sweep.map((p) => `${p.eps}: ${pct(p.noisy.dominantRate)} (${p.noisy.dominantClass})`).join(', ')} | ${seconds.toFixed(0)} s |`,
    );
  }
  const heldOut = rows.filter((e) => !CALIBRATION_SET.has(e.name));
  lines.push('', `All ${rows.length} models:`, '', ...rates(rows, scans).map((l) => `- ${l}`));
  lines.push('', `The ${heldOut.length} held-out models alone (scanned after the verdict's rules were fixed):`, '', ...rates(heldOut, scans).map((l) => `- ${l}`), '');
  lines.push('### Candidate statistics', '', 'Area under the ROC curve of each statistic over the zoo, and the threshold with the best accuracy:', '');
  lines.push('| statistic | what it is | AUC | best threshold | TPR | FPR | accuracy |', '|---|---|---|---|---|---|---|');
  for (const c of CANDIDATES) {
    const r = roc(rows.map((e) => ({ score: c.value((scans.get(e.name) as Saved).statistics), positive: e.backdoored })));
    lines.push(`| ${c.name} | ${c.describe} | ${r.auc.toFixed(3)} | ${r.best.threshold.toFixed(3)} | ${pct(r.best.tpr)} | ${pct(r.best.fpr)} | ${pct(r.best.accuracy)} |`);
  }
  const main = roc(rows.map((e) => ({ score: targetGain((scans.get(e.name) as Saved).statistics).score, positive: e.backdoored })));
  lines.push('', '### ROC of the verdict score', '', '| threshold | TPR | FPR |', '|---|---|---|', ...main.points.map((p) => `| ${Number.isFinite(p.threshold) ? p.threshold.toFixed(3) : '∞'} | ${pct(p.tpr)} | ${pct(p.fpr)} |`));

  if (faithful.size > 0) {
    lines.push('', '### Default vs `--faithful`', '', 'The default skips work the result does not depend on; `--faithful` replays the authors\' sequence of passes (weight gradients, all noise batches).', '');
    lines.push('| model | verdict (default / faithful) | target | score | neg-mask rate | noisy rate | time default / faithful |', '|---|---|---|---|---|---|---|');
    let same = 0;
    for (const e of rows) {
      const a = scans.get(e.name) as Saved;
      const b = faithful.get(e.name);
      if (!b) continue;
      const va = decideVerdict(a.statistics, a.model.classes);
      const vb = decideVerdict(b.statistics, b.model.classes);
      const agree = va.verdict === vb.verdict && va.targetLabel === vb.targetLabel;
      if (agree) same++;
      const ta = a.timings.reduce((x, t) => x + t.seconds, 0);
      const tb = b.timings.reduce((x, t) => x + t.seconds, 0);
      lines.push(`| ${e.name} | ${va.verdict} / ${vb.verdict} | ${va.targetLabel} / ${vb.targetLabel} | ${va.score.toFixed(3)} / ${vb.score.toFixed(3)} | ${pct(a.statistics.negativeMask.dominantRate)} / ${pct(b.statistics.negativeMask.dominantRate)} | ${pct(a.statistics.noisy.dominantRate)} / ${pct(b.statistics.noisy.dominantRate)} | ${ta.toFixed(0)} s / ${tb.toFixed(0)} s |`);
    }
    lines.push('', `Same verdict and target on ${same}/${faithful.size} models.`);
  }
  writeSection(outFile, lines);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { faithful: { type: 'boolean', default: false }, 'report-only': { type: 'boolean', default: false }, only: { type: 'string' }, out: { type: 'string' } } });
  const outDir = path.resolve(values.out ?? path.join(ROOT, 'zoo/results'));
  const only = values.only?.split(',');
  const entries = findZooModels(ROOT).filter((e) => !only || only.includes(e.name));
  const scans = new Map<string, Saved>();
  const faithful = new Map<string, Saved>();
  for (const e of entries) {
    const file = path.join(outDir, `${e.name}.json`);
    if (values['report-only']) {
      if (fs.existsSync(file)) scans.set(e.name, JSON.parse(fs.readFileSync(file, 'utf8')));
      const ff = path.join(outDir, `${e.name}.faithful.json`);
      if (fs.existsSync(ff)) faithful.set(e.name, JSON.parse(fs.readFileSync(ff, 'utf8')));
      continue;
    }
    scans.set(e.name, await scanCached(e, false, outDir));
    if (values.faithful) faithful.set(e.name, await scanCached(e, true, outDir));
  }
  writeTable(entries, scans, faithful, path.join(ROOT, 'docs/detection.md'));
  process.stderr.write(`wrote the zoo section of docs/detection.md (${scans.size} models)\n`);
}

main().catch((e) => {
  process.stderr.write(`eval-zoo: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
