/**
 * MobileNetV2 (Sandler et al., 2018) in the CIFAR layout of kuangliu's pytorch-cifar, which BAN
 * and BackdoorBench train: a stride-1 3x3 stem, 17 inverted-residual blocks (1x1 expand, 3x3
 * depthwise, 1x1 project, all with BN; ReLU, not ReLU6) with the second stage at stride 1, a 1x1
 * conv to 1280 channels, global average pooling and a linear head. A block at stride 1 adds its
 * input back, through a 1x1 conv + BN when the widths differ. Module names match that file
 * (conv1, bn1, layers.N.conv1..bn3, layers.N.shortcut.0/1, conv2, bn2, linear).
 */
import { Rng } from '../random';
import { BuiltModel, GraphBuilder } from './builder';

/** One inverted-residual block: input, expanded and output widths, stride. */
export interface MobileNetV2Block {
  expanded: number;
  out: number;
  stride: number;
}

export interface MobileNetV2Options {
  stem: number;
  blocks: MobileNetV2Block[];
  head: number;
  numClasses: number;
  inputShape?: [number, number, number];
  seed?: number;
}

/** (expansion, out channels, blocks, stride) per stage of the CIFAR MobileNetV2. */
const STAGES: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 1],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** Strides of the 17 blocks, in order; the weights cannot tell them, the layout does. */
export const MOBILENETV2_STRIDES: number[] = STAGES.flatMap(([, , count, stride]) => Array.from({ length: count }, (_, i) => (i === 0 ? stride : 1)));

/** The standard configuration with every width multiplied by `scale` (1 is the original). */
export function mobileNetV2Config(scale = 1): { stem: number; blocks: MobileNetV2Block[]; head: number } {
  const w = (c: number) => Math.max(1, Math.round(c * scale));
  let inPlanes = w(32);
  const blocks: MobileNetV2Block[] = [];
  for (const [expansion, out, count, stride] of STAGES) {
    for (let i = 0; i < count; i++) {
      blocks.push({ expanded: expansion * inPlanes, out: w(out), stride: i === 0 ? stride : 1 });
      inPlanes = w(out);
    }
  }
  return { stem: w(32), blocks, head: w(1280) };
}

export function buildMobileNetV2(options: MobileNetV2Options): BuiltModel {
  const b = new GraphBuilder(new Rng(options.seed ?? 0));
  let x = b.input('input', options.inputShape ?? [32, 32, 3]);
  x = b.conv('conv1', x, { filters: options.stem, kernel: 3 });
  x = b.activation('relu1', b.batchNorm('bn1', x), 'relu');
  options.blocks.forEach((block, i) => {
    const p = `layers.${i}`;
    const inPlanes = b.channelsOf(x);
    let y = b.conv(`${p}.conv1`, x, { filters: block.expanded, kernel: 1, pad: 0 });
    y = b.activation(`${p}.relu1`, b.batchNorm(`${p}.bn1`, y), 'relu');
    y = b.conv(`${p}.conv2`, y, { filters: block.expanded, kernel: 3, stride: block.stride, groups: block.expanded });
    y = b.activation(`${p}.relu2`, b.batchNorm(`${p}.bn2`, y), 'relu');
    y = b.batchNorm(`${p}.bn3`, b.conv(`${p}.conv3`, y, { filters: block.out, kernel: 1, pad: 0 }));
    if (block.stride === 1) {
      let shortcut = x;
      if (inPlanes !== block.out) {
        shortcut = b.batchNorm(`${p}.shortcut.1`, b.conv(`${p}.shortcut.0`, x, { filters: block.out, kernel: 1, pad: 0 }));
      }
      y = b.addNodes(`${p}.add`, y, shortcut);
    }
    x = y;
  });
  x = b.conv('conv2', x, { filters: options.head, kernel: 1, pad: 0 });
  x = b.activation('relu2', b.batchNorm('bn2', x), 'relu');
  x = b.globalAvgPool('avgpool', x);
  x = b.dense('linear', x, options.numClasses);
  return b.build(x);
}
