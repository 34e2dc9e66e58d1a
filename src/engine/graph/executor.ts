/**
 * The one executor of the graph IR on tfjs. Every algorithm runs models through `Network.run`:
 *
 * - BatchNorm in eval mode (running statistics) or train mode (batch statistics, with the running
 *   statistics updated by momentum, PyTorch style: unbiased variance, new = (1-m)·old + m·batch).
 * - Multiplicative noise on BatchNorm scale and shift (BAN's neuron noise): γ·(1+δw), β·(1+δb).
 * - A split point: `run(x, {to})` stops at a node (features f(x)); `run(undefined, {from})` starts
 *   after it with a given value (head g(z)).
 * - Activation taps on any node, including the pre-activation of layers with a fused activation
 *   (`${name}:pre`).
 *
 * Every op is a plain differentiable tfjs op (tf.conv2d, not the layers' fused path), so a gradient
 * w.r.t. inputs, masks or noise never computes a weight gradient: tfjs prunes the tape to the
 * paths from the requested tensors, and the weights are only on that path when asked for.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers gradient functions only on request; every algorithm here differentiates.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import {
  ActivationFn,
  ExplicitPadding,
  Graph,
  GraphNode,
  Padding,
  TensorData,
  WeightMap,
  WeightRole,
  isTrainableRole,
  weightKey,
  weightRolesOf,
} from './ir';
import { channelMoments, normalise } from './batchnorm';
import { Shape, validateModel } from './shapes';

/** Per-channel multiplicative noise for one BatchNorm node: scale γ·(1+scale), shift β·(1+shift). */
export interface BatchNormNoise {
  scale: tf.Tensor1D;
  shift: tf.Tensor1D;
}

export interface RunOptions {
  /** `eval`: running statistics. `train`: batch statistics (and running-statistic updates). */
  bnMode?: 'eval' | 'train';
  /** In train mode, whether to update the running statistics (default true, as PyTorch does). */
  updateRunningStats?: boolean;
  /** Overrides every BatchNorm node's momentum for the running-statistic update. */
  bnMomentum?: number;
  /** Dropout is active only when true. */
  dropout?: boolean;
  /** Seed for dropout masks; a run with the same seed repeats. */
  dropoutSeed?: number;
  /** Neuron noise keyed by BatchNorm node name. */
  noise?: ReadonlyMap<string, BatchNormNoise>;
  /** Node names (or `${name}:pre`) whose values to return in `taps`. */
  taps?: readonly string[];
  /** Start after this node, whose output is `value` (the head of a split network). */
  from?: { node: string; value: tf.Tensor };
  /** Stop at this node and return its output (the features of a split network). */
  to?: string;
}

export interface RunResult {
  output: tf.Tensor;
  taps: Record<string, tf.Tensor>;
}

let networkCounter = 0;

/** Converts the IR padding to what tf.conv2d accepts for NHWC. */
function tfPadding(padding: Padding): 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]] {
  if (typeof padding === 'string') {
    return padding;
  }
  return [
    [0, 0],
    [padding.top, padding.bottom],
    [padding.left, padding.right],
    [0, 0],
  ];
}

function isZeroPadding(p: ExplicitPadding): boolean {
  return p.top === 0 && p.bottom === 0 && p.left === 0 && p.right === 0;
}

export function applyActivation(x: tf.Tensor, fn: ActivationFn, alpha?: number, beta?: number): tf.Tensor {
  switch (fn) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    case 'leakyRelu':
      return tf.leakyRelu(x, alpha ?? 0.2);
    case 'elu':
      // tf.elu has alpha 1; other alphas scale the negative branch.
      return alpha === undefined || alpha === 1 ? tf.elu(x) : tf.where(tf.greater(x, 0), x, tf.mul(alpha, tf.elu(x)));
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'tanh':
      return tf.tanh(x);
    case 'hardSigmoid':
      return tf.clipByValue(tf.add(tf.mul(x, alpha ?? 0.2), beta ?? 0.5), 0, 1);
    case 'hardSwish':
      return tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6));
    case 'silu':
      return tf.mul(x, tf.sigmoid(x));
    case 'gelu':
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
    case 'softplus':
      return tf.softplus(x);
    case 'softmax':
      return tf.softmax(x);
  }
}

/**
 * A model ready to run: the graph plus its weights as tf.Variables. Trainable parameters
 * (kernels, biases, BatchNorm γ and β) are trainable variables; BatchNorm running statistics are
 * non-trainable state.
 */
export class Network {
  readonly graph: Graph;
  readonly shapes: Map<string, Shape>;
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  /** Variables keyed `${node}/${role}`. */
  readonly params: Map<string, tf.Variable>;
  private readonly nodeIndex: Map<string, number>;
  private readonly id: number;

  constructor(graph: Graph, weights: WeightMap) {
    this.graph = graph;
    this.shapes = validateModel(graph, weights);
    this.inputShape = this.shapes.get(graph.nodes[0].name) as [number, number, number];
    this.numClasses = (this.shapes.get(graph.output) as Shape)[0];
    this.nodeIndex = new Map(graph.nodes.map((n, i) => [n.name, i]));
    this.id = networkCounter++;
    this.params = new Map();
    for (const node of graph.nodes) {
      for (const role of weightRolesOf(node.op)) {
        const key = weightKey(node.name, role);
        const w = weights.get(key) as TensorData;
        // Variable names are global in tfjs, so each network gets its own prefix.
        this.params.set(key, tf.variable(tf.tensor(w.data, w.shape), isTrainableRole(role), `net${this.id}/${key}`));
      }
    }
  }

  param(node: string, role: WeightRole): tf.Variable {
    const v = this.params.get(weightKey(node, role));
    if (!v) {
      throw new Error(`layer '${node}' has no ${role}`);
    }
    return v;
  }

  node(name: string): GraphNode {
    const i = this.nodeIndex.get(name);
    if (i === undefined) {
      throw new Error(`the model has no layer named '${name}'`);
    }
    return this.graph.nodes[i];
  }

  /** Names of the BatchNorm nodes, in graph order. */
  batchNormNodes(): string[] {
    return this.graph.nodes.filter((n) => n.op.kind === 'batchNorm').map((n) => n.name);
  }

  /** The trainable variables (kernels, biases, BatchNorm γ/β). */
  trainableVariables(): tf.Variable[] {
    return [...this.params.values()].filter((v) => v.trainable);
  }

  /**
   * Runs the graph. All intermediate tensors are freed; the output and the taps are returned and
   * belong to the caller (or to the caller's tidy).
   */
  run(x: tf.Tensor | undefined, options: RunOptions = {}): RunResult {
    return tf.tidy(() => {
      const values = new Map<string, tf.Tensor>();
      const tapNames = new Set(options.taps ?? []);
      const taps: Record<string, tf.Tensor> = {};
      let start = 0;
      if (options.from) {
        start = this.indexOf(options.from.node) + 1;
        values.set(options.from.node, options.from.value);
      }
      const stop = options.to === undefined ? this.graph.nodes.length - 1 : this.indexOf(options.to);
      let dropoutCount = 0;
      for (let i = start; i <= stop; i++) {
        const node = this.graph.nodes[i];
        const inputs = node.inputs.map((name) => {
          const v = values.get(name);
          if (!v) {
            throw new Error(`layer '${node.name}' reads '${name}', which this run did not compute (a split point must cut the graph in two)`);
          }
          return v;
        });
        let out: tf.Tensor;
        if (node.op.kind === 'input') {
          if (!x) {
            throw new Error('run() needs an input tensor unless it starts after a split point');
          }
          out = x;
        } else {
          const seed = options.dropoutSeed === undefined ? undefined : options.dropoutSeed + dropoutCount++;
          const pre = this.applyNode(node, inputs, options, seed);
          if (tapNames.has(`${node.name}:pre`)) {
            taps[`${node.name}:pre`] = pre.pre;
          }
          out = pre.out;
        }
        values.set(node.name, out);
        if (tapNames.has(node.name)) {
          taps[node.name] = out;
        }
        if (node.name === this.graph.output && options.to === undefined) {
          break;
        }
      }
      const outName = options.to ?? this.graph.output;
      const output = values.get(outName);
      if (!output) {
        throw new Error(`the run did not reach '${outName}'`);
      }
      for (const name of tapNames) {
        if (!(name in taps)) {
          throw new Error(`cannot tap '${name}': no such layer in the part of the graph that ran`);
        }
      }
      return { output, taps };
    });
  }

  /** Logits of a batch (eval mode unless options say otherwise). */
  logits(x: tf.Tensor, options: RunOptions = {}): tf.Tensor2D {
    return this.run(x, options).output as tf.Tensor2D;
  }

  private indexOf(name: string): number {
    const i = this.nodeIndex.get(name);
    if (i === undefined) {
      throw new Error(`the model has no layer named '${name}'`);
    }
    return i;
  }

  private applyNode(node: GraphNode, inputs: tf.Tensor[], options: RunOptions, dropoutSeed: number | undefined): { pre: tf.Tensor; out: tf.Tensor } {
    const op = node.op;
    const x = inputs[0];
    switch (op.kind) {
      case 'conv2d': {
        const kernel = this.param(node.name, 'kernel') as tf.Tensor4D;
        let y: tf.Tensor4D;
        if (op.groups === 1) {
          y = tf.conv2d(x as tf.Tensor4D, kernel, op.strides, tfPadding(op.padding), 'NHWC', op.dilations);
        } else {
          // Grouped convolution: tfjs has none, so convolve each channel group separately.
          const xs = tf.split(x, op.groups, 3);
          const ks = tf.split(kernel, op.groups, 3);
          y = tf.concat(
            xs.map((xi, g) => tf.conv2d(xi as tf.Tensor4D, ks[g] as tf.Tensor4D, op.strides, tfPadding(op.padding), 'NHWC', op.dilations)),
            3,
          );
        }
        const pre = op.useBias ? tf.add(y, this.param(node.name, 'bias')) : y;
        return { pre, out: applyActivation(pre, op.activation) };
      }
      case 'depthwiseConv2d': {
        const kernel = this.param(node.name, 'kernel') as tf.Tensor4D;
        const y = tf.depthwiseConv2d(x as tf.Tensor4D, kernel, op.strides, tfPadding(op.padding), 'NHWC', op.dilations);
        const pre = op.useBias ? tf.add(y, this.param(node.name, 'bias')) : y;
        return { pre, out: applyActivation(pre, op.activation) };
      }
      case 'dense': {
        const y = tf.matMul(x as tf.Tensor2D, this.param(node.name, 'kernel') as tf.Tensor2D);
        const pre = op.useBias ? tf.add(y, this.param(node.name, 'bias')) : y;
        return { pre, out: applyActivation(pre, op.activation) };
      }
      case 'batchNorm':
        return same(this.batchNorm(node.name, op.epsilon, op.momentum, x, options));
      case 'activation':
        return same(applyActivation(x, op.fn, op.alpha, op.beta));
      case 'add':
        return same(inputs.slice(1).reduce((acc, t) => tf.add(acc, t), x));
      case 'mul':
        return same(inputs.slice(1).reduce((acc, t) => tf.mul(acc, t), x));
      case 'concat':
        return same(tf.concat(inputs, op.axis));
      case 'maxPool':
      case 'avgPool':
        return same(pool(op.kind, x as tf.Tensor4D, op.poolSize, op.strides, op.padding, op.countIncludePad ?? true));
      case 'globalAvgPool':
        return same(tf.mean(x, [1, 2]));
      case 'globalMaxPool':
        return same(tf.max(x, [1, 2]));
      case 'flatten':
        return same(tf.reshape(x, [x.shape[0], -1]));
      case 'dropout':
        return same(options.dropout && op.rate > 0 ? tf.dropout(x, op.rate, undefined, dropoutSeed) : x);
      case 'zeroPad':
        return same(
          tf.pad(x, [
            [0, 0],
            [op.padding.top, op.padding.bottom],
            [op.padding.left, op.padding.right],
            [0, 0],
          ]),
        );
      case 'reshape':
        return same(tf.reshape(x, [x.shape[0], ...op.shape]));
      case 'input':
        throw new Error('input node applied twice');
    }
  }

  private batchNorm(name: string, epsilon: number, momentum: number, x: tf.Tensor, options: RunOptions): tf.Tensor {
    const gammaVar = this.param(name, 'gamma');
    const betaVar = this.param(name, 'beta');
    const noise = options.noise?.get(name);
    // BAN's neuron noise perturbs the affine parameters multiplicatively, per channel.
    const gamma = noise ? tf.mul(gammaVar, tf.add(1, noise.scale)) : gammaVar;
    const beta = noise ? tf.mul(betaVar, tf.add(1, noise.shift)) : betaVar;
    const movingMean = this.param(name, 'movingMean');
    const movingVariance = this.param(name, 'movingVariance');
    if (options.bnMode !== 'train') {
      return normalise(x, movingMean, movingVariance, gamma, beta, epsilon);
    }
    const { mean, variance } = channelMoments(x); // [C], [C] batch statistics (biased variance)
    if (options.updateRunningStats !== false) {
      const m = options.bnMomentum ?? momentum;
      const count = x.size / x.shape[x.rank - 1];
      const unbiased = count > 1 ? count / (count - 1) : 1;
      // The update is state, not part of the differentiated function; no output depends on it, so
      // tfjs prunes it from any gradient computation.
      const [newMean, newVar] = tf.tidy(() => [
        tf.add(tf.mul(movingMean, 1 - m), tf.mul(mean, m)),
        tf.add(tf.mul(movingVariance, 1 - m), tf.mul(variance, m * unbiased)),
      ]);
      movingMean.assign(newMean);
      movingVariance.assign(newVar);
      newMean.dispose();
      newVar.dispose();
    }
    return normalise(x, mean, variance, gamma, beta, epsilon);
  }

  /** Copies of every parameter and running statistic, to restore later. */
  snapshot(): Map<string, tf.Tensor> {
    const snap = new Map<string, tf.Tensor>();
    for (const [key, v] of this.params) {
      snap.set(key, tf.keep(v.clone()));
    }
    return snap;
  }

  /** Sets every parameter and running statistic to a snapshot's values; the snapshot stays usable. */
  load(snapshot: Map<string, tf.Tensor>): void {
    for (const [key, t] of snapshot) (this.params.get(key) as tf.Variable).assign(t);
  }

  /** Restores a snapshot and frees it. */
  restore(snapshot: Map<string, tf.Tensor>): void {
    this.load(snapshot);
    for (const t of snapshot.values()) t.dispose();
    snapshot.clear();
  }

  /** The current weights as plain data (for writers and reports). */
  exportWeights(): WeightMap {
    const out: WeightMap = new Map();
    for (const [key, v] of this.params) {
      out.set(key, { shape: [...v.shape], data: v.dataSync() as Float32Array });
    }
    return out;
  }

  /** Total number of trainable parameters. */
  countTrainableParams(): number {
    return this.trainableVariables().reduce((n, v) => n + v.size, 0);
  }

  dispose(): void {
    for (const v of this.params.values()) {
      v.dispose();
    }
    this.params.clear();
  }
}

function same(t: tf.Tensor): { pre: tf.Tensor; out: tf.Tensor } {
  return { pre: t, out: t };
}

function pool(
  kind: 'maxPool' | 'avgPool',
  x: tf.Tensor4D,
  poolSize: [number, number],
  strides: [number, number],
  padding: Padding,
  countIncludePad: boolean,
): tf.Tensor4D {
  const run = (t: tf.Tensor4D, pad: 'same' | 'valid') =>
    kind === 'maxPool' ? tf.maxPool(t, poolSize, strides, pad) : tf.avgPool(t, poolSize, strides, pad);
  if (typeof padding === 'string') {
    return run(x, padding);
  }
  if (isZeroPadding(padding)) {
    return run(x, 'valid');
  }
  const paddings: [number, number][] = [
    [0, 0],
    [padding.top, padding.bottom],
    [padding.left, padding.right],
    [0, 0],
  ];
  if (kind === 'maxPool') {
    // Pads never win a max: pad with -Infinity.
    return run(tf.pad(x, paddings, -Infinity), 'valid');
  }
  const sums = run(tf.pad(x, paddings), 'valid');
  if (countIncludePad) {
    return sums;
  }
  // Divide by the share of each window that lies inside the image.
  const inside = run(tf.pad(tf.onesLike(tf.slice(x, [0, 0, 0, 0], [1, -1, -1, 1])), paddings), 'valid');
  return tf.div(sums, inside);
}
