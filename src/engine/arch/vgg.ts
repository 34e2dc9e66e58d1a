/**
 * CIFAR VGG with BatchNorm (Simonyan & Zisserman, 2015), the variant that BAN and BackdoorBench
 * train: `features` is a sequence of conv3x3(bias)-BN-ReLU triples and 2x2 max-pools, and the
 * classifier is a single Linear from the flattened features (512 values for 32x32 inputs) to the
 * classes. Node names follow the PyTorch `nn.Sequential` indices (`features.N`, `classifier`), so
 * a state_dict maps key by key; the trailing AvgPool2d(1, 1) of those models is the identity and
 * has no node.
 */
import { Rng } from '../random';
import { BuiltModel, GraphBuilder } from './builder';

/** Conv widths and 'M' for a max-pool, in order. */
export type VggConfig = (number | 'M')[];

export const VGG_CONFIGS: Record<string, VggConfig> = {
  vgg11_bn: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  vgg13_bn: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  vgg16_bn: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  vgg19_bn: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
};

export interface VggOptions {
  config: VggConfig;
  numClasses: number;
  inputShape?: [number, number, number];
  seed?: number;
}

export function buildVgg(options: VggOptions): BuiltModel {
  const inputShape = options.inputShape ?? [32, 32, 3];
  const b = new GraphBuilder(new Rng(options.seed ?? 0));
  let x = b.input('input', inputShape);
  let [h, w] = inputShape;
  let index = 0;
  for (const item of options.config) {
    if (item === 'M') {
      x = b.maxPool(`features.${index++}`, x, 2);
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
    } else {
      x = b.conv(`features.${index++}`, x, { filters: item, kernel: 3, bias: true });
      x = b.batchNorm(`features.${index++}`, x);
      x = b.activation(`features.${index++}`, x, 'relu');
    }
  }
  const size = h * w * b.channelsOf(x);
  x = b.flatten('flatten', x, size);
  x = b.dense('classifier', x, options.numClasses);
  return b.build(x);
}

/** Scales every width of a configuration (base width 64 is the original). */
export function scaleVggConfig(config: VggConfig, baseWidth: number): VggConfig {
  return config.map((item) => (item === 'M' ? item : Math.max(1, Math.round((item * baseWidth) / 64))));
}
