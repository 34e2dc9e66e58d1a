import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadModel, writeModel } from '../../src/engine/formats';
import { buildArchitecture, guessArchitecture, listArchitectures } from '../../src/engine/arch';
import { InputError } from '../../src/engine/errors';
import { fixture, irLogits, maxAbsDiff, reference, sameWeights, tmpDir } from './format-fixtures';

before(async () => {
  await tf.setBackend('cpu');
});

const CHECKPOINTS: [string, string][] = [
  ['pytorch/resnet18-w4.pt', 'resnet18'],
  ['pytorch/resnet-w16.pt', 'resnet'],
  ['pytorch/preactresnet18-w4.pt', 'preactresnet18'],
  ['pytorch/vgg16bn-w4.pt', 'vgg16_bn'],
  ['pytorch/mobilenetv2-s0.125.pt', 'mobilenetv2'],
  ['pytorch/resnet18-w4-wrapped.pth', 'resnet18'],
];

for (const [file, arch] of CHECKPOINTS) {
  test(`${file}: guessed as ${arch}; IR logits equal PyTorch's; write -> load is identical`, async () => {
    const loaded = await loadModel(fixture(file));
    assert.equal(loaded.format, 'pytorch');
    assert.ok(loaded.notes.some((n) => n.includes(`architecture ${arch} guessed`)), loaded.notes.join('; '));
    const base = file.replace(/\.pth?$/, '');
    const ref = reference(base);
    const ours = irLogits(loaded, ref.input);
    assert.ok(maxAbsDiff(ours, ref.logits) < 1e-4, `vs torch: ${maxAbsDiff(ours, ref.logits)}`);

    const dir = tmpDir();
    const [written] = await writeModel(loaded, loaded.weights, path.join(dir, path.basename(file)));
    const again = await loadModel(written);
    assert.equal(sameWeights(loaded.weights, again.weights), undefined);
    assert.deepEqual(irLogits(again, ref.input), ours);
    ref.input.dispose();
  });
}

test('the narrow ResNet (base width 16, blocks [1,1,1]) loads with the widths of its checkpoint', async () => {
  const loaded = await loadModel(fixture('pytorch/resnet-w16.pt'));
  assert.deepEqual(loaded.weights.get('conv1/kernel')?.shape, [3, 3, 3, 16]);
  assert.deepEqual(loaded.weights.get('layer3.0.conv2/kernel')?.shape, [3, 3, 64, 64]);
  assert.deepEqual(loaded.weights.get('linear/kernel')?.shape, [64, 10]);
});

test('--arch is honoured and a wrong one is refused with the offending key', async () => {
  const explicit = await loadModel(fixture('pytorch/resnet18-w4.pt'), { arch: 'resnet18' });
  assert.equal(explicit.notes.length, 0);
  await assert.rejects(loadModel(fixture('pytorch/resnet18-w4.pt'), { arch: 'mobilenetv2' }), (e: unknown) => e instanceof InputError && /layers\.0\.conv1\.weight/.test(e.message));
  await assert.rejects(loadModel(fixture('pytorch/resnet18-w4.pt'), { arch: 'resnet34' }), /blocks \[2,2,2,2\]/);
  await assert.rejects(loadModel(fixture('pytorch/resnet18-w4.pt'), { arch: 'alexnet' }), /unknown architecture 'alexnet'/);
});

test('the architecture registry builds, lists and guesses every built-in architecture', () => {
  const names = listArchitectures().map((a) => a.name);
  for (const name of ['resnet18', 'resnet34', 'preactresnet18', 'vgg16_bn', 'mobilenetv2']) assert.ok(names.includes(name), name);
  for (const name of names) {
    const built = buildArchitecture(name, { numClasses: 7, width: 4, seed: 1 });
    const keys = [...built.weights.keys()].map((k) => k.replace(/\/kernel$|\/gamma$/, '.weight').replace(/\/bias$|\/beta$/, '.bias').replace('/movingMean', '.running_mean').replace('/movingVariance', '.running_var'));
    const guessed = guessArchitecture(keys);
    assert.ok(guessed === name || (name === 'resnet' && guessed === 'resnet'), `${name} guessed as ${guessed}`);
  }
});

test('the wrapped checkpoint is written back with its wrapper, prefixes and extra entries', { skip: !hasTorch() }, async () => {
  const loaded = await loadModel(fixture('pytorch/resnet18-w4-wrapped.pth'));
  const dir = tmpDir();
  const [written] = await writeModel(loaded, loaded.weights, path.join(dir, 'copy.pth'));
  const out = python(`
import torch
c = torch.load(${JSON.stringify(written)})
print(sorted(c.keys()), c['epoch'], c['best_acc'], c['note'], next(iter(c['netC'])))`);
  assert.match(out, /\['best_acc', 'epoch', 'netC', 'note'\] 3 91\.5 wrapped module\.conv1\.weight/);
});

test('torch.load reads written checkpoints, and PyTorch computes what the IR computes with edited weights', { skip: !hasTorch() }, async () => {
  const dir = tmpDir();
  const cases: [string, string][] = [
    ['pytorch/resnet18-w4.pt', 'ResNet([2, 2, 2, 2], [4, 8, 16, 32])'],
    ['pytorch/vgg16bn-w4.pt', "VGG([v if v == 'M' else v // 16 for v in VGG16_CFG])"],
    ['pytorch/mobilenetv2-s0.125.pt', 'MobileNetV2(scale=0.125)'],
    ['pytorch/preactresnet18-w4.pt', 'PreActResNet([2, 2, 2, 2], [4, 8, 16, 32])'],
  ];
  const ref = reference('pytorch/resnet18-w4');
  const expected: number[][][] = [];
  const lines: string[] = [];
  for (const [file, ctor] of cases) {
    const loaded = await loadModel(fixture(file));
    const edited = new Map([...loaded.weights].map(([k, w]) => [k, { shape: w.shape, data: k.endsWith('movingVariance') ? w.data : w.data.map((v, i) => v * (1 + 0.3 * Math.cos(i))) }]));
    const [written] = await writeModel(loaded, edited, path.join(dir, path.basename(file)));
    expected.push(irLogits({ graph: loaded.graph, weights: edited }, ref.input));
    lines.push(`m = ${ctor}; m.load_state_dict(torch.load(${JSON.stringify(written)})); m.eval(); out.append(m(x).tolist())`);
  }
  const inputs = JSON.parse(fs.readFileSync(fixture('inputs/nchw-3x32x32.json'), 'utf8')) as { shape: number[] };
  const result = python(`
import json, sys, torch
sys.path.insert(0, ${JSON.stringify(path.join(__dirname, '..', '..', 'scripts'))})
from reference_archs import ResNet, PreActResNet, VGG, VGG16_CFG, MobileNetV2
spec = json.load(open(${JSON.stringify(fixture('inputs/nchw-3x32x32.json'))}))
x = torch.tensor(spec['data'], dtype=torch.float32).reshape(${JSON.stringify(inputs.shape)})
out = []
with torch.no_grad():
${lines.map((l) => `    ${l}`).join('\n')}
print(json.dumps(out))`);
  const torchLogits = JSON.parse(result) as number[][][];
  torchLogits.forEach((logits, i) => assert.ok(maxAbsDiff(logits, expected[i]) < 1e-4, `${cases[i][0]}: ${maxAbsDiff(logits, expected[i])}`));
  ref.input.dispose();
});

function hasTorch(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

function python(code: string): string {
  return execFileSync('/usr/bin/python3', ['-c', code], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, OMP_NUM_THREADS: '1' } }).trim();
}
