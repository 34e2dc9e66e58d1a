/**
 * The zoo's small VGG-like network: two stages of two conv3x3-BN-ReLU layers, each stage ending
 * in a 2x2 max-pool, then global average pooling and a linear head. It has the BatchNorm layers
 * BAN perturbs and trains on CIFAR-10 in minutes on a CPU.
 * Module names follow torchvision's VGG (`features.N`, `classifier`).
 */
import { Rng } from '../random';
import { BuiltModel, GraphBuilder } from './builder';

export interface SmallVggOptions {
  /** Channels per stage; each stage has two convs. */
  widths?: number[];
  numClasses?: number;
  inputShape?: [number, number, number];
  seed?: number;
}

export function buildSmallVgg(options: SmallVggOptions = {}): BuiltModel {
  const widths = options.widths ?? [32, 64];
  const b = new GraphBuilder(new Rng(options.seed ?? 0));
  let x = b.input('input', options.inputShape ?? [32, 32, 3]);
  let index = 0;
  const next = () => `features.${index++}`;
  for (const width of widths) {
    for (let i = 0; i < 2; i++) {
      x = b.conv(next(), x, { filters: width, kernel: 3 });
      x = b.batchNorm(next(), x);
      x = b.activation(next(), x, 'relu');
    }
    x = b.maxPool(next(), x, 2);
  }
  x = b.globalAvgPool('avgpool', x);
  x = b.dense('classifier', x, options.numClasses ?? 10);
  return b.build(x);
}
