/**
 * Shares as percentages in the sentences of reports and messages, so that the engine, the CLI and
 * the extension write the same number the same way. No dependencies: the extension host imports it.
 */

/** 0.0656 → "6.6%" (one decimal by default). */
export function percent(share: number, digits = 1): string {
  return `${(share * 100).toFixed(digits)}%`;
}

/** 0.773 → "77%": the whole percent of the verdict's explanations and the diagnostics. */
export function wholePercent(share: number): string {
  return `${Math.round(share * 100)}%`;
}
