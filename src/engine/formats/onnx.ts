/**
 * ONNX models (`torch.onnx.export`, opsets 11-18): the protobuf is decoded with `onnx-proto`
 * (pure JavaScript) and the node graph is mapped op by op onto the IR.
 *
 * ONNX tensors are NCHW; the IR is NHWC. Each ONNX value is tracked with its channels-first
 * shape, and weights are converted once (kernels OIHW -> HWIO, Gemm [out, in] -> [in, out]). A
 * Flatten of a feature map is the one place where the orders differ in values, not only in
 * layout: PyTorch flattens C·H·W, the IR H·W·C, so the rows of the dense layer that reads it are
 * permuted (and permuted back on write).
 *
 * Writing replaces only the initializers' bytes inside the original protobuf; every other byte
 * of the graph is copied as it was.
 */
import { onnx } from 'onnx-proto';
import { ActivationFn, ExplicitPadding, Graph, GraphNode, LayerOp, TensorData, WeightMap, WeightRole, tensorSize, weightKey } from '../graph/ir';
import { validateModel } from '../graph/shapes';
import { convKernelFromOihw, convKernelToOihw, denseFromOutIn, denseToOutIn, depthwiseKernelFromOihw, depthwiseKernelToOihw, transpose2d } from './layout';
import { LoadedModel, SerializedModel } from './types';

type Long = { toNumber(): number };
const num = (v: number | Long | null | undefined): number => (v === null || v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());

const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, FLOAT16: 10, DOUBLE: 11, BFLOAT16: 16 } as const;

/** A decoded constant: initializer or Constant node output. */
interface Constant {
  dims: number[];
  values: Float64Array;
  /** Initializer name when it came from one (only initializers can be written back). */
  initializer?: string;
  /** Set when the value is an Identity copy of the initializer: the copy's name. */
  alias?: string;
}

/** An ONNX value as the IR sees it. */
interface Value {
  /** IR node producing it. */
  node: string;
  /** Channels-first shape without the batch dimension: [C, H, W] or [F]. */
  shape: number[];
  /** True when the IR holds [C] for an ONNX [C, 1, 1] (after a global pool). */
  squeezed?: boolean;
  /** Set on a flat value produced by flattening a feature map: the map's IR shape [h, w, c]. */
  flattenedFrom?: number[];
}

/** How an IR weight is stored in the ONNX file, to write it back in the original layout. */
interface OnnxBinding {
  irKey: string;
  initializer: string;
  /**
   * Exporters de-duplicate equal tensors (torch.onnx turns a second, equal parameter into an
   * Identity of the first); such a weight reads `initializer` through the Identity named here.
   */
  alias?: string;
  layout: 'conv' | 'depthwise' | 'denseT' | 'dense' | 'vector';
  flattenedFrom?: number[];
}

interface OnnxSource {
  bytes: Uint8Array;
  bindings: OnnxBinding[];
}

function attr(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name) ?? undefined;
}
function attrInt(node: onnx.INodeProto, name: string, fallback: number): number {
  const a = attr(node, name);
  return a ? num(a.i) : fallback;
}
function attrFloat(node: onnx.INodeProto, name: string, fallback: number): number {
  const a = attr(node, name);
  return a ? (a.f ?? fallback) : fallback;
}
function attrInts(node: onnx.INodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a?.ints ? a.ints.map(num) : undefined;
}
function attrString(node: onnx.INodeProto, name: string): string | undefined {
  const a = attr(node, name);
  return a?.s ? new TextDecoder().decode(a.s) : undefined;
}

function float16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Decodes a TensorProto's values (raw, typed fields or external file) to float64. */
function decodeTensor(t: onnx.ITensorProto, readSibling: (p: string) => Uint8Array): Float64Array {
  const dims = (t.dims ?? []).map(num);
  const n = tensorSize(dims);
  const type = t.dataType ?? 0;
  let raw = t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const info = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = info.get('location');
    if (!location) throw new Error(`tensor '${t.name}' is stored externally without a location`);
    const file = readSibling(location);
    const offset = Number(info.get('offset') ?? 0);
    const length = info.has('length') ? Number(info.get('length')) : file.length - offset;
    if (offset + length > file.length) throw new Error(`tensor '${t.name}' reads bytes ${offset}..${offset + length} of '${location}', which has ${file.length}`);
    raw = file.subarray(offset, offset + length);
  }
  const out = new Float64Array(n);
  if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const size: Record<number, number> = { [DT.FLOAT]: 4, [DT.DOUBLE]: 8, [DT.INT64]: 8, [DT.INT32]: 4, [DT.FLOAT16]: 2, [DT.BFLOAT16]: 2, [DT.UINT8]: 1, [DT.INT8]: 1 };
    if (!size[type]) throw new Error(`tensor '${t.name}' has ONNX data type ${type}, which is not supported`);
    if (raw.length < n * size[type]) throw new Error(`tensor '${t.name}' has ${raw.length} bytes, fewer than its shape [${dims}] needs`);
    for (let i = 0; i < n; i++) {
      switch (type) {
        case DT.FLOAT:
          out[i] = view.getFloat32(4 * i, true);
          break;
        case DT.DOUBLE:
          out[i] = view.getFloat64(8 * i, true);
          break;
        case DT.INT64:
          out[i] = Number(view.getBigInt64(8 * i, true));
          break;
        case DT.INT32:
          out[i] = view.getInt32(4 * i, true);
          break;
        case DT.FLOAT16:
          out[i] = float16(view.getUint16(2 * i, true));
          break;
        case DT.BFLOAT16:
          out[i] = new Float32Array(new Uint32Array([view.getUint16(2 * i, true) << 16]).buffer)[0];
          break;
        case DT.UINT8:
          out[i] = raw[i];
          break;
        case DT.INT8:
          out[i] = view.getInt8(i);
          break;
      }
    }
    return out;
  }
  const typed: ArrayLike<number | Long> | null | undefined =
    type === DT.FLOAT ? t.floatData : type === DT.DOUBLE ? t.doubleData : type === DT.INT64 ? t.int64Data : type === DT.FLOAT16 ? t.int32Data : t.int32Data;
  if (!typed || typed.length < n) throw new Error(`tensor '${t.name}' holds fewer values than its shape [${dims}] needs`);
  for (let i = 0; i < n; i++) out[i] = type === DT.FLOAT16 ? float16(num(typed[i])) : num(typed[i]);
  return out;
}

const ACTIVATIONS: Record<string, ActivationFn> = {
  Relu: 'relu',
  Sigmoid: 'sigmoid',
  Tanh: 'tanh',
  HardSwish: 'hardSwish',
  Elu: 'elu',
  Softplus: 'softplus',
};

/** Row-major strides of a shape. */
function stridesOf(dims: number[]): number[] {
  const out = new Array<number>(dims.length).fill(1);
  for (let d = dims.length - 2; d >= 0; d--) out[d] = out[d + 1] * dims[d + 1];
  return out;
}

/** Calls `visit(flatIndex, index)` for every element of a shape, in row-major order. */
function forEachIndex(dims: number[], visit: (flat: number, index: number[]) => void): void {
  const total = tensorSize(dims);
  const index = new Array<number>(dims.length).fill(0);
  for (let i = 0; i < total; i++) {
    visit(i, index);
    for (let d = dims.length - 1; d >= 0; d--) {
      if (++index[d] < dims[d]) break;
      index[d] = 0;
    }
  }
}

const FOLDABLE = new Set(['ConstantOfShape', 'Concat', 'Reshape', 'Slice', 'Transpose', 'Cast', 'Unsqueeze', 'Squeeze', 'Gather', 'Identity', 'Add', 'Sub', 'Mul', 'Div']);

/**
 * Evaluates an op whose inputs are all constants. Exporters compute shapes and pads this way
 * (torch.onnx writes F.pad's pads as ConstantOfShape, Concat, Reshape, Slice, Transpose, Cast);
 * folding them leaves only the ops that touch the image.
 */
function foldConstant(n: onnx.INodeProto, opset: number, ins: Constant[], where: string): Constant {
  const op = n.opType ?? '';
  const [a, b] = ins;
  const axisOf = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
  switch (op) {
    case 'ConstantOfShape': {
      const dims = Array.from(a.values);
      const t = attr(n, 'value')?.t;
      const fill = t ? decodeTensor(t, () => new Uint8Array())[0] : 0;
      return { dims, values: new Float64Array(tensorSize(dims)).fill(fill) };
    }
    case 'Identity':
      return { ...a, values: a.values.slice(), alias: a.initializer ? (n.output?.[0] ?? undefined) : undefined };
    case 'Cast': {
      const to = attrInt(n, 'to', DT.FLOAT);
      const integer = to !== DT.FLOAT && to !== DT.DOUBLE && to !== DT.FLOAT16 && to !== DT.BFLOAT16;
      return { dims: a.dims, values: integer ? a.values.map(Math.trunc) : a.values.slice() };
    }
    case 'Reshape': {
      const target = Array.from(b.values).map((d, i) => (d === 0 ? a.dims[i] : d));
      const known = target.filter((d) => d !== -1).reduce((x, y) => x * y, 1);
      return { dims: target.map((d) => (d === -1 ? tensorSize(a.dims) / known : d)), values: a.values };
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      const axes = (opset >= 13 ? (b ? Array.from(b.values) : undefined) : attrInts(n, 'axes')) ?? [];
      if (op === 'Squeeze') {
        const drop = new Set(axes.map((x) => axisOf(x, a.dims.length)));
        return { dims: a.dims.filter((d, i) => (axes.length ? !drop.has(i) : d !== 1)), values: a.values };
      }
      const rank = a.dims.length + axes.length;
      const insert = new Set(axes.map((x) => axisOf(x, rank)));
      const dims: number[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) dims.push(insert.has(i) ? 1 : a.dims[j++]);
      return { dims, values: a.values };
    }
    case 'Transpose': {
      const perm = attrInts(n, 'perm') ?? a.dims.map((_, i) => a.dims.length - 1 - i);
      const dims = perm.map((p) => a.dims[p]);
      const src = stridesOf(a.dims);
      const values = new Float64Array(a.values.length);
      forEachIndex(dims, (flat, index) => {
        values[flat] = a.values[index.reduce((o, v, d) => o + v * src[perm[d]], 0)];
      });
      return { dims, values };
    }
    case 'Concat': {
      const axis = axisOf(attrInt(n, 'axis', 0), a.dims.length);
      const dims = [...a.dims];
      dims[axis] = ins.reduce((sum, c) => sum + c.dims[axis], 0);
      const outer = tensorSize(a.dims.slice(0, axis));
      const parts: number[] = [];
      for (let o = 0; o < outer; o++) {
        for (const c of ins) {
          const inner = tensorSize(c.dims.slice(axis));
          parts.push(...c.values.subarray(o * inner, (o + 1) * inner));
        }
      }
      return { dims, values: Float64Array.from(parts) };
    }
    case 'Gather': {
      const axis = axisOf(attrInt(n, 'axis', 0), a.dims.length);
      const indices = Array.from(b.values).map((i) => (i < 0 ? i + a.dims[axis] : i));
      const outer = tensorSize(a.dims.slice(0, axis));
      const inner = tensorSize(a.dims.slice(axis + 1));
      const values: number[] = [];
      for (let o = 0; o < outer; o++) for (const i of indices) values.push(...a.values.subarray((o * a.dims[axis] + i) * inner, (o * a.dims[axis] + i + 1) * inner));
      return { dims: [...a.dims.slice(0, axis), ...b.dims, ...a.dims.slice(axis + 1)], values: Float64Array.from(values) };
    }
    case 'Slice': {
      const read = (c: Constant | undefined) => (c ? Array.from(c.values) : undefined);
      const starts = opset >= 10 ? read(ins[1]) : attrInts(n, 'starts');
      const ends = opset >= 10 ? read(ins[2]) : attrInts(n, 'ends');
      const axes = (opset >= 10 ? read(ins[3]) : attrInts(n, 'axes')) ?? starts?.map((_, i) => i);
      const steps = (opset >= 10 ? read(ins[4]) : undefined) ?? starts?.map(() => 1);
      if (!starts || !ends || !axes || !steps) throw new Error(`${where} slices without starts and ends`);
      const begin = a.dims.map(() => 0);
      const step = a.dims.map(() => 1);
      const dims = [...a.dims];
      axes.forEach((axisRaw, i) => {
        const axis = axisOf(axisRaw, a.dims.length);
        const size = a.dims[axis];
        const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + size : v, lo), hi);
        const s = steps[i];
        const from = s > 0 ? clamp(starts[i], 0, size) : clamp(starts[i], -1, size - 1);
        const to = s > 0 ? clamp(ends[i], 0, size) : clamp(ends[i], -1, size - 1);
        begin[axis] = from;
        step[axis] = s;
        dims[axis] = Math.max(0, Math.ceil((to - from) / s));
      });
      const src = stridesOf(a.dims);
      const values = new Float64Array(tensorSize(dims));
      forEachIndex(dims, (flat, index) => {
        values[flat] = a.values[index.reduce((o, v, d) => o + (begin[d] + v * step[d]) * src[d], 0)];
      });
      return { dims, values };
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div': {
      const big = a.values.length >= b.values.length ? a : b;
      if (a.values.length !== b.values.length && Math.min(a.values.length, b.values.length) !== 1) throw new Error(`${where} broadcasts constants in a way that is not supported`);
      const at = (c: Constant, i: number) => (c.values.length === 1 ? c.values[0] : c.values[i]);
      const f = { Add: (x: number, y: number) => x + y, Sub: (x: number, y: number) => x - y, Mul: (x: number, y: number) => x * y, Div: (x: number, y: number) => x / y }[op];
      return { dims: big.dims, values: big.values.map((_, i) => f(at(a, i), at(b, i))) };
    }
    default:
      throw new Error(`${where}: internal: ${op} cannot be folded`);
  }
}

/** Parses ONNX bytes into the IR. Errors are plain Errors naming the node and op. */
export function parseOnnxModel(bytes: Uint8Array, readSibling: (relativePath: string) => Uint8Array, filePath: string): LoadedModel {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new Error(`is not a readable ONNX protobuf (${(e as Error).message})`);
  }
  const g = model.graph;
  if (!g || !g.node) throw new Error('is an ONNX file without a graph');
  const opset = num(model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);

  const constants = new Map<string, Constant>();
  for (const init of g.initializer ?? []) {
    constants.set(init.name ?? '', { dims: (init.dims ?? []).map(num), values: decodeTensor(init, readSibling), initializer: init.name ?? '' });
  }
  const graphInputs = (g.input ?? []).filter((i) => !constants.has(i.name ?? ''));
  if (graphInputs.length !== 1) throw new Error(`has ${graphInputs.length} graph inputs; only single-input classifiers are supported`);
  if ((g.output ?? []).length !== 1) throw new Error(`has ${(g.output ?? []).length} graph outputs; a classifier has one`);
  const inputInfo = graphInputs[0];
  const inputDims = (inputInfo.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue !== null && d.dimValue !== undefined ? num(d.dimValue) : -1));
  if (inputDims.length !== 4 || inputDims.slice(1).some((d) => d <= 0)) {
    throw new Error(`input '${inputInfo.name}' has shape [${inputDims.map((d) => (d < 0 ? '?' : d))}]; an image classifier needs [batch, channels, height, width] with fixed sizes`);
  }
  const [, c0, h0, w0] = inputDims;

  const consumers = new Map<string, number>();
  for (const n of g.node) for (const i of n.input ?? []) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const graphOutput = g.output?.[0].name ?? '';

  const nodes: GraphNode[] = [];
  const weights: WeightMap = new Map();
  const bindings: OnnxBinding[] = [];
  const values = new Map<string, Value>();
  const names = new Set<string>();
  const inputName = safeName(inputInfo.name ?? 'input', names);
  nodes.push({ name: inputName, op: { kind: 'input', shape: [h0, w0, c0] }, inputs: [] });
  values.set(inputInfo.name ?? '', { node: inputName, shape: [c0, h0, w0] });
  let outputSoftmax = false;
  let outputValue: string | undefined;

  const nodeIndex = new Map<string, GraphNode>();
  const emit = (name: string, op: LayerOp, inputs: string[]): string => {
    const node = { name, op, inputs };
    nodes.push(node);
    nodeIndex.set(name, node);
    return name;
  };
  const bindingOf = (c: Constant, layout: OnnxBinding['layout'], flattenedFrom?: number[]): Omit<OnnxBinding, 'irKey'> | undefined =>
    c.initializer ? { initializer: c.initializer, layout, ...(c.alias ? { alias: c.alias } : {}), ...(flattenedFrom ? { flattenedFrom } : {}) } : undefined;
  const setWeight = (node: string, role: WeightRole, t: TensorData, binding: Omit<OnnxBinding, 'irKey'> | undefined): void => {
    const irKey = weightKey(node, role);
    weights.set(irKey, t);
    if (binding) bindings.push({ irKey, ...binding });
  };

  for (let index = 0; index < g.node.length; index++) {
    const n = g.node[index];
    const op = n.opType ?? '';
    const where = `node '${n.name || `#${index}`}' (${op})`;
    if (n.domain && n.domain !== 'ai.onnx') throw new Error(`${where} is in the custom domain '${n.domain}', which is not supported`);
    const ins = n.input ?? [];
    const out = n.output?.[0] ?? '';
    const valueOf = (name: string): Value => {
      const v = values.get(name);
      if (!v) {
        if (constants.has(name)) throw new Error(`${where} takes the constant '${name}' where an activation is expected, which is not supported`);
        throw new Error(`${where} reads '${name}', which no supported node produced`);
      }
      return v;
    };
    const constant = (name: string | undefined, what: string): Constant => {
      const c = name ? constants.get(name) : undefined;
      if (!c) throw new Error(`${where} needs its ${what} as a constant (initializer or Constant node)`);
      return c;
    };
    // Layers are named after their PyTorch module when the weight keeps its parameter name
    // (`layer1.0.conv1.weight`), so that reports name the same layers for .onnx and .pt files.
    const weightName = (): string | undefined => {
      const init = constants.get(ins[1] ?? '')?.initializer;
      const m = init ? /^(.*)\.weight$/.exec(init) : null;
      return m && /^[\w.]+$/.test(m[1]) ? m[1] : undefined;
    };
    const newName = (preferred: string | undefined): string => safeName(preferred && preferred !== '' ? preferred : n.name || `${op.toLowerCase()}_${index}`, names);
    // A value the IR holds squeezed to [C] is reshaped back to [1, 1, C] where a 4-D op reads it.
    const as4d = (v: Value): Value => {
      if (!v.squeezed) return v;
      const name = newName(`${v.node}_unsqueeze`);
      emit(name, { kind: 'reshape', shape: [1, 1, v.shape[0]] }, [v.node]);
      return { node: name, shape: [v.shape[0], 1, 1] };
    };
    const forbidFlattened = (v: Value): void => {
      if (v.flattenedFrom && v.flattenedFrom[0] * v.flattenedFrom[1] > 1) {
        throw new Error(`${where} reads a flattened feature map whose element order differs between ONNX (C·H·W) and this tool (H·W·C); only a Gemm/MatMul may read it`);
      }
    };

    const present = ins.filter((i) => i !== '');
    if (FOLDABLE.has(op) && present.length > 0 && present.every((i) => constants.has(i))) {
      constants.set(out, foldConstant(n, opset, ins.map((i) => (i === '' ? (undefined as unknown as Constant) : (constants.get(i) as Constant))), where));
      continue;
    }
    switch (op) {
      case 'Constant': {
        const t = attr(n, 'value')?.t;
        if (t) constants.set(out, { dims: (t.dims ?? []).map(num), values: decodeTensor(t, readSibling) });
        else {
          const f = attr(n, 'value_float');
          const ints = attrInts(n, 'value_ints');
          const i = attr(n, 'value_int');
          if (f) constants.set(out, { dims: [], values: Float64Array.of(f.f ?? 0) });
          else if (ints) constants.set(out, { dims: [ints.length], values: Float64Array.from(ints) });
          else if (i) constants.set(out, { dims: [], values: Float64Array.of(num(i.i)) });
          else throw new Error(`${where} holds a kind of constant that is not supported`);
        }
        break;
      }
      case 'Conv': {
        const x = as4d(valueOf(ins[0]));
        const w = constant(ins[1], 'weight');
        if (w.dims.length !== 4) throw new Error(`${where} is not a 2-D convolution (weight shape [${w.dims}])`);
        const [outC, inPerGroup, kh, kw] = w.dims;
        const group = attrInt(n, 'group', 1);
        const inC = x.shape[0];
        if (inPerGroup * group !== inC) throw new Error(`${where} has ${inC} input channels but its weight expects ${inPerGroup * group}`);
        const strides = (attrInts(n, 'strides') ?? [1, 1]) as [number, number];
        const dilations = (attrInts(n, 'dilations') ?? [1, 1]) as [number, number];
        const padding = convPadding(n, [x.shape[1], x.shape[2]], [kh, kw], strides, dilations, where);
        const name = newName(weightName());
        const hasBias = ins.length > 2 && ins[2] !== '';
        const depthwise = group > 1 && group === inC && outC % inC === 0;
        const weightData = Float32Array.from(w.values);
        if (depthwise) {
          emit(name, { kind: 'depthwiseConv2d', depthMultiplier: outC / inC, kernelSize: [kh, kw], strides, padding, dilations, useBias: hasBias, activation: 'linear' }, [x.node]);
          setWeight(name, 'kernel', depthwiseKernelFromOihw(weightData, w.dims, inC), bindingOf(w, 'depthwise'));
        } else {
          emit(name, { kind: 'conv2d', filters: outC, kernelSize: [kh, kw], strides, padding, dilations, groups: group, useBias: hasBias, activation: 'linear' }, [x.node]);
          setWeight(name, 'kernel', convKernelFromOihw(weightData, w.dims), bindingOf(w, 'conv'));
        }
        if (hasBias) {
          const b = constant(ins[2], 'bias');
          setWeight(name, 'bias', { shape: [outC], data: Float32Array.from(b.values) }, bindingOf(b, 'vector'));
        }
        const oh = Math.floor((x.shape[1] + padding.top + padding.bottom - ((kh - 1) * dilations[0] + 1)) / strides[0]) + 1;
        const ow = Math.floor((x.shape[2] + padding.left + padding.right - ((kw - 1) * dilations[1] + 1)) / strides[1]) + 1;
        values.set(out, { node: name, shape: [outC, oh, ow] });
        break;
      }
      case 'BatchNormalization': {
        const x = valueOf(ins[0]);
        forbidFlattened(x);
        if (attrInt(n, 'training_mode', 0) !== 0 || (n.output ?? []).filter((o) => o !== '').length > 1) {
          throw new Error(`${where} is exported in training mode; export the model in eval mode (model.eval())`);
        }
        const roles: WeightRole[] = ['gamma', 'beta', 'movingMean', 'movingVariance'];
        const name = newName(weightName());
        emit(name, { kind: 'batchNorm', epsilon: attrFloat(n, 'epsilon', 1e-5), momentum: 1 - attrFloat(n, 'momentum', 0.9) }, [x.node]);
        roles.forEach((role, i) => {
          const c = constant(ins[i + 1], role);
          setWeight(name, role, { shape: [x.shape[0]], data: Float32Array.from(c.values) }, bindingOf(c, 'vector'));
        });
        values.set(out, { ...x, node: name });
        break;
      }
      case 'Gemm':
      case 'MatMul': {
        const x = valueOf(ins[0]);
        if (x.shape.length !== 1) throw new Error(`${where} reads a [${x.shape}] value; only a flat feature vector is supported`);
        const w = constant(ins[1], 'weight');
        if (w.dims.length !== 2) throw new Error(`${where} has a weight of shape [${w.dims}]; a matrix is expected`);
        const transB = op === 'Gemm' && attrInt(n, 'transB', 0) === 1;
        if (op === 'Gemm' && (attrInt(n, 'transA', 0) !== 0 || attrFloat(n, 'alpha', 1) !== 1 || attrFloat(n, 'beta', 1) !== 1)) {
          throw new Error(`${where} uses transA, alpha or beta, which are not supported`);
        }
        const [inF, outF] = transB ? [w.dims[1], w.dims[0]] : w.dims;
        if (inF !== x.shape[0]) throw new Error(`${where} expects ${inF} inputs but gets ${x.shape[0]}`);
        const name = newName(weightName());
        const hasBias = op === 'Gemm' && ins.length > 2 && ins[2] !== '';
        emit(name, { kind: 'dense', units: outF, useBias: hasBias, activation: 'linear' }, [x.node]);
        const data = Float32Array.from(w.values);
        const flattenedFrom = x.flattenedFrom;
        const kernel = transB ? denseFromOutIn(data, outF, inF, flattenedFrom) : denseFromOutIn(transpose2d(data, inF, outF), outF, inF, flattenedFrom);
        setWeight(name, 'kernel', kernel, bindingOf(w, transB ? 'denseT' : 'dense', flattenedFrom));
        if (hasBias) {
          const b = constant(ins[2], 'bias');
          if (tensorSize(b.dims) !== outF) throw new Error(`${where} has a bias of shape [${b.dims}]; per-unit biases are supported`);
          setWeight(name, 'bias', { shape: [outF], data: Float32Array.from(b.values) }, bindingOf(b, 'vector'));
        }
        values.set(out, { node: name, shape: [outF] });
        break;
      }
      case 'Add':
      case 'Mul':
      case 'Sum': {
        const constIndex = ins.findIndex((i) => constants.has(i));
        if (constIndex >= 0) {
          // MatMul + Add is how some exporters write a biased Linear: fold the Add into it.
          const other = valueOf(ins[1 - constIndex]);
          const dense = nodeIndex.get(other.node);
          const c = constants.get(ins[constIndex]) as Constant;
          if (op === 'Add' && dense?.op.kind === 'dense' && !dense.op.useBias && tensorSize(c.dims) === dense.op.units && (consumers.get(ins[1 - constIndex]) ?? 0) === 1) {
            dense.op = { ...dense.op, useBias: true };
            setWeight(dense.name, 'bias', { shape: [dense.op.units], data: Float32Array.from(c.values) }, bindingOf(c, 'vector'));
            values.set(out, other);
            break;
          }
          throw new Error(`${where} combines an activation with a constant, which is not supported`);
        }
        const xs = ins.map(valueOf);
        // x · sigmoid(x) is SiLU; the sigmoid node is then unused and dropped at the end.
        if (op === 'Mul' && xs.length === 2) {
          const s = xs.findIndex((v) => nodeIndex.get(v.node)?.op.kind === 'activation' && (nodeIndex.get(v.node)?.op as { fn: string }).fn === 'sigmoid');
          if (s >= 0 && nodeIndex.get(xs[s].node)?.inputs[0] === xs[1 - s].node) {
            const name = newName(`${xs[1 - s].node}_silu`);
            emit(name, { kind: 'activation', fn: 'silu' }, [xs[1 - s].node]);
            values.set(out, { ...xs[1 - s], node: name });
            break;
          }
        }
        xs.forEach(forbidFlattened);
        // A squeezed [C] broadcasts against an NHWC [H, W, C] exactly as [C, 1, 1] does against NCHW.
        const name = newName(undefined);
        emit(name, { kind: op === 'Mul' ? 'mul' : 'add' }, xs.map((v) => v.node));
        const widest = xs.reduce((a, b) => (b.shape.length > a.shape.length || (!b.squeezed && a.squeezed) ? b : a));
        values.set(out, { ...widest, node: name, flattenedFrom: undefined });
        break;
      }
      case 'Concat': {
        const xs = ins.map(valueOf).map((v) => (v.squeezed ? as4d(v) : v));
        xs.forEach(forbidFlattened);
        const rank = xs[0].shape.length + 1;
        const axis = attrInt(n, 'axis', 1);
        if (axis !== 1 && axis !== 1 - rank) throw new Error(`${where} concatenates along axis ${axis}; only the channel axis is supported`);
        const name = newName(undefined);
        emit(name, { kind: 'concat', axis: -1 }, xs.map((v) => v.node));
        values.set(out, { node: name, shape: [xs.reduce((s, v) => s + v.shape[0], 0), ...xs[0].shape.slice(1)] });
        break;
      }
      case 'Relu':
      case 'Sigmoid':
      case 'Tanh':
      case 'HardSwish':
      case 'Elu':
      case 'Softplus':
      case 'LeakyRelu':
      case 'HardSigmoid':
      case 'Clip': {
        const x = valueOf(ins[0]);
        let fn: ActivationFn;
        let alpha: number | undefined;
        let beta: number | undefined;
        if (op === 'LeakyRelu') {
          fn = 'leakyRelu';
          alpha = attrFloat(n, 'alpha', 0.01);
        } else if (op === 'HardSigmoid') {
          fn = 'hardSigmoid';
          alpha = attrFloat(n, 'alpha', 0.2);
          beta = attrFloat(n, 'beta', 0.5);
        } else if (op === 'Elu') {
          fn = 'elu';
          alpha = attrFloat(n, 'alpha', 1);
        } else if (op === 'Clip') {
          fn = clipActivation(n, opset, constants, where);
        } else {
          fn = ACTIVATIONS[op];
        }
        const name = newName(undefined);
        emit(name, { kind: 'activation', fn, ...(alpha !== undefined ? { alpha } : {}), ...(beta !== undefined ? { beta } : {}) }, [x.node]);
        values.set(out, { ...x, node: name });
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        const x = as4d(valueOf(ins[0]));
        const kernel = attrInts(n, 'kernel_shape') as [number, number];
        const strides = (attrInts(n, 'strides') ?? [1, 1]) as [number, number];
        if ((attrInts(n, 'dilations') ?? [1, 1]).some((d) => d !== 1)) throw new Error(`${where} uses dilated pooling, which is not supported`);
        const padding = convPadding(n, [x.shape[1], x.shape[2]], kernel, strides, [1, 1], where);
        const size = (i: 0 | 1, before: number, after: number) => (x.shape[i + 1] + before + after - kernel[i]) / strides[i] + 1;
        let oh = Math.floor(size(0, padding.top, padding.bottom));
        let ow = Math.floor(size(1, padding.left, padding.right));
        if (attrInt(n, 'ceil_mode', 0) === 1) {
          // Ceil mode adds one window where the floor drops a partial one, unless that window would
          // start past the input and its leading pad (PyTorch's rule, which ONNX follows).
          const ceilOut = (i: 0 | 1, before: number, after: number) => {
            let o = Math.ceil(size(i, before, after) - 1) + 1;
            if ((o - 1) * strides[i] >= x.shape[i + 1] + before) o--;
            return o;
          };
          const ch = ceilOut(0, padding.top, padding.bottom);
          const cw = ceilOut(1, padding.left, padding.right);
          if (ch !== oh || cw !== ow) {
            if (op === 'AveragePool') throw new Error(`${where} uses ceil_mode with partial windows, which is not supported for average pooling`);
            padding.bottom += (ch - oh) * strides[0];
            padding.right += (cw - ow) * strides[1];
            oh = ch;
            ow = cw;
          }
        }
        const name = newName(undefined);
        emit(name, { kind: op === 'MaxPool' ? 'maxPool' : 'avgPool', poolSize: kernel, strides, padding, ...(op === 'AveragePool' ? { countIncludePad: attrInt(n, 'count_include_pad', 0) === 1 } : {}) }, [x.node]);
        values.set(out, { node: name, shape: [x.shape[0], oh, ow] });
        break;
      }
      case 'GlobalAveragePool':
      case 'GlobalMaxPool': {
        const x = as4d(valueOf(ins[0]));
        const name = newName(undefined);
        emit(name, { kind: op === 'GlobalAveragePool' ? 'globalAvgPool' : 'globalMaxPool' }, [x.node]);
        values.set(out, { node: name, shape: [x.shape[0]], squeezed: true });
        break;
      }
      case 'Flatten':
      case 'Reshape': {
        const x = valueOf(ins[0]);
        if (op === 'Flatten' && attrInt(n, 'axis', 1) !== 1) throw new Error(`${where} flattens from axis ${attrInt(n, 'axis', 1)}; only axis 1 is supported`);
        if (op === 'Reshape') {
          const target = Array.from(constant(ins[1], 'target shape').values);
          const flat = tensorSize(x.shape);
          const keepsBatch = target.length === 2 && (target[0] === 0 || target[0] === -1 || target[0] === 1) && (target[1] === -1 || target[1] === flat);
          if (!keepsBatch) throw new Error(`${where} reshapes to [${target}]; only flattening to [batch, features] is supported`);
        }
        if (x.shape.length === 1) {
          values.set(out, { node: x.node, shape: x.shape, flattenedFrom: x.flattenedFrom });
          break;
        }
        const name = newName(undefined);
        emit(name, { kind: 'flatten' }, [x.node]);
        values.set(out, { node: name, shape: [tensorSize(x.shape)], flattenedFrom: [x.shape[1], x.shape[2], x.shape[0]] });
        break;
      }
      case 'Pad': {
        const x = as4d(valueOf(ins[0]));
        const mode = attrString(n, 'mode') ?? 'constant';
        const pads = opset >= 11 ? Array.from(constant(ins[1], 'pads').values) : attrInts(n, 'pads') ?? [];
        const fill = opset >= 11 ? (ins[2] ? constant(ins[2], 'constant value').values[0] : 0) : attrFloat(n, 'value', 0);
        if (mode !== 'constant' || fill !== 0) throw new Error(`${where} pads with mode '${mode}' and value ${fill}; only zero padding is supported`);
        if (pads.length !== 8 || pads[0] || pads[1] || pads[4] || pads[5] || pads.some((p) => p < 0)) {
          throw new Error(`${where} pads [${pads}]; only non-negative padding of height and width is supported`);
        }
        const padding: ExplicitPadding = { top: pads[2], left: pads[3], bottom: pads[6], right: pads[7] };
        const name = newName(undefined);
        emit(name, { kind: 'zeroPad', padding }, [x.node]);
        values.set(out, { node: name, shape: [x.shape[0], x.shape[1] + padding.top + padding.bottom, x.shape[2] + padding.left + padding.right] });
        break;
      }
      case 'Identity':
        values.set(out, valueOf(ins[0]));
        break;
      case 'Dropout': {
        const x = valueOf(ins[0]);
        const rate = opset >= 12 ? (ins[1] ? constant(ins[1], 'ratio').values[0] : 0.5) : attrFloat(n, 'ratio', 0.5);
        const name = newName(undefined);
        emit(name, { kind: 'dropout', rate }, [x.node]);
        values.set(out, { ...x, node: name });
        break;
      }
      case 'Softmax': {
        const x = valueOf(ins[0]);
        if (out !== graphOutput || x.shape.length !== 1) throw new Error(`${where} is a softmax before the end of the graph, which is not supported`);
        outputSoftmax = true;
        outputValue = ins[0];
        break;
      }
      default:
        throw new Error(`${where} uses the op ${op}, which is not supported`);
    }
  }

  const finalValue = values.get(outputValue ?? graphOutput);
  if (!finalValue) throw new Error(`the graph output '${graphOutput}' is not produced by a supported node`);
  if (finalValue.shape.length !== 1) throw new Error(`the graph output has shape [batch, ${finalValue.shape}]; a classifier outputs [batch, classes]`);
  const graph = pruneUnused({ nodes, output: finalValue.node, outputSoftmax });
  for (const key of [...weights.keys()]) {
    if (!graph.nodes.some((node) => key.startsWith(`${node.name}/`))) weights.delete(key);
  }
  validateModel(graph, weights);
  const notes = bindings.length < weights.size ? ['some weights are ONNX Constant nodes, not initializers; this model cannot be written back as ONNX'] : [];
  return { format: 'onnx', path: filePath, graph, weights, source: { bytes, bindings } satisfies OnnxSource, notes };
}

/** A node name that is unique and usable as a weight-key prefix (no '/'). */
function safeName(preferred: string, taken: Set<string>): string {
  const base = preferred.replace(/^\/+/, '').replace(/\//g, '.').replace(/[^\w.:-]/g, '_') || 'node';
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

/** Explicit pads of a Conv or pool from `pads` or `auto_pad` (ONNX order: begins, then ends). */
function convPadding(n: onnx.INodeProto, input: [number, number], kernel: [number, number], strides: [number, number], dilations: [number, number], where: string): ExplicitPadding {
  const autoPad = attrString(n, 'auto_pad') ?? 'NOTSET';
  if (autoPad === 'NOTSET') {
    const pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
    if (pads.length !== 4) throw new Error(`${where} has pads [${pads}]; a 2-D op needs four`);
    return { top: pads[0], left: pads[1], bottom: pads[2], right: pads[3] };
  }
  if (autoPad === 'VALID') return { top: 0, left: 0, bottom: 0, right: 0 };
  if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') throw new Error(`${where} has auto_pad ${autoPad}, which is not supported`);
  const total = (i: 0 | 1) => Math.max((Math.ceil(input[i] / strides[i]) - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - input[i], 0);
  const [th, tw] = [total(0), total(1)];
  const small = (t: number) => Math.floor(t / 2);
  return autoPad === 'SAME_UPPER'
    ? { top: small(th), bottom: th - small(th), left: small(tw), right: tw - small(tw) }
    : { top: th - small(th), bottom: small(th), left: tw - small(tw), right: small(tw) };
}

/** Clip as ReLU (min 0) or ReLU6 (min 0, max 6); bounds from attributes (opset < 11) or inputs. */
function clipActivation(n: onnx.INodeProto, opset: number, constants: Map<string, Constant>, where: string): ActivationFn {
  let min = -Infinity;
  let max = Infinity;
  if (opset < 11) {
    min = attrFloat(n, 'min', -Infinity);
    max = attrFloat(n, 'max', Infinity);
  } else {
    const read = (name: string | undefined, fallback: number) => {
      if (!name) return fallback;
      const c = constants.get(name);
      if (!c) throw new Error(`${where} has a bound that is not a constant`);
      return c.values[0];
    };
    min = read(n.input?.[1], -Infinity);
    max = read(n.input?.[2], Infinity);
  }
  if (min === 0 && max === 6) return 'relu6';
  if (min === 0 && max === Infinity) return 'relu';
  throw new Error(`${where} clips to [${min}, ${max}]; only ReLU ([0, inf)) and ReLU6 ([0, 6]) are supported`);
}

/** Drops nodes that the output does not depend on (a sigmoid folded into SiLU, dead branches). */
function pruneUnused(graph: Graph): Graph {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const live = new Set<string>();
  const stack = [graph.output];
  while (stack.length > 0) {
    const name = stack.pop() as string;
    if (live.has(name)) continue;
    live.add(name);
    stack.push(...(byName.get(name)?.inputs ?? []));
  }
  live.add(graph.nodes[0].name);
  return { ...graph, nodes: graph.nodes.filter((n) => live.has(n.name)) };
}

// ---- writing --------------------------------------------------------------------------------

/** Reads a protobuf varint at `pos`; returns the value and the next position. */
function readVarint(bytes: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (pos >= bytes.length) throw new Error('truncated protobuf varint');
    const b = bytes[pos++];
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
    shift += 7;
  }
}

function writeVarint(value: number): Uint8Array {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return Uint8Array.from(out);
}

/** Splits a message into its raw fields: [field number, wire type, bytes of the whole field, payload range]. */
function* fields(bytes: Uint8Array): Generator<{ field: number; wire: number; start: number; end: number; payloadStart: number }> {
  let pos = 0;
  while (pos < bytes.length) {
    const start = pos;
    const [tag, afterTag] = readVarint(bytes, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    pos = afterTag;
    let payloadStart = pos;
    if (wire === 0) pos = readVarint(bytes, pos)[1];
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [len, after] = readVarint(bytes, pos);
      payloadStart = after;
      pos = after + len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
    if (pos > bytes.length) throw new Error('truncated protobuf message');
    yield { field, wire, start, end: pos, payloadStart };
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function lengthDelimited(field: number, payload: Uint8Array): Uint8Array {
  return concat([writeVarint(field * 8 + 2), writeVarint(payload.length), payload]);
}

/**
 * An initializer's bytes with new float values as raw_data in its own data type. Only the data
 * fields are rewritten (raw_data in place of raw, typed or external data); every other field is
 * copied, so an unchanged weight gives back the original bytes.
 */
function encodeInitializer(payload: Uint8Array, t: onnx.TensorProto, data: Float32Array): Uint8Array {
  const type = t.dataType ?? DT.FLOAT;
  let raw: Uint8Array;
  if (type === DT.FLOAT) raw = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  else if (type === DT.DOUBLE) raw = new Uint8Array(Float64Array.from(data).buffer);
  else throw new Error(`initializer '${t.name}' has ONNX data type ${type}; only float and double weights can be written`);
  // TensorProto fields 4 float_data, 9 raw_data, 10 double_data, 13 external_data, 14 data_location.
  const dataFields = new Set([4, 9, 10, 13, 14]);
  const parts: Uint8Array[] = [];
  let written = false;
  for (const f of fields(payload)) {
    if (!dataFields.has(f.field)) {
      parts.push(payload.subarray(f.start, f.end));
    } else if (!written) {
      parts.push(lengthDelimited(9, raw));
      written = true;
    }
  }
  if (!written) parts.push(lengthDelimited(9, raw));
  return concat(parts);
}

/**
 * Writes the ONNX file again with new weights: the ModelProto's bytes are copied field by field,
 * and within the graph only the initializers that hold IR weights are re-encoded.
 */
export function serializeOnnxModel(model: LoadedModel, weights: WeightMap, fileName: string): SerializedModel {
  const source = model.source as OnnxSource | undefined;
  if (!source || model.format !== 'onnx') throw new Error('only a model loaded from ONNX can be written as ONNX');
  const weightKeys = new Set(weights.keys());
  const bound = new Set(source.bindings.map((b) => b.irKey));
  const unbound = [...weightKeys].filter((k) => !bound.has(k));
  if (unbound.length > 0) throw new Error(`weights ${unbound.slice(0, 3).join(', ')} are not initializers in the source file, so they cannot be written back`);
  const byInitializer = new Map<string, OnnxBinding[]>();
  for (const b of source.bindings) byInitializer.set(b.initializer, [...(byInitializer.get(b.initializer) ?? []), b]);

  const fileLayout = (b: OnnxBinding): Float32Array => {
    const w = weights.get(b.irKey);
    if (!w) throw new Error(`the weights have no ${b.irKey}`);
    switch (b.layout) {
      case 'conv':
        return convKernelToOihw(w).data;
      case 'depthwise':
        return depthwiseKernelToOihw(w).data;
      case 'denseT':
        return denseToOutIn(w, b.flattenedFrom).data;
      case 'dense': {
        const outIn = denseToOutIn(w, b.flattenedFrom);
        return transpose2d(outIn.data, outIn.shape[0], outIn.shape[1]);
      }
      default:
        return w.data;
    }
  };
  const equal = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

  // A de-duplicated copy whose weight now differs from its source (a repair changed the two
  // differently) becomes an initializer of its own, and the Identity node that made the copy
  // is dropped; every other node is kept as it was.
  const splitCopies = new Map<string, { from: string; data: Float32Array }>();
  const rewriteInitializer = (payload: Uint8Array): Uint8Array[] | undefined => {
    const t = onnx.TensorProto.decode(payload);
    const bs = byInitializer.get(t.name ?? '');
    if (!bs) return undefined;
    const primary = bs.find((b) => !b.alias) ?? bs[0];
    const data = fileLayout(primary);
    const size = tensorSize((t.dims ?? []).map(num));
    if (data.length !== size) throw new Error(`${primary.irKey} has ${data.length} values but initializer '${t.name}' holds [${(t.dims ?? []).map(num)}]`);
    const out = [encodeInitializer(payload, t, data)];
    for (const b of bs) {
      if (b === primary) continue;
      const copy = fileLayout(b);
      if (equal(copy, data)) continue;
      if (!b.alias) throw new Error(`initializer '${t.name}' holds both ${primary.irKey} and ${b.irKey}, which now differ`);
      splitCopies.set(b.alias, { from: t.name ?? '', data: copy });
      const own = onnx.TensorProto.decode(payload);
      own.name = b.alias;
      out.push(encodeInitializer(onnx.TensorProto.encode(own).finish(), own, copy));
    }
    return out;
  };

  const rewriteGraph = (graphBytes: Uint8Array): Uint8Array => {
    const parts: Uint8Array[] = [];
    for (const f of fields(graphBytes)) {
      if (f.field === 5 && f.wire === 2) {
        const replaced = rewriteInitializer(graphBytes.subarray(f.payloadStart, f.end));
        if (replaced) {
          for (const r of replaced) parts.push(lengthDelimited(5, r));
          continue;
        }
      }
      parts.push(graphBytes.subarray(f.start, f.end));
    }
    if (splitCopies.size === 0) return concat(parts);
    // Initializers come after the nodes in the graph bytes, so the Identity nodes to drop are
    // known only now: filter the node fields in a second pass.
    const kept = parts.filter((part) => {
      const [tag, afterTag] = readVarint(part, 0);
      if (tag !== 1 * 8 + 2) return true;
      const [, payloadStart] = readVarint(part, afterTag);
      const node = onnx.NodeProto.decode(part.subarray(payloadStart));
      return !(node.opType === 'Identity' && splitCopies.has(node.output?.[0] ?? ''));
    });
    return concat(kept);
  };

  const parts: Uint8Array[] = [];
  for (const f of fields(source.bytes)) {
    if (f.field === 7 && f.wire === 2) parts.push(lengthDelimited(7, rewriteGraph(source.bytes.subarray(f.payloadStart, f.end))));
    else parts.push(source.bytes.subarray(f.start, f.end));
  }
  return { files: [{ name: fileName, bytes: concat(parts) }] };
}

/**
 * A cheap structural check for ONNX (which has no magic bytes): the start parses as a ModelProto
 * field sequence with an ir_version varint (field 1) or another ModelProto field first.
 */
export function looksLikeOnnx(head: Uint8Array): boolean {
  // ModelProto fields: 1 ir_version (varint), 2 producer_name, 3 producer_version, 4 domain,
  // 5 model_version, 6 doc_string, 7 graph, 8 opset_import, 14 metadata_props, 20 training_info, 25 functions.
  const allowed: Record<number, number> = { 1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2 };
  try {
    let pos = 0;
    let seen = 0;
    while (pos < head.length && seen < 4) {
      const [tag, after] = readVarint(head, pos);
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (allowed[field] !== wire) return false;
      if (wire === 0) pos = readVarint(head, after)[1];
      else {
        const [len, start] = readVarint(head, after);
        // Text fields must be printable; the graph may run past the head.
        if (field >= 2 && field <= 6 && field !== 5 && start + len <= head.length) {
          const text = head.subarray(start, start + len);
          if (text.some((b) => b < 0x09)) return false;
        }
        if (field === 7) return seen > 0 || head[0] === 0x08;
        pos = start + len;
      }
      seen++;
    }
    return seen > 0 && head[0] === 0x08;
  } catch {
    return false;
  }
}
