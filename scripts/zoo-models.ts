/**
 * The models the evaluation scripts work on: every folder of zoo/calibration (scripts/zoo-torch.py)
 * and test/fixtures/models with a training record and a model file, with what the record says.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ZooEntry {
  name: string;
  dir: string;
  modelPath: string;
  backdoored: boolean;
  target?: number;
  /** The attack's trigger spec as the record names it. */
  attack?: string;
  poisonRate?: number;
  arch: string;
  trainedWith: string;
  cleanAccuracy: number;
  attackSuccessRate?: number;
}

export function findZooModels(root: string): ZooEntry[] {
  const out: ZooEntry[] = [];
  for (const base of [path.join(root, 'zoo', 'calibration'), path.join(root, 'test', 'fixtures', 'models')]) {
    if (!fs.existsSync(base)) continue;
    for (const name of fs.readdirSync(base).sort()) {
      const dir = path.join(base, name);
      const recordPath = ['training.json', 'training-record.json'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
      const modelPath = ['model.onnx', 'model.json'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
      if (!recordPath || !modelPath) continue;
      // Two record layouts: the zoo trainers' (training.json) and the format fixtures' script's.
      const r = JSON.parse(fs.readFileSync(recordPath, 'utf8'));
      const attack = r.recipe?.attack ?? r.attack?.trigger ?? r.attack;
      out.push({
        name,
        dir,
        modelPath,
        backdoored: Boolean(r.backdoored ?? attack),
        target: r.target ?? r.attack?.target ?? undefined,
        attack: typeof attack === 'string' ? attack : undefined,
        poisonRate: r.recipe?.poisonRate ?? r.attack?.poisonRate ?? undefined,
        arch: r.recipe?.arch ?? r.architecture ?? '?',
        trainedWith: r.trainedWith ?? (r.training?.torch ? `PyTorch ${r.training.torch}` : '?'),
        cleanAccuracy: r.cleanAccuracy ?? r.clean_accuracy ?? NaN,
        attackSuccessRate: r.attackSuccessRate ?? r.asr ?? undefined,
      });
    }
  }
  return out;
}
