/**
 * SARIF 2.1.0 output for code-scanning tools (GitHub, Azure DevOps). One run; one result per
 * finding, on the model file. Rule ids:
 *   BDS001 backdoor-detected     (error)   BAN's verdict is `backdoored`.
 *   BDS002 backdoor-inconclusive (warning) BAN's evidence cannot separate backdoor from clean.
 * A clean verdict gives a run with no results. docs/report-schema.md documents the rules.
 */
import { ScanReport } from '../engine/report';

const DOCS = 'https://github.com/backdoor-scanner/backdoor-scanner/blob/main/docs/detection.md';

export const SARIF_RULES = [
  {
    id: 'BDS001',
    name: 'backdoor-detected',
    shortDescription: { text: 'The model carries a neural backdoor.' },
    fullDescription: { text: 'Under adversarial BatchNorm neuron noise (BAN), clean inputs of every class collapse onto one target label, as they do in backdoored models.' },
    helpUri: DOCS,
    defaultConfiguration: { level: 'error' },
  },
  {
    id: 'BDS002',
    name: 'backdoor-inconclusive',
    shortDescription: { text: 'The backdoor scan could not decide.' },
    fullDescription: { text: "BAN's collapse score lies where clean and backdoored models overlap on the calibration zoo." },
    helpUri: DOCS,
    defaultConfiguration: { level: 'warning' },
  },
];

export function toSarif(report: ScanReport): object {
  const v = report.verdict;
  const results = [];
  if (v.verdict !== 'clean') {
    const backdoored = v.verdict === 'backdoored';
    results.push({
      ruleId: backdoored ? 'BDS001' : 'BDS002',
      ruleIndex: backdoored ? 0 : 1,
      level: backdoored ? 'error' : 'warning',
      message: { text: v.explanation },
      locations: [{ physicalLocation: { artifactLocation: { uri: toUri(report.model.path) } } }],
      partialFingerprints: { modelSha256: report.model.sha256 },
      properties: {
        verdict: v.verdict,
        score: v.score,
        threshold: v.threshold,
        targetLabel: v.targetLabel,
        targetName: v.targetName,
        negativeMaskDominantRate: report.statistics.negativeMask.dominantRate,
        backend: report.backend.name,
      },
    });
  }
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: report.tool.name, version: report.tool.version, informationUri: DOCS, rules: SARIF_RULES } },
        artifacts: [{ location: { uri: toUri(report.model.path) }, hashes: { 'sha-256': report.model.sha256 } }],
        results,
        invocations: [{ executionSuccessful: true, endTimeUtc: report.createdAt }],
      },
    ],
  };
}

/** SARIF wants URI references; relative paths stay relative, with forward slashes. */
function toUri(path: string): string {
  return encodeURI(path.replace(/\\/g, '/'));
}
