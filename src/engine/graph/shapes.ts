/**
 * Static checks on a graph: output shape of every node (without the batch dimension), weight
 * shapes against the layer definitions, and the topological order. Loaders call `validateModel`
 * so that a malformed file fails with a message naming the layer, not deep inside a tensor op.
 */
import { GraphNode, Graph, Padding, WeightMap, tensorSize, weightKey, weightRolesOf, WeightRole } from './ir';

export type Shape = number[];

function paddedLength(inLen: number, k: number, stride: number, dilation: number, padding: Padding, before: number, after: number): number {
  const effectiveK = (k - 1) * dilation + 1;
  if (padding === 'same') {
    return Math.ceil(inLen / stride);
  }
  if (padding === 'valid') {
    return Math.floor((inLen - effectiveK) / stride) + 1;
  }
  return Math.floor((inLen + before + after - effectiveK) / stride) + 1;
}

function spatialOut(
  inShape: Shape,
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
  padding: Padding,
): [number, number] {
  const pad = typeof padding === 'object' ? padding : { top: 0, bottom: 0, left: 0, right: 0 };
  return [
    paddedLength(inShape[0], kernel[0], strides[0], dilations[0], padding, pad.top, pad.bottom),
    paddedLength(inShape[1], kernel[1], strides[1], dilations[1], padding, pad.left, pad.right),
  ];
}

class ShapeError extends Error {}

function expectRank(node: GraphNode, shape: Shape, rank: number): void {
  if (shape.length !== rank) {
    throw new ShapeError(`layer '${node.name}' (${node.op.kind}) expects a rank-${rank + 1} input, got [batch, ${shape.join(', ')}]`);
  }
}

/** Output shape of one node given its input shapes. */
export function nodeOutputShape(node: GraphNode, inputs: Shape[]): Shape {
  const op = node.op;
  const x = inputs[0];
  switch (op.kind) {
    case 'input':
      return [...op.shape];
    case 'conv2d': {
      expectRank(node, x, 3);
      if (x[2] % op.groups !== 0 || op.filters % op.groups !== 0) {
        throw new ShapeError(`layer '${node.name}': ${x[2]} input channels and ${op.filters} filters do not divide into ${op.groups} groups`);
      }
      return [...spatialOut(x, op.kernelSize, op.strides, op.dilations, op.padding), op.filters];
    }
    case 'depthwiseConv2d':
      expectRank(node, x, 3);
      return [...spatialOut(x, op.kernelSize, op.strides, op.dilations, op.padding), x[2] * op.depthMultiplier];
    case 'maxPool':
    case 'avgPool':
      expectRank(node, x, 3);
      return [...spatialOut(x, op.poolSize, op.strides, [1, 1], op.padding), x[2]];
    case 'batchNorm':
    case 'activation':
    case 'dropout':
      return [...x];
    case 'dense':
      if (x.length !== 1) {
        throw new ShapeError(`layer '${node.name}' (dense) expects a flat input, got [batch, ${x.join(', ')}]`);
      }
      return [op.units];
    case 'add':
    case 'mul': {
      const out = broadcastShapes(node, inputs);
      return out;
    }
    case 'concat': {
      const axis = op.axis < 0 ? x.length + op.axis : op.axis - 1;
      const out = [...x];
      out[axis] = inputs.reduce((sum, s) => sum + s[axis], 0);
      for (const s of inputs) {
        if (s.length !== x.length || s.some((d, i) => i !== axis && d !== x[i])) {
          throw new ShapeError(`layer '${node.name}' (concat) got mismatched shapes ${inputs.map((i) => `[${i}]`).join(' and ')}`);
        }
      }
      return out;
    }
    case 'globalAvgPool':
    case 'globalMaxPool':
      expectRank(node, x, 3);
      return [x[2]];
    case 'flatten':
      return [tensorSize(x)];
    case 'zeroPad':
      expectRank(node, x, 3);
      return [x[0] + op.padding.top + op.padding.bottom, x[1] + op.padding.left + op.padding.right, x[2]];
    case 'reshape': {
      const target = [...op.shape];
      const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      const wildcard = target.indexOf(-1);
      if (wildcard >= 0) {
        target[wildcard] = tensorSize(x) / known;
      }
      if (tensorSize(target) !== tensorSize(x)) {
        throw new ShapeError(`layer '${node.name}' (reshape) cannot reshape [${x}] to [${op.shape}]`);
      }
      return target;
    }
  }
}

function broadcastShapes(node: GraphNode, inputs: Shape[]): Shape {
  const rank = Math.max(...inputs.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of inputs) {
    const offset = rank - s.length;
    s.forEach((d, i) => {
      const cur = out[offset + i];
      if (cur !== 1 && d !== 1 && cur !== d) {
        throw new ShapeError(`layer '${node.name}' (${node.op.kind}) got shapes that do not broadcast: ${inputs.map((i) => `[${i}]`).join(' and ')}`);
      }
      out[offset + i] = cur === 1 ? d : cur;
    });
  }
  return out;
}

/** Expected shape of each weight of a node, given the node's input shape. */
export function expectedWeightShapes(node: GraphNode, inputShape: Shape): Map<WeightRole, Shape> {
  const op = node.op;
  const shapes = new Map<WeightRole, Shape>();
  switch (op.kind) {
    case 'conv2d':
      shapes.set('kernel', [op.kernelSize[0], op.kernelSize[1], inputShape[2] / op.groups, op.filters]);
      if (op.useBias) shapes.set('bias', [op.filters]);
      break;
    case 'depthwiseConv2d':
      shapes.set('kernel', [op.kernelSize[0], op.kernelSize[1], inputShape[2], op.depthMultiplier]);
      if (op.useBias) shapes.set('bias', [inputShape[2] * op.depthMultiplier]);
      break;
    case 'dense':
      shapes.set('kernel', [inputShape[0], op.units]);
      if (op.useBias) shapes.set('bias', [op.units]);
      break;
    case 'batchNorm': {
      const c = inputShape[inputShape.length - 1];
      for (const role of ['gamma', 'beta', 'movingMean', 'movingVariance'] as const) shapes.set(role, [c]);
      break;
    }
    default:
      break;
  }
  return shapes;
}

/**
 * Output shapes of all nodes. Throws an Error whose message names the first offending layer
 * (callers wrap it into an InputError naming the file).
 */
export function inferShapes(graph: Graph): Map<string, Shape> {
  const shapes = new Map<string, Shape>();
  if (graph.nodes.length === 0 || graph.nodes[0].op.kind !== 'input') {
    throw new Error('the graph has no input layer');
  }
  for (const node of graph.nodes) {
    if (shapes.has(node.name)) {
      throw new Error(`two layers are named '${node.name}'`);
    }
    const inputShapes = node.inputs.map((name) => {
      const s = shapes.get(name);
      if (!s) {
        throw new Error(`layer '${node.name}' reads '${name}', which is not defined before it`);
      }
      return s;
    });
    if (node.op.kind !== 'input' && inputShapes.length === 0) {
      throw new Error(`layer '${node.name}' (${node.op.kind}) has no input`);
    }
    if (node.op.kind === 'input' && node !== graph.nodes[0]) {
      throw new Error(`the graph has more than one input ('${graph.nodes[0].name}' and '${node.name}'); only single-input classifiers are supported`);
    }
    try {
      shapes.set(node.name, nodeOutputShape(node, inputShapes));
    } catch (e) {
      throw new Error(e instanceof Error ? e.message : String(e));
    }
  }
  const out = shapes.get(graph.output);
  if (!out) {
    throw new Error(`the output layer '${graph.output}' is not in the graph`);
  }
  if (out.length !== 1) {
    throw new Error(`the output layer '${graph.output}' gives [batch, ${out.join(', ')}]; a classifier must output [batch, classes]`);
  }
  return shapes;
}

/** Checks shapes and weights; returns the node shapes. Errors name the layer and the weight. */
export function validateModel(graph: Graph, weights: WeightMap): Map<string, Shape> {
  const shapes = inferShapes(graph);
  for (const node of graph.nodes) {
    const inputShape = node.inputs.length > 0 ? (shapes.get(node.inputs[0]) as Shape) : [];
    const expected = expectedWeightShapes(node, inputShape);
    for (const role of weightRolesOf(node.op)) {
      const key = weightKey(node.name, role);
      const w = weights.get(key);
      const want = expected.get(role) as Shape;
      if (!w) {
        throw new Error(`layer '${node.name}' has no ${role} weight`);
      }
      if (w.shape.length !== want.length || w.shape.some((d, i) => d !== want[i])) {
        throw new Error(`layer '${node.name}' ${role} has shape [${w.shape}], expected [${want}]`);
      }
      if (w.data.length !== tensorSize(w.shape)) {
        throw new Error(`layer '${node.name}' ${role} holds ${w.data.length} values for shape [${w.shape}]`);
      }
    }
  }
  return shapes;
}
