/**
 * A Python pickle reader that never executes anything, and the small writer PyTorch checkpoints
 * need.
 *
 * A pickle is a program for a stack machine whose GLOBAL and REDUCE opcodes import and call
 * arbitrary Python callables: `torch.load` of an untrusted file can run `os.system`. This reader
 * interprets the opcodes itself and knows only an allow-list of globals, each implemented here as
 * plain data construction (an ordered dict, a tensor description, a storage type). Any other
 * global is never resolved: the load is refused and the error names every such global, so a user
 * sees `posix.system` or `__main__.Net` rather than a vague failure.
 */

/** A storage element type of a PyTorch checkpoint. */
export type TorchDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export const DTYPE_BYTES: Record<TorchDType, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 };

/** `torch.FloatStorage` etc.: the storage class names PyTorch pickles, and their element types. */
export const STORAGE_TYPES: Record<string, TorchDType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

/** A Python tuple (JS arrays stand for lists). */
export class PyTuple {
  constructor(readonly items: PickleValue[]) {}
}

/** A Python float, kept apart from ints so that a checkpoint written back keeps its types. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A dict or collections.OrderedDict; `attributes` is state set by BUILD (OrderedDict._metadata). */
export class PyDict {
  readonly entries = new Map<PickleKey, PickleValue>();
  attributes: PickleValue | undefined;
  constructor(readonly ordered: boolean) {}
}

/** A Python set or frozenset. */
export class PySet {
  constructor(
    readonly items: PickleValue[],
    readonly frozen: boolean,
  ) {}
}

/** A global from the allow-list, e.g. `torch.FloatStorage` inside a persistent id. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A tensor's storage as PyTorch's persistent id names it: ('storage', type, key, location, numel). */
export class StorageRef {
  constructor(
    readonly dtype: TorchDType,
    readonly key: string,
    readonly location: string,
    readonly numel: number,
    /** The storage's raw bytes, little-endian. */
    readonly bytes: Uint8Array,
  ) {}
}

/** A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view of a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
    readonly requiresGrad: boolean,
    /** True when wrapped in `torch.nn.Parameter` (`_rebuild_parameter`). */
    readonly parameter: boolean,
  ) {}
}

export type PickleKey = string | number | boolean | null | bigint;

export type PickleValue = null | boolean | number | bigint | string | Uint8Array | PyFloat | PickleValue[] | PyTuple | PyDict | PySet | PyGlobal | StorageRef | TensorRef;

/** A pickle that refers to globals outside the allow-list; nothing in it was executed. */
export class UnsafePickleError extends Error {
  constructor(readonly globals: string[]) {
    super(
      `the pickle refers to ${globals.length === 1 ? 'a global' : 'globals'} outside the allow-list of a plain state_dict: ${globals.join(', ')}. ` +
        'Nothing was executed. A checkpoint that pickles code or a whole model object (torch.save(model)) cannot be loaded safely; save model.state_dict() instead',
    );
    this.name = 'UnsafePickleError';
  }
}

/** Marks a value built from a refused global; any use of it gives another refused value. */
class Refused {
  constructor(readonly global: string) {}
}

class Mark {}
const MARK = new Mark();

type StackItem = PickleValue | Refused | Mark;

export interface UnpickleOptions {
  /** Resolves a persistent id (PyTorch: the storage tuple) to a value. */
  persistentLoad(pid: PickleValue): PickleValue;
}

/** Callables of the allow-list, as pure data constructors. */
const ALLOWED_CALLABLES: Record<string, (args: PickleValue[]) => PickleValue> = {
  'collections.OrderedDict': (args) => {
    if (args.length !== 0) throw new Error('collections.OrderedDict is called with arguments, which a state_dict never does');
    return new PyDict(true);
  },
  'torch._utils._rebuild_tensor_v2': (args) => rebuildTensor(args, false),
  'torch._utils._rebuild_tensor': (args) => rebuildTensor(args, false),
  'torch._utils._rebuild_parameter': (args) => asParameter(args),
  'torch._utils._rebuild_parameter_with_state': (args) => asParameter(args),
};

function intList(v: PickleValue, what: string): number[] {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : undefined;
  if (!items || !items.every((n) => typeof n === 'number')) throw new Error(`a tensor's ${what} is not a tuple of ints`);
  return items as number[];
}

function rebuildTensor(args: PickleValue[], parameter: boolean): TensorRef {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof StorageRef)) throw new Error('a tensor is rebuilt from something that is not a storage');
  if (typeof offset !== 'number') throw new Error("a tensor's storage offset is not an int");
  return new TensorRef(storage, offset, intList(size, 'size'), intList(stride, 'stride'), requiresGrad === true, parameter);
}

function asParameter(args: PickleValue[]): TensorRef {
  const [data, requiresGrad] = args;
  if (!(data instanceof TensorRef)) throw new Error('a parameter wraps something that is not a tensor');
  return new TensorRef(data.storage, data.offset, data.size, data.stride, requiresGrad === true, true);
}

/** Globals that may appear but are never called (type markers inside persistent ids). */
function isAllowedMarker(module: string, name: string): boolean {
  return module === 'torch' && name in STORAGE_TYPES;
}

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  private need(n: number): void {
    if (this.pos + n > this.bytes.length) throw new Error(`the pickle is truncated (needs ${n} bytes at offset ${this.pos})`);
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = this.bytes[this.pos] | (this.bytes[this.pos + 1] << 8);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 4).getUint32(0, true);
    this.pos += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 4).getInt32(0, true);
    this.pos += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).getBigUint64(0, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('the pickle declares an impossibly long item');
    return Number(v);
  }
  f64be(): number {
    this.need(8);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).getFloat64(0, false);
    this.pos += 8;
    return v;
  }
  take(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw new Error('the pickle is truncated (unterminated text argument)');
    const text = new TextDecoder().decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }
}

/** Little-endian two's-complement integer of n bytes (LONG1/LONG4), as a number when exact. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function isKey(v: PickleValue): v is PickleKey {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint';
}

/**
 * Interprets a pickle. Throws UnsafePickleError (naming every global outside the allow-list) or
 * an Error describing a malformed pickle.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): PickleValue {
  const r = new Reader(bytes);
  const stack: StackItem[] = [];
  const memo = new Map<number, StackItem>();
  const refused = new Set<string>();
  const decoder = new TextDecoder();

  const pop = (): StackItem => {
    if (stack.length === 0) throw new Error('the pickle pops from an empty stack');
    return stack.pop() as StackItem;
  };
  const popMark = (): StackItem[] => {
    for (let i = stack.length - 1; i >= 0; i--) {
      if (stack[i] === MARK) {
        const items = stack.splice(i + 1);
        stack.pop();
        return items;
      }
    }
    throw new Error('the pickle has no MARK where one is needed');
  };
  const top = (): StackItem => {
    if (stack.length === 0) throw new Error('the pickle reads an empty stack');
    return stack[stack.length - 1];
  };
  const value = (item: StackItem): PickleValue | Refused => {
    if (item instanceof Mark) throw new Error('the pickle uses a MARK as a value');
    return item;
  };
  const anyRefused = (items: StackItem[]): Refused | undefined => items.find((i): i is Refused => i instanceof Refused);
  const pushGlobal = (module: string, name: string): void => {
    const qualified = `${module}.${name}`;
    if (qualified in ALLOWED_CALLABLES || isAllowedMarker(module, name)) {
      stack.push(new PyGlobal(module, name));
    } else {
      refused.add(qualified);
      stack.push(new Refused(qualified));
    }
  };
  const call = (fn: StackItem, args: StackItem[]): StackItem => {
    const blocked = anyRefused([fn, ...args]);
    if (blocked) return blocked;
    if (!(fn instanceof PyGlobal)) throw new Error('the pickle calls something that is not a global');
    const impl = ALLOWED_CALLABLES[fn.qualifiedName];
    if (!impl) throw new Error(`the pickle calls ${fn.qualifiedName}, which is a type marker, not a callable`);
    return impl(args.map((a) => value(a) as PickleValue));
  };
  const setItems = (target: StackItem, kv: StackItem[]): void => {
    if (target instanceof Refused) return;
    if (!(target instanceof PyDict)) throw new Error('the pickle sets items on something that is not a dict');
    for (let i = 0; i + 1 < kv.length; i += 2) {
      const k = value(kv[i]);
      const v = value(kv[i + 1]);
      if (k instanceof Refused || v instanceof Refused) continue;
      if (!isKey(k)) throw new Error('the pickle uses an unsupported dict key type');
      target.entries.set(k, v);
    }
  };
  const append = (target: StackItem, items: StackItem[]): void => {
    if (target instanceof Refused) return;
    if (Array.isArray(target)) target.push(...(items.map(value).filter((v) => !(v instanceof Refused)) as PickleValue[]));
    else if (target instanceof PySet) target.items.push(...(items.map(value).filter((v) => !(v instanceof Refused)) as PickleValue[]));
    else throw new Error('the pickle appends to something that is not a list');
  };
  const tuple = (items: StackItem[]): StackItem => anyRefused(items) ?? new PyTuple(items.map((i) => value(i) as PickleValue));

  try {
    for (;;) {
      const op = r.u8();
      switch (op) {
        case 0x80: // PROTO
          r.u8();
          break;
        case 0x95: // FRAME
          r.u64();
          break;
        case 0x2e: {
          // STOP
          if (refused.size > 0) throw new UnsafePickleError([...refused]);
          const result = value(pop());
          if (result instanceof Refused) throw new UnsafePickleError([result.global]);
          return result;
        }
        case 0x63: {
          // GLOBAL: "module\nname\n"
          const module = r.line();
          pushGlobal(module, r.line());
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = value(pop());
          const module = value(pop());
          if (typeof module !== 'string' || typeof name !== 'string') throw new Error('STACK_GLOBAL needs two strings');
          pushGlobal(module, name);
          break;
        }
        case 0x52: {
          // REDUCE
          const args = pop();
          const fn = pop();
          if (args instanceof Refused) {
            stack.push(args);
            break;
          }
          if (!(args instanceof PyTuple)) throw new Error('REDUCE needs an argument tuple');
          stack.push(call(fn, args.items));
          break;
        }
        case 0x81: {
          // NEWOBJ: cls.__new__(cls, *args)
          const args = pop();
          const cls = pop();
          stack.push(args instanceof Refused ? args : call(cls, args instanceof PyTuple ? args.items : []));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX
          pop();
          const args = pop();
          const cls = pop();
          stack.push(args instanceof Refused ? args : call(cls, args instanceof PyTuple ? args.items : []));
          break;
        }
        case 0x6f: {
          // OBJ: MARK cls args... OBJ
          const items = popMark();
          stack.push(call(items[0], items.slice(1)));
          break;
        }
        case 0x69: {
          // INST: "module\nname\n", MARK args... INST
          const module = r.line();
          const name = r.line();
          const args = popMark();
          pushGlobal(module, name);
          stack.push(call(pop(), args));
          break;
        }
        case 0x62: {
          // BUILD
          const state = value(pop());
          const target = top();
          if (target instanceof Refused || state instanceof Refused) break;
          if (target instanceof PyDict) target.attributes = state;
          else throw new Error('the pickle sets object state (BUILD) on something that is not a dict');
          break;
        }
        case 0x51: // BINPERSID
          stack.push(persistent(value(pop())));
          break;
        case 0x50: // PERSID
          stack.push(persistent(r.line()));
          break;
        case 0x28: // MARK
          stack.push(MARK);
          break;
        case 0x4e: // NONE
          stack.push(null);
          break;
        case 0x88: // NEWTRUE
          stack.push(true);
          break;
        case 0x89: // NEWFALSE
          stack.push(false);
          break;
        case 0x4a: // BININT
          stack.push(r.i32());
          break;
        case 0x4b: // BININT1
          stack.push(r.u8());
          break;
        case 0x4d: // BININT2
          stack.push(r.u16());
          break;
        case 0x8a: // LONG1
          stack.push(decodeLong(r.take(r.u8())));
          break;
        case 0x8b: // LONG4
          stack.push(decodeLong(r.take(r.u32())));
          break;
        case 0x49: {
          // INT (text); "00"/"01" are protocol 0's False/True
          const text = r.line();
          stack.push(text === '00' ? false : text === '01' ? true : parseTextInt(text));
          break;
        }
        case 0x4c: // LONG (text)
          stack.push(parseTextInt(r.line().replace(/L$/, '')));
          break;
        case 0x46: // FLOAT (text)
          stack.push(new PyFloat(Number(r.line())));
          break;
        case 0x47: // BINFLOAT
          stack.push(new PyFloat(r.f64be()));
          break;
        case 0x58: // BINUNICODE
          stack.push(decoder.decode(r.take(r.u32())));
          break;
        case 0x8c: // SHORT_BINUNICODE
          stack.push(decoder.decode(r.take(r.u8())));
          break;
        case 0x8d: // BINUNICODE8
          stack.push(decoder.decode(r.take(r.u64())));
          break;
        case 0x54: // BINSTRING (Python 2 str)
          stack.push(decoder.decode(r.take(r.i32())));
          break;
        case 0x55: // SHORT_BINSTRING
          stack.push(decoder.decode(r.take(r.u8())));
          break;
        case 0x42: // BINBYTES
          stack.push(r.take(r.u32()).slice());
          break;
        case 0x43: // SHORT_BINBYTES
          stack.push(r.take(r.u8()).slice());
          break;
        case 0x8e: // BINBYTES8
          stack.push(r.take(r.u64()).slice());
          break;
        case 0x29: // EMPTY_TUPLE
          stack.push(new PyTuple([]));
          break;
        case 0x85: // TUPLE1
          stack.push(tuple([pop()]));
          break;
        case 0x86: {
          // TUPLE2
          const b = pop();
          stack.push(tuple([pop(), b]));
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = pop();
          const b = pop();
          stack.push(tuple([pop(), b, c]));
          break;
        }
        case 0x74: // TUPLE
          stack.push(tuple(popMark()));
          break;
        case 0x5d: // EMPTY_LIST
          stack.push([]);
          break;
        case 0x6c: {
          // LIST
          const items: PickleValue[] = [];
          append(items, popMark());
          stack.push(items);
          break;
        }
        case 0x7d: // EMPTY_DICT
          stack.push(new PyDict(false));
          break;
        case 0x64: {
          // DICT
          const d = new PyDict(false);
          setItems(d, popMark());
          stack.push(d);
          break;
        }
        case 0x8f: // EMPTY_SET
          stack.push(new PySet([], false));
          break;
        case 0x90: {
          // ADDITEMS
          const items = popMark();
          append(top(), items);
          break;
        }
        case 0x91: // FROZENSET
          stack.push(new PySet(popMark().map((i) => value(i) as PickleValue), true));
          break;
        case 0x61: {
          // APPEND
          const v = pop();
          append(top(), [v]);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = popMark();
          append(top(), items);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = pop();
          const k = pop();
          setItems(top(), [k, v]);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = popMark();
          setItems(top(), items);
          break;
        }
        case 0x70: // PUT (text)
          memo.set(Number(r.line()), top());
          break;
        case 0x71: // BINPUT
          memo.set(r.u8(), top());
          break;
        case 0x72: // LONG_BINPUT
          memo.set(r.u32(), top());
          break;
        case 0x94: // MEMOIZE
          memo.set(memo.size, top());
          break;
        case 0x67: // GET (text)
          stack.push(memoGet(memo, Number(r.line())));
          break;
        case 0x68: // BINGET
          stack.push(memoGet(memo, r.u8()));
          break;
        case 0x6a: // LONG_BINGET
          stack.push(memoGet(memo, r.u32()));
          break;
        case 0x30: // POP
          pop();
          break;
        case 0x31: // POP_MARK
          popMark();
          break;
        case 0x32: // DUP
          stack.push(top());
          break;
        case 0x82:
        case 0x83:
        case 0x84: {
          // EXT1/EXT2/EXT4 name globals through the copyreg extension registry.
          const code = op === 0x82 ? r.u8() : op === 0x83 ? r.u16() : r.i32();
          refused.add(`copyreg extension #${code}`);
          stack.push(new Refused(`copyreg extension #${code}`));
          break;
        }
        default:
          throw new Error(`the pickle uses opcode 0x${op.toString(16).padStart(2, '0')} at offset ${r.pos - 1}, which a state_dict does not need`);
      }
    }
  } catch (e) {
    // A refused global explains any later confusion better than the confusion itself.
    if (refused.size > 0 && !(e instanceof UnsafePickleError)) throw new UnsafePickleError([...refused]);
    throw e;
  }

  function persistent(pid: PickleValue | Refused): StackItem {
    if (pid instanceof Refused) return pid;
    return options.persistentLoad(pid);
  }
}

function parseTextInt(text: string): number | bigint {
  const big = BigInt(text.trim());
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

function memoGet(memo: Map<number, StackItem>, index: number): StackItem {
  const v = memo.get(index);
  if (v === undefined) throw new Error(`the pickle reads memo slot ${index}, which was never set`);
  return v;
}

/** Writes a pickle (protocol 2 opcodes) of plain values, tensors and ordered dicts. */
export class Pickler {
  private readonly chunks: Uint8Array[] = [];
  private readonly encoder = new TextEncoder();

  constructor(private readonly persistentId: (storage: StorageRef) => PickleValue) {
    this.byte(0x80, 2);
  }

  private byte(...values: number[]): void {
    this.chunks.push(Uint8Array.from(values));
  }

  private u32(n: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, true);
    this.chunks.push(b);
  }

  private global(module: string, name: string): void {
    this.byte(0x63);
    this.chunks.push(this.encoder.encode(`${module}\n${name}\n`));
  }

  private int(n: number | bigint): void {
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 256) this.byte(0x4b, n);
    else if (typeof n === 'number' && Number.isInteger(n) && n >= -0x80000000 && n <= 0x7fffffff) {
      const b = new Uint8Array(5);
      b[0] = 0x4a;
      new DataView(b.buffer).setInt32(1, n, true);
      this.chunks.push(b);
    } else {
      let v = BigInt(n);
      const bytes: number[] = [];
      // Two's complement, little-endian, as short as possible while keeping the sign bit right.
      for (;;) {
        bytes.push(Number(v & 0xffn));
        const rest = v >> 8n;
        const signBit = (bytes[bytes.length - 1] & 0x80) !== 0;
        if ((rest === 0n && !signBit) || (rest === -1n && signBit)) break;
        v = rest;
      }
      this.byte(0x8a, bytes.length, ...bytes);
    }
  }

  private items(values: PickleValue[]): void {
    for (const v of values) this.save(v);
  }

  save(v: PickleValue): void {
    if (v === null) this.byte(0x4e);
    else if (v === true) this.byte(0x88);
    else if (v === false) this.byte(0x89);
    else if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new Error(`cannot write ${v} as a Python int`);
      this.int(v);
    } else if (typeof v === 'bigint') this.int(v);
    else if (v instanceof PyFloat) {
      const b = new Uint8Array(9);
      b[0] = 0x47;
      new DataView(b.buffer).setFloat64(1, v.value, false);
      this.chunks.push(b);
    } else if (typeof v === 'string') {
      const bytes = this.encoder.encode(v);
      this.byte(0x58);
      this.u32(bytes.length);
      this.chunks.push(bytes);
    } else if (v instanceof Uint8Array) {
      this.byte(0x42);
      this.u32(v.length);
      this.chunks.push(v);
    } else if (Array.isArray(v)) {
      this.byte(0x5d);
      if (v.length > 0) {
        this.byte(0x28);
        this.items(v);
        this.byte(0x65);
      }
    } else if (v instanceof PyTuple) {
      if (v.items.length === 0) this.byte(0x29);
      else {
        this.byte(0x28);
        this.items(v.items);
        this.byte(0x74);
      }
    } else if (v instanceof PyDict) {
      if (v.ordered) {
        this.global('collections', 'OrderedDict');
        this.byte(0x29, 0x52);
      } else this.byte(0x7d);
      if (v.entries.size > 0) {
        this.byte(0x28);
        for (const [k, item] of v.entries) {
          this.save(k);
          this.save(item);
        }
        this.byte(0x75);
      }
      if (v.attributes !== undefined) {
        this.save(v.attributes);
        this.byte(0x62);
      }
    } else if (v instanceof PySet) {
      if (v.frozen) throw new Error('cannot write a frozenset into a checkpoint');
      this.byte(0x8f);
      if (v.items.length > 0) {
        this.byte(0x28);
        this.items(v.items);
        this.byte(0x90);
      }
    } else if (v instanceof PyGlobal) {
      this.global(v.module, v.name);
    } else if (v instanceof StorageRef) {
      this.save(this.persistentId(v));
      this.byte(0x51);
    } else if (v instanceof TensorRef) {
      if (v.parameter) this.global('torch._utils', '_rebuild_parameter');
      this.global('torch._utils', '_rebuild_tensor_v2');
      this.byte(0x28);
      this.save(v.storage);
      this.int(v.offset);
      this.save(new PyTuple(v.size));
      this.save(new PyTuple(v.stride));
      this.save(v.parameter ? false : v.requiresGrad);
      this.save(new PyDict(true));
      this.byte(0x74, 0x52);
      if (v.parameter) {
        // _rebuild_parameter(data, requires_grad, backward_hooks)
        this.save(v.requiresGrad);
        this.save(new PyDict(true));
        this.byte(0x87, 0x52);
      }
    } else {
      throw new Error('cannot write this value into a pickle');
    }
  }

  /** Ends the pickle and returns its bytes. */
  finish(): Uint8Array {
    this.byte(0x2e);
    const total = this.chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}
