/**
 * RL² (Duan et al. 2016) outer objective: TRPO on the GRU policy of agents/gru.ts over whole
 * trials. A trial is `rl2Episodes` episodes of one task run back to back with the hidden state
 * kept; B trials of L steps (padded), rows b·L + t:
 *
 *     surrogate  L(θ) = −Σ_{b,t} w_bt · exp(log π_θ(a_bt | x_b,≤t) − log π_old(…)) · A_bt
 *     KL         K(θ) =  Σ_{b,t} w_bt · KL(π_old(·|x_b,≤t) ‖ π_θ(·|x_b,≤t))
 *
 * with weights w summing to 1 (each task's mean over its steps, averaged over tasks) and zero on
 * padding. At θ_old the ratio is 1, so ∇L = −Σ w A ∇log π = J_μᵀ c_μ + c_s with
 * c_μ = −w A (a − μ) e^{−2s} and c_s = −Σ w A ((a − μ)² e^{−2s} − 1), and since μ_old − μ = 0 there,
 * the KL's Hessian is exactly its Gauss–Newton form
 *
 *     ∇²K v = J_μᵀ (w e^{−2s} ⊙ J_μ v) + 2 (Σ w) v_s          (v_s: v's logStd entries)
 *
 * for either KL direction. Both use agents/gruDerivatives.ts (no gradient tape); the nested-
 * tf.grads versions (`…Autodiff`) are the references the tests check them against.
 */
import * as tf from '@tensorflow/tfjs';
import { exp } from '../src/tensor/ops.ts';
import { type GruParams, type GruSpec, type StepInputs, flatOf, gaussianKl, gaussianLogProb, gruInputDim, gruMeans, gruParamList, gruParamsOf, numGruParams, stepInputs, toGruParams } from './gru.ts';
import { GruLinearization } from './gruDerivatives.ts';

/** A batch of trials as host arrays, trial-major: B trials × L steps (rows b·L + t). */
export interface Rl2Arrays {
  trials: number;
  steps: number;
  inputs: Float32Array; // B·L × (obsDim + actDim + 2)
  actions: Float32Array; // B·L × actDim
  advantages: Float32Array; // B·L
  /** Σ = 1 over the batch, 0 on padding: a weighted sum is the mean over tasks of each task's mean. */
  weights: Float32Array; // B·L
}

export interface Rl2ObjectiveOptions {
  spec: GruSpec;
  /** Damping added to the KL Hessian-vector product. */
  damping: number;
  /** Which KL `evaluate` reports (both have the same Hessian at θ_old). */
  lineSearchKl?: 'old-new' | 'new-old';
}

/** The old policy on the batch: means [B, L, A], logStd [A], log-probs [B, L]. */
interface OldPolicy {
  mean: tf.Tensor;
  logStd: tf.Tensor;
  logp: tf.Tensor;
}

/** The TRPO problem around θ_old on one batch of trials. Owns its tensors: call dispose(). */
export class Rl2Objective {
  private readonly inputs: StepInputs;
  private readonly actions: tf.Tensor; // [B, L, A]
  private readonly advantages: tf.Tensor; // [B, L]
  private readonly weights: tf.Tensor; // [B, L]
  private readonly old: OldPolicy;
  private readonly oldMeanHost: Float32Array;
  private readonly logStdOld: Float64Array;
  private lin: GruLinearization | null = null;
  /** The trials the KL Hessian is taken on: `data` itself, or a subsample of it. */
  private readonly fisher: { data: Rl2Arrays; inputs: StepInputs; lin: GruLinearization | null; weights: tf.Tensor[] | null };
  private lossOld: number | null = null;

  /**
   * `fisherData` (default: `data`) is what the KL Hessian-vector product is computed on, e.g.
   * `subsampleTrials(data, …)`: the product only shapes the step direction (its cost grows with
   * the trials); the line search checks the KL on all of `data`.
   */
  constructor(private readonly o: Rl2ObjectiveOptions, private readonly thetaOld: Float32Array, private readonly data: Rl2Arrays, fisherData: Rl2Arrays = data) {
    const { spec } = o;
    const [B, L, A] = [data.trials, data.steps, spec.actDim];
    if (thetaOld.length !== numGruParams(spec)) throw new Error(`Rl2Objective: ${thetaOld.length} parameters for a GRU that has ${numGruParams(spec)}`);
    const sizes: [string, number, number][] = [['inputs', data.inputs.length, B * L * gruInputDim(spec)], ['actions', data.actions.length, B * L * A], ['advantages', data.advantages.length, B * L], ['weights', data.weights.length, B * L]];
    for (const [name, got, want] of sizes) if (got !== want) throw new Error(`Rl2Objective: ${name} has ${got} values, expected ${want} (${B} trials × ${L} steps)`);
    this.inputs = stepInputs(spec, data.inputs, B, L);
    if (fisherData !== data && fisherData.steps !== L) throw new Error(`Rl2Objective: Fisher trials of ${fisherData.steps} steps for trials of ${L}`);
    const fisherInputs = fisherData === data ? this.inputs : stepInputs(spec, fisherData.inputs, fisherData.trials, L);
    this.fisher = { data: fisherData, inputs: fisherInputs, lin: null, weights: null };
    this.actions = tf.tensor3d(data.actions, [B, L, A]);
    this.advantages = tf.tensor2d(data.advantages, [B, L]);
    this.weights = tf.tensor2d(data.weights, [B, L]);
    this.old = tf.tidy(() => {
      const P = toGruParams(spec, thetaOld);
      const mean = gruMeans(spec, P, this.inputs);
      return { mean, logStd: tf.clone(P.logStd), logp: gaussianLogProb(mean, P.logStd, this.actions) };
    });
    this.oldMeanHost = this.old.mean.dataSync() as Float32Array;
    this.logStdOld = Float64Array.from(thetaOld.subarray(thetaOld.length - A));
  }

  /** The linearization at θ_old (built on first use). */
  private linearization(): GruLinearization {
    this.lin ??= new GruLinearization(this.o.spec, this.thetaOld, this.inputs);
    return this.lin;
  }

  /** Per-step [B, A] tensors of a host function of (row b·L + t, action dim a) of `data`'s trials. */
  private perStep(f: (row: number, a: number) => number, data = this.data): tf.Tensor[] {
    const [B, L, A] = [data.trials, data.steps, this.o.spec.actDim];
    return Array.from({ length: L }, (_, t) => {
      const buf = new Float32Array(B * A);
      for (let b = 0; b < B; b++) for (let a = 0; a < A; a++) buf[b * A + a] = f(b * L + t, a);
      return tf.tensor2d(buf, [B, A]);
    });
  }

  /** ∇ of the surrogate at θ_old (float64, θ's layout). */
  gradient(): Float64Array {
    const A = this.o.spec.actDim;
    const { actions, advantages, weights } = this.data;
    const mu = this.oldMeanHost;
    const invVar = Array.from(this.logStdOld, (s) => Math.exp(-2 * s));
    const cs = this.perStep((row, a) => (-weights[row] * advantages[row] * (actions[row * A + a] - mu[row * A + a]) * invVar[a]));
    const g = this.linearization().vjp(cs);
    tf.dispose(cs);
    const off = g.length - A;
    for (let row = 0; row < weights.length; row++) {
      const wa = weights[row] * advantages[row];
      if (wa === 0) continue;
      for (let a = 0; a < A; a++) g[off + a] -= wa * ((actions[row * A + a] - mu[row * A + a]) ** 2 * invVar[a] - 1);
    }
    return g;
  }

  /** (∇²KL + damping·I) v at θ_old, by the Gauss–Newton form (exact there). */
  fisherVectorProduct(v: Float64Array): Float64Array {
    const A = this.o.spec.actDim;
    const f = this.fisher;
    const { weights } = f.data;
    const lin = (f.lin ??= f.inputs === this.inputs ? this.linearization() : new GruLinearization(this.o.spec, this.thetaOld, f.inputs));
    const fw = (f.weights ??= this.perStep((row, a) => weights[row] * Math.exp(-2 * this.logStdOld[a]), f.data));
    const tangents = lin.jvp(v);
    const cs = tangents.map((j, t) => tf.mul(j, fw[t]));
    const out = lin.vjp(cs);
    tf.dispose([...tangents, ...cs]);
    let total = 0;
    for (const w of weights) total += w;
    const off = out.length - A;
    for (let a = 0; a < A; a++) out[off + a] = 2 * total * v[off + a];
    for (let i = 0; i < out.length; i++) out[i] += this.o.damping * v[i];
    return out;
  }

  /** Surrogate and KL (`lineSearchKl` direction) at θ, for the line search. */
  evaluate(theta: ArrayLike<number>): { loss: number; kl: number } {
    const both = tf.tidy(() => this.lossAndKl(toGruParams(this.o.spec, theta), this.o.lineSearchKl === 'new-old'));
    const [loss, kl] = both.dataSync();
    both.dispose();
    return { loss, kl };
  }

  /** [loss, kl] as one tensor (differentiable through the safe ops). */
  private lossAndKl(P: GruParams, newFromOld: boolean): tf.Tensor {
    const mu = gruMeans(this.o.spec, P, this.inputs);
    const ratio = exp(tf.sub(gaussianLogProb(mu, P.logStd, this.actions), this.old.logp));
    const loss = tf.neg(tf.sum(tf.mul(tf.mul(ratio, this.advantages), this.weights)));
    const kl = newFromOld ? gaussianKl(mu, P.logStd, this.old.mean, this.old.logStd) : gaussianKl(this.old.mean, this.old.logStd, mu, P.logStd);
    return tf.stack([loss, tf.sum(tf.mul(kl, this.weights))]);
  }

  /** Surrogate at θ_old (the same computation as `evaluate`, so the line search compares like with like). */
  lossAtOld(): number {
    this.lossOld ??= this.evaluate(this.thetaOld).loss;
    return this.lossOld;
  }

  /** The gradient by tf.grads (the reference in tests). */
  gradientAutodiff(): Float64Array {
    const P = toGruParams(this.o.spec, this.thetaOld);
    const g = tf.grads((...list: tf.Tensor[]) => tf.slice(this.lossAndKl(gruParamsOf(list), false), 0, 1).reshape([]))(gruParamList(P));
    const out = flatOf(g);
    tf.dispose([...g, ...gruParamList(P)]);
    return out;
  }

  /** The damped KL(old ‖ new) Hessian-vector product by nested tf.grads (the reference in tests). */
  fisherVectorProductAutodiff(v: Float64Array): Float64Array {
    const P = toGruParams(this.o.spec, this.thetaOld);
    const V = gruParamList(toGruParams(this.o.spec, v));
    const kl = (list: tf.Tensor[]) => tf.slice(this.lossAndKl(gruParamsOf(list), false), 1, 1).reshape([]);
    const hv = tf.tidy(() =>
      tf.grads((...list: tf.Tensor[]) => {
        const g = tf.grads((...inner: tf.Tensor[]) => kl(inner))(list);
        return tf.addN(g.map((gi, i) => tf.sum(tf.mul(gi, V[i]))));
      })(gruParamList(P)),
    );
    const out = flatOf(hv);
    tf.dispose([...hv, ...V, ...gruParamList(P)]);
    for (let i = 0; i < out.length; i++) out[i] += this.o.damping * v[i];
    return out;
  }

  dispose(): void {
    tf.dispose([...this.inputs, this.actions, this.advantages, this.weights, this.old.mean, this.old.logStd, this.old.logp]);
    if (this.fisher.weights) tf.dispose(this.fisher.weights);
    if (this.fisher.inputs !== this.inputs) {
      tf.dispose(this.fisher.inputs);
      this.fisher.lin?.dispose();
    }
    this.lin?.dispose();
  }
}

/**
 * The first ⌈fraction · M⌉ trials of every task (M = trials / numTasks), each task's weights
 * rescaled to sum to 1/numTasks again: a cheaper batch for the KL Hessian-vector product.
 */
export function subsampleTrials(a: Rl2Arrays, numTasks: number, fraction: number): Rl2Arrays {
  const M = a.trials / numTasks;
  if (!Number.isInteger(M)) throw new Error(`subsampleTrials: ${a.trials} trials do not split into ${numTasks} tasks`);
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`subsampleTrials: fraction must be in (0, 1], got ${fraction}`);
  const m = Math.max(1, Math.ceil(fraction * M));
  const L = a.steps;
  const take = (x: Float32Array) => {
    const per = x.length / a.trials; // values per trial
    const out = new Float32Array(numTasks * m * per);
    for (let t = 0; t < numTasks; t++) out.set(x.subarray(t * M * per, (t * M + m) * per), t * m * per);
    return out;
  };
  const weights = take(a.weights);
  for (let t = 0; t < numTasks; t++) {
    const w = weights.subarray(t * m * L, (t + 1) * m * L);
    const total = w.reduce((s, x) => s + x, 0);
    // A task whose kept trials hold no steps keeps zero weight rather than dividing by zero.
    if (total > 0) for (let i = 0; i < w.length; i++) w[i] = w[i] / total / numTasks;
  }
  return { trials: numTasks * m, steps: L, inputs: take(a.inputs), actions: take(a.actions), advantages: take(a.advantages), weights };
}
