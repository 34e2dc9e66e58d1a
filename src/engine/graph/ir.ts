/**
 * The model graph IR: one small, typed description of an image classifier that every loader
 * produces, every algorithm consumes and every writer saves.
 *
 * Layout conventions, fixed for every format:
 * - Activations are NHWC. A loader from an NCHW format (ONNX, PyTorch) transposes weights once.
 * - Convolution kernels are [kh, kw, inPerGroup, out]; depthwise kernels [kh, kw, in, multiplier];
 *   dense kernels [in, out].
 * - The graph ends in logits. When the source model ends in a softmax, the loader removes it and
 *   sets `outputSoftmax`, so cross-entropy is always computed from logits.
 *
 * The IR is plain data (no tensors): loaders and writers stay free of any compute backend, and a
 * graph can be sent across a process boundary as JSON.
 */

/** Element-wise activation functions the executor knows. */
export type ActivationFn =
  | 'linear'
  | 'relu'
  | 'relu6'
  | 'leakyRelu'
  | 'elu'
  | 'sigmoid'
  | 'tanh'
  | 'hardSigmoid'
  | 'hardSwish'
  | 'silu'
  | 'gelu'
  | 'softplus'
  | 'softmax';

/** Explicit padding in pixels, as ONNX and PyTorch give it. */
export interface ExplicitPadding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** `same` and `valid` follow TensorFlow's rules; an object gives the pads explicitly. */
export type Padding = 'same' | 'valid' | ExplicitPadding;

export interface InputOp {
  kind: 'input';
  /** [height, width, channels] of one image. */
  shape: [number, number, number];
}

export interface Conv2DOp {
  kind: 'conv2d';
  filters: number;
  kernelSize: [number, number];
  strides: [number, number];
  padding: Padding;
  dilations: [number, number];
  /** Grouped convolution; 1 for an ordinary conv. A conv with groups == in channels == filters
   *  is better expressed as `depthwiseConv2d`, which loaders do. */
  groups: number;
  useBias: boolean;
  /** An activation fused into the layer (Keras style); `linear` when none. */
  activation: ActivationFn;
}

export interface DepthwiseConv2DOp {
  kind: 'depthwiseConv2d';
  depthMultiplier: number;
  kernelSize: [number, number];
  strides: [number, number];
  padding: Padding;
  dilations: [number, number];
  useBias: boolean;
  activation: ActivationFn;
}

export interface BatchNormOp {
  kind: 'batchNorm';
  epsilon: number;
  /** Fraction of the batch statistic mixed into the running statistic per training step
   *  (PyTorch's convention: 0.1; Keras' momentum 0.99 is stored here as 0.01). */
  momentum: number;
}

export interface DenseOp {
  kind: 'dense';
  units: number;
  useBias: boolean;
  activation: ActivationFn;
}

export interface ActivationOp {
  kind: 'activation';
  fn: ActivationFn;
  /** Negative slope of leakyRelu, alpha of elu, slope of hardSigmoid (0.2 in Keras 2, 1/6 in PyTorch). */
  alpha?: number;
  /** Offset of hardSigmoid (0.5). */
  beta?: number;
}

export interface AddOp {
  kind: 'add';
}

export interface MulOp {
  kind: 'mul';
}

export interface ConcatOp {
  kind: 'concat';
  /** Axis in NHWC; -1 (channels) in practice. */
  axis: number;
}

export interface PoolOp {
  kind: 'maxPool' | 'avgPool';
  poolSize: [number, number];
  strides: [number, number];
  /** With explicit padding, max pooling ignores the pads and average pooling counts them as zeros
   *  unless `countIncludePad` is false; `same` follows TensorFlow, which excludes them. */
  padding: Padding;
  /** Average pooling with explicit pads: divide by the full window (PyTorch's default) or only by
   *  the pixels inside the image (ONNX's default). Ignored otherwise. */
  countIncludePad?: boolean;
}

export interface GlobalAvgPoolOp {
  kind: 'globalAvgPool';
}

export interface GlobalMaxPoolOp {
  kind: 'globalMaxPool';
}

export interface FlattenOp {
  kind: 'flatten';
}

export interface DropoutOp {
  kind: 'dropout';
  rate: number;
}

export interface ZeroPadOp {
  kind: 'zeroPad';
  padding: ExplicitPadding;
}

export interface ReshapeOp {
  kind: 'reshape';
  /** Target shape without the batch dimension. */
  shape: number[];
}

export type LayerOp =
  | InputOp
  | Conv2DOp
  | DepthwiseConv2DOp
  | BatchNormOp
  | DenseOp
  | ActivationOp
  | AddOp
  | MulOp
  | ConcatOp
  | PoolOp
  | GlobalAvgPoolOp
  | GlobalMaxPoolOp
  | FlattenOp
  | DropoutOp
  | ZeroPadOp
  | ReshapeOp;

export type LayerKind = LayerOp['kind'];

export interface GraphNode {
  /** Unique name; weights are keyed `${name}/${role}`. */
  name: string;
  op: LayerOp;
  /** Names of the nodes whose outputs feed this one, in argument order. */
  inputs: string[];
}

export interface Graph {
  /** Nodes in topological order; the first is the single input node. */
  nodes: GraphNode[];
  /** Name of the node whose output is the logits. */
  output: string;
  /** True when the source model applied a softmax after `output` (the loader removed it). */
  outputSoftmax: boolean;
}

/** Weight roles per layer kind, in the order Keras and TF.js store them. */
export const WEIGHT_ROLES = {
  conv2d: ['kernel', 'bias'],
  depthwiseConv2d: ['kernel', 'bias'],
  batchNorm: ['gamma', 'beta', 'movingMean', 'movingVariance'],
  dense: ['kernel', 'bias'],
} as const;

export type WeightRole = 'kernel' | 'bias' | 'gamma' | 'beta' | 'movingMean' | 'movingVariance';

/** A dense float32 tensor as plain data. */
export interface TensorData {
  shape: number[];
  data: Float32Array;
}

/** Weights keyed `${nodeName}/${role}`. */
export type WeightMap = Map<string, TensorData>;

export function weightKey(node: string, role: WeightRole): string {
  return `${node}/${role}`;
}

/** The weight roles a node actually carries (no bias when `useBias` is false). */
export function weightRolesOf(op: LayerOp): WeightRole[] {
  switch (op.kind) {
    case 'conv2d':
    case 'depthwiseConv2d':
    case 'dense':
      return op.useBias ? ['kernel', 'bias'] : ['kernel'];
    case 'batchNorm':
      return ['gamma', 'beta', 'movingMean', 'movingVariance'];
    default:
      return [];
  }
}

/** Roles that training updates; the BatchNorm moving statistics are state, not parameters. */
export function isTrainableRole(role: WeightRole): boolean {
  return role !== 'movingMean' && role !== 'movingVariance';
}

export function tensorSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
