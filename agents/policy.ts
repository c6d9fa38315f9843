/**
 * Gaussian MLP policy as a pure function of explicit parameters, so MAML can evaluate the same
 * network at θ and at every task's adapted θ' without copying modules.
 *
 * Parameters, in order: for each layer l, W_l [in, out] and b_l [out]; then logStd [actDim]
 * (state-independent). A *flat* parameter vector concatenates them row-major in that order.
 */
import * as tf from '@tensorflow/tfjs';
import { exp, matMul, relu, tanh } from '../src/tensor/ops.ts';
import type { Rng } from '../src/core/rng.ts';

export type { Activation, PolicySpec } from './hostPolicy.ts';
export { HostPolicy } from './hostPolicy.ts';
import type { PolicySpec } from './hostPolicy.ts';

/** The presets named in the docs: `default` (pytorch-maml-rl) and `paper` (MAML paper / rllab). */
export const POLICY_PRESETS: Record<'default' | 'paper', Pick<PolicySpec, 'hidden' | 'activation' | 'initStd'>> = {
  default: { hidden: [64, 64], activation: 'tanh', initStd: 1 },
  paper: { hidden: [100, 100], activation: 'relu', initStd: 1 },
};

/** Shapes of the unbatched parameters, in flat order. */
export function paramShapes(spec: PolicySpec): number[][] {
  const sizes = [spec.obsDim, ...spec.hidden, spec.actDim];
  const shapes: number[][] = [];
  for (let l = 0; l + 1 < sizes.length; l++) shapes.push([sizes[l], sizes[l + 1]], [sizes[l + 1]]);
  shapes.push([spec.actDim]);
  return shapes;
}

/** Length of the flat parameter vector θ of a policy (weights, biases, log-std). */
export function numParams(spec: PolicySpec): number {
  return paramShapes(spec).reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
}

/** Glorot-uniform weights, zero biases, logStd = log(initStd). */
export function initParams(spec: PolicySpec, rng: Rng): Float32Array {
  const out = new Float32Array(numParams(spec));
  let k = 0;
  for (const sh of paramShapes(spec)) {
    const n = sh.reduce((a, b) => a * b, 1);
    if (sh.length === 2) {
      const lim = Math.sqrt(6 / (sh[0] + sh[1]));
      for (let i = 0; i < n; i++) out[k + i] = rng.range(-lim, lim);
    }
    k += n;
  }
  for (let j = 0; j < spec.actDim; j++) out[k - spec.actDim + j] = Math.log(typeof spec.initStd === 'number' ? spec.initStd : spec.initStd[j]);
  return out;
}


// ---------------------------------------------------------------- tensors (learning)

/**
 * Parameters of one task as tensors, unbatched: W_l [in, out], b_l [out], logStd [actDim].
 * Tasks are kept as separate lists rather than one batched tensor: tfjs's batched matMul is
 * ~10× slower than T plain ones on the wasm backend.
 */
export type Params = tf.Tensor[];

/** Tensors of one flat parameter vector. */
export function toParams(spec: PolicySpec, flat: ArrayLike<number>): Params {
  let k = 0;
  return paramShapes(spec).map((sh) => {
    const n = sh.reduce((a, b) => a * b, 1);
    const buf = new Float32Array(n);
    for (let i = 0; i < n; i++) buf[i] = flat[k + i];
    k += n;
    return tf.tensor(buf, sh);
  });
}

/** The flat vector of a parameter list (reads it back to the host). */
export function toFlat(P: Params): Float32Array {
  const out = new Float32Array(P.reduce((s, p) => s + p.size, 0));
  let k = 0;
  for (const p of P) {
    out.set(p.dataSync(), k);
    k += p.size;
  }
  return out;
}

/** Action means for observations [N, obsDim] → [N, actDim]. */
export function meanOf(spec: PolicySpec, P: Params, obs: tf.Tensor): tf.Tensor {
  const act = spec.activation === 'relu' ? relu : tanh;
  const layers = spec.hidden.length + 1;
  let h = obs;
  for (let l = 0; l < layers; l++) {
    h = tf.add(matMul(h, P[2 * l]), P[2 * l + 1]);
    if (l + 1 < layers) h = act(h);
  }
  return h;
}

/** The logStd tensor [actDim]. */
export function logStdTensor(P: Params): tf.Tensor {
  return P[P.length - 1];
}

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** log π(a|s) for actions [N, actDim] → [N]. */
export function logProb(spec: PolicySpec, P: Params, obs: tf.Tensor, actions: tf.Tensor): tf.Tensor {
  return logProbFromMean(spec, meanOf(spec, P, obs), logStdTensor(P), actions);
}

/** log π(a|s) [N] from the action means [N, actDim] and logStd [actDim]. */
export function logProbFromMean(spec: PolicySpec, mu: tf.Tensor, logStd: tf.Tensor, actions: tf.Tensor): tf.Tensor {
  const z = tf.mul(tf.sub(actions, mu), exp(tf.neg(logStd)));
  const quad = tf.sum(tf.mul(z, z), -1);
  return tf.sub(tf.mul(quad, -0.5), tf.add(tf.sum(logStd), spec.actDim * HALF_LOG_2PI));
}

/** KL(old ‖ π_P) per step [N] for diagonal Gaussians; old given by means [N, actDim] and logStd [actDim]. */
export function klFrom(spec: PolicySpec, P: Params, obs: tf.Tensor, oldMean: tf.Tensor, oldLogStd: tf.Tensor): tf.Tensor {
  return klFromMean(spec, meanOf(spec, P, obs), logStdTensor(P), oldMean, oldLogStd);
}

/** KL(old ‖ new) per step [N] from the new means [N, actDim] and logStd [actDim]. */
export function klFromMean(spec: PolicySpec, mu: tf.Tensor, logStd: tf.Tensor, oldMean: tf.Tensor, oldLogStd: tf.Tensor): tf.Tensor {
  const invVar = exp(tf.mul(logStd, -2));
  const diff = tf.sub(oldMean, mu);
  const oldVar = exp(tf.mul(oldLogStd, 2));
  const per = tf.add(tf.sub(logStd, oldLogStd), tf.mul(tf.add(oldVar, tf.mul(diff, diff)), tf.mul(invVar, 0.5)));
  return tf.sub(tf.sum(per, -1), 0.5 * spec.actDim);
}
