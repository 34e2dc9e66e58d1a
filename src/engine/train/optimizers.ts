/**
 * Optimisers with PyTorch's semantics, so that recipes from the papers (SGD with momentum and
 * weight decay; Adam for BAN's mask) mean the same numbers here.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface Optimizer {
  /** Applies one update; `grads` is keyed like `vars`. */
  step(vars: tf.Variable[], grads: tf.Tensor[]): void;
  setLearningRate(lr: number): void;
  dispose(): void;
}

/**
 * SGD as torch.optim.SGD: g' = g + wd·w; buf = m·buf + g'; w -= lr·buf (no dampening, not Nesterov).
 * The momentum buffers persist across calls and across learning-rate changes; NONE relies on that
 * (zeroed neurons regrow only through the old momentum).
 */
export class Sgd implements Optimizer {
  private readonly buffers = new Map<tf.Variable, tf.Variable>();

  constructor(
    private lr: number,
    private readonly momentum = 0.9,
    private readonly weightDecay = 0,
  ) {}

  setLearningRate(lr: number): void {
    this.lr = lr;
  }

  step(vars: tf.Variable[], grads: tf.Tensor[]): void {
    vars.forEach((v, i) => {
      tf.tidy(() => {
        const g = this.weightDecay ? tf.add(grads[i], tf.mul(v, this.weightDecay)) : grads[i];
        let update: tf.Tensor = g;
        if (this.momentum) {
          let buf = this.buffers.get(v);
          if (!buf) {
            // PyTorch initialises the buffer with the first gradient itself.
            buf = tf.variable(tf.clone(g), false);
            this.buffers.set(v, buf);
          } else {
            buf.assign(tf.add(tf.mul(buf, this.momentum), g));
          }
          update = buf;
        }
        v.assign(tf.sub(v, tf.mul(update, this.lr)));
      });
    });
  }

  /** An independent copy with the same learning rate and momentum buffers, to branch a run. */
  clone(): Sgd {
    const copy = new Sgd(this.lr, this.momentum, this.weightDecay);
    for (const [v, buf] of this.buffers) copy.buffers.set(v, tf.variable(buf.clone(), false));
    return copy;
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}

/** Adam as torch.optim.Adam (β1 0.9, β2 0.999, ε 1e-8, bias-corrected). */
export class Adam implements Optimizer {
  private readonly m = new Map<tf.Variable, tf.Variable>();
  private readonly v = new Map<tf.Variable, tf.Variable>();
  private t = 0;

  constructor(
    private lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {}

  setLearningRate(lr: number): void {
    this.lr = lr;
  }

  step(vars: tf.Variable[], grads: tf.Tensor[]): void {
    this.t += 1;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    vars.forEach((p, i) => {
      tf.tidy(() => {
        const g = grads[i];
        let m = this.m.get(p);
        let v = this.v.get(p);
        if (!m || !v) {
          m = tf.variable(tf.zerosLike(p), false);
          v = tf.variable(tf.zerosLike(p), false);
          this.m.set(p, m);
          this.v.set(p, v);
        }
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(c2)), this.epsilon);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), this.lr / c1)));
      });
    });
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
