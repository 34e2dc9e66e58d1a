/**
 * Pre-activation ResNet (He et al., "Identity Mappings in Deep Residual Networks", 2016) in the
 * CIFAR layout that BackdoorBench trains as `preactresnet18`: a 3x3 stem conv without BatchNorm,
 * blocks of BN-ReLU-conv pairs whose 1x1 shortcut conv (no BN) reads the pre-activated input,
 * global average pooling and a linear head. Module names match its `models/preact_resnet.py`
 * (conv1, layerS.B.bn1/conv1/bn2/conv2, layerS.B.shortcut.0, linear).
 */
import { Rng } from '../random';
import { BuiltModel, GraphBuilder } from './builder';

export interface PreActResNetOptions {
  blocks: number[];
  widths: number[];
  numClasses: number;
  inputShape?: [number, number, number];
  seed?: number;
}

export function buildPreActResNet(options: PreActResNetOptions): BuiltModel {
  if (options.blocks.length !== options.widths.length) {
    throw new Error('a PreAct-ResNet needs one width per stage');
  }
  const b = new GraphBuilder(new Rng(options.seed ?? 0));
  let x = b.input('input', options.inputShape ?? [32, 32, 3]);
  x = b.conv('conv1', x, { filters: options.widths[0], kernel: 3 });
  options.blocks.forEach((count, stage) => {
    for (let i = 0; i < count; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      x = preActBlock(b, `layer${stage + 1}.${i}`, x, options.widths[stage], stride);
    }
  });
  x = b.globalAvgPool('avgpool', x);
  x = b.dense('linear', x, options.numClasses);
  return b.build(x);
}

function preActBlock(b: GraphBuilder, prefix: string, x: string, width: number, stride: number): string {
  const pre = b.activation(`${prefix}.relu1`, b.batchNorm(`${prefix}.bn1`, x), 'relu');
  // The projection shortcut reads the pre-activated input; the identity shortcut the raw input.
  const shortcut = stride !== 1 || b.channelsOf(x) !== width ? b.conv(`${prefix}.shortcut.0`, pre, { filters: width, kernel: 1, stride, pad: 0 }) : x;
  let y = b.conv(`${prefix}.conv1`, pre, { filters: width, kernel: 3, stride });
  y = b.activation(`${prefix}.relu2`, b.batchNorm(`${prefix}.bn2`, y), 'relu');
  y = b.conv(`${prefix}.conv2`, y, { filters: width, kernel: 3 });
  return b.addNodes(`${prefix}.add`, y, shortcut);
}

/** BackdoorBench's PreAct-ResNet-18 (blocks [2,2,2,2], widths [64,128,256,512]). */
export function preActResNet18(numClasses = 10, seed = 0): BuiltModel {
  return buildPreActResNet({ blocks: [2, 2, 2, 2], widths: [64, 128, 256, 512], numClasses, seed });
}
