/**
 * A small builder for IR graphs with freshly initialised weights, used by the built-in
 * architectures. Node names follow PyTorch module paths (`layer1.0.conv1`), so a PyTorch
 * state_dict maps onto a built-in architecture key by key.
 *
 * Initialisation follows torchvision's ResNet: Kaiming-normal (fan_out, ReLU gain) for convs,
 * γ=1, β=0 for BatchNorm, and PyTorch's default U(-1/√in, 1/√in) for dense layers.
 */
import { ActivationFn, Graph, GraphNode, LayerOp, Padding, TensorData, WeightMap, weightKey } from '../graph/ir';
import { Rng } from '../random';

export interface BuiltModel {
  graph: Graph;
  weights: WeightMap;
}

export interface ConvSpec {
  filters: number;
  kernel: number;
  stride?: number;
  /** Symmetric padding in pixels (PyTorch style); defaults to kernel/2 rounded down. */
  pad?: number;
  bias?: boolean;
  groups?: number;
}

export class GraphBuilder {
  private readonly nodes: GraphNode[] = [];
  private readonly channels = new Map<string, number>();
  readonly weights: WeightMap = new Map();

  constructor(private readonly rng: Rng) {}

  private add(name: string, op: LayerOp, inputs: string[], outChannels: number): string {
    if (this.channels.has(name)) {
      throw new Error(`duplicate layer name '${name}'`);
    }
    this.nodes.push({ name, op, inputs });
    this.channels.set(name, outChannels);
    return name;
  }

  private setWeight(node: string, role: 'kernel' | 'bias' | 'gamma' | 'beta' | 'movingMean' | 'movingVariance', t: TensorData): void {
    this.weights.set(weightKey(node, role), t);
  }

  channelsOf(name: string): number {
    return this.channels.get(name) as number;
  }

  input(name: string, shape: [number, number, number]): string {
    return this.add(name, { kind: 'input', shape }, [], shape[2]);
  }

  conv(name: string, x: string, spec: ConvSpec): string {
    const inC = this.channelsOf(x);
    const groups = spec.groups ?? 1;
    const pad = spec.pad ?? Math.floor(spec.kernel / 2);
    const padding: Padding = { top: pad, bottom: pad, left: pad, right: pad };
    const k = spec.kernel;
    const depthwise = groups > 1 && groups === inC && spec.filters === inC;
    const fanOut = (k * k * spec.filters) / groups;
    const std = Math.sqrt(2 / fanOut);
    if (depthwise) {
      this.add(name, { kind: 'depthwiseConv2d', depthMultiplier: 1, kernelSize: [k, k], strides: [spec.stride ?? 1, spec.stride ?? 1], padding, dilations: [1, 1], useBias: spec.bias ?? false, activation: 'linear' }, [x], inC);
      this.setWeight(name, 'kernel', { shape: [k, k, inC, 1], data: this.rng.normalArray(k * k * inC, std) });
    } else {
      this.add(name, { kind: 'conv2d', filters: spec.filters, kernelSize: [k, k], strides: [spec.stride ?? 1, spec.stride ?? 1], padding, dilations: [1, 1], groups, useBias: spec.bias ?? false, activation: 'linear' }, [x], spec.filters);
      this.setWeight(name, 'kernel', { shape: [k, k, inC / groups, spec.filters], data: this.rng.normalArray((k * k * inC * spec.filters) / groups, std) });
    }
    if (spec.bias) {
      this.setWeight(name, 'bias', { shape: [spec.filters], data: new Float32Array(spec.filters) });
    }
    return name;
  }

  batchNorm(name: string, x: string, epsilon = 1e-5, momentum = 0.1): string {
    const c = this.channelsOf(x);
    this.add(name, { kind: 'batchNorm', epsilon, momentum }, [x], c);
    this.setWeight(name, 'gamma', { shape: [c], data: new Float32Array(c).fill(1) });
    this.setWeight(name, 'beta', { shape: [c], data: new Float32Array(c) });
    this.setWeight(name, 'movingMean', { shape: [c], data: new Float32Array(c) });
    this.setWeight(name, 'movingVariance', { shape: [c], data: new Float32Array(c).fill(1) });
    return name;
  }

  activation(name: string, x: string, fn: ActivationFn): string {
    return this.add(name, { kind: 'activation', fn }, [x], this.channelsOf(x));
  }

  addNodes(name: string, a: string, b: string): string {
    return this.add(name, { kind: 'add' }, [a, b], this.channelsOf(a));
  }

  maxPool(name: string, x: string, size: number, stride = size): string {
    return this.add(name, { kind: 'maxPool', poolSize: [size, size], strides: [stride, stride], padding: 'valid' }, [x], this.channelsOf(x));
  }

  avgPool(name: string, x: string, size: number, stride = size): string {
    return this.add(name, { kind: 'avgPool', poolSize: [size, size], strides: [stride, stride], padding: 'valid' }, [x], this.channelsOf(x));
  }

  globalAvgPool(name: string, x: string): string {
    return this.add(name, { kind: 'globalAvgPool' }, [x], this.channelsOf(x));
  }

  flatten(name: string, x: string, size: number): string {
    return this.add(name, { kind: 'flatten' }, [x], size);
  }

  dropout(name: string, x: string, rate: number): string {
    return this.add(name, { kind: 'dropout', rate }, [x], this.channelsOf(x));
  }

  dense(name: string, x: string, units: number, inFeatures = this.channelsOf(x)): string {
    this.add(name, { kind: 'dense', units, useBias: true, activation: 'linear' }, [x], units);
    const bound = 1 / Math.sqrt(inFeatures);
    this.setWeight(name, 'kernel', { shape: [inFeatures, units], data: this.rng.uniformArray(inFeatures * units, -bound, bound) });
    this.setWeight(name, 'bias', { shape: [units], data: this.rng.uniformArray(units, -bound, bound) });
    return name;
  }

  build(output: string): BuiltModel {
    return { graph: { nodes: [...this.nodes], output, outputSoftmax: false }, weights: this.weights };
  }
}
