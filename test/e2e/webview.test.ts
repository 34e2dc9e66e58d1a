/**
 * The investigation panel in a real browser: Debian's Chromium driven by playwright-core loads the
 * page that src/extension/investigationPanel.ts builds (webview/html.ts, same CSP), with the webview
 * bundle built from the current source and a stand-in for VS Code's `acquireVsCodeApi`. It checks that
 * each section draws the report's numbers, that the buttons post the right actions, that state comes
 * back after a reload, that strings from a hostile model stay text, and it saves the screenshots.
 *
 *   npm run test:webview         (BACKDOOR_PANEL_REPORT=path/to/report.json to use another report)
 */
import * as esbuild from 'esbuild';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { ScanReport } from '../../src/engine/report';
import { WEBVIEW_PROTOCOL_VERSION, isPanelAction, parsePanelState, type PanelAction, type PanelState, type RepairComparison, type ShowMessage } from '../../src/protocol/webview';
import { suspectLabel } from '../../webview/context';
import { className, classLabel, percent } from '../../webview/format';
import { contentSecurityPolicy, panelHtml } from '../../webview/html';
import { DARK, LIGHT, type WebviewTheme } from './webview-themes';

const root = path.resolve(__dirname, '../..');
/** The recorded report the panel draws: a real scan of the engine-trained BadNets fixture (backdoor-scan scan --format json). */
const REPORT_PATH = path.resolve(root, process.env.BACKDOOR_PANEL_REPORT ?? 'test/fixtures/reports/vgg-small-badnets.json');
const SCREENSHOTS = path.join(root, 'test/e2e/screenshots');
const CHROMIUM = '/usr/bin/chromium';
const ORIGIN = 'http://panel.test';
const NONCE = 'dGVzdC1ub25jZS0xMjM0NQ==';

const XSS_IMG = '<img src=x onerror=window.__pwned=1>';
const XSS_SCRIPT = '</script><script>window.__pwned=2</script>';

interface PageProbe {
  posted: PanelAction[];
  state: unknown;
  violations: string[];
  errors: string[];
  pwned: unknown;
}

let context: BrowserContext;
let userDataDir: string;
let bundle: string;
const report = JSON.parse(fs.readFileSync(REPORT_PATH, 'utf8')) as ScanReport;

before(async () => {
  // The bundle is built here from the current source, with the options scripts/build.mjs uses for
  // webview/main.ts, so the test never runs a stale dist/webview.js.
  const result = await esbuild.build({
    entryPoints: [path.join(root, 'webview/main.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    ignoreAnnotations: true,
    write: false,
    logLevel: 'silent',
  });
  bundle = result.outputFiles[0].text;
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'panel-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await context?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});

/**
 * Stands in for VS Code's `acquireVsCodeApi` and records what the page does in `window.__probe`:
 * messages posted, state saved, CSP violations and script errors. It is a string, not a function,
 * because tsx rewrites named functions in this file with a helper the browser does not have.
 */
function stubScript(initialState: PanelState | undefined): string {
  return `
    const probe = { posted: [], state: ${JSON.stringify(initialState ?? null)} ?? undefined, violations: [], errors: [] };
    window.__probe = probe;
    document.addEventListener('securitypolicyviolation', (e) => probe.violations.push(e.violatedDirective + ' ' + e.blockedURI));
    window.addEventListener('error', (e) => probe.errors.push(String(e.message)));
    window.acquireVsCodeApi = () => ({
      postMessage: (m) => probe.posted.push(m),
      getState: () => probe.state,
      setState: (s) => { probe.state = s; },
    });
  `;
}

/**
 * Opens the panel page with `initialState` as the webview's saved state. The page is served from a
 * fake origin that plays the part of `webview.cspSource`; anything else it asks for is refused.
 */
async function openPanel(initialState?: PanelState, title = 'Investigation: model.json'): Promise<Page> {
  const page = await context.newPage();
  const html = panelHtml({ cspSource: ORIGIN, nonce: NONCE, scriptUri: `${ORIGIN}/dist/webview.js`, styleUri: `${ORIGIN}/media/panel.css`, title });
  await page.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    if (url.origin !== ORIGIN) return route.abort();
    if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: html });
    if (url.pathname === '/dist/webview.js') return route.fulfill({ contentType: 'text/javascript', body: bundle });
    if (url.pathname === '/media/panel.css') return route.fulfill({ contentType: 'text/css', path: path.join(root, 'media/panel.css') });
    return route.fulfill({ status: 404, body: '' });
  });
  await page.addInitScript(stubScript(initialState));
  await page.goto(`${ORIGIN}/`);
  await page.waitForFunction(() => (window as unknown as { __probe: PageProbe }).__probe.posted.some((m) => m.kind === 'ready'));
  return page;
}

async function probe(page: Page): Promise<PageProbe> {
  return page.evaluate(() => {
    const p = (window as unknown as { __probe: PageProbe }).__probe;
    return { ...p, pwned: (window as unknown as { __pwned?: unknown }).__pwned };
  });
}

/** Plays the extension's part: posts a message to the page as VS Code delivers it. */
async function send(page: Page, message: ShowMessage): Promise<void> {
  await page.evaluate((m) => window.postMessage(m, '*'), message);
  await page.waitForSelector('[data-testid=verdict]');
  // Images decode and the components render asynchronously; wait until both have settled.
  await page.waitForFunction(() => Array.from(document.images).every((i) => i.complete));
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

/** Applies a theme the way VS Code does: variables on <html>, the theme kind as <body>'s class. */
async function applyTheme(page: Page, theme: WebviewTheme): Promise<void> {
  await page.evaluate((t) => {
    for (const [name, value] of Object.entries(t.variables)) document.documentElement.style.setProperty(name, value);
    document.body.className = t.bodyClass;
    document.body.dataset.vscodeThemeKind = t.bodyClass;
  }, theme);
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent())?.trim() ?? '';
}

function show(r: ScanReport, repair?: RepairComparison): ShowMessage {
  return { type: 'show', protocolVersion: WEBVIEW_PROTOCOL_VERSION, report: r, repair };
}

test('every section draws the recorded report, in dark and light themes', async () => {
  const page = await openPanel();
  await applyTheme(page, DARK);
  await send(page, show(report));
  const st = report.statistics;
  const target = suspectLabel(report);

  assert.equal(await text(page, '[data-testid=verdict]'), report.verdict.verdict);
  if (target !== undefined) assert.equal(await text(page, '[data-testid=target-label]'), classLabel(report, target));
  assert.equal(await text(page, '[data-testid=explanation]'), report.verdict.explanation);
  assert.match(await text(page, 'svg[aria-label^="Score"]'), /score/);

  // Per-class collapse: the headline rates, one bar per class and configuration, the target band.
  assert.ok((await text(page, '[data-testid=clean-accuracy]')).includes(percent(st.clean.accuracy)));
  assert.ok((await text(page, '[data-testid=noisy-rate]')).includes(`${percent(st.noisy.dominantRate)} on ${classLabel(report, st.noisy.dominantClass)}`));
  assert.ok((await text(page, '[data-testid=negative-rate]')).includes(`${percent(st.negativeMask.dominantRate)} on ${classLabel(report, st.negativeMask.dominantClass)}`));
  assert.ok((await text(page, '[data-testid=positive-accuracy]')).includes(percent(st.positiveMask.accuracy)));
  assert.equal(await page.locator('#section-collapse svg[aria-label^="Share of evaluation"] rect.bar').count(), 3 * report.model.numClasses);
  if (target !== undefined) assert.equal(await text(page, '#section-collapse .highlight-label'), className(report, target));
  assert.equal(await page.locator('#section-collapse circle.dot').count(), 2 * st.sweep.length);

  // Feature mask: the share, and a heatmap per channel in each row.
  assert.equal(await text(page, '[data-testid=benign-share]'), percent(report.evidence.mask.benignShare));
  assert.ok(await page.locator('[data-testid=mask-kept] canvas.heatmap').count() > 0);
  assert.ok(await page.locator('[data-testid=mask-removed] canvas.heatmap').count() > 0);

  // Neuron noise: every layer, the one that moved the loss most first.
  const noise = report.evidence.noise;
  const worst = noise.reduce((a, b) => (b.lossIncrease > a.lossIncrease ? b : a));
  assert.equal(await page.locator('[data-testid=noise-row]').count(), noise.length);
  assert.equal(await text(page, '[data-testid=noise-row] .layer-name'), worst.name);

  // Samples: every image decoded (so the CSP admits data: PNGs), flips to the target outlined.
  const samples = report.evidence.samples;
  assert.equal(await page.locator('[data-testid=sample] img').count(), samples.length);
  assert.ok(await page.evaluate(() => Array.from(document.images).every((i) => i.naturalWidth > 0)));
  if (target !== undefined) {
    const flips = samples.filter((s) => s.noisyPrediction === target && s.label !== target).length;
    assert.equal(await page.locator('.sample.to-target').count(), flips);
    assert.ok((await text(page, '[data-testid=samples-summary]')).startsWith(`${flips} of ${samples.length}`));
  }

  // Activations: the split layer and the channels with the largest gaps.
  assert.equal(await text(page, '[data-testid=activation-layer]'), report.evidence.activations.layer);
  assert.equal(await page.locator('[data-testid=activation-top] tbody tr').count(), Math.min(8, report.evidence.activations.targetMeans.length));

  assert.equal(await page.locator('.error').count(), 0, 'no section failed to draw');
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, 'panel-dark.png'), fullPage: true });
  await applyTheme(page, LIGHT);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'panel-light.png'), fullPage: true });

  const p = await probe(page);
  assert.deepEqual(p.violations, [], 'no Content-Security-Policy violations');
  assert.deepEqual(p.errors, [], 'no script errors');
  await page.close();
});

test('buttons and links post typed actions, and the state survives a reload', async () => {
  const page = await openPanel();
  await applyTheme(page, LIGHT);
  await send(page, show(report));
  const modelPath = report.model.path;
  await page.click('[data-testid=repair-none]');
  await page.click('[data-testid=repair-ban]');
  await page.click('[data-testid=rescan]');
  await page.locator('.file-link').first().click();
  const { posted } = await probe(page);
  assert.deepEqual(posted.filter((m) => m.kind !== 'ready'), [
    { kind: 'repair', method: 'none', modelPath },
    { kind: 'repair', method: 'ban', modelPath },
    { kind: 'rescan', modelPath },
    { kind: 'openFile', path: modelPath },
  ]);

  // Beside an editor the panel is narrow: the page must reflow (and redraw its charts) without
  // scrolling sideways; only the wide class chart may scroll inside its own box.
  await page.setViewportSize({ width: 560, height: 900 });
  await page.waitForFunction(() => (document.querySelector('#section-collapse svg.chart') as SVGSVGElement).width.baseVal.value < 600);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth), 'no sideways scrolling at 560 px');

  // Collapse a section, then load the page again with the state it saved, as VS Code does when a
  // hidden panel is shown again or restored after a reload.
  await page.click('#section-noise >> text=Neuron noise');
  const saved = (await probe(page)).state as PanelState;
  assert.equal(saved.modelPath, modelPath);
  assert.deepEqual(saved.collapsed, ['noise']);
  await page.close();
  const again = await openPanel(saved);
  await send(again, show(report));
  assert.equal(await again.evaluate(() => (document.getElementById('section-noise') as HTMLElement & { open: boolean }).open), false);
  assert.equal(await again.evaluate(() => (document.getElementById('section-mask') as HTMLElement & { open: boolean }).open), true);

  // A repair comparison, when the extension sends one, shows before and after.
  await send(again, show(report, {
    method: 'ban',
    repairedModelPath: '/workspace/models/repaired.json',
    before: { cleanAccuracy: 0.93, verdict: 'backdoored', noisyDominantRate: 0.73 },
    after: { cleanAccuracy: 0.91, verdict: 'clean', noisyDominantRate: 0.14 },
    outcome: { outcome: 'removed', explanation: 'BAN finds no backdoor after the repair (BAN\'s verdict backdoored → clean).' },
    seconds: 95,
  }));
  assert.match(await text(again, '.repair'), /After repair with BAN fine-tuning/);
  assert.match(await text(again, '.repair tbody'), /Clean accuracy\s*93\.0%\s*91\.0%/);
  assert.match(await text(again, '.repair tbody'), /BAN verdict\s*backdoored\s*clean/);
  assert.match(await text(again, '[data-testid="repair-outcome"]'), /BAN finds no backdoor after the repair/);
  assert.ok(await again.evaluate(() => document.querySelector('[data-testid="repair-outcome"]')?.classList.contains('c-green')), 'a removed backdoor is drawn green');
  await again.close();
});

test('strings from a hostile model file render as text and run no script', async () => {
  const hostile = structuredClone(report);
  const target = hostile.verdict.targetLabel ?? 0;
  hostile.verdict.targetLabel = target;
  hostile.verdict.verdict = 'backdoored';
  hostile.model.classes = Array.from({ length: hostile.model.numClasses }, (_, i) => (i % 2 === 0 ? XSS_IMG : XSS_SCRIPT));
  hostile.model.path = `/models/${XSS_IMG}/model.json`;
  hostile.model.splitPoint = XSS_SCRIPT;
  hostile.model.notes = [XSS_IMG, XSS_SCRIPT];
  hostile.data.path = `/data/${XSS_SCRIPT}`;
  hostile.data.preprocessing.source = XSS_IMG;
  hostile.backend.adapter = XSS_SCRIPT;
  hostile.verdict.explanation = `${XSS_IMG} ${XSS_SCRIPT}`;
  hostile.evidence.noise[0].name = XSS_IMG;
  hostile.evidence.noise[1].name = XSS_SCRIPT;
  hostile.evidence.activations.layer = XSS_IMG;
  hostile.timings[0].phase = XSS_SCRIPT;
  hostile.evidence.samples[0].item = XSS_IMG;
  // Not PNG data URIs: the panel must refuse them rather than put them into an <img>.
  hostile.evidence.samples[1].png = 'x" onerror="window.__pwned=3';
  hostile.evidence.samples[2].png = 'javascript:window.__pwned=4';

  const page = await openPanel(undefined, `Investigation: ${XSS_SCRIPT}`);
  // The page's own title carries a model file name until the report arrives; it must stay text too.
  assert.equal(await page.title(), `Investigation: ${XSS_SCRIPT}`);
  await send(page, show(hostile));
  assert.equal(await text(page, '[data-testid=target-label]'), `${XSS_IMG} (${target})`);
  assert.equal(await text(page, '[data-testid=explanation]'), `${XSS_IMG} ${XSS_SCRIPT}`);
  assert.equal(await text(page, '[data-testid=activation-layer]'), XSS_IMG);
  const layerNames = await page.locator('[data-testid=noise-row] .layer-name').allTextContents();
  assert.ok(layerNames.includes(XSS_IMG) && layerNames.includes(XSS_SCRIPT));
  const body = await page.evaluate(() => document.body.textContent ?? '');
  assert.ok(body.includes(XSS_IMG) && body.includes(XSS_SCRIPT));
  assert.equal(await page.evaluate(() => document.querySelectorAll('script').length), 1, 'only the nonce-carrying bundle');
  assert.equal(await page.evaluate(() => Array.from(document.images).filter((i) => !i.src.startsWith('data:image/png;base64,')).length), 0);
  assert.equal(await page.locator('.sample .no-image').count(), 2);

  const p = await probe(page);
  assert.equal(p.pwned, undefined, 'no injected script ran');
  assert.deepEqual(p.violations, [], 'nothing even tried to run against the CSP');
  assert.deepEqual(p.errors, []);
  await page.close();
});

test('the page policy and the protocol checks refuse what they should', () => {
  const csp = contentSecurityPolicy('https://webview.example', 'abc');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'nonce-abc'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:\/\/(?!webview\.example)|\*/);

  assert.ok(isPanelAction({ kind: 'repair', method: 'ban', modelPath: '/m.onnx' }));
  assert.ok(isPanelAction({ kind: 'ready', protocolVersion: WEBVIEW_PROTOCOL_VERSION }));
  assert.ok(!isPanelAction({ kind: 'repair', method: 'rm -rf', modelPath: '/m.onnx' }));
  assert.ok(!isPanelAction({ kind: 'openFile', path: 42 }));
  assert.ok(!isPanelAction({ kind: 'runCommand', command: 'workbench.action.terminal.new' }));
  assert.ok(!isPanelAction(null));

  assert.deepEqual(parsePanelState({ protocolVersion: WEBVIEW_PROTOCOL_VERSION, modelPath: '/m', collapsed: ['mask', 3], scrollY: 'x' }),
    { protocolVersion: WEBVIEW_PROTOCOL_VERSION, modelPath: '/m', collapsed: ['mask'], scrollY: 0 });
  assert.equal(parsePanelState({ protocolVersion: WEBVIEW_PROTOCOL_VERSION + 1, modelPath: '/m' }), undefined);
  assert.equal(parsePanelState(undefined), undefined);
});
