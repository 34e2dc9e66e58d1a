/**
 * The built-in architectures, by name: what `--arch` accepts for weight-only formats (PyTorch
 * state_dicts, safetensors), what the zoo builds, and what a loader guesses from a checkpoint's
 * key names. Every builder names its nodes after the PyTorch modules of the reference code, so a
 * state_dict key `layer1.0.conv1.weight` is the IR weight `layer1.0.conv1/kernel`.
 *
 * A checkpoint fixes the widths and depths: `buildArchitectureForWeights` reads them from the
 * tensor shapes (a ResNet-18 of base width 16 loads as such), and only what weights cannot tell
 * (strides, paddings) comes from the architecture's definition.
 */
import { BuiltModel } from './builder';
import { MOBILENETV2_STRIDES, MobileNetV2Block, buildMobileNetV2, mobileNetV2Config } from './mobilenetv2';
import { buildPreActResNet } from './preact-resnet';
import { buildResNet } from './resnet';
import { VGG_CONFIGS, VggConfig, buildVgg, scaleVggConfig } from './vgg';

export interface ArchitectureOptions {
  numClasses: number;
  inputShape?: [number, number, number];
  seed?: number;
  /** Base width: the first stage's channels (64 for the ResNets and VGGs, 32 for MobileNetV2). */
  width?: number;
}

export interface ArchitectureInfo {
  name: string;
  description: string;
}

/** Tensor shapes of a state_dict, keyed as PyTorch names them (`layer1.0.conv1.weight`). */
export type ShapeMap = ReadonlyMap<string, readonly number[]>;

interface Architecture {
  info: ArchitectureInfo;
  build(options: ArchitectureOptions): BuiltModel;
  fromShapes(shapes: ShapeMap, options: Omit<ArchitectureOptions, 'numClasses' | 'width'>): BuiltModel;
}

const ARCHITECTURES: Architecture[] = [
  resnetFamily('resnet18', 'CIFAR ResNet-18 (BasicBlocks [2,2,2,2]; kuangliu/BAN layout)', [2, 2, 2, 2]),
  resnetFamily('resnet34', 'CIFAR ResNet-34 (BasicBlocks [3,4,6,3]; kuangliu/BAN layout)', [3, 4, 6, 3]),
  resnetFamily('resnet', 'any CIFAR ResNet of BasicBlocks, depth and widths from the checkpoint (ResNet-20 when built from scratch)', undefined),
  {
    info: { name: 'preactresnet18', description: 'PreAct-ResNet-18 as BackdoorBench trains it' },
    build: (o) => {
      const w = o.width ?? 64;
      return buildPreActResNet({ blocks: [2, 2, 2, 2], widths: [w, 2 * w, 4 * w, 8 * w], numClasses: o.numClasses, inputShape: o.inputShape, seed: o.seed });
    },
    fromShapes: (shapes, o) => {
      const { blocks, widths } = resnetStages(shapes, 'preactresnet18');
      expectBlocks('preactresnet18', blocks, [2, 2, 2, 2]);
      return buildPreActResNet({ blocks, widths, numClasses: headClasses(shapes, 'linear'), inputShape: o.inputShape, seed: o.seed });
    },
  },
  ...Object.keys(VGG_CONFIGS).map(vggFamily),
  {
    info: { name: 'mobilenetv2', description: 'CIFAR MobileNetV2 (kuangliu/BAN layout: stride-1 stem, ReLU, 17 blocks)' },
    build: (o) => buildMobileNetV2({ ...mobileNetV2Config((o.width ?? 32) / 32), numClasses: o.numClasses, inputShape: o.inputShape, seed: o.seed }),
    fromShapes: (shapes, o) => mobileNetV2FromShapes(shapes, o),
  },
];

function find(name: string): Architecture {
  const arch = ARCHITECTURES.find((a) => a.info.name === name.toLowerCase().replace(/-/g, ''));
  if (!arch) {
    throw new Error(`unknown architecture '${name}'; the built-in ones are ${ARCHITECTURES.map((a) => a.info.name).join(', ')}`);
  }
  return arch;
}

export function listArchitectures(): ArchitectureInfo[] {
  return ARCHITECTURES.map((a) => ({ ...a.info }));
}

/** A freshly initialised built-in architecture (seeded). */
export function buildArchitecture(name: string, options: ArchitectureOptions): BuiltModel {
  return find(name).build(options);
}

/**
 * The architecture with the widths, depths and class count that a state_dict's shapes imply.
 * Throws an Error naming the missing or mismatched key when the checkpoint does not fit.
 */
export function buildArchitectureForWeights(name: string, shapes: ShapeMap, options: { inputShape?: [number, number, number]; seed?: number } = {}): BuiltModel {
  return find(name).fromShapes(shapes, options);
}

/** The built-in architecture whose module names a state_dict's keys follow, if any. */
export function guessArchitecture(keys: readonly string[]): string | undefined {
  const has = new Set(keys);
  if (has.has('layers.0.conv2.weight') && has.has('conv2.weight') && has.has('linear.weight')) return 'mobilenetv2';
  if (has.has('features.0.weight') && has.has('classifier.weight')) {
    const convs = keys.filter((k) => /^features\.\d+\.weight$/.test(k) && !has.has(k.replace('.weight', '.running_mean'))).length;
    const byCount: Record<number, string> = { 8: 'vgg11_bn', 10: 'vgg13_bn', 13: 'vgg16_bn', 16: 'vgg19_bn' };
    return byCount[convs];
  }
  if (has.has('conv1.weight') && has.has('layer1.0.conv1.weight')) {
    const shapes = new Map(keys.map((k) => [k, [] as number[]]));
    const blocks = stageBlockCounts(shapes);
    if (!has.has('bn1.weight')) return blocks.join() === '2,2,2,2' ? 'preactresnet18' : undefined;
    if (blocks.join() === '2,2,2,2') return 'resnet18';
    if (blocks.join() === '3,4,6,3') return 'resnet34';
    return 'resnet';
  }
  return undefined;
}

function shapeOf(shapes: ShapeMap, key: string, arch: string): readonly number[] {
  const s = shapes.get(key);
  if (!s) throw new Error(`the checkpoint has no '${key}', which ${arch} needs`);
  return s;
}

function headClasses(shapes: ShapeMap, head: string): number {
  return shapeOf(shapes, `${head}.weight`, 'the classifier')[0];
}

/** Number of blocks per stage, from the `layerS.B.` prefixes present. */
function stageBlockCounts(shapes: ShapeMap): number[] {
  const counts: number[] = [];
  for (const key of shapes.keys()) {
    const m = /^layer(\d+)\.(\d+)\./.exec(key);
    if (!m) continue;
    const stage = Number(m[1]) - 1;
    counts[stage] = Math.max(counts[stage] ?? 0, Number(m[2]) + 1);
  }
  return Array.from(counts, (c) => c ?? 0);
}

function resnetStages(shapes: ShapeMap, arch: string): { blocks: number[]; widths: number[] } {
  const blocks = stageBlockCounts(shapes);
  if (blocks.length === 0 || blocks.some((b) => b === 0)) {
    throw new Error(`the checkpoint's keys do not describe ${arch} stages (layer1.0., layer2.0., ...)`);
  }
  if (shapes.has('layer1.0.conv3.weight')) {
    throw new Error(`the checkpoint uses Bottleneck blocks (conv3), which ${arch} does not have; only BasicBlock ResNets are built in`);
  }
  const stem = shapeOf(shapes, 'conv1.weight', arch);
  if (stem[2] !== 3 || stem[3] !== 3) {
    throw new Error(`the checkpoint's stem conv1 is ${stem[2]}x${stem[3]}; the built-in ${arch} has the CIFAR 3x3 stem`);
  }
  const widths = blocks.map((_, s) => shapeOf(shapes, `layer${s + 1}.0.conv1.weight`, arch)[0]);
  if (stem[0] !== widths[0]) {
    throw new Error(`the checkpoint's conv1 has ${stem[0]} channels but layer1 has ${widths[0]}; the built-in ${arch} needs them equal`);
  }
  return { blocks, widths };
}

function expectBlocks(arch: string, got: number[], want: number[]): void {
  if (got.join() !== want.join()) {
    throw new Error(`the checkpoint has blocks [${got}] per stage, but ${arch} has [${want}]; use --arch resnet for other depths`);
  }
}

function resnetFamily(name: string, description: string, blocks: number[] | undefined): Architecture {
  return {
    info: { name, description },
    build: (o) => {
      const w = o.width ?? (blocks ? 64 : 16);
      const b = blocks ?? [3, 3, 3];
      const widths = b.map((_, i) => w * 2 ** i);
      return buildResNet({ blocks: b, widths, numClasses: o.numClasses, inputShape: o.inputShape, seed: o.seed });
    },
    fromShapes: (shapes, o) => {
      const stages = resnetStages(shapes, name);
      if (blocks) expectBlocks(name, stages.blocks, blocks);
      if (!shapes.has('bn1.weight')) throw new Error(`the checkpoint has no 'bn1.weight' after the stem; it looks like a PreAct-ResNet (--arch preactresnet18)`);
      return buildResNet({ ...stages, numClasses: headClasses(shapes, 'linear'), inputShape: o.inputShape, seed: o.seed });
    },
  };
}

function vggFamily(name: string): Architecture {
  const standard = VGG_CONFIGS[name];
  return {
    info: { name, description: `CIFAR ${name.replace('_bn', '').toUpperCase()} with BatchNorm and one linear classifier (BAN/BackdoorBench layout)` },
    build: (o) => buildVgg({ config: scaleVggConfig(standard, o.width ?? 64), numClasses: o.numClasses, inputShape: o.inputShape, seed: o.seed }),
    fromShapes: (shapes, o) => {
      // The conv widths come from the checkpoint; the pooling positions from the standard layout,
      // checked against the `features.N` indices (a pool shifts the next conv's index by one).
      let index = 0;
      const config: VggConfig = standard.map((item) => {
        if (item === 'M') {
          index += 1;
          return item;
        }
        const width = shapeOf(shapes, `features.${index}.weight`, name)[0];
        shapeOf(shapes, `features.${index + 1}.running_mean`, name);
        index += 3;
        return width;
      });
      if (shapes.has(`features.${index}.weight`)) {
        throw new Error(`the checkpoint has more layers than ${name} (features.${index}.weight)`);
      }
      const classifier = shapeOf(shapes, 'classifier.weight', name);
      if (classifier.length !== 2) {
        throw new Error(`'classifier.weight' has shape [${classifier}]; the built-in ${name} has a single Linear classifier (torchvision's three-layer head is not supported)`);
      }
      return buildVgg({ config, numClasses: classifier[0], inputShape: o.inputShape, seed: o.seed });
    },
  };
}

function mobileNetV2FromShapes(shapes: ShapeMap, o: { inputShape?: [number, number, number]; seed?: number }): BuiltModel {
  const arch = 'mobilenetv2';
  const blocks: MobileNetV2Block[] = [];
  shapeOf(shapes, 'layers.0.conv1.weight', arch);
  for (let i = 0; shapes.has(`layers.${i}.conv1.weight`); i++) {
    const expanded = shapeOf(shapes, `layers.${i}.conv1.weight`, arch)[0];
    const out = shapeOf(shapes, `layers.${i}.conv3.weight`, arch)[0];
    blocks.push({ expanded, out, stride: MOBILENETV2_STRIDES[i] ?? 1 });
  }
  if (blocks.length !== MOBILENETV2_STRIDES.length) {
    throw new Error(`the checkpoint has ${blocks.length} inverted-residual blocks; the CIFAR MobileNetV2 has ${MOBILENETV2_STRIDES.length}`);
  }
  return buildMobileNetV2({
    stem: shapeOf(shapes, 'conv1.weight', arch)[0],
    blocks,
    head: shapeOf(shapes, 'conv2.weight', arch)[0],
    numClasses: headClasses(shapes, 'linear'),
    inputShape: o.inputShape,
    seed: o.seed,
  });
}
