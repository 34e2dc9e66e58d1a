/**
 * BAN's mitigation: fine-tuning with adversarial neuron noise (Xu, Liu, Koffas, Picek; NeurIPS
 * 2024), as the authors' `ban_finetune.py` runs it; shared/research/ban.md §5 is the
 * specification.
 *
 * BAN's detection shows that a backdoored model, under small multiplicative noise on its
 * BatchNorm scale and shift, sends clean inputs to the target class: the backdoor is a direction
 * the noise finds easily. The repair trains the model to keep its clean labels under that noise,
 * on a small clean set (5% of the training data):
 *
 *     per batch (x, y):
 *       δ ~ U(−ε, ε) for every BatchNorm channel's scale and shift       (fresh noise per batch)
 *       S times: δ ← δ + (ε/S)·sign(∂CE(M_δ(x), y)/∂δ)                     (ascent, no projection)
 *       L = CE(M(x), y) + λ·CE(M_δ(x), y),  M_δ with γ·(1+δw), β·(1+δb)
 *       SGD step on L over every weight
 *
 * The noisy term's gradient reaches the weights through γ(1+δ) and β(1+δ) (δ is held fixed in the
 * weight step) and through every layer before and after each BatchNorm. BatchNorm is in train
 * mode throughout, as `model.train()` leaves it: batch statistics, with the running statistics
 * updated by every forward pass, noise steps included.
 *
 * Settings are the README command's: lr 0.005, λ (rob_lambda) 0.5, ε 0.3, S 1; SGD with momentum
 * 0.9, weight decay 5e-4 and the code's MultiStepLR (×0.1 at epochs 100 and 150). The README's
 * `--epoch 25` runs 24 epochs (`range(1, args.epoch)`), so 24 is the default here. The authors'
 * loader does not shuffle (`shuffle=False`) and augments (crop and flip), and so does this loop.
 * The feature mask of BAN's detection plays no part: the released fine-tuning never calls it.
 *
 * The noise ascent reuses detect/ban.ts (createNoise, resetNoise, noiseAscentStep), so detection
 * and repair perturb the model in exactly the same way.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batches } from '../data';
import { DEFAULT_BAN_SETTINGS, createNoise, disposeNoise, noiseAscentStep, noiseMap, NoiseState, resetNoise } from '../detect/ban';
import { throwIfAborted } from '../errors';
import { Network } from '../graph/executor';
import { RunControl } from '../progress';
import { Rng } from '../random';
import { BanFinetuneEpochReport, BanFinetuneSettings, BanSettings } from '../report';
import { augmentBatch } from '../train/augment';
import { crossEntropy } from '../train/loss';
import { Sgd } from '../train/optimizers';
import { optimizeStep } from '../train/step';
import { blackPixelValue, multiStep } from '../train/trainer';
import { LabelledImages } from './none';

export function defaultBanFinetuneSettings(): BanFinetuneSettings {
  return {
    epochs: 24,
    learningRate: 0.005,
    momentum: 0.9,
    weightDecay: 5e-4,
    robLambda: 0.5,
    eps: 0.3,
    steps: 1,
    batchSize: 128,
    augment: true,
    dataFraction: 0.05,
    seed: 0,
  };
}

/** The code's learning-rate milestones (MultiStepLR([100, 150], 0.1)). */
const MILESTONES = [100, 150];

/**
 * The combined objective on one batch with the noise held fixed: CE(M(x), y) + λ·CE(M_δ(x), y),
 * both passes in train-mode BatchNorm. Returns the loss and its two parts' values.
 */
export function banFinetuneLoss(net: Network, noise: Map<string, NoiseState>, x: tf.Tensor4D, y: Int32Array, robLambda: number): { loss: tf.Scalar; clean: number; noisy: number } {
  return tf.tidy(() => {
    // The noisy pass first, as the authors' loop computes it before the clean one; each pass
    // updates the running statistics once.
    const noisy = crossEntropy(net.logits(x, { bnMode: 'train', noise: noiseMap(noise) }), y); // CE(M_δ(x), y)
    const clean = crossEntropy(net.logits(x, { bnMode: 'train' }), y); // CE(M(x), y)
    const loss = tf.add(clean, tf.mul(noisy, robLambda)) as tf.Scalar;
    return { loss, clean: clean.dataSync()[0], noisy: noisy.dataSync()[0] };
  });
}

/** Fine-tunes `net` in place on `data` (BAN's small clean set). Returns one record per epoch. */
export async function banFinetune(
  net: Network,
  data: LabelledImages,
  settings: BanFinetuneSettings,
  control: RunControl & { onEpoch?: (record: BanFinetuneEpochReport) => void } = {},
): Promise<BanFinetuneEpochReport[]> {
  const rng = new Rng(settings.seed);
  const shape = net.inputShape;
  const padValue = blackPixelValue(data.preprocessing, shape[2]);
  const schedule = multiStep(settings.learningRate, MILESTONES);
  // detect/ban.ts's ascent step reads S and the variant; 'official' is the code's unprojected noise.
  const noiseSettings: BanSettings = { ...DEFAULT_BAN_SETTINGS, steps: settings.steps, noiseVariant: 'official' };
  const optimizer = new Sgd(settings.learningRate, settings.momentum, settings.weightDecay);
  const noise = createNoise(net);
  const vars = net.trainableVariables();
  const stepsPerEpoch = Math.ceil(data.indices.length / settings.batchSize);
  const history: BanFinetuneEpochReport[] = [];
  try {
    for (let epoch = 0; epoch < settings.epochs; epoch++) {
      const started = Date.now();
      const lr = schedule(epoch);
      optimizer.setLearningRate(lr);
      let sums = { loss: 0, clean: 0, noisy: 0 };
      let seen = 0;
      let step = 0;
      for await (const batch of batches(data.dataset, data.indices, settings.batchSize, shape, data.preprocessing, { signal: control.signal })) {
        throwIfAborted(control.signal);
        const n = batch.y.length;
        const pixels = settings.augment ? augmentBatch(batch.x, [n, ...shape], { pad: 4, flip: true, padValue }, rng) : batch.x;
        if (settings.augment && data.keepUnaugmented) {
          const size = shape[0] * shape[1] * shape[2];
          batch.indices.forEach((index, i) => {
            if (data.keepUnaugmented?.(index)) pixels.set(batch.x.subarray(i * size, (i + 1) * size), i * size);
          });
        }
        const x = tf.tensor4d(pixels, [n, ...shape]); // [B, H, W, C]
        resetNoise(noise, settings.eps, rng);
        for (let s = 0; s < settings.steps; s++) {
          throwIfAborted(control.signal);
          noiseAscentStep(net, noise, x, batch.y, noiseSettings, settings.eps, false);
        }
        let parts = { clean: 0, noisy: 0 };
        const loss = optimizeStep(
          vars,
          () => {
            const result = banFinetuneLoss(net, noise, x, batch.y, settings.robLambda);
            parts = { clean: result.clean, noisy: result.noisy };
            return result.loss;
          },
          optimizer,
        );
        x.dispose();
        sums = { loss: sums.loss + loss * n, clean: sums.clean + parts.clean * n, noisy: sums.noisy + parts.noisy * n };
        seen += n;
        step += 1;
        control.onProgress?.({ phase: `BAN fine-tune epoch ${epoch + 1}/${settings.epochs}`, done: step, total: stepsPerEpoch, message: `loss ${(sums.loss / seen).toFixed(3)}` });
      }
      const record = { epoch, learningRate: lr, loss: sums.loss / seen, cleanLoss: sums.clean / seen, noisyLoss: sums.noisy / seen, seconds: (Date.now() - started) / 1000 };
      history.push(record);
      control.onEpoch?.(record);
    }
    return history;
  } finally {
    disposeNoise(noise);
    optimizer.dispose();
  }
}
