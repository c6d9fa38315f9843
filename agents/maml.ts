/**
 * MAML for policy gradients as pure functions over per-task tensors.
 *
 * For T tasks, starting from the meta-parameters θ (P_0 = θ for every task), k inner steps
 *     P_{i+1} = P_i − α ∇L_in(P_i; D_i)            (VPG loss on the task's train episodes D_i)
 * give the adapted parameters θ'_t = P_k. The meta-objective is the mean over tasks of the
 * importance-sampled surrogate on the validation episodes sampled with θ'_t.
 *
 * Second-order terms never need a third derivative: by the chain rule the meta-gradient is
 *     ∇_θ L = mean_t J_tᵀ ∇L_t(θ'_t),  J_tᵀ w = (I − α H_0)…(I − α H_{k−1}) w
 * with H_i the inner loss's Hessian at P_i (symmetric), and since the KL between the old and the
 * new adapted policies has zero gradient at θ_old, its Hessian there is exactly
 *     ∇²KL = mean_t J_tᵀ F_t J_t        (F_t: the KL Hessian at θ'_t, i.e. the Fisher)
 * so every product costs 2k inner Hessian-vector products and one Fisher-vector product, each a
 * double backward pass through the higher-order-safe ops. `--first-order` sets J = I.
 */
import * as tf from '@tensorflow/tfjs';
import { type Params, type PolicySpec, numParams, klFrom, klFromMean, logProb, logProbFromMean, meanOf, logStdTensor, toFlat, toParams } from './policy.ts';
import { exp } from '../src/tensor/ops.ts';
import { TaskCurvature, adaptedKlHvp } from './curvature.ts';
import { type StepSize, learnedStepBackward, learnedStepKlHvp, splitLearnedStep, stepWith } from './metaSgd.ts';
import { type TaskData, disposeTaskData, subsampleTaskData } from './taskData.ts';
import { adaptStep, gradsPerTask, hvpPerTask, innerLoss, meanOverTasks } from './mamlAutodiff.ts';



export interface MetaObjectiveOptions {
  spec: PolicySpec;
  /** Inner-loop step size α. */
  fastLr: number;
  firstOrder: boolean;
  /** Damping added to the KL Hessian-vector product. */
  damping: number;
  /**
   * Fraction of each task's rows (whole episodes first) used in the KL Hessian-vector product
   * (1 = exact). The product only shapes the step direction; the line search checks the real KL.
   */
  hvpSubsample: number;
  /**
   * Which KL the line search bounds: 'old-new' = KL(old ‖ new) (rllab, the default) or 'new-old'
   * = KL(new ‖ old) (pytorch-maml-rl). Both have the same Hessian at θ_old, so the step
   * direction is the same; only knife-edge acceptances differ.
   */
  lineSearchKl?: 'old-new' | 'new-old';
  /**
   * Meta-SGD (agents/metaSgd.ts): the meta-parameters are φ = [θ; α] with a learned inner step α
   * per policy parameter, and every vector of this objective (θ_old, gradients, directions) has 2D
   * entries. `fastLr` is then unused.
   */
  learnedStep?: boolean;
}

/** Old adapted policy's outputs on one task's validation data. */
interface OldPolicy {
  logp: tf.Tensor;
  mean: tf.Tensor;
  logStd: tf.Tensor;
}

/**
 * The MAML-TRPO outer objective around the current meta-parameters θ_old. Built in the order
 * the data arrives: `addInnerStep(D_i)` for each inner step's train episodes (sampled with
 * `adapted()`), then `setValidation(D_val)` with the episodes sampled by the adapted policies.
 * Owns the tensors it is given; call `dispose()` when done.
 */
export class MetaObjective {
  private readonly chain: Params[][]; // P_0 … P_k at θ_old, one Params per task
  private readonly train: TaskData[][] = [];
  private valid: TaskData[] | null = null;
  private old: OldPolicy[] = [];
  // Subsampled copies used by the Hessian-vector product.
  private hvpTrain: TaskData[][] = [];
  private hvpValid: TaskData[] = [];
  private hvpOld: OldPolicy[] = [];
  // Analytic curvature per task (built on first use): inner steps at P_i, Fisher at P_k.
  private curvature: { steps: TaskCurvature[]; fisher: TaskCurvature }[] | null = null;

  /** The inner step size: fastLr, or Meta-SGD's α of φ_old. */
  private readonly alpha: StepSize;

  constructor(private readonly o: MetaObjectiveOptions, metaParamsOld: ArrayLike<number>, readonly numTasks: number) {
    const { theta, alpha } = this.split(metaParamsOld);
    this.alpha = alpha;
    this.chain = [this.tiled(theta)];
  }

  /** θ and the inner step size of a meta-parameter vector (φ = [θ; α] with a learned step). */
  private split(metaParams: ArrayLike<number>): { theta: ArrayLike<number>; alpha: StepSize } {
    return this.o.learnedStep ? splitLearnedStep(metaParams, numParams(this.o.spec)) : { theta: metaParams, alpha: this.o.fastLr };
  }

  /** The nested-autodiff paths know a scalar step only; Meta-SGD is checked by finite differences. */
  private scalarStep(who: string): number {
    if (typeof this.alpha !== 'number') throw new Error(`MetaObjective.${who}: the autodiff reference supports a scalar inner step only (not Meta-SGD)`);
    return this.alpha;
  }

  /** θ for every task. Distinct tensor objects per task (clones share memory): tf.grads keys by tensor. */
  private tiled(theta: ArrayLike<number>): Params[] {
    const P = toParams(this.o.spec, theta);
    const out = Array.from({ length: this.numTasks }, () => P.map((p) => tf.clone(p)));
    tf.dispose(P);
    return out;
  }

  /** Adds one inner step on train episodes sampled with the current `adapted()` parameters. */
  addInnerStep(ds: TaskData[]): void {
    if (this.valid) throw new Error('addInnerStep: validation data is already set');
    if (ds.length !== this.numTasks) throw new Error(`addInnerStep: ${ds.length} tasks of data for ${this.numTasks} tasks`);
    this.train.push(ds);
    this.hvpTrain.push(this.o.hvpSubsample < 1 ? ds.map((d) => subsampleTaskData(d, this.o.hvpSubsample)) : ds);
    // Values only (analytic gradient); the autodiff reference paths rebuild graphs as needed.
    const next = adaptFlat(this.o.spec, this.adapted().map((P) => toFlat(P)), ds, this.alpha);
    this.chain.push(next.map((f) => toParams(this.o.spec, f)));
  }

  /** Adapted parameters per task (P_k at θ_old). */
  adapted(): Params[] {
    return this.chain[this.chain.length - 1];
  }

  /** Sets the validation episodes (sampled with `adapted()`) and records the old policy on them. */
  setValidation(ds: TaskData[]): void {
    this.valid = ds;
    this.hvpValid = this.o.hvpSubsample < 1 ? ds.map((d) => subsampleTaskData(d, this.o.hvpSubsample)) : ds;
    const record = (data: TaskData[]) =>
      data.map((d, t) =>
        tf.tidy(() => {
          const P = this.adapted()[t];
          const mean = meanOf(this.o.spec, P, d.obs);
          return { logp: logProbFromMean(this.o.spec, mean, logStdTensor(P), d.actions), mean, logStd: tf.clone(logStdTensor(P)) };
        }),
      );
    this.old = record(ds);
    this.hvpOld = this.o.hvpSubsample < 1 ? record(this.hvpValid) : this.old;
  }

  private get validData(): TaskData[] {
    if (!this.valid) throw new Error('MetaObjective: setValidation() has not been called');
    return this.valid;
  }

  private surrogate(P: Params, t: number): tf.Tensor {
    const d = this.validData[t];
    const ratio = exp(tf.sub(logProb(this.o.spec, P, d.obs, d.actions), this.old[t].logp));
    return tf.neg(tf.sum(tf.mul(tf.mul(ratio, d.advantages), d.weights)));
  }

  private kl(P: Params, d: TaskData, old: OldPolicy): tf.Tensor {
    return tf.sum(tf.mul(klFrom(this.o.spec, P, d.obs, old.mean, old.logStd), d.weights));
  }

  /** P_0 … P_k from flat θ (values only). */
  private adaptChain(theta: ArrayLike<number>): Params[][] {
    const lr = this.scalarStep('klGradient');
    const chain = [this.tiled(theta)];
    for (const ds of this.train) {
      const prev = chain[chain.length - 1];
      chain.push(tf.tidy(() => adaptStep(this.o.spec, prev, ds, lr)));
    }
    return chain;
  }

  private disposeChain(chain: Params[][]): void {
    chain.forEach((Ps) => Ps.forEach((P) => tf.dispose(P)));
  }

  /** W_t ← J_tᵀ W_t (backward) or J_t W_t (forward) for every task; identity when first-order. */
  private throughChain(W: Params[], chain: Params[][], train: TaskData[][], backward: boolean): Params[] {
    if (this.o.firstOrder) return W;
    const lr = this.scalarStep('autodiff');
    const k = train.length;
    for (let j = 0; j < k; j++) {
      const i = backward ? k - 1 - j : j;
      const HW = hvpPerTask(chain[i], W, (P, t) => innerLoss(this.o.spec, P, train[i][t]));
      W = W.map((w, t) => w.map((x, n) => tf.sub(x, tf.mul(HW[t][n], lr))));
    }
    return W;
  }

  private gradientAt(chain: Params[][], f: (P: Params, t: number) => tf.Tensor): Float64Array {
    this.scalarStep('autodiff');
    const W = tf.tidy(() => this.throughChain(gradsPerTask(chain[chain.length - 1], f), chain, this.train, true));
    const g = meanOverTasks(W);
    W.forEach((w) => tf.dispose(w));
    return g;
  }

  /**
   * Gradient of the mean surrogate with respect to θ, at θ_old, with the analytic products of
   * agents/curvature.ts on all the data. At θ_old the importance ratio is 1, so the surrogate's
   * gradient at θ'_t is the VPG gradient on the validation episodes.
   */
  metaGradient(): Float64Array {
    return meanOfParts(this.metaGradientParts(), this.numTasks);
  }

  /** Each task's term J_tᵀ ∇L_t(θ'_t) of the meta-gradient (their mean is `metaGradient()`). */
  metaGradientParts(): Float64Array[] {
    const k = this.train.length;
    return Array.from({ length: this.numTasks }, (_, t) => {
      const top = new TaskCurvature(this.o.spec, toFlat(this.adapted()[t]), this.validData[t]);
      let w: Float64Array = top.innerGrad();
      top.dispose();
      if (typeof this.alpha !== 'number') {
        const steps = this.train.map((ds, i) => new TaskCurvature(this.o.spec, toFlat(this.chain[i][t]), ds[t]));
        const out = learnedStepBackward(steps, this.alpha, w, this.o.firstOrder);
        steps.forEach((c) => c.dispose());
        return out;
      }
      for (let i = k - 1; i >= 0 && !this.o.firstOrder; i--) {
        const c = new TaskCurvature(this.o.spec, toFlat(this.chain[i][t]), this.train[i][t]);
        const hw = c.innerHvp(w);
        c.dispose();
        w = w.map((x, j) => x - this.o.fastLr * hw[j]);
      }
      return w;
    });
  }

  /** The same gradient by nested tf.grads through the safe ops (the reference in tests). */
  metaGradientAutodiff(): Float64Array {
    return this.gradientAt(this.chain, (P, t) => this.surrogate(P, t));
  }

  /** Gradient of the mean KL(old adapted ‖ new adapted) with respect to θ, at any θ. */
  klGradient(theta: ArrayLike<number>): Float64Array {
    const chain = this.adaptChain(theta);
    try {
      return this.gradientAt(chain, (P, t) => this.kl(P, this.validData[t], this.old[t]));
    } finally {
      this.disposeChain(chain);
    }
  }

  /**
   * (∇²KL + damping·I) v at θ_old, on the `hvpSubsample` fraction of the data. Uses the
   * analytic products of agents/curvature.ts (activations cached once per meta-batch);
   * `fisherVectorProductAutodiff` is the nested-tf.grads reference it is tested against.
   */
  fisherVectorProduct(v: Float64Array): Float64Array {
    return addDamping(meanOfParts(this.fisherParts(v), this.numTasks), v, this.o.damping);
  }

  /** Each task's undamped term J_tᵀ F_t J_t v of `fisherVectorProduct(v)`. */
  fisherParts(v: Float64Array): Float64Array[] {
    if (!this.valid) throw new Error('MetaObjective: setValidation() has not been called');
    const alpha = this.alpha;
    // Meta-SGD needs each step's inner gradient even when first-order (the α term of J).
    this.curvature ??= Array.from({ length: this.numTasks }, (_, t) => ({
      steps: this.o.firstOrder && typeof alpha === 'number' ? [] : this.hvpTrain.map((ds, i) => new TaskCurvature(this.o.spec, toFlat(this.chain[i][t]), ds[t])),
      fisher: new TaskCurvature(this.o.spec, toFlat(this.adapted()[t]), this.hvpValid[t]),
    }));
    if (typeof alpha !== 'number') return this.curvature.map((c) => learnedStepKlHvp(c.steps, c.fisher, alpha, v, this.o.firstOrder));
    return this.curvature.map((c) => adaptedKlHvp(c.steps, c.fisher, alpha, v));
  }

  /** The same product as `fisherVectorProduct`, by nested tf.grads through the safe ops. */
  fisherVectorProductAutodiff(v: Float64Array): Float64Array {
    this.scalarStep('fisherVectorProductAutodiff');
    const W = tf.tidy(() => {
      const V = this.tiled(v);
      const U = this.throughChain(V, this.chain, this.hvpTrain, false);
      const FU = hvpPerTask(this.adapted(), U, (P, t) => this.kl(P, this.hvpValid[t], this.hvpOld[t]));
      return this.throughChain(FU, this.chain, this.hvpTrain, true);
    });
    const out = meanOverTasks(W);
    W.forEach((w) => tf.dispose(w));
    return addDamping(out, v, this.o.damping);
  }

  /** Adapted parameters from θ (values only, analytic inner gradients), as tensors per task. */
  private adaptValues(metaParams: ArrayLike<number>): Params[] {
    const { theta, alpha } = this.split(metaParams);
    let flats: ArrayLike<number>[] = Array.from({ length: this.numTasks }, () => theta);
    for (const ds of this.train) flats = adaptFlat(this.o.spec, flats, ds, alpha);
    return flats.map((f) => toParams(this.o.spec, f));
  }

  /** Mean surrogate loss and mean KL (`lineSearchKl`) after adapting from θ (used by the line search). */
  evaluate(theta: ArrayLike<number>): { loss: number; kl: number } {
    const parts = this.evaluateParts(theta);
    return { loss: sumOfParts(parts.loss) / this.numTasks, kl: sumOfParts(parts.kl) / this.numTasks };
  }

  /** Each task's surrogate loss and KL after adapting from θ (float32 values). */
  evaluateParts(theta: ArrayLike<number>): { loss: number[]; kl: number[] } {
    const Pk = this.adaptValues(theta);
    const newFromOld = this.o.lineSearchKl === 'new-old';
    const both = tf.tidy(() => {
      // One forward pass per task serves both the surrogate and the KL.
      const per = Pk.map((P, t) => {
        const d = this.validData[t];
        const old = this.old[t];
        const mu = meanOf(this.o.spec, P, d.obs);
        const logStd = logStdTensor(P);
        const ratio = exp(tf.sub(logProbFromMean(this.o.spec, mu, logStd, d.actions), old.logp));
        const kl = newFromOld ? klFromMean(this.o.spec, old.mean, old.logStd, mu, logStd) : klFromMean(this.o.spec, mu, logStd, old.mean, old.logStd);
        return [tf.neg(tf.sum(tf.mul(tf.mul(ratio, d.advantages), d.weights))), tf.sum(tf.mul(kl, d.weights))];
      });
      return tf.stack(per.flat());
    });
    const values = Array.from(both.dataSync());
    both.dispose();
    Pk.forEach((P) => tf.dispose(P));
    return { loss: values.filter((_, i) => i % 2 === 0), kl: values.filter((_, i) => i % 2 === 1) };
  }

  /** Mean surrogate loss at θ_old. */
  lossAtOld(): number {
    return sumOfParts(this.lossAtOldParts()) / this.numTasks;
  }

  /** Each task's surrogate loss at θ_old. */
  lossAtOldParts(): number[] {
    const l = tf.tidy(() => tf.stack(this.adapted().map((P, t) => this.surrogate(P, t))));
    const out = Array.from(l.dataSync());
    l.dispose();
    return out;
  }

  dispose(): void {
    this.curvature?.forEach((c) => [...c.steps, c.fisher].forEach((k) => k.dispose()));
    this.disposeChain(this.chain);
    const subsampled = this.o.hvpSubsample < 1;
    for (const ds of this.train) disposeTaskData(ds);
    if (subsampled) for (const ds of this.hvpTrain) disposeTaskData(ds);
    if (this.valid) disposeTaskData(this.valid);
    if (subsampled) disposeTaskData(this.hvpValid);
    const olds = subsampled ? [...this.old, ...this.hvpOld] : this.old;
    for (const o of olds) tf.dispose([o.logp, o.mean, o.logStd]);
  }
}

/**
 * Σ_t parts[t] / numTasks in task order, in float64. Every mean over tasks is formed this way,
 * in-process or from parts computed in worker threads, so both give bit-identical results.
 */
export function meanOfParts(parts: Float64Array[], numTasks: number): Float64Array {
  if (parts.length !== numTasks) throw new Error(`meanOfParts: ${parts.length} parts for ${numTasks} tasks`);
  const out = new Float64Array(parts[0].length);
  for (const p of parts) for (let j = 0; j < out.length; j++) out[j] += p[j] / numTasks;
  return out;
}

/** Σ_t xs[t] in task order. */
export function sumOfParts(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

/** out + damping · v, in place. */
export function addDamping(out: Float64Array, v: Float64Array, damping: number): Float64Array {
  for (let i = 0; i < out.length; i++) out[i] += damping * v[i];
  return out;
}

/** One inner step per task from flat parameters: values only, with the analytic gradient; `lr` a scalar or per parameter (Meta-SGD). */
export function adaptFlat(spec: PolicySpec, thetas: ArrayLike<number>[], ds: TaskData[], lr: StepSize): Float32Array[] {
  return thetas.map((th, t) => {
    const c = new TaskCurvature(spec, th, ds[t]);
    const g = c.innerGrad();
    c.dispose();
    return stepWith(th, g, lr);
  });
}
