/**
 * The RL² policy: a GRU over x_t = [o_t, a_{t−1}, r_{t−1}, d_{t−1}] (previous action, previous
 * reward, and 1 on the first step of an episode that follows another in the same trial), with a
 * linear Gaussian head. A pure function of one flat parameter vector θ, like policy.ts's MLP.
 *
 * With I = obsDim + actDim + 2 inputs, U = `hidden` units and A = actDim, per step (rows = trials):
 *     [g_z | g_r | g_n] = x_t W_x + b                          x_t [B, I], W_x [I, 3U], b [3U]
 *     z = σ(g_z + h U_z),  r = σ(g_r + h U_r)                  [U_z | U_r] = U_zr [U, 2U]
 *     n = tanh(g_n + (r ⊙ h) U_n)                              U_n [U, U]
 *     h_t = (1 − z) ⊙ n + z ⊙ h_{t−1},  h_{−1} = 0             h [B, U]
 *     μ_t = h_t W_o + b_o,  σ = e^{logStd}                     W_o [U, A], b_o [A], logStd [A]
 * The action at step t is drawn from N(μ_t, σ²): μ_t sees x_t itself.
 *
 * Flat layout (row-major, in this order): W_x [I, 3U] (columns z | r | n), U_zr [U, 2U]
 * (columns z | r), U_n [U, U], b [3U], W_o [U, A], b_o [A], logStd [A].
 *
 * Two versions of the same network: `HostGru` (float64 loops, for sampling: one step for many
 * rows) and `gruMeans` (tfjs, unrolled over L steps of [B, I] for learning, through the
 * higher-order-safe ops so that nested gradients are right). agents/gruDerivatives.ts has its
 * Jacobian-vector products for TRPO.
 */
import * as tf from '@tensorflow/tfjs';
import { exp, matMul, sigmoid, tanh } from '../src/tensor/ops.ts';
import type { Rng } from '../src/core/rng.ts';

export interface GruSpec {
  obsDim: number;
  actDim: number;
  /** Units U of the hidden state. */
  hidden: number;
  /** Initial standard deviation of the action noise: one for all dimensions, or one per dimension. */
  initStd: number | number[];
}

/** Width I of the GRU's input x_t = [obs, previous action, previous reward, done flag]. */
export function gruInputDim(spec: GruSpec): number {
  return spec.obsDim + spec.actDim + 2;
}

const NAMES = ['wx', 'uzr', 'un', 'b', 'wo', 'bo', 'logStd'] as const;
type Name = (typeof NAMES)[number];

/** Shapes of the parameters, in flat order. */
export function gruShapes(spec: GruSpec): Record<Name, number[]> {
  const [I, U, A] = [gruInputDim(spec), spec.hidden, spec.actDim];
  return { wx: [I, 3 * U], uzr: [U, 2 * U], un: [U, U], b: [3 * U], wo: [U, A], bo: [A], logStd: [A] };
}

const sizeOf = (sh: number[]) => sh.reduce((a, b) => a * b, 1);

/** Length of θ: 3U(I + U + 1) + (U + 2)A. */
export function numGruParams(spec: GruSpec): number {
  return Object.values(gruShapes(spec)).reduce((s, sh) => s + sizeOf(sh), 0);
}

/** Offset of each parameter in θ. */
function offsets(spec: GruSpec): Record<Name, number> {
  const shapes = gruShapes(spec);
  let k = 0;
  const out = {} as Record<Name, number>;
  for (const n of NAMES) {
    out[n] = k;
    k += sizeOf(shapes[n]);
  }
  return out;
}

/**
 * Glorot-uniform input and output weights (per gate), random orthogonal recurrent blocks (norm-
 * preserving, so the hidden state neither explodes nor vanishes at first), zero biases,
 * logStd = log initStd.
 */
export function initGruParams(spec: GruSpec, rng: Rng): Float32Array {
  const [I, U, A] = [gruInputDim(spec), spec.hidden, spec.actDim];
  const out = new Float32Array(numGruParams(spec));
  const at = offsets(spec);
  const limX = Math.sqrt(6 / (I + U));
  for (let i = 0; i < I * 3 * U; i++) out[at.wx + i] = rng.range(-limX, limX);
  for (let g = 0; g < 3; g++) {
    const q = randomOrthogonal(U, rng);
    // Block g goes to columns g·U… of U_zr (z, r) or to U_n.
    for (let i = 0; i < U; i++) {
      for (let j = 0; j < U; j++) {
        if (g < 2) out[at.uzr + i * 2 * U + g * U + j] = q[i * U + j];
        else out[at.un + i * U + j] = q[i * U + j];
      }
    }
  }
  const limO = Math.sqrt(6 / (U + A));
  for (let i = 0; i < U * A; i++) out[at.wo + i] = rng.range(-limO, limO);
  for (let j = 0; j < A; j++) out[at.logStd + j] = Math.log(typeof spec.initStd === 'number' ? spec.initStd : spec.initStd[j]);
  return out;
}

/** An n×n orthogonal matrix (row-major): Gram–Schmidt on the rows of a Gaussian matrix. */
function randomOrthogonal(n: number, rng: Rng): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (;;) {
      for (let j = 0; j < n; j++) q[i * n + j] = rng.normal();
      for (let p = 0; p < i; p++) {
        let d = 0;
        for (let j = 0; j < n; j++) d += q[i * n + j] * q[p * n + j];
        for (let j = 0; j < n; j++) q[i * n + j] -= d * q[p * n + j];
      }
      let norm = 0;
      for (let j = 0; j < n; j++) norm += q[i * n + j] ** 2;
      norm = Math.sqrt(norm);
      if (norm > 1e-6) {
        for (let j = 0; j < n; j++) q[i * n + j] /= norm;
        break;
      }
    }
  }
  return q;
}

// ---------------------------------------------------------------- host (sampling)

/**
 * The GRU on the host in float64: one step for many rows at a time. Weights are stored transposed
 * so that every output is a contiguous dot product.
 */
export class HostGru {
  readonly inDim: number;
  readonly std: Float64Array;
  private readonly wxT: Float64Array; // [3U, I]
  private readonly uzrT: Float64Array; // [2U, U]
  private readonly unT: Float64Array; // [U, U]
  private readonly b: Float64Array;
  private readonly woT: Float64Array; // [A, U]
  private readonly bo: Float64Array;
  private readonly g: Float64Array; // 3U scratch: input gates
  private readonly rh: Float64Array; // U scratch

  constructor(readonly spec: GruSpec, flat: ArrayLike<number>) {
    if (flat.length !== numGruParams(spec)) throw new Error(`HostGru: ${flat.length} parameters for a spec that has ${numGruParams(spec)}`);
    const [I, U, A] = [gruInputDim(spec), spec.hidden, spec.actDim];
    const at = offsets(spec);
    const transposed = (off: number, rows: number, cols: number) => {
      const t = new Float64Array(rows * cols);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = flat[off + i * cols + j];
      return t;
    };
    this.inDim = I;
    this.wxT = transposed(at.wx, I, 3 * U);
    this.uzrT = transposed(at.uzr, U, 2 * U);
    this.unT = transposed(at.un, U, U);
    this.b = Float64Array.from({ length: 3 * U }, (_, j) => flat[at.b + j]);
    this.woT = transposed(at.wo, U, A);
    this.bo = Float64Array.from({ length: A }, (_, j) => flat[at.bo + j]);
    this.std = Float64Array.from({ length: A }, (_, j) => Math.exp(flat[at.logStd + j]));
    this.g = new Float64Array(3 * U);
    this.rh = new Float64Array(U);
  }

  /**
   * One step for `rows` rows: h [rows, U] and x [rows, I] in, hOut [rows, U] and mean [rows, A]
   * out (hOut may not alias h).
   */
  step(h: Float64Array, x: ArrayLike<number>, rows: number, hOut: Float64Array, mean: Float32Array | Float64Array): void {
    const [I, U, A] = [this.inDim, this.spec.hidden, this.spec.actDim];
    const { g, rh } = this;
    for (let r = 0; r < rows; r++) {
      const xo = r * I;
      const ho = r * U;
      for (let j = 0; j < 3 * U; j++) {
        let s = this.b[j];
        for (let i = 0; i < I; i++) s += this.wxT[j * I + i] * x[xo + i];
        g[j] = s;
      }
      // z into g[0…U), r into g[U…2U).
      for (let j = 0; j < 2 * U; j++) {
        let s = g[j];
        for (let k = 0; k < U; k++) s += this.uzrT[j * U + k] * h[ho + k];
        g[j] = 1 / (1 + Math.exp(-s));
      }
      for (let k = 0; k < U; k++) rh[k] = g[U + k] * h[ho + k];
      for (let j = 0; j < U; j++) {
        let s = g[2 * U + j];
        for (let k = 0; k < U; k++) s += this.unT[j * U + k] * rh[k];
        const n = Math.tanh(s);
        hOut[ho + j] = n + g[j] * (h[ho + j] - n);
      }
      for (let a = 0; a < A; a++) {
        let s = this.bo[a];
        for (let k = 0; k < U; k++) s += this.woT[a * U + k] * hOut[ho + k];
        mean[r * A + a] = s;
      }
    }
  }
}

// ---------------------------------------------------------------- tensors (learning)

/** θ as tensors, by name (shapes as in `gruShapes`). */
export type GruParams = Record<Name, tf.Tensor>;

/** Tensors of a flat parameter vector. */
export function toGruParams(spec: GruSpec, flat: ArrayLike<number>): GruParams {
  const shapes = gruShapes(spec);
  const at = offsets(spec);
  const out = {} as GruParams;
  for (const n of NAMES) out[n] = tf.tensor(Float32Array.from({ length: sizeOf(shapes[n]) }, (_, i) => flat[at[n] + i]), shapes[n]);
  return out;
}

/** The parameters as a list in flat order (for tf.grads) and back. */
export const gruParamList = (P: GruParams): tf.Tensor[] => NAMES.map((n) => P[n]);
export const gruParamsOf = (list: tf.Tensor[]): GruParams => Object.fromEntries(NAMES.map((n, i) => [n, list[i]])) as GruParams;

/** The flat vector (float64) of gradients or products given in flat order. */
export function flatOf(list: tf.Tensor[]): Float64Array {
  const out = new Float64Array(list.reduce((s, t) => s + t.size, 0));
  let k = 0;
  for (const t of list) {
    out.set(t.dataSync(), k);
    k += t.size;
  }
  return out;
}

/**
 * A batch of input sequences as one tensor [B, I] per step (L of them). The sequence axis is
 * unrolled on the host: slicing one step out of a [B, L, I] tensor costs ~0.3 ms on the wasm
 * backend, a fresh tensor from the host ~10 µs.
 */
export type StepInputs = tf.Tensor[];

/** Per-step tensors of host inputs laid out [B, L, I] (sequence b's step t at row b·L + t). */
export function stepInputs(spec: GruSpec, x: ArrayLike<number>, B: number, L: number): StepInputs {
  const I = gruInputDim(spec);
  if (x.length !== B * L * I) throw new Error(`stepInputs: ${x.length} values for [${B}, ${L}, ${I}]`);
  return Array.from({ length: L }, (_, t) => {
    const buf = new Float32Array(B * I);
    for (let b = 0; b < B; b++) for (let i = 0; i < I; i++) buf[b * I + i] = x[(b * L + t) * I + i];
    return tf.tensor2d(buf, [B, I]);
  });
}

function checkInputs(spec: GruSpec, inputs: StepInputs): number {
  const I = gruInputDim(spec);
  if (inputs.length === 0) throw new Error('gruMeans: no steps');
  const B = inputs[0].shape[0];
  for (const x of inputs) if (x.rank !== 2 || x.shape[0] !== B || x.shape[1] !== I) throw new Error(`gruMeans: every step's input must be [${B}, ${I}] (obs ${spec.obsDim} + action ${spec.actDim} + reward + flag), got [${x.shape}]`);
  return B;
}

/** W_x and b split into their z|r and n columns (once per pass, not per step). */
function inputWeights(spec: GruSpec, wx: tf.Tensor, b: tf.Tensor): { wzr: tf.Tensor; wn: tf.Tensor; bzr: tf.Tensor; bn: tf.Tensor } {
  const U = spec.hidden;
  const [wzr, wn] = tf.split(wx, [2 * U, U], 1);
  const [bzr, bn] = tf.split(b, [2 * U, U], 0);
  return { wzr, wn, bzr, bn };
}

/** Action means [B, L, A] for input sequences (L steps of [B, I]), every sequence from h = 0. */
export function gruMeans(spec: GruSpec, P: GruParams, inputs: StepInputs): tf.Tensor {
  const B = checkInputs(spec, inputs);
  const { wzr, wn, bzr, bn } = inputWeights(spec, P.wx, P.b);
  const hs: tf.Tensor[] = [];
  let h: tf.Tensor | null = null;
  for (const x of inputs) {
    const gzr = tf.add(matMul(x, wzr), bzr);
    const gn = tf.add(matMul(x, wn), bn);
    const zr = sigmoid(h ? tf.add(gzr, matMul(h, P.uzr)) : gzr);
    const [z, r] = tf.split(zr, 2, 1);
    const n = tanh(h ? tf.add(gn, matMul(tf.mul(r, h), P.un)) : gn);
    h = h ? tf.add(n, tf.mul(z, tf.sub(h, n))) : tf.sub(n, tf.mul(z, n));
    hs.push(h);
  }
  return headOf(spec, hs, P.wo, P.bo, B);
}

/** μ = H W_o + b_o for the hidden states of every step (L tensors [B, U]) → [B, L, A]. */
function headOf(spec: GruSpec, hs: tf.Tensor[], wo: tf.Tensor, bo: tf.Tensor | null, B: number): tf.Tensor {
  const L = hs.length;
  const H = tf.reshape(tf.stack(hs, 1), [B * L, spec.hidden]);
  const mu = matMul(H, wo);
  return tf.reshape(bo ? tf.add(mu, bo) : mu, [B, L, spec.actDim]);
}

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** log N(a; μ, e^{2 logStd}) summed over the last axis: [..., A] → [...]. */
export function gaussianLogProb(mu: tf.Tensor, logStd: tf.Tensor, actions: tf.Tensor): tf.Tensor {
  const A = logStd.size;
  const z = tf.mul(tf.sub(actions, mu), exp(tf.neg(logStd)));
  return tf.sub(tf.mul(tf.sum(tf.mul(z, z), -1), -0.5), tf.add(tf.sum(logStd), A * HALF_LOG_2PI));
}

/** KL(p ‖ q) of diagonal Gaussians per row: means [..., A], log-stds [A] → [...]. */
export function gaussianKl(muP: tf.Tensor, logStdP: tf.Tensor, muQ: tf.Tensor, logStdQ: tf.Tensor): tf.Tensor {
  const diff = tf.sub(muP, muQ);
  const num = tf.add(exp(tf.mul(logStdP, 2)), tf.mul(diff, diff));
  const per = tf.add(tf.sub(logStdQ, logStdP), tf.mul(num, tf.mul(exp(tf.mul(logStdQ, -2)), 0.5)));
  return tf.sub(tf.sum(per, -1), 0.5 * logStdP.size);
}
