/**
 * Keras model topology (the JSON that TF.js `model.json`, Keras `.keras` `config.json` and legacy
 * `.h5` `model_config` hold) to and from the graph IR. Keras 2 (TF.js) and Keras 3 node formats
 * are both read. Layers are mapped by class name; a layer that would run code (Lambda) is refused
 * before anything is executed, and an unknown layer is named in the error.
 *
 * Keras layouts equal the IR's (NHWC; kernels [kh, kw, in, out]), so weights map by name only.
 */
import { ActivationFn, ExplicitPadding, Graph, GraphNode, LayerOp, Padding, WeightRole, weightKey } from '../graph/ir';

/** Where each IR weight lives in the Keras model: IR key -> Keras weight name ("layer/kernel"). */
export interface KerasWeightBinding {
  irKey: string;
  kerasName: string;
  /** A BatchNorm without scale/center has no gamma/beta in the file; the IR uses this constant. */
  missingValue?: number;
}

export interface ParsedKerasTopology {
  graph: Graph;
  bindings: KerasWeightBinding[];
}

type Json = Record<string, unknown>;

class TopologyError extends Error {}

const KERAS_WEIGHT_NAMES: Record<WeightRole, string[]> = {
  kernel: ['kernel', 'depthwise_kernel'],
  bias: ['bias'],
  gamma: ['gamma'],
  beta: ['beta'],
  movingMean: ['moving_mean'],
  movingVariance: ['moving_variance'],
};

/** Keras weight name suffix for an IR role (the first spelling is what writers use). */
export function kerasWeightSuffix(role: WeightRole, kind: LayerOp['kind']): string {
  if (role === 'kernel' && kind === 'depthwiseConv2d') {
    return 'depthwise_kernel';
  }
  return KERAS_WEIGHT_NAMES[role][0];
}

function pair(v: unknown, what: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === 'number')) return [v[0], v[1]];
  throw new TopologyError(`${what} must be a number or a pair of numbers, got ${JSON.stringify(v)}`);
}

/** Keras 3 serialises activations as objects; Keras 2 and TF.js as strings. */
function activationName(v: unknown): string {
  if (v === undefined || v === null) return 'linear';
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as Json).config === 'string') return (v as Json).config as string;
  if (typeof v === 'object' && typeof (v as Json).class_name === 'string') return (v as Json).class_name as string;
  throw new TopologyError(`unreadable activation ${JSON.stringify(v)}`);
}

const ACTIVATIONS: Record<string, ActivationFn> = {
  linear: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  elu: 'elu',
  sigmoid: 'sigmoid',
  tanh: 'tanh',
  softmax: 'softmax',
  softplus: 'softplus',
  swish: 'silu',
  silu: 'silu',
  gelu: 'gelu',
  hard_sigmoid: 'hardSigmoid',
  hardSigmoid: 'hardSigmoid',
  hard_swish: 'hardSwish',
  hard_silu: 'hardSwish',
  leaky_relu: 'leakyRelu',
};

function mapActivation(v: unknown, layer: string): ActivationFn {
  const name = activationName(v);
  const fn = ACTIVATIONS[name];
  if (!fn) {
    throw new TopologyError(`layer '${layer}' uses the activation '${name}', which is not supported`);
  }
  return fn;
}

function kerasPadding(v: unknown, layer: string): Padding {
  if (v === 'same' || v === 'valid') return v;
  throw new TopologyError(`layer '${layer}' has padding ${JSON.stringify(v)}; only 'same' and 'valid' exist in Keras`);
}

function zeroPadding(v: unknown, layer: string): ExplicitPadding {
  if (typeof v === 'number') return { top: v, bottom: v, left: v, right: v };
  if (Array.isArray(v) && v.length === 2) {
    if (typeof v[0] === 'number' && typeof v[1] === 'number') return { top: v[0], bottom: v[0], left: v[1], right: v[1] };
    const [h, w] = [pair(v[0], `layer '${layer}' padding`), pair(v[1], `layer '${layer}' padding`)];
    return { top: h[0], bottom: h[1], left: w[0], right: w[1] };
  }
  throw new TopologyError(`layer '${layer}' has an unreadable padding ${JSON.stringify(v)}`);
}

function checkChannelsLast(config: Json, layer: string): void {
  const format = config.data_format;
  if (format !== undefined && format !== null && format !== 'channels_last') {
    throw new TopologyError(`layer '${layer}' uses data_format '${String(format)}'; only channels_last models are supported`);
  }
}

interface LayerMapping {
  op: LayerOp;
  roles: WeightRole[];
  missing?: Partial<Record<WeightRole, number>>;
}

/** Maps one Keras layer (class name + config) to an IR op. */
function mapLayer(className: string, config: Json, name: string): LayerMapping | 'identity' {
  const num = (key: string, fallback?: number): number => {
    const v = config[key] ?? fallback;
    if (typeof v !== 'number') throw new TopologyError(`layer '${name}' has no numeric '${key}'`);
    return v;
  };
  switch (className) {
    case 'Conv2D': {
      checkChannelsLast(config, name);
      const groups = (config.groups as number | undefined) ?? 1;
      const useBias = config.use_bias !== false;
      return {
        op: {
          kind: 'conv2d',
          filters: num('filters'),
          kernelSize: pair(config.kernel_size, `layer '${name}' kernel_size`),
          strides: pair(config.strides ?? 1, `layer '${name}' strides`),
          padding: kerasPadding(config.padding ?? 'valid', name),
          dilations: pair(config.dilation_rate ?? 1, `layer '${name}' dilation_rate`),
          groups,
          useBias,
          activation: mapActivation(config.activation, name),
        },
        roles: useBias ? ['kernel', 'bias'] : ['kernel'],
      };
    }
    case 'DepthwiseConv2D': {
      checkChannelsLast(config, name);
      const useBias = config.use_bias !== false;
      return {
        op: {
          kind: 'depthwiseConv2d',
          depthMultiplier: num('depth_multiplier', 1),
          kernelSize: pair(config.kernel_size, `layer '${name}' kernel_size`),
          strides: pair(config.strides ?? 1, `layer '${name}' strides`),
          padding: kerasPadding(config.padding ?? 'valid', name),
          dilations: pair(config.dilation_rate ?? 1, `layer '${name}' dilation_rate`),
          useBias,
          activation: mapActivation(config.activation, name),
        },
        roles: useBias ? ['kernel', 'bias'] : ['kernel'],
      };
    }
    case 'BatchNormalization': {
      const axis = config.axis;
      const axisOk = axis === undefined || axis === -1 || axis === 3 || (Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === 3));
      if (!axisOk) {
        throw new TopologyError(`layer '${name}' normalises axis ${JSON.stringify(axis)}; only the channel axis is supported`);
      }
      const roles: WeightRole[] = [];
      const missing: Partial<Record<WeightRole, number>> = {};
      if (config.scale === false) missing.gamma = 1;
      else roles.push('gamma');
      if (config.center === false) missing.beta = 0;
      else roles.push('beta');
      roles.push('movingMean', 'movingVariance');
      // Keras' momentum is the share kept from the old statistic; the IR stores the share of the batch.
      return { op: { kind: 'batchNorm', epsilon: num('epsilon', 1e-3), momentum: 1 - num('momentum', 0.99) }, roles, missing };
    }
    case 'Dense': {
      const useBias = config.use_bias !== false;
      return {
        op: { kind: 'dense', units: num('units'), useBias, activation: mapActivation(config.activation, name) },
        roles: useBias ? ['kernel', 'bias'] : ['kernel'],
      };
    }
    case 'Activation':
      return { op: { kind: 'activation', fn: mapActivation(config.activation, name) }, roles: [] };
    case 'ReLU': {
      const max = config.max_value;
      const slope = (config.negative_slope as number | undefined) ?? 0;
      const threshold = (config.threshold as number | undefined) ?? 0;
      if (threshold !== 0) throw new TopologyError(`layer '${name}' is a ReLU with threshold ${threshold}, which is not supported`);
      if (max === 6 && slope === 0) return { op: { kind: 'activation', fn: 'relu6' }, roles: [] };
      if (max !== undefined && max !== null) throw new TopologyError(`layer '${name}' is a ReLU capped at ${String(max)}; only 6 is supported`);
      return { op: slope === 0 ? { kind: 'activation', fn: 'relu' } : { kind: 'activation', fn: 'leakyRelu', alpha: slope }, roles: [] };
    }
    case 'LeakyReLU':
      return { op: { kind: 'activation', fn: 'leakyRelu', alpha: (config.alpha ?? config.negative_slope ?? 0.3) as number }, roles: [] };
    case 'ELU':
      return { op: { kind: 'activation', fn: 'elu', alpha: (config.alpha as number | undefined) ?? 1 }, roles: [] };
    case 'Softmax':
      return { op: { kind: 'activation', fn: 'softmax' }, roles: [] };
    case 'Add':
      return { op: { kind: 'add' }, roles: [] };
    case 'Multiply':
      return { op: { kind: 'mul' }, roles: [] };
    case 'Concatenate':
      return { op: { kind: 'concat', axis: (config.axis as number | undefined) ?? -1 }, roles: [] };
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      checkChannelsLast(config, name);
      const poolSize = pair(config.pool_size ?? 2, `layer '${name}' pool_size`);
      return {
        op: {
          kind: className === 'MaxPooling2D' ? 'maxPool' : 'avgPool',
          poolSize,
          strides: config.strides === null || config.strides === undefined ? poolSize : pair(config.strides, `layer '${name}' strides`),
          padding: kerasPadding(config.padding ?? 'valid', name),
        },
        roles: [],
      };
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      checkChannelsLast(config, name);
      if (config.keepdims === true) throw new TopologyError(`layer '${name}' keeps its spatial dims (keepdims), which is not supported`);
      return { op: { kind: className === 'GlobalAveragePooling2D' ? 'globalAvgPool' : 'globalMaxPool' }, roles: [] };
    case 'Flatten':
      return { op: { kind: 'flatten' }, roles: [] };
    case 'Dropout':
    case 'SpatialDropout2D':
      return { op: { kind: 'dropout', rate: num('rate', 0) }, roles: [] };
    case 'ZeroPadding2D':
      checkChannelsLast(config, name);
      return { op: { kind: 'zeroPad', padding: zeroPadding(config.padding ?? 1, name) }, roles: [] };
    case 'Reshape':
      return { op: { kind: 'reshape', shape: (config.target_shape as number[]).map((d) => (d === null ? -1 : d)) }, roles: [] };
    case 'InputLayer':
      return 'identity';
    case 'Lambda':
    case 'TFOpLambda':
      throw new TopologyError(`layer '${name}' is a ${className} layer: the model contains code, which is never executed; re-export the model without it`);
    default:
      throw new TopologyError(`layer '${name}' has the type ${className}, which is not supported`);
  }
}

/** Names of the layers feeding a layer, for both Keras 2 and Keras 3 inbound-node formats. */
function inboundLayerNames(layer: Json, name: string): string[] {
  const inbound = layer.inbound_nodes;
  if (!Array.isArray(inbound) || inbound.length === 0) return [];
  if (inbound.length > 1) {
    throw new TopologyError(`layer '${name}' is applied ${inbound.length} times; shared layers are not supported`);
  }
  const node = inbound[0];
  if (Array.isArray(node)) {
    // Keras 2 / TF.js: [[layerName, nodeIndex, tensorIndex, kwargs], ...]
    return node.map((entry) => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string') throw new TopologyError(`layer '${name}' has an unreadable inbound node`);
      return entry[0];
    });
  }
  // Keras 3: {args: [tensor | [tensor, ...]], kwargs: {...}} with tensor.config.keras_history = [layer, node, index].
  const names: string[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach(visit);
    } else if (v && typeof v === 'object') {
      const obj = v as Json;
      if (obj.class_name === '__keras_tensor__') {
        const history = (obj.config as Json)?.keras_history;
        if (!Array.isArray(history) || typeof history[0] !== 'string') throw new TopologyError(`layer '${name}' has an unreadable inbound tensor`);
        names.push(history[0]);
      }
    }
  };
  visit((node as Json).args);
  return names;
}

function inputShapeOf(config: Json, name: string): [number, number, number] {
  const shape = (config.batch_input_shape ?? config.batch_shape) as unknown;
  if (!Array.isArray(shape)) throw new TopologyError(`input layer '${name}' has no input shape`);
  const dims = shape.slice(1);
  if (dims.length !== 3 || dims.some((d) => typeof d !== 'number')) {
    throw new TopologyError(`input layer '${name}' has shape ${JSON.stringify(shape)}; an image classifier needs [batch, height, width, channels] with fixed sizes`);
  }
  return dims as [number, number, number];
}

/** The topology object may be the model config itself or wrapped as TF.js' `modelTopology`. */
function modelConfigOf(topology: Json): { className: string; config: Json } {
  const root = (topology.model_config as Json | undefined) ?? topology;
  const className = root.class_name;
  if (typeof className !== 'string') throw new TopologyError('the model topology has no class_name');
  return { className, config: root.config as Json };
}

/**
 * Parses a Keras topology into the IR. Errors are plain Errors describing the layer; the caller
 * wraps them with the file name.
 */
export function kerasTopologyToIR(topology: unknown): ParsedKerasTopology {
  if (!topology || typeof topology !== 'object') throw new TopologyError('the model topology is not a JSON object');
  const { className, config } = modelConfigOf(topology as Json);
  if (className !== 'Sequential' && className !== 'Model' && className !== 'Functional') {
    throw new TopologyError(`the model class ${className} is not supported (expected Sequential, Functional or Model)`);
  }
  const layers = (Array.isArray(config) ? config : config?.layers) as Json[] | undefined;
  if (!Array.isArray(layers) || layers.length === 0) throw new TopologyError('the model has no layers');

  const nodes: GraphNode[] = [];
  const bindings: KerasWeightBinding[] = [];
  // Keras layers that map to nothing (InputLayer after the first) resolve to the node they pass through.
  const alias = new Map<string, string>();
  const resolve = (n: string) => alias.get(n) ?? n;
  const sequential = className === 'Sequential';
  let previous: string | undefined;

  for (const layer of layers) {
    const layerClass = layer.class_name as string;
    const layerConfig = (layer.config ?? {}) as Json;
    const name = (layer.name ?? layerConfig.name) as string;
    if (typeof name !== 'string') throw new TopologyError(`a ${layerClass} layer has no name`);
    if (layerClass === 'Sequential' || layerClass === 'Functional' || layerClass === 'Model') {
      throw new TopologyError(`layer '${name}' is a nested model, which is not supported; flatten the model before exporting`);
    }
    let inputs: string[];
    if (sequential) {
      if (previous === undefined) {
        const inputName = layerClass === 'InputLayer' ? name : `${name}_input`;
        nodes.push({ name: inputName, op: { kind: 'input', shape: inputShapeOf(layerConfig, name) }, inputs: [] });
        previous = inputName;
        if (layerClass === 'InputLayer') continue;
      }
      inputs = [previous];
    } else {
      inputs = inboundLayerNames(layer, name).map(resolve);
      if (layerClass === 'InputLayer') {
        nodes.push({ name, op: { kind: 'input', shape: inputShapeOf(layerConfig, name) }, inputs: [] });
        previous = name;
        continue;
      }
    }
    const mapped = mapLayer(layerClass, layerConfig, name);
    if (mapped === 'identity') {
      alias.set(name, inputs[0]);
      continue;
    }
    nodes.push({ name, op: mapped.op, inputs });
    for (const role of mapped.roles) {
      bindings.push({ irKey: weightKey(name, role), kerasName: `${name}/${kerasWeightSuffix(role, mapped.op.kind)}` });
    }
    for (const [role, value] of Object.entries(mapped.missing ?? {})) {
      bindings.push({ irKey: weightKey(name, role as WeightRole), kerasName: '', missingValue: value });
    }
    previous = name;
  }

  let output: string;
  if (sequential) {
    output = previous as string;
  } else {
    const outs = (config as Json).output_layers as unknown[];
    const ins = (config as Json).input_layers as unknown[];
    if (!Array.isArray(outs) || outs.length !== 1) throw new TopologyError('the model must have exactly one output');
    if (!Array.isArray(ins) || ins.length !== 1) throw new TopologyError('the model must have exactly one input');
    const first = outs[0] as unknown[];
    output = resolve((Array.isArray(first[0]) ? first[0][0] : first[0]) as string);
  }
  return stripSoftmax({ nodes, output, outputSoftmax: false }, bindings);
}

/** Removes a final softmax so that the graph ends in logits, recording that it was there. */
function stripSoftmax(graph: Graph, bindings: KerasWeightBinding[]): ParsedKerasTopology {
  const out = graph.nodes.find((n) => n.name === graph.output) as GraphNode;
  if (out.op.kind === 'activation' && out.op.fn === 'softmax') {
    const consumers = graph.nodes.filter((n) => n.inputs.includes(out.name));
    if (consumers.length === 0) {
      return {
        graph: { nodes: graph.nodes.filter((n) => n !== out), output: out.inputs[0], outputSoftmax: true },
        bindings,
      };
    }
  }
  if ((out.op.kind === 'dense' || out.op.kind === 'conv2d') && out.op.activation === 'softmax') {
    const nodes = graph.nodes.map((n) => (n === out ? { ...n, op: { ...out.op, activation: 'linear' as const } } : n));
    return { graph: { nodes, output: graph.output, outputSoftmax: true }, bindings };
  }
  return { graph, bindings };
}

/** Keras weight names (in `name/suffix` form) of every IR weight, for writers. */
export function kerasWeightNames(graph: Graph): { irKey: string; kerasName: string }[] {
  const out: { irKey: string; kerasName: string }[] = [];
  for (const node of graph.nodes) {
    const roles: WeightRole[] =
      node.op.kind === 'batchNorm'
        ? ['gamma', 'beta', 'movingMean', 'movingVariance']
        : node.op.kind === 'conv2d' || node.op.kind === 'depthwiseConv2d' || node.op.kind === 'dense'
          ? node.op.useBias
            ? ['kernel', 'bias']
            : ['kernel']
          : [];
    for (const role of roles) {
      out.push({ irKey: weightKey(node.name, role), kerasName: `${node.name}/${kerasWeightSuffix(role, node.op.kind)}` });
    }
  }
  return out;
}

function kerasActivation(fn: ActivationFn): string {
  const names: Partial<Record<ActivationFn, string>> = { silu: 'swish', hardSigmoid: 'hardSigmoid' };
  return names[fn] ?? fn;
}

/** Padding that Keras can express for a conv/pool with these parameters, or a ZeroPadding2D. */
function kerasPaddingFor(padding: Padding, kernel: [number, number], strides: [number, number], dilations: [number, number]): { padding: 'same' | 'valid'; pre?: ExplicitPadding } {
  if (typeof padding === 'string') return { padding };
  const zero = padding.top === 0 && padding.bottom === 0 && padding.left === 0 && padding.right === 0;
  if (zero) return { padding: 'valid' };
  const sameH = ((kernel[0] - 1) * dilations[0]) / 2;
  const sameW = ((kernel[1] - 1) * dilations[1]) / 2;
  const symmetricSame = strides[0] === 1 && strides[1] === 1 && padding.top === sameH && padding.bottom === sameH && padding.left === sameW && padding.right === sameW;
  return symmetricSame ? { padding: 'same' } : { padding: 'valid', pre: padding };
}

/**
 * Builds a TF.js (Keras 2 functional) topology from the IR, for models that did not come from a
 * Keras file (the zoo, converted models). Explicit pads become ZeroPadding2D layers.
 */
export function irToKerasTopology(graph: Graph, modelName = 'model'): Json {
  const layers: Json[] = [];
  const inbound = (names: string[]) => [names.map((n) => [n, 0, 0, {}])];
  const rename = new Map<string, string>();
  const src = (n: string) => rename.get(n) ?? n;
  for (const node of graph.nodes) {
    const op = node.op;
    const inputs = node.inputs.map(src);
    const push = (className: string, config: Json, name = node.name, ins = inputs) => {
      layers.push({ name, class_name: className, config: { ...config, name, trainable: true }, inbound_nodes: ins.length ? inbound(ins) : [] });
    };
    switch (op.kind) {
      case 'input':
        push('InputLayer', { batch_input_shape: [null, ...op.shape], dtype: 'float32', sparse: false });
        break;
      case 'conv2d':
      case 'depthwiseConv2d': {
        if (op.kind === 'conv2d' && op.groups !== 1) throw new Error(`layer '${node.name}' is a grouped convolution, which TF.js cannot express`);
        const p = kerasPaddingFor(op.padding, op.kernelSize, op.strides, op.dilations);
        let ins = inputs;
        if (p.pre) {
          push('ZeroPadding2D', { padding: [[p.pre.top, p.pre.bottom], [p.pre.left, p.pre.right]], data_format: 'channels_last' }, `${node.name}_pad`);
          ins = [`${node.name}_pad`];
        }
        const common = { kernel_size: op.kernelSize, strides: op.strides, padding: p.padding, data_format: 'channels_last', dilation_rate: op.dilations, activation: kerasActivation(op.activation), use_bias: op.useBias };
        if (op.kind === 'conv2d') push('Conv2D', { filters: op.filters, ...common }, node.name, ins);
        else push('DepthwiseConv2D', { depth_multiplier: op.depthMultiplier, ...common }, node.name, ins);
        break;
      }
      case 'batchNorm':
        push('BatchNormalization', { axis: -1, momentum: 1 - op.momentum, epsilon: op.epsilon, center: true, scale: true });
        break;
      case 'dense':
        push('Dense', { units: op.units, activation: kerasActivation(op.activation), use_bias: op.useBias });
        break;
      case 'activation':
        if (op.fn === 'leakyRelu') push('LeakyReLU', { alpha: op.alpha ?? 0.2 });
        else if (op.fn === 'elu' && op.alpha !== undefined && op.alpha !== 1) push('ELU', { alpha: op.alpha });
        else if (op.fn === 'hardSigmoid' && op.alpha !== undefined && op.alpha !== 0.2) throw new Error(`layer '${node.name}' is a hard sigmoid with slope ${op.alpha}, which TF.js cannot express`);
        else push('Activation', { activation: kerasActivation(op.fn) });
        break;
      case 'add':
        push('Add', {});
        break;
      case 'mul':
        push('Multiply', {});
        break;
      case 'concat':
        push('Concatenate', { axis: op.axis });
        break;
      case 'maxPool':
      case 'avgPool': {
        const p = kerasPaddingFor(op.padding, op.poolSize, op.strides, [1, 1]);
        if (p.pre) throw new Error(`layer '${node.name}' pools with explicit padding, which TF.js cannot express`);
        push(op.kind === 'maxPool' ? 'MaxPooling2D' : 'AveragePooling2D', { pool_size: op.poolSize, strides: op.strides, padding: p.padding, data_format: 'channels_last' });
        break;
      }
      case 'globalAvgPool':
        push('GlobalAveragePooling2D', { data_format: 'channels_last' });
        break;
      case 'globalMaxPool':
        push('GlobalMaxPooling2D', { data_format: 'channels_last' });
        break;
      case 'flatten':
        push('Flatten', {});
        break;
      case 'dropout':
        push('Dropout', { rate: op.rate });
        break;
      case 'zeroPad':
        push('ZeroPadding2D', { padding: [[op.padding.top, op.padding.bottom], [op.padding.left, op.padding.right]], data_format: 'channels_last' });
        break;
      case 'reshape':
        push('Reshape', { target_shape: op.shape });
        break;
    }
  }
  let output = graph.output;
  if (graph.outputSoftmax) {
    const name = `${graph.output}_softmax`;
    layers.push({ name, class_name: 'Activation', config: { activation: 'softmax', name, trainable: true }, inbound_nodes: inbound([graph.output]) });
    output = name;
  }
  return {
    class_name: 'Model',
    config: { name: modelName, layers, input_layers: [[graph.nodes[0].name, 0, 0]], output_layers: [[output, 0, 0]] },
    keras_version: 'tfjs-layers 4.22.0',
    backend: 'tensor_flow.js',
  };
}

export { TopologyError };
