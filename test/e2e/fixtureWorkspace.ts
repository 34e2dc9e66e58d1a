/**
 * The workspace both VS Code suites open (code-server here, @vscode/test-electron elsewhere): the
 * zoo's backdoored and clean TF.js models, a weight-only PyTorch model for the custom editor, and
 * the CIFAR-10 test set as a zip. Scans run with BAN's default settings on the whole test set, the
 * conditions the verdict is calibrated for: on a few hundred images, or with fewer optimisation
 * steps, the clean model's score lands in or near the inconclusive band.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const root = path.resolve(__dirname, '../..');
export const MODELS = path.resolve(root, process.env.BACKDOOR_E2E_MODELS ?? 'test/fixtures/models');
export const BACKDOORED = 'vgg-small-badnets';
export const CLEAN = 'vgg-small-clean';
export const BINARY_MODEL = path.join(root, 'test/fixtures/formats/pytorch/resnet18-w4.pt');
const CIFAR_TEST_ZIP = path.resolve(root, '../shared/datasets/cifar10/cifar10-test.zip');
/** The data set's name in the workspace. */
export const DATA_FILE = 'cifar10-test.zip';

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

/** Workspace settings; with `withDataPath`, every model is scanned against the test set. */
export function workspaceSettings(withDataPath: boolean): object {
  return withDataPath ? { 'backdoorScanner.dataPath': DATA_FILE } : {};
}

/** The backdoored model's target label and its class name, from its training record and sidecar. */
export function expectedTarget(): { index: number; name: string } {
  const training = JSON.parse(fs.readFileSync(path.join(MODELS, BACKDOORED, 'training.json'), 'utf8')) as { target: number };
  const sidecar = JSON.parse(fs.readFileSync(path.join(MODELS, BACKDOORED, 'backdoor-scan.json'), 'utf8')) as { classes: string[] };
  return { index: training.target, name: sidecar.classes[training.target] };
}

/** The trigger spec the backdoored model was trained with, for measuring its attack success rate. */
export function backdooredTrigger(): string {
  const training = JSON.parse(fs.readFileSync(path.join(MODELS, BACKDOORED, 'training.json'), 'utf8')) as { recipe: { attack: string } };
  return training.recipe.attack;
}

/** Creates the workspace in `dir` (emptied first) with these workspace settings. */
export function createWorkspace(dir: string, settings: object): void {
  fs.rmSync(dir, { recursive: true, force: true });
  for (const name of [BACKDOORED, CLEAN]) fs.cpSync(path.join(MODELS, name), path.join(dir, name), { recursive: true });
  fs.mkdirSync(path.join(dir, 'weights-only'), { recursive: true });
  fs.copyFileSync(BINARY_MODEL, path.join(dir, 'weights-only', path.basename(BINARY_MODEL)));
  fs.copyFileSync(CIFAR_TEST_ZIP, path.join(dir, DATA_FILE));
  writeJson(path.join(dir, '.vscode/settings.json'), settings);
}
