/**
 * The protocol between the extension and the investigation panel's webview (webview/main.ts).
 *
 * Direction extension → webview: `ShowMessage` (a scan report to draw) or `NoReportMessage` (the panel
 * was restored after a reload but the extension holds no report for its model any more).
 * Direction webview → extension: `PanelAction`, the buttons and links of the panel plus the `ready`
 * handshake the webview sends each time its page loads (first open, and every time it becomes visible
 * again, because the panel does not use `retainContextWhenHidden`).
 *
 * Messages travel through `postMessage`, which clones them structurally: the report's arrays stay plain
 * `number[]` (the largest, the feature mask, is at most some tens of thousands of numbers), and typed
 * arrays would cross unchanged if a later field needs them.
 *
 * Bump WEBVIEW_PROTOCOL_VERSION on any incompatible change; both sides check it.
 */
import type { RepairOutcome, ScanReport, Verdict } from '../engine/report';

export const WEBVIEW_PROTOCOL_VERSION = 1;

/**
 * Headline numbers of one model, measured the same way before and after a repair. The fields follow
 * the engine's repair metrics (accuracy, attack success rate, BAN's verdict in short), flattened.
 */
export interface RepairMetrics {
  /** Accuracy on the clean evaluation images. */
  cleanAccuracy: number;
  /** Share of triggered non-target images classified as the target, when a trigger is known. */
  attackSuccessRate?: number;
  /** BAN's verdict on the model, when the repair re-scanned it. */
  verdict?: Verdict;
  /** Share of evaluation images that BAN's noise sends to the dominant class, from that re-scan. */
  noisyDominantRate?: number;
}

/**
 * A repaired model next to the original, for a before/after view: what the extension takes from a
 * repair's report. The panel draws it under the verdict when present.
 */
export interface RepairComparison {
  method: 'none' | 'ban';
  /** Where the repaired model was written. */
  repairedModelPath: string;
  before: RepairMetrics;
  after: RepairMetrics;
  /** Whether the backdoor is gone, by the measurements the repair made, in one sentence. */
  outcome: RepairOutcome;
  seconds: number;
}

/** Extension → webview: draw this report (and, after a repair, the comparison). */
export interface ShowMessage {
  type: 'show';
  protocolVersion: number;
  report: ScanReport;
  repair?: RepairComparison;
}

/** Extension → webview: the restored panel's model has no report in memory; offer a rescan. */
export interface NoReportMessage {
  type: 'noReport';
  protocolVersion: number;
  modelPath: string;
}

export type ExtensionToWebviewMessage = ShowMessage | NoReportMessage;

/** Webview → extension: what the user asked for, or that the page has loaded. */
export type PanelAction =
  | { kind: 'repair'; method: 'none' | 'ban'; modelPath: string }
  | { kind: 'rescan'; modelPath: string }
  | { kind: 'openFile'; path: string }
  | { kind: 'ready'; protocolVersion: number };

/**
 * What the webview keeps with `setState`: enough for the serializer to find the model after a reload
 * and for the page to come back as the user left it. The report itself is not stored here; the
 * extension sends it again on `ready`, which keeps the persisted state small.
 */
export interface PanelState {
  protocolVersion: number;
  modelPath: string;
  /** Ids of the collapsed sections. */
  collapsed: string[];
  scrollY: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Checks a message from the webview before the extension acts on it. The webview renders strings from
 * untrusted model files, so the extension treats what it sends as untrusted input too.
 */
export function isPanelAction(value: unknown): value is PanelAction {
  if (!isObject(value)) return false;
  switch (value.kind) {
    case 'repair':
      return (value.method === 'none' || value.method === 'ban') && typeof value.modelPath === 'string';
    case 'rescan':
      return typeof value.modelPath === 'string';
    case 'openFile':
      return typeof value.path === 'string';
    case 'ready':
      return typeof value.protocolVersion === 'number';
    default:
      return false;
  }
}

/** Reads a persisted panel state, or undefined when it is missing or from another protocol version. */
export function parsePanelState(value: unknown): PanelState | undefined {
  if (!isObject(value) || value.protocolVersion !== WEBVIEW_PROTOCOL_VERSION) return undefined;
  if (typeof value.modelPath !== 'string') return undefined;
  const collapsed = Array.isArray(value.collapsed) ? value.collapsed.filter((c): c is string => typeof c === 'string') : [];
  const scrollY = typeof value.scrollY === 'number' && Number.isFinite(value.scrollY) ? value.scrollY : 0;
  return { protocolVersion: WEBVIEW_PROTOCOL_VERSION, modelPath: value.modelPath, collapsed, scrollY };
}
