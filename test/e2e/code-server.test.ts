/**
 * The extension in a real VS Code: code-server (VS Code 1.100 served to a browser) with the freshly
 * packaged VSIX installed, driven by Debian's Chromium through playwright-core. It opens a workspace
 * with a backdoored and a clean TF.js model and the CIFAR-10 test set. The clean model first gets
 * the no-data-set marker, whose quick fix selects the data and scans it; the backdoored one is
 * scanned from the Explorer's context menu and the Problems panel is read; a multi-selection scan
 * is cancelled mid-way; the marker's quick fix opens the investigation panel; a binary model opens
 * in the custom editor; the marker's quick fix repairs the backdoored model with NONE, which
 * writes a new model beside it and adds a before/after comparison to the panel. Screenshots go to
 * test/e2e/screenshots/. Each full scan takes a few minutes on two busy cores (fixtureWorkspace.ts
 * says why the test set is scanned whole); the repair is shortened through its settings.
 *
 *   npm run test:e2e       (BACKDOOR_E2E_MODELS=dir to use other vgg-small-badnets/-clean models)
 *
 * It needs code-server (installed on first run by ../shared/tools/install-code-server.sh into
 * .vscode-test/code-server), /usr/bin/chromium and the zoo fixtures; without one of them it skips
 * and says which.
 */
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { DEFAULT_BAN_SETTINGS } from '../../src/engine/detect/ban';
import { fileSha256 } from '../../src/engine/session';
import {
  BACKDOORED,
  backdooredTrigger,
  CLEAN,
  createWorkspace,
  DATA_FILE,
  expectedTarget as readExpectedTarget,
  missingFixtures,
  MODELS,
  root,
  workspaceSettings,
  writeJson,
} from './fixtureWorkspace';

const WORK = path.join(root, 'test/e2e/.work/code-server');
const SCREENSHOTS = path.join(root, 'test/e2e/screenshots');
const CODE_SERVER_DIR = path.join(root, '.vscode-test/code-server');
const CODE_SERVER = path.join(CODE_SERVER_DIR, 'node_modules/code-server/out/node/entry.js');
const INSTALL_SCRIPT = path.resolve(root, '../shared/tools/install-code-server.sh');
const CHROMIUM = '/usr/bin/chromium';

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} e2e: ${message}\n`);
}

function missingPrerequisite(): string | undefined {
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} is not installed (apt-get install chromium)`;
  if (!fs.existsSync(CODE_SERVER) && !fs.existsSync(INSTALL_SCRIPT)) return `code-server is not installed and ${INSTALL_SCRIPT} is missing`;
  return missingFixtures();
}

const skipReason = missingPrerequisite();
if (skipReason) log(`SKIP: ${skipReason}`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

describe('VS Code extension in code-server', { skip: skipReason }, () => {
  let server: ChildProcess | undefined;
  let browser: BrowserContext | undefined;
  let page: Page;
  let workspace: string;
  let serverLog = '';
  let expectedTarget: { index: number; name: string };

  before(async () => {
    fs.rmSync(WORK, { recursive: true, force: true });
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    if (!fs.existsSync(path.join(CODE_SERVER_DIR, '.complete'))) {
      log('installing code-server (a few minutes, once)');
      execFileSync('nice', [INSTALL_SCRIPT, CODE_SERVER_DIR], { stdio: 'inherit' });
    }

    log('building and packaging the VSIX');
    const vsix = path.join(WORK, 'backdoor-scanner.vsix');
    fs.mkdirSync(WORK, { recursive: true });
    execFileSync('nice', ['npm', 'run', 'package', '--', '-o', vsix], { cwd: root, stdio: 'pipe' });
    const megabytes = fs.statSync(vsix).size / 2 ** 20;
    log(`VSIX: ${megabytes.toFixed(2)} MB`);
    assert.ok(megabytes < 20, `the VSIX is ${megabytes.toFixed(1)} MB`);

    workspace = path.join(WORK, 'workspace');
    // No data set at first: the first test selects one per model, as a user would. The repair
    // fine-tunes one epoch on 5% of the test set and skips the verdict's two full scans, which
    // would take longer than the rest of this test; it measures the attack with the model's trigger.
    createWorkspace(workspace, {
      ...workspaceSettings(false),
      'backdoorScanner.repairSettings': { dataFraction: 0.05, epochs: 1, evalImages: 1000, verdict: false, trigger: backdooredTrigger() },
    });
    expectedTarget = readExpectedTarget();

    const userData = path.join(WORK, 'user-data');
    const extensions = path.join(WORK, 'extensions');
    writeJson(path.join(userData, 'User/settings.json'), {
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.enableExperiments': false,
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'chat.commandCenter.enabled': false,
      'workbench.colorTheme': 'Default Dark Modern',
      'git.enabled': false,
      'git.openRepositoryInParentFolders': 'never',
    });
    const cs = ['--user-data-dir', userData, '--extensions-dir', extensions];
    execFileSync(process.execPath, [CODE_SERVER, ...cs, '--install-extension', vsix], { stdio: 'pipe' });

    const port = await freePort();
    server = spawn('nice', [process.execPath, CODE_SERVER, ...cs, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', workspace], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    server.stdout?.on('data', (d: Buffer) => (serverLog += d.toString()));
    server.stderr?.on('data', (d: Buffer) => (serverLog += d.toString()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`code-server did not start:\n${serverLog}`);
      await new Promise((r) => setTimeout(r, 500));
    }

    browser = await chromium.launchPersistentContext(path.join(WORK, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1600, height: 1000 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(30_000);
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator('.explorer-folders-view').waitFor({ timeout: 120_000 });
  });

  after(async () => {
    await browser?.close();
    if (server?.pid) {
      // The server and its extension host and worker form one process group.
      try {
        process.kill(-server.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    fs.writeFileSync(path.join(WORK, 'code-server.log'), serverLog);
  });

  /** Runs a test body; on failure, keeps a screenshot of the moment next to the server log. */
  function withFailureShot(name: string, body: () => Promise<void>): () => Promise<void> {
    return async () => {
      try {
        await body();
      } catch (e) {
        await page.screenshot({ path: path.join(WORK, `failure-${name}.png`) }).catch(() => undefined);
        throw e;
      }
    };
  }

  async function shot(name: string): Promise<void> {
    await page.screenshot({ path: path.join(SCREENSHOTS, `vscode-${name}.png`) });
  }

  function explorerRow(label: string): Locator {
    return page.locator(`.explorer-folders-view .monaco-list-row[aria-label="${label}"]`);
  }

  async function expandModelFolders(): Promise<void> {
    for (const folder of [BACKDOORED, CLEAN]) {
      if ((await explorerRow(folder).getAttribute('aria-expanded')) !== 'true') await explorerRow(folder).click();
    }
    await modelRow(CLEAN).waitFor();
  }

  /** The model.json rows, in Explorer order: the backdoored model's folder sorts first. */
  function modelRow(model: string): Locator {
    return explorerRow('model.json').nth(model === BACKDOORED ? 0 : 1);
  }

  /** Chooses a menu entry. A click that lands while the menu is still animating in only highlights it. */
  async function choose(entry: Locator): Promise<void> {
    await entry.click();
    await page.waitForTimeout(300);
    if (await entry.isVisible()) await page.keyboard.press('Enter');
    await entry.waitFor({ state: 'hidden' });
  }

  /**
   * Chooses an entry of a row's context menu. Just after start-up, on busy cores, the extension's
   * entries may not be registered yet, and a menu opened then lacks them until it is opened again.
   */
  async function contextMenu(row: Locator, item: string): Promise<void> {
    const entry = page.getByRole('menuitem', { name: item, exact: true });
    for (let attempt = 1; ; attempt++) {
      await row.click({ button: 'right' });
      if (await entry.waitFor({ timeout: 5000 }).then(() => true, () => false)) break;
      if (attempt === 6) throw new Error(`the context menu has no '${item}'`);
      await page.keyboard.press('Escape');
    }
    await choose(entry);
  }

  function notification(text: string | RegExp): Locator {
    return page.locator('.notification-toast').filter({ hasText: text });
  }

  function dataFile(): string {
    return path.join(workspace, DATA_FILE);
  }

  /** code-server's open dialog is a quick input that takes a typed path. */
  async function pickDataFile(): Promise<void> {
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(dataFile());
    await page.waitForTimeout(1000);
    await page.locator('.quick-input-widget').getByRole('button', { name: 'Use as clean data' }).click();
  }

  async function runCommand(title: string): Promise<void> {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.fill(`>${title}`);
    await page.locator('.quick-input-list .monaco-list-row').filter({ hasText: title }).first().waitFor();
    await input.press('Enter');
  }

  async function dismissNotifications(): Promise<void> {
    await runCommand('Notifications: Clear All Notifications');
    await page.locator('.notification-toast').first().waitFor({ state: 'detached' });
  }

  async function openProblems(): Promise<Locator> {
    const panel = page.locator('.markers-panel');
    if (!(await panel.isVisible())) await page.keyboard.press('Control+Shift+M');
    await panel.waitFor();
    return panel;
  }

  it('has settings whose defaults are the engine defaults', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    const props = manifest.contributes.configuration.properties;
    assert.equal(props['backdoorScanner.epsilon'].default, DEFAULT_BAN_SETTINGS.eps);
    assert.equal(props['backdoorScanner.steps'].default, DEFAULT_BAN_SETTINGS.steps);
    assert.equal(props['backdoorScanner.seed'].default, DEFAULT_BAN_SETTINGS.seed);
    for (const key of Object.keys(props['backdoorScanner.banSettings'].properties)) assert.ok(key in DEFAULT_BAN_SETTINGS, key);
  });

  it('says when a model has no data set, and its quick fix selects one', { timeout: 900_000 }, withFailureShot('select-dataset', async () => {
    await expandModelFolders();
    await contextMenu(modelRow(CLEAN), 'Scan for Backdoors');
    const problems = await openProblems();
    const marker = problems.locator('.monaco-list-row').filter({ hasText: 'no clean data set is selected' });
    await marker.waitFor({ timeout: 60_000 });
    await shot('1-no-dataset');
    // The Problems panel computes quick fixes for open files: selecting the marker opens model.json at it.
    await marker.click();
    await page.locator('.editor-instance .monaco-editor').first().waitFor();
    await marker.hover();
    await marker.locator('.codicon-light-bulb').click();
    await choose(page.getByRole('menuitem', { name: 'Select dataset…' }));
    await pickDataFile();
    await notification(`${CLEAN}/model.json will be scanned against ${dataFile()}`).getByRole('button', { name: 'Scan Now' }).click();
    const started = Date.now();
    await notification(`${CLEAN}/model.json: no backdoor found`).waitFor({ timeout: 600_000 });
    log(`clean model scanned in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await marker.waitFor({ state: 'detached' });
    // The Explorer's Select Dataset… chooses the backdoored model's data without scanning yet.
    await contextMenu(modelRow(BACKDOORED), 'Select Dataset…');
    await pickDataFile();
    await notification(`${BACKDOORED}/model.json will be scanned against ${dataFile()}`).waitFor();
    await dismissNotifications();
  }));

  it('scans from the Explorer: the backdoored model gets an error with its target label, the clean one nothing', { timeout: 900_000 }, withFailureShot('scan', async () => {
    await expandModelFolders();
    await contextMenu(modelRow(BACKDOORED), 'Scan for Backdoors');
    await notification(`Scanning ${BACKDOORED}/model.json for backdoors`).filter({ hasText: /mask [1-9]\d*% · ETA/ }).waitFor({ timeout: 120_000 });
    await shot('2-scan-progress');
    const started = Date.now();
    await notification(/Backdoor detected/).waitFor({ timeout: 600_000 });
    log(`backdoored model scanned in ${((Date.now() - started) / 1000).toFixed(0)} s`);

    const problems = await openProblems();
    const marker = problems.locator('.monaco-list-row').filter({ hasText: 'Backdoor detected' });
    await marker.waitFor();
    const text = await marker.innerText();
    assert.match(text, new RegExp(`label ${expectedTarget.index} '${expectedTarget.name}'`), text);
    assert.match(text, /score [+−]\d\.\d\d, threshold [+−]\d\.\d\d/);
    const files = await problems.locator('.monaco-list-row .label-name').allInnerTexts();
    const descriptions = await problems.locator('.monaco-list-row .label-description').allInnerTexts();
    assert.equal(files.filter((f) => f.includes('model.json')).length, 1, `markers on: ${files.join(', ')}`);
    assert.ok(descriptions.some((d) => d.includes(BACKDOORED)) && !descriptions.some((d) => d.includes(CLEAN)), descriptions.join(', '));
    await dismissNotifications();
    await shot('3-problems');
  }));

  it('cancels a multi-selection scan mid-way and keeps the last result', { timeout: 300_000 }, withFailureShot('cancel', async () => {
    await modelRow(BACKDOORED).click();
    await modelRow(CLEAN).click({ modifiers: ['Control'] });
    await contextMenu(modelRow(BACKDOORED), 'Scan for Backdoors');
    const progress = notification(`Scanning ${BACKDOORED}/model.json for backdoors`);
    await progress.filter({ hasText: /mask [1-9]\d*% · ETA/ }).waitFor({ timeout: 120_000 });
    await page.locator('.statusbar-item').filter({ hasText: `${BACKDOORED}/model.json: mask` }).waitFor();
    await shot('4-cancel-mid-way');
    let cancelledAt = Date.now();
    await progress.getByRole('button', { name: 'Cancel' }).click();
    await notification(`Scan of ${BACKDOORED}/model.json cancelled.`).waitFor({ timeout: 10_000 });
    log(`notification Cancel confirmed after ${Date.now() - cancelledAt} ms`);
    // The notification's Cancel stops one model; the next one of the selection starts, and the
    // status-bar item (Cancel Scan) stops it and drops the rest of the queue.
    const next = page.locator('.statusbar-item').filter({ hasText: `${CLEAN}/model.json: mask` });
    await next.waitFor({ timeout: 60_000 });
    cancelledAt = Date.now();
    await next.click();
    await notification(`Scan of ${CLEAN}/model.json cancelled.`).waitFor({ timeout: 10_000 });
    log(`status-bar Cancel Scan confirmed after ${Date.now() - cancelledAt} ms`);
    const problems = await openProblems();
    await problems.locator('.monaco-list-row').filter({ hasText: 'Backdoor detected' }).waitFor();
    await shot('5-cancelled');
    await dismissNotifications();
  }));

  it('opens the investigation panel from the marker\'s quick fix', { timeout: 120_000 }, withFailureShot('quick-fix', async () => {
    const problems = await openProblems();
    const marker = problems.locator('.monaco-list-row').filter({ hasText: 'Backdoor detected' });
    // The row's light bulb appears once the quick fixes are computed; it opens their menu.
    await marker.hover();
    await marker.locator('.codicon-light-bulb').click();
    await choose(page.getByRole('menuitem', { name: 'Show investigation' }));
    const tab = page.locator('.tabs-container .tab').filter({ hasText: 'Investigation: model.json' });
    await tab.waitFor();
    const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
    await frame.locator('body').filter({ hasText: expectedTarget.name }).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(1500);
    await shot('6-investigation');
  }));

  it('shows a binary model in its read-only custom editor', { timeout: 120_000 }, withFailureShot('model-editor', async () => {
    await page.keyboard.press('Escape');
    await explorerRow('weights-only').click();
    await explorerRow('resnet18-w4.pt').dblclick();
    const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
    await frame.locator('body').filter({ hasText: 'Split point' }).waitFor({ timeout: 60_000 });
    const body = await frame.locator('body').innerText();
    assert.match(body, /Format\s+pytorch/);
    assert.match(body, /Scan for Backdoors/);
    await page.waitForTimeout(1000);
    await shot('7-model-editor');
    // The editor's buttons are command links; this model has no data set, so the scan says so.
    await frame.getByText('Scan for Backdoors').click();
    await notification('weights-only/resnet18-w4.pt cannot be scanned without clean data.').waitFor();
  }));

  it('repairs the backdoored model with NONE from the marker\'s quick fix', { timeout: 600_000 }, withFailureShot('repair', async () => {
    await page.keyboard.press('Escape');
    await dismissNotifications();
    await runCommand('View: Close All Editors');
    const problems = await openProblems();
    const marker = problems.locator('.monaco-list-row').filter({ hasText: 'Backdoor detected' });
    const quickFix = async (name: string): Promise<void> => {
      await marker.hover();
      await marker.locator('.codicon-light-bulb').click();
      await choose(page.getByRole('menuitem', { name }));
    };
    // The model beside its panel, so that the panel is open while the repair runs.
    await marker.click();
    await page.locator('.editor-instance .monaco-editor').first().waitFor();
    await quickFix('Show investigation');
    const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
    await frame.locator('body').filter({ hasText: expectedTarget.name }).waitFor({ timeout: 30_000 });

    await quickFix('Repair with NONE');
    const started = Date.now();
    await notification(`Repairing ${BACKDOORED}/model.json with NONE`).waitFor({ timeout: 60_000 });
    const done = notification(`${BACKDOORED}/model.json repaired with NONE`);
    await done.waitFor({ timeout: 400_000 });
    log(`backdoored model repaired in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const message = await done.innerText();
    assert.match(message, /clean accuracy \d+\.\d% → \d+\.\d%, attack success rate \d+\.\d% → \d+\.\d%/, message);
    assert.match(message, new RegExp(`Repaired model: ${BACKDOORED}/model\\.repaired\\.json`), message);
    assert.match(message, /The backdoor (is removed|is weakened, not removed|remains)/, message);

    // The repaired model is a new file, open beside; the original is as it was, with its marker.
    const repaired = path.join(workspace, BACKDOORED, 'model.repaired.json');
    assert.ok(fs.existsSync(repaired) && fs.existsSync(path.join(workspace, BACKDOORED, 'model.repaired.weights.bin')));
    for (const file of ['model.json', 'model.weights.bin']) {
      assert.equal(fileSha256(path.join(workspace, BACKDOORED, file)), fileSha256(path.join(MODELS, BACKDOORED, file)), `${file} changed`);
    }
    await explorerRow('model.repaired.json').waitFor();
    await page.locator('.tabs-container .tab').filter({ hasText: 'model.repaired.json' }).waitFor();
    await marker.waitFor();
    // The repaired file is a model for the extension too: its context menu offers a scan.
    await explorerRow('model.repaired.json').click({ button: 'right' });
    await page.getByRole('menuitem', { name: 'Scan for Backdoors', exact: true }).waitFor({ timeout: 10_000 });
    await page.keyboard.press('Escape');

    // The open panel shows the before/after comparison.
    const comparison = frame.locator('.repair');
    await comparison.filter({ hasText: 'After repair with NONE' }).waitFor({ timeout: 30_000 });
    const table = await comparison.innerText();
    assert.match(table, /Clean accuracy\s+\d+\.\d%\s+\d+\.\d%/, table);
    assert.match(table, /Attack success rate\s+\d+\.\d%\s+\d+\.\d%/, table);
    assert.match(table, /model\.repaired\.json/, table);
    // And says in one sentence what the numbers mean for the backdoor.
    assert.match(table, /The backdoor (is removed|is weakened, not removed|remains): attack success rate \d+\.\d% → \d+\.\d% \(\d+\.\d× lower\)/, table);
    await comparison.scrollIntoViewIfNeeded();
    await page.waitForTimeout(1000);
    await shot('8-repair');
  }));
});
