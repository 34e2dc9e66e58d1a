/**
 * Supervised training with the engine: the zoo's models, NONE's training-time defence and its
 * fine-tuning rounds. SGD with momentum and weight decay on cross-entropy, the standard CIFAR
 * augmentation, a step learning-rate schedule, BatchNorm in train mode (or frozen, as NONE's
 * phase 2 wants: eval-mode statistics while γ and β still learn).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Preprocessing, batches } from '../data';
import { throwIfAborted } from '../errors';
import { Network } from '../graph/executor';
import { RunControl } from '../progress';
import { Rng } from '../random';
import { augmentBatch } from './augment';
import { crossEntropy } from './loss';
import { Optimizer, Sgd } from './optimizers';
import { optimizeStep } from './step';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  /** Learning rate per epoch (0-based), e.g. a step or cosine schedule. */
  learningRate: (epoch: number) => number;
  momentum?: number;
  weightDecay?: number;
  /** Random crop (pad 4) and horizontal flip. */
  augment?: boolean;
  /** Images (by dataset index) to leave un-augmented, e.g. poisoned ones whose trigger must stay
   *  where it was stamped; every image is augmented when absent. */
  keepUnaugmented?: (datasetIndex: number) => boolean;
  /** Freeze BatchNorm statistics (eval-mode BN while γ/β train), as NONE's fine-tuning does. */
  freezeBatchNorm?: boolean;
  seed: number;
  /** An optimiser to continue with (NONE keeps phase 1's momentum buffers); else a new SGD. */
  optimizer?: Optimizer;
}

export interface EpochRecord {
  epoch: number;
  learningRate: number;
  loss: number;
  trainAccuracy: number;
  seconds: number;
}

/** Per-channel value that a raw black pixel takes after preprocessing: the crop's pad value. */
export function blackPixelValue(prep: Preprocessing, channels: number): number[] {
  return Array.from({ length: channels }, (_, c) => (0 - prep.mean[c % prep.mean.length]) / prep.std[c % prep.std.length]);
}

/**
 * Trains `net` in place on `indices` of `dataset`. Returns one record per epoch. The optimiser
 * is returned too, so that a later phase can continue with its state.
 */
export async function train(
  net: Network,
  dataset: Dataset,
  indices: ArrayLike<number>,
  prep: Preprocessing,
  options: TrainOptions,
  control: RunControl & { onEpoch?: (record: EpochRecord) => void } = {},
): Promise<{ history: EpochRecord[]; optimizer: Optimizer }> {
  const rng = new Rng(options.seed);
  const optimizer = options.optimizer ?? new Sgd(options.learningRate(0), options.momentum ?? 0.9, options.weightDecay ?? 5e-4);
  const vars = net.trainableVariables();
  const shape = net.inputShape;
  const padValue = blackPixelValue(prep, shape[2]);
  const history: EpochRecord[] = [];
  const stepsPerEpoch = Math.ceil(indices.length / options.batchSize);
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const started = Date.now();
    const lr = options.learningRate(epoch);
    optimizer.setLearningRate(lr);
    const order = Int32Array.from(indices);
    rng.shuffle(order);
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    let step = 0;
    for await (const batch of batches(dataset, order, options.batchSize, shape, prep, { signal: control.signal })) {
      throwIfAborted(control.signal);
      const n = batch.y.length;
      const x = options.augment ? augmentBatch(batch.x, [n, ...shape], { pad: 4, flip: true, padValue }, rng) : batch.x;
      if (options.augment && options.keepUnaugmented) {
        const size = shape[0] * shape[1] * shape[2];
        batch.indices.forEach((index, i) => {
          if (options.keepUnaugmented?.(index)) x.set(batch.x.subarray(i * size, (i + 1) * size), i * size);
        });
      }
      const xs = tf.tensor4d(x, [n, ...shape]); // [N, H, W, C]
      let predicted: Int32Array | undefined;
      const loss = optimizeStep(
        vars,
        () => {
          const logits = net.logits(xs, { bnMode: options.freezeBatchNorm ? 'eval' : 'train', dropout: true, dropoutSeed: rng.int(2 ** 31) });
          predicted = tf.argMax(logits, -1).dataSync() as Int32Array;
          return crossEntropy(logits, batch.y);
        },
        optimizer,
      );
      xs.dispose();
      lossSum += loss * n;
      seen += n;
      for (let i = 0; i < n; i++) if (predicted?.[i] === batch.y[i]) correct++;
      step++;
      control.onProgress?.({ phase: `train epoch ${epoch + 1}/${options.epochs}`, done: step, total: stepsPerEpoch, message: `loss ${(lossSum / seen).toFixed(3)}` });
    }
    const record = { epoch, learningRate: lr, loss: lossSum / seen, trainAccuracy: correct / seen, seconds: (Date.now() - started) / 1000 };
    history.push(record);
    control.onEpoch?.(record);
  }
  return { history, optimizer };
}

/** Multiplies the base rate by `factor` at each milestone epoch (PyTorch's MultiStepLR). */
export function multiStep(base: number, milestones: number[], factor = 0.1): (epoch: number) => number {
  return (epoch) => base * factor ** milestones.filter((m) => epoch >= m).length;
}

/** Cosine annealing from `base` to 0 over `epochs`. */
export function cosine(base: number, epochs: number): (epoch: number) => number {
  return (epoch) => 0.5 * base * (1 + Math.cos((Math.PI * epoch) / epochs));
}
