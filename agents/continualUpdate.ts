/**
 * Meta-updates for continual learning: the MAML meta-gradient of one *item* (a task's
 * pre-adaptation rows and post-adaptation rows, collected by some earlier policy), and the MER
 * update that applies such gradients one item at a time with Reptile interpolation.
 *
 * Off-policy item gradient at θ (the behaviour log-probabilities were recorded when sampling):
 *   inner step   θ' = θ − α ∇L_in(θ),  L_in = −Σ_n w_n ρ_n A_n log π_θ(a_n|s_n),
 *                ρ_n = min(π_θ/π_b, ρ̄) on the pre rows (truncated importance weight, a constant)
 *   outer loss   L_out(θ') = −Σ_n w_n min(r_n A_n, clip(r_n, 1−ε, 1+ε) A_n),  r_n = π_θ'/π_b on the post rows
 *                whose gradient is that of a VPG loss with weights w_n r_n 1[not clipped]
 *   meta-gradient  g = (I − α H_in(θ)) ∇L_out(θ')  (first-order: g = ∇L_out(θ'))
 * The ρ and r factors are treated as constants in H_in; with on-policy data (ρ = r = 1) this is
 * exactly the MAML meta-gradient of agents/maml.ts. Every product uses agents/curvature.ts.
 *
 * MER (REFERENCE §4) over batches B_1 … B_s of items: θ_A = θ; for each batch: θ_W = θ; for each
 * item: θ ← θ − η g(θ, item); then θ ← θ_W + β (θ − θ_W); finally θ ← θ_A + γ (θ − θ_A).
 * β = γ = 1 gives plain sequential SGD over the items (the `replay` and `online` methods).
 */
import * as tf from '@tensorflow/tfjs';
import { type PolicySpec, logProbFromMean, logStdTensor, meanOf, toParams } from './policy.ts';
import { TaskCurvature } from './curvature.ts';
import type { TaskData } from './taskData.ts';
import { NumericError } from '../src/core/errors.ts';

/** Rows of one phase with the behaviour policy's log-probabilities of their actions. */
export interface OffPolicyRows extends TaskData {
  behaviourLogp: tf.Tensor; // [N]
}

/** One replayable unit: a task's rows to adapt on and rows to evaluate the adapted policy on. */
export interface ReplayItem {
  pre: OffPolicyRows;
  post: OffPolicyRows;
}

export interface ItemGradientOptions {
  /** Inner step size α. */
  fastLr: number;
  firstOrder: boolean;
  /** PPO clip range ε of the outer surrogate. */
  clip: number;
  /** Truncation ρ̄ of the inner importance weights. */
  maxImportance: number;
}

/** log π_θ(a|s) of the rows, as a new tensor [N]. */
function logpAt(spec: PolicySpec, theta: ArrayLike<number>, rows: TaskData): tf.Tensor {
  const P = toParams(spec, theta);
  const out = tf.tidy(() => logProbFromMean(spec, meanOf(spec, P, rows.obs), logStdTensor(P), rows.actions));
  tf.dispose(P);
  return out;
}

/** The rows with weights w·factor, where factor is computed from log π_θ − log π_b. */
function reweighted(spec: PolicySpec, theta: ArrayLike<number>, rows: OffPolicyRows, factor: (logRatio: tf.Tensor, adv: tf.Tensor) => tf.Tensor): TaskData {
  const logp = logpAt(spec, theta, rows);
  const weights = tf.tidy(() => tf.mul(rows.weights, factor(tf.sub(logp, rows.behaviourLogp), rows.advantages)));
  logp.dispose();
  return { obs: rows.obs, actions: rows.actions, advantages: rows.advantages, weights };
}

/** Meta-gradient of one item at θ (see the file comment), float64. */
export function itemMetaGradient(spec: PolicySpec, theta: Float32Array, item: ReplayItem, o: ItemGradientOptions): Float64Array {
  const pre = reweighted(spec, theta, item.pre, (lr) => tf.minimum(tf.exp(lr), o.maxImportance));
  try {
    const inner = new TaskCurvature(spec, theta, pre);
    try {
      const gIn = inner.innerGrad();
      const adapted = Float32Array.from(theta, (x, j) => x - o.fastLr * gIn[j]);
      const post = reweighted(spec, adapted, item.post, (lr, adv) => {
        const r = tf.exp(lr);
        // min(rA, clip(r)A) has gradient rA∇logπ where the unclipped term is the smaller one.
        const active = tf.logicalOr(tf.logicalAnd(tf.greater(adv, 0), tf.lessEqual(r, 1 + o.clip)), tf.logicalAnd(tf.lessEqual(adv, 0), tf.greaterEqual(r, 1 - o.clip)));
        return tf.mul(r, tf.cast(active, 'float32'));
      });
      try {
        const outer = new TaskCurvature(spec, adapted, post);
        const gOut = outer.innerGrad();
        outer.dispose();
        if (o.firstOrder) return gOut;
        const h = inner.innerHvp(gOut);
        return gOut.map((x, j) => x - o.fastLr * h[j]);
      } finally {
        post.weights.dispose();
      }
    } finally {
      inner.dispose();
    }
  } finally {
    pre.weights.dispose();
  }
}

export interface MerOptions {
  /** SGD step size η per item. */
  lr: number;
  /** Within-batch Reptile interpolation β (1 = none). */
  beta: number;
  /** Across-batch Reptile interpolation γ (1 = none). */
  gamma: number;
}

/** θ after MER over `batches` (each a list of items, applied in order); see the file comment. */
export function merUpdate(theta: Float32Array, batches: ReplayItem[][], grad: (theta: Float32Array, item: ReplayItem) => Float64Array, o: MerOptions): Float32Array {
  const thetaA = theta;
  let current = theta;
  for (const batch of batches) {
    const thetaW = current;
    for (const item of batch) {
      const g = grad(current, item);
      const next = Float32Array.from(current, (x, j) => x - o.lr * g[j]);
      if (!next.every(Number.isFinite)) throw new NumericError('MER: non-finite parameters after an item step');
      current = next;
    }
    current = Float32Array.from(current, (x, j) => thetaW[j] + o.beta * (x - thetaW[j]));
  }
  return Float32Array.from(current, (x, j) => thetaA[j] + o.gamma * (x - thetaA[j]));
}
