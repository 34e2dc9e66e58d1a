import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { loadModel } from '../../src/engine/formats';
import { InputError } from '../../src/engine/errors';
import { Pickler, PyDict, PyFloat, PyTuple, StorageRef, TensorRef, UnsafePickleError, unpickle } from '../../src/engine/formats/pickle';
import { fixture, tmpDir } from './format-fixtures';

/** The pickle Python writes for an object whose __reduce__ returns (os.system, (command,)). */
function osSystemPickle(command: string): Uint8Array {
  const cmd = new TextEncoder().encode(command);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, cmd.length, true);
  return Uint8Array.from([
    0x80, 0x02, // PROTO 2
    ...new TextEncoder().encode('cposix\nsystem\n'), // GLOBAL posix.system
    0x58, ...len, ...cmd, // BINUNICODE command
    0x85, 0x52, // TUPLE1, REDUCE
    0x2e, // STOP
  ]);
}

function torchZip(pickle: Uint8Array): Uint8Array {
  return zipSync({ 'archive/data.pkl': pickle, 'archive/version': new TextEncoder().encode('3\n') }, { level: 0 });
}

const refusal = (name: string) => (e: unknown) => e instanceof InputError && e.message.includes(name) && /Nothing was executed/.test(e.message);

test('a .pt whose pickle calls os.system is refused, names posix.system, and the command never runs', async () => {
  const marker = path.join('/tmp', `PWNED_${randomBytes(8).toString('hex')}`);
  const dir = tmpDir();
  const file = path.join(dir, 'evil.pt');
  fs.writeFileSync(file, torchZip(osSystemPickle(`touch ${marker}`)));
  await assert.rejects(loadModel(file), refusal('posix.system'));
  assert.equal(fs.existsSync(marker), false, 'the command did not run');
});

test('the malicious checkpoint made by torch.save is refused without running its payload', async () => {
  // scripts/make-format-fixtures.py pickled an object whose __reduce__ runs this command.
  const marker = '/tmp/PWNED_backdoor_scanner_fixture';
  fs.rmSync(marker, { force: true });
  await assert.rejects(loadModel(fixture('pytorch/malicious.pt')), refusal('posix.system'));
  assert.equal(fs.existsSync(marker), false, 'the command did not run');
});

test('a pickled whole nn.Module is refused, naming its class', async () => {
  await assert.rejects(loadModel(fixture('pytorch/whole-module.pt')), refusal('__main__.TinyNet'));
});

test('the legacy non-zip torch.save format is refused with a clear message', async () => {
  await assert.rejects(loadModel(fixture('pytorch/legacy-format.pt')), /legacy \(pre-1\.6, non-zip\) torch\.save format/);
});

test('every refused global is named, even after others', () => {
  const pickle = Uint8Array.from([0x80, 0x02, 0x28, ...new TextEncoder().encode('cbuiltins\neval\n'), ...new TextEncoder().encode('csubprocess\nPopen\n'), 0x74, 0x2e]);
  assert.throws(
    () => unpickle(pickle, { persistentLoad: () => null }),
    (e: unknown) => e instanceof UnsafePickleError && e.globals.join() === 'builtins.eval,subprocess.Popen',
  );
});

test('the pickler and unpickler round-trip a state_dict-like tree', () => {
  const storage = new StorageRef('float32', '0', 'cpu', 6, new Uint8Array(24));
  const sd = new PyDict(true);
  sd.entries.set('w', new TensorRef(storage, 0, [2, 3], [3, 1], false, false));
  sd.entries.set('p', new TensorRef(storage, 2, [2], [1], true, true));
  sd.attributes = new PyDict(false);
  const root = new PyDict(false);
  root.entries.set('netC', sd);
  root.entries.set('epoch', 12);
  root.entries.set('acc', new PyFloat(91.25));
  root.entries.set('big', 2n ** 70n);
  root.entries.set('neg', -300);
  root.entries.set('list', [1, 'two', null, true]);
  const pickler = new Pickler((s) => new PyTuple(['storage', s.dtype, s.key, s.location, s.numel]));
  pickler.save(root);
  const bytes = pickler.finish();
  const back = unpickle(bytes, {
    persistentLoad: (pid) => {
      const [, dtype, key, location, numel] = (pid as PyTuple).items as [string, 'float32', string, string, number];
      return new StorageRef(dtype, key, location, numel, storage.bytes);
    },
  }) as PyDict;
  assert.equal(back.entries.get('epoch'), 12);
  assert.equal((back.entries.get('acc') as PyFloat).value, 91.25);
  assert.equal(back.entries.get('big'), 2n ** 70n);
  assert.equal(back.entries.get('neg'), -300);
  assert.deepEqual(back.entries.get('list'), [1, 'two', null, true]);
  const inner = back.entries.get('netC') as PyDict;
  assert.equal(inner.ordered, true);
  const p = inner.entries.get('p') as TensorRef;
  assert.deepEqual([p.offset, p.size, p.stride, p.requiresGrad, p.parameter], [2, [2], [1], true, true]);
  const w = inner.entries.get('w') as TensorRef;
  assert.deepEqual([w.size, w.stride, w.parameter], [[2, 3], [3, 1], false]);
});
