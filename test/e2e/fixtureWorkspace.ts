/**
 * The workspace both VS Code suites open (code-server here, @vscode/test-electron elsewhere): the
 * zoo's backdoored and clean TF.js models, a weight-only PyTorch model for the custom editor, and
 * 30 CIFAR-10 test images per class as an image folder, with BAN cut down to a few seconds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unzipSync } from 'fflate';

export const root = path.resolve(__dirname, '../..');
export const MODELS = path.resolve(root, process.env.BACKDOOR_E2E_MODELS ?? 'test/fixtures/models');
export const BACKDOORED = 'vgg-small-badnets';
export const CLEAN = 'vgg-small-clean';
export const BINARY_MODEL = path.join(root, 'test/fixtures/formats/pytorch/resnet18-w4.pt');
const CIFAR_TEST_ZIP = path.resolve(root, '../shared/datasets/cifar10/cifar10-test.zip');
const IMAGES_PER_CLASS = 30;

/** BAN on 300 images in a few seconds: enough for the small zoo models to show their verdict. */
export const QUICK_BAN = { maskEpochs: 4, batchesPerEpoch: 4, batchSize: 64, minOptimisationImages: 100, sweepImages: 200 };

/** Why the workspace cannot be made here, or undefined when it can. */
export function missingFixtures(): string | undefined {
  for (const name of [BACKDOORED, CLEAN]) {
    const file = path.join(MODELS, name, 'model.json');
    if (!fs.existsSync(file)) return `the fixture model ${path.relative(root, file)} does not exist yet (npm run zoo makes it)`;
  }
  if (!fs.existsSync(CIFAR_TEST_ZIP)) return `${CIFAR_TEST_ZIP} is missing`;
  return undefined;
}

export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Workspace settings for quick scans; with `withDataPath`, every model is scanned against data/. */
export function workspaceSettings(ban: object, withDataPath = true): object {
  return { ...(withDataPath ? { 'backdoorScanner.dataPath': 'data' } : {}), 'backdoorScanner.steps': 10, 'backdoorScanner.banSettings': ban };
}

/** The backdoored model's target label and its class name, from its training record and sidecar. */
export function expectedTarget(): { index: number; name: string } {
  const training = JSON.parse(fs.readFileSync(path.join(MODELS, BACKDOORED, 'training.json'), 'utf8')) as { target: number };
  const sidecar = JSON.parse(fs.readFileSync(path.join(MODELS, BACKDOORED, 'backdoor-scan.json'), 'utf8')) as { classes: string[] };
  return { index: training.target, name: sidecar.classes[training.target] };
}

/** Creates the workspace in `dir` (emptied first) with these workspace settings. */
export function createWorkspace(dir: string, settings: object): void {
  fs.rmSync(dir, { recursive: true, force: true });
  for (const name of [BACKDOORED, CLEAN]) fs.cpSync(path.join(MODELS, name), path.join(dir, name), { recursive: true });
  fs.mkdirSync(path.join(dir, 'weights-only'), { recursive: true });
  fs.copyFileSync(BINARY_MODEL, path.join(dir, 'weights-only', path.basename(BINARY_MODEL)));
  const pattern = /^test\/([^/]+)\/(\d{4})\.jpg$/;
  const files = unzipSync(fs.readFileSync(CIFAR_TEST_ZIP), {
    filter: (f) => {
      const m = pattern.exec(f.name);
      return m !== null && Number(m[2]) < IMAGES_PER_CLASS;
    },
  });
  for (const [name, bytes] of Object.entries(files)) {
    const dest = path.join(dir, 'data', name.replace(/^test\//, ''));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, bytes);
  }
  writeJson(path.join(dir, '.vscode/settings.json'), settings);
}
