import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/random';

test('Rng repeats for a seed and differs across seeds', () => {
  const a = new Rng(7);
  const b = new Rng(7);
  const c = new Rng(8);
  const sa = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(sa, Array.from({ length: 5 }, () => b.next()));
  assert.notDeepEqual(sa, Array.from({ length: 5 }, () => c.next()));
});

test('Rng.permutation is a permutation and uniform draws stay in range', () => {
  const rng = new Rng(1);
  const p = Array.from(rng.permutation(100)).sort((x, y) => x - y);
  assert.deepEqual(p, Array.from({ length: 100 }, (_, i) => i));
  const u = rng.uniformArray(1000, -0.3, 0.3);
  assert.ok(u.every((v) => v >= -0.3 && v < 0.3));
  const mean = u.reduce((s, v) => s + v, 0) / u.length;
  assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
});
