/**
 * A tiny TF.js model and tiny .npz data sets, made in a few milliseconds, for the tests that run a
 * whole repair: in the engine (repair.test.ts) and through the detection worker
 * (worker-repair.test.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { buildSmallVgg } from '../../src/engine/arch/vgg-small';
import { writeModel } from '../../src/engine/formats';
import { Rng } from '../../src/engine/random';

/** A .npy file: version 1.0 header padded to 64 bytes, then the raw little-endian data. */
function npy(dtype: string, shape: number[], data: Uint8Array): Uint8Array {
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(data, 10 + header.length);
  return out;
}

/** An .npz of n images (h×w×3) whose class c is brighter in channel c % 3. */
export function writeNpz(file: string, n: number, h: number, classes: number, seed: number): void {
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  const x = new Uint8Array(n * h * h * 3);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < h * h * 3; p++) x[i * h * h * 3 + p] = Math.round(rng.uniform(0, 130) + (p % 3 === labels[i] % 3 ? 110 : 0));
  }
  fs.writeFileSync(file, zipSync({ 'x.npy': npy('|u1', [n, h, h, 3], x), 'y.npy': npy('<i4', [n], new Uint8Array(labels.buffer)) }, { level: 0 }));
}

const SIDECAR = { preprocessing: { scale: 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }, inputShape: [8, 8, 3] };

/** A small VGG (widths 4 and 8, three classes, 8×8 inputs) as TF.js in `folder`, with a sidecar. */
export async function tinyTfjsModel(folder: string): Promise<string> {
  fs.mkdirSync(folder, { recursive: true });
  const built = buildSmallVgg({ widths: [4, 8], numClasses: 3, inputShape: [8, 8, 3], seed: 5 });
  const modelPath = path.join(folder, 'model.json');
  await writeModel({ format: 'tfjs', path: '', graph: built.graph, weights: built.weights, source: undefined, notes: [], classes: ['a', 'b', 'c'] }, built.weights, modelPath);
  fs.writeFileSync(path.join(folder, 'backdoor-scan.json'), JSON.stringify({ ...SIDECAR, classes: ['a', 'b', 'c'] }));
  return modelPath;
}
