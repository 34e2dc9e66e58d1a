/**
 * Runs inside VS Code's extension host (see ../runTest.ts), with the fixture workspace open: the
 * extension activates, scans the backdoored and the clean model through its worker, reports
 * diagnostics on model.json, offers the quick fixes (investigation, repairs), and opens binary
 * models in its custom editor.
 * node:test is not available in the extension host, so this is a minimal sequential runner.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';

const EXTENSION_ID = 'backdoor-scanner.backdoor-scanner';

const tests: [string, () => Promise<void>][] = [];
function test(name: string, fn: () => Promise<void>): void {
  tests.push([name, fn]);
}

function workspaceFile(...parts: string[]): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the fixture workspace is open');
  return vscode.Uri.file(path.join(folder.uri.fsPath, ...parts));
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const backdoored = (): vscode.Uri => workspaceFile('vgg-small-badnets', 'model.json');
const clean = (): vscode.Uri => workspaceFile('vgg-small-clean', 'model.json');

test('activates and registers its commands', async () => {
  const extension = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is installed`);
  await extension.activate();
  const commands = await vscode.commands.getCommands(true);
  for (const id of ['scan', 'cancelScan', 'showInvestigation', 'selectDataset', 'repairWithNone', 'repairWithBan']) assert.ok(commands.includes(`backdoorScanner.${id}`), id);
});

test('scans both models: an error on the backdoored one with its target label, nothing on the clean one', async () => {
  const target = JSON.parse(process.env.BACKDOOR_E2E_TARGET ?? '{}') as { index: number; name: string };
  // Invoked as the Explorer does for a multi-selection; the command settles when both are scanned.
  const outcomes = await vscode.commands.executeCommand<{ kind: string }[]>('backdoorScanner.scan', backdoored(), [backdoored(), clean()]);
  assert.deepEqual(outcomes.map((o) => o.kind), ['report', 'report']);
  const [diagnostic] = vscode.languages.getDiagnostics(backdoored()).filter((d) => d.source === 'Backdoor Scanner');
  assert.ok(diagnostic, 'the backdoored model has a marker');
  assert.equal(diagnostic.severity, vscode.DiagnosticSeverity.Error);
  assert.match(diagnostic.message, new RegExp(`label ${target.index} '${target.name}'`));
  const { start } = diagnostic.range;
  assert.ok(start.line > 0 || start.character > 0, 'the marker sits on the split-point layer, not at the start of model.json');
  assert.ok(diagnostic.relatedInformation?.[0].location.uri.fsPath.endsWith('.json'));
  assert.equal(vscode.languages.getDiagnostics(clean()).length, 0);
});

test('offers Show investigation and the two repairs as quick fixes of the marker', async () => {
  const document = await vscode.workspace.openTextDocument(backdoored());
  const [diagnostic] = vscode.languages.getDiagnostics(backdoored());
  const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', document.uri, diagnostic.range);
  const titles = actions.map((a) => a.title);
  for (const title of ['Show investigation', 'Repair with NONE', 'Repair with BAN fine-tuning']) assert.ok(titles.includes(title), titles.join(', '));
});

test('opens binary models in the read-only custom editor', async () => {
  await vscode.commands.executeCommand('vscode.open', workspaceFile('weights-only', 'resnet18-w4.pt'));
  const input = await until('the custom editor', () => {
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    return tab instanceof vscode.TabInputCustom ? tab : undefined;
  }, 30_000);
  assert.equal(input.viewType, 'backdoorScanner.model');
});

export async function run(): Promise<void> {
  const failures: string[] = [];
  for (const [name, fn] of tests) {
    try {
      await fn();
      console.log(`ok - ${name}`);
    } catch (e) {
      failures.push(name);
      console.log(`not ok - ${name}\n${(e as Error).stack}`);
    }
  }
  if (failures.length) throw new Error(`${failures.length} of ${tests.length} tests failed: ${failures.join('; ')}`);
}
