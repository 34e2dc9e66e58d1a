/**
 * The @vscode/test-electron suite: a downloaded VS Code (desktop, Electron) opens the fixture
 * workspace with this extension under development and runs test/vscode/suite in its extension
 * host. It is for machines that can reach update.code.visualstudio.com or already hold a VS Code
 * in .vscode-test/; elsewhere it skips with one line saying why. On Linux without a display, run it
 * under `xvfb-run -a`.
 *
 *   npm run test:vscode
 */
import { execFileSync } from 'node:child_process';
import * as dns from 'node:dns/promises';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { runTests } from '@vscode/test-electron';
import { createWorkspace, expectedTarget, missingFixtures, root, workspaceSettings } from '../e2e/fixtureWorkspace';

const DOWNLOAD_HOST = 'update.code.visualstudio.com';
const VSCODE_VERSION = '1.100.3';
const CACHE = path.join(root, '.vscode-test');

function cachedVsCode(): boolean {
  return fs.existsSync(CACHE) && fs.readdirSync(CACHE).some((d) => d.startsWith('vscode-') && fs.existsSync(path.join(CACHE, d, 'is-complete')));
}

/** Whether VS Code's download server answers within a few seconds. */
async function canDownload(): Promise<boolean> {
  try {
    await dns.lookup(DOWNLOAD_HOST);
    const response = await fetch(`https://${DOWNLOAD_HOST}/api/releases/stable`, { method: 'HEAD', signal: AbortSignal.timeout(8000) });
    return response.ok;
  } catch {
    return false;
  }
}

async function main(): Promise<number> {
  const missing = missingFixtures();
  if (missing) {
    console.log(`SKIP test:vscode: ${missing}.`);
    return 0;
  }
  if (!cachedVsCode() && !(await canDownload())) {
    console.log(`SKIP test:vscode: VS Code cannot be downloaded (no network route to ${DOWNLOAD_HOST}) and none is cached in .vscode-test/; npm run test:e2e covers the UI here.`);
    return 0;
  }
  execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { stdio: 'inherit' });
  const out = path.join(root, 'out/vscode-suite');
  await esbuild.build({
    entryPoints: [path.join(__dirname, 'suite/index.ts')],
    outfile: path.join(out, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    logLevel: 'warning',
  });
  const workspace = path.join(CACHE, 'workspace');
  createWorkspace(workspace, workspaceSettings(true));
  const target = expectedTarget();
  try {
    await runTests({
      version: VSCODE_VERSION,
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(out, 'index.js'),
      launchArgs: [workspace, '--disable-extensions'],
      extensionTestsEnv: { BACKDOOR_E2E_TARGET: JSON.stringify(target) },
    });
    return 0;
  } catch (e) {
    console.error(`test:vscode failed: ${(e as Error).message}`);
    return 1;
  }
}

main().then((code) => process.exit(code));
