/**
 * Shared helpers of the model-format tests: the fixtures that scripts/make-format-fixtures.py
 * made with the real producers, their fixed inputs, and the producers' own logits.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Network } from '../../src/engine/graph/executor';
import { LoadedModel } from '../../src/engine/formats';

export const FIXTURES = path.join(__dirname, '..', 'fixtures', 'formats');

export function fixture(...parts: string[]): string {
  return path.join(FIXTURES, ...parts);
}

export function tmpDir(prefix = 'bds-format-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

interface LogitsRecord {
  inputs: string;
  producer: string;
  logits: number[][];
}

/** The producer's logits for a fixture and its input batch as an NHWC tensor. */
export function reference(fixtureBase: string): { logits: number[][]; input: tf.Tensor4D } {
  const record = JSON.parse(fs.readFileSync(fixture(`${fixtureBase}.logits.json`), 'utf8')) as LogitsRecord;
  const spec = JSON.parse(fs.readFileSync(fixture(record.inputs), 'utf8')) as { shape: number[]; layout: 'NCHW' | 'NHWC'; data: number[] };
  let input = tf.tensor4d(Float32Array.from(spec.data), spec.shape as [number, number, number, number]);
  if (spec.layout === 'NCHW') {
    const nhwc = tf.transpose(input, [0, 2, 3, 1]);
    input.dispose();
    input = nhwc;
  }
  return { logits: record.logits, input };
}

/** Logits of a loaded model on an NHWC batch, as nested arrays. */
export function irLogits(model: Pick<LoadedModel, 'graph' | 'weights'>, input: tf.Tensor4D): number[][] {
  const net = new Network(model.graph, model.weights);
  try {
    const out = net.logits(input);
    const rows = out.arraySync() as number[][];
    out.dispose();
    return rows;
  } finally {
    net.dispose();
  }
}

export function maxAbsDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((row, i) => row.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j])))));
  return m;
}

/** Asserts that two weight maps hold the same keys, shapes and bit-identical values. */
export function sameWeights(a: LoadedModel['weights'], b: LoadedModel['weights']): string | undefined {
  if (a.size !== b.size) return `${a.size} weights vs ${b.size}`;
  for (const [key, w] of a) {
    const v = b.get(key);
    if (!v) return `missing ${key}`;
    if (v.shape.join() !== w.shape.join()) return `${key}: shape [${w.shape}] vs [${v.shape}]`;
    for (let i = 0; i < w.data.length; i++) {
      if (!Object.is(w.data[i], v.data[i])) return `${key}[${i}]: ${w.data[i]} vs ${v.data[i]}`;
    }
  }
  return undefined;
}
