/**
 * MAML's derivatives by nested tf.grads through the higher-order-safe ops, task by task: the
 * reference that the analytic products of agents/curvature.ts are tested against, and the inner
 * loss both share. Tasks are lists of per-task parameter tensors (`Params[]`), flattened for
 * tf.grads, which keys gradients by tensor object.
 *
 *   innerLoss      L_in(P; D) = −Σ_n w_n A_n log π_P(a_n | s_n)
 *   gradsPerTask   ∇_{P_t} f(P_t, t) for every task
 *   hvpPerTask     ∇²_{P_t} f(P_t, t) · V_t for every task (a double backward pass)
 *   adaptStep      P_t − α ∇L_in(P_t; D_t)
 */
import * as tf from '@tensorflow/tfjs';
import { type Params, type PolicySpec, logProb } from './policy.ts';
import type { TaskData } from './taskData.ts';

/** Inner (VPG) loss of one task: −mean log π(a|s)·A. */
export function innerLoss(spec: PolicySpec, P: Params, d: TaskData): tf.Tensor {
  return tf.neg(tf.sum(tf.mul(tf.mul(logProb(spec, P, d.obs, d.actions), d.advantages), d.weights)));
}

/** Applies `f` to every task's slice of a flat list of T × (params per task) tensors. */
export function perTask<R>(flat: tf.Tensor[], T: number, f: (P: Params, t: number) => R): R[] {
  const n = flat.length / T;
  return Array.from({ length: T }, (_, t) => f(flat.slice(t * n, (t + 1) * n), t));
}

/** Gradients of Σ_t f(P_t, t) with respect to every P_t (so task t's slice is ∇f_t). */
export function gradsPerTask(Ps: Params[], f: (P: Params, t: number) => tf.Tensor): Params[] {
  const T = Ps.length;
  const g = tf.grads((...flat: tf.Tensor[]) => tf.addN(perTask(flat, T, f)))(Ps.flat());
  return perTask(g, T, (P) => P);
}

/** Hessian-vector products of every f(P_t, t) with V_t. */
export function hvpPerTask(Ps: Params[], V: Params[], f: (P: Params, t: number) => tf.Tensor): Params[] {
  const T = Ps.length;
  const Vflat = V.flat();
  const hv = tf.grads((...flat: tf.Tensor[]) => {
    const g = tf.grads((...inner: tf.Tensor[]) => tf.addN(perTask(inner, T, f)))(flat);
    return tf.addN(g.map((gi, i) => tf.sum(tf.mul(gi, Vflat[i]))));
  })(Ps.flat());
  return perTask(hv, T, (P) => P);
}

/** One inner step for every task: P_t − α ∇L_in(P_t; D_t). */
export function adaptStep(spec: PolicySpec, Ps: Params[], ds: TaskData[], lr: number): Params[] {
  const g = gradsPerTask(Ps, (P, t) => innerLoss(spec, P, ds[t]));
  return Ps.map((P, t) => P.map((p, i) => tf.sub(p, tf.mul(g[t][i], lr))));
}

/** Mean over tasks, flattened into one float64 vector. */
export function meanOverTasks(G: Params[]): Float64Array {
  const T = G.length;
  const means = tf.tidy(() => G[0].map((_, i) => tf.div(tf.addN(G.map((g) => g[i])), T)));
  const out = new Float64Array(means.reduce((s, m) => s + m.size, 0));
  let k = 0;
  for (const m of means) {
    out.set(m.dataSync(), k);
    k += m.size;
  }
  tf.dispose(means);
  return out;
}

