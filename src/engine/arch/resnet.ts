/**
 * CIFAR-style residual networks (He et al., 2016), in the layout of the models that BAN's and
 * BackdoorBench's code train: a 3x3 stride-1 stem, stages of BasicBlocks with 1x1-conv+BN
 * shortcuts where the shape changes, global average pooling and a linear head.
 * Module names match `models/resnet.py` of those repositories (conv1, bn1, layerS.B.conv1, …,
 * shortcut.0/1, linear), so their state_dicts map key by key.
 *
 * ResNet-18 is blocks [2,2,2,2] with widths [64,128,256,512]; ResNet-34 is [3,4,6,3]. The zoo's
 * small ResNets use three stages of 16/32/64 channels (depth 6n+2, as in the original CIFAR paper).
 */
import { Rng } from '../random';
import { BuiltModel, GraphBuilder } from './builder';

export interface ResNetOptions {
  blocks: number[];
  widths: number[];
  numClasses: number;
  inputShape?: [number, number, number];
  seed?: number;
}

export function buildResNet(options: ResNetOptions): BuiltModel {
  if (options.blocks.length !== options.widths.length) {
    throw new Error('a ResNet needs one width per stage');
  }
  const b = new GraphBuilder(new Rng(options.seed ?? 0));
  let x = b.input('input', options.inputShape ?? [32, 32, 3]);
  x = b.conv('conv1', x, { filters: options.widths[0], kernel: 3 });
  x = b.batchNorm('bn1', x);
  x = b.activation('relu', x, 'relu');
  options.blocks.forEach((count, stage) => {
    for (let i = 0; i < count; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      x = basicBlock(b, `layer${stage + 1}.${i}`, x, options.widths[stage], stride);
    }
  });
  x = b.globalAvgPool('avgpool', x);
  x = b.dense('linear', x, options.numClasses);
  return b.build(x);
}

function basicBlock(b: GraphBuilder, prefix: string, x: string, width: number, stride: number): string {
  let y = b.conv(`${prefix}.conv1`, x, { filters: width, kernel: 3, stride });
  y = b.batchNorm(`${prefix}.bn1`, y);
  y = b.activation(`${prefix}.relu1`, y, 'relu');
  y = b.conv(`${prefix}.conv2`, y, { filters: width, kernel: 3 });
  y = b.batchNorm(`${prefix}.bn2`, y);
  let shortcut = x;
  if (stride !== 1 || b.channelsOf(x) !== width) {
    shortcut = b.conv(`${prefix}.shortcut.0`, x, { filters: width, kernel: 1, stride, pad: 0 });
    shortcut = b.batchNorm(`${prefix}.shortcut.1`, shortcut);
  }
  const sum = b.addNodes(`${prefix}.add`, y, shortcut);
  return b.activation(`${prefix}.relu2`, sum, 'relu');
}

/** CIFAR ResNet-18 (11.2M parameters). */
export function resnet18(numClasses = 10, seed = 0): BuiltModel {
  return buildResNet({ blocks: [2, 2, 2, 2], widths: [64, 128, 256, 512], numClasses, seed });
}

/** CIFAR ResNet-34. */
export function resnet34(numClasses = 10, seed = 0): BuiltModel {
  return buildResNet({ blocks: [3, 4, 6, 3], widths: [64, 128, 256, 512], numClasses, seed });
}
