/**
 * Meta-SGD (Li, Zhou, Chen & Li 2017) on top of the MAML machinery: the inner step size becomes a
 * meta-learned vector α with one entry per policy parameter,
 *
 *     P_0 = θ,   P_{i+1} = P_i − α ⊙ g_i,   g_i = ∇L_in(P_i; D_i),   θ' = P_k,
 *
 * and the outer TRPO step acts on φ = [θ; α] (length 2D for a policy of D parameters; α starts at
 * fastLr everywhere). Differentiating one step, with H_i the inner loss's (symmetric) Hessian at P_i:
 *
 *     dP_{i+1} = (I − diag(α) H_i) dP_i − diag(g_i) dα.
 *
 * Forward (a Jacobian-vector product J [u; v_α]):  u ← u − α ⊙ (H_i u) − g_i ⊙ v_α  for i = 0 … k−1.
 * Backward (Jᵀ w, from w = ∂L/∂θ'):  for i = k−1 … 0:  w_α ← w_α − g_i ⊙ w;  w ← w − H_i (α ⊙ w).
 * The backward pass gives the meta-gradient [∂L/∂θ; ∂L/∂α]; forward, Fisher, backward gives the
 * KL Hessian-vector product Jᵀ F J of the trust region, exactly as for MAML (agents/maml.ts).
 * First-order (`firstOrder`): H_i is dropped, the g_i ⊙ dα term is kept (α is learned either way).
 */
import type { TaskCurvature } from './curvature.ts';

/** The inner step of every parameter: a shared scalar (MAML) or one per parameter (Meta-SGD). */
export type StepSize = number | Float32Array;

/** φ = [θ; α] with α = fastLr everywhere: the Meta-SGD start from a policy's parameters. */
export function withLearnedStep(theta: Float32Array, fastLr: number): Float32Array {
  const phi = new Float32Array(2 * theta.length);
  phi.set(theta);
  phi.fill(fastLr, theta.length);
  return phi;
}

/** θ and α of φ = [θ; α] for a policy of `numParams` parameters (views, not copies). */
export function splitLearnedStep(phi: ArrayLike<number>, numParams: number): { theta: Float32Array; alpha: Float32Array } {
  if (phi.length !== 2 * numParams) throw new Error(`Meta-SGD: ${phi.length} meta-parameters for a policy of ${numParams} (expected θ and α, ${2 * numParams})`);
  const f = phi instanceof Float32Array ? phi : Float32Array.from(phi);
  return { theta: f.subarray(0, numParams), alpha: f.subarray(numParams) };
}

/** The policy part θ of a meta-parameter vector (φ for Meta-SGD, θ itself otherwise). */
export function policyPart(metaParams: Float32Array, numParams: number): Float32Array {
  return metaParams.length === numParams ? metaParams : splitLearnedStep(metaParams, numParams).theta;
}

/** One inner step from flat parameters: θ − α ⊙ g (α a scalar or per parameter). */
export function stepWith(theta: ArrayLike<number>, g: ArrayLike<number>, alpha: StepSize): Float32Array {
  return typeof alpha === 'number' ? Float32Array.from(theta, (x, j) => x - alpha * g[j]) : Float32Array.from(theta, (x, j) => x - alpha[j] * g[j]);
}

/**
 * Jᵀ w for one task: `steps[i]` holds the inner loss at P_i on step i's data, `w` = ∂L/∂θ'.
 * Returns [∂L/∂θ; ∂L/∂α] (length 2D).
 */
export function learnedStepBackward(steps: TaskCurvature[], alpha: Float32Array, w0: ArrayLike<number>, firstOrder: boolean): Float64Array {
  const D = alpha.length;
  let w = Float64Array.from(w0);
  const wAlpha = new Float64Array(D);
  for (let i = steps.length - 1; i >= 0; i--) {
    const g = steps[i].innerGrad();
    for (let j = 0; j < D; j++) wAlpha[j] -= g[j] * w[j];
    if (!firstOrder) {
      const hw = steps[i].innerHvp(Float32Array.from(w, (x, j) => alpha[j] * x));
      w = w.map((x, j) => x - hw[j]);
    }
  }
  const out = new Float64Array(2 * D);
  out.set(w);
  out.set(wAlpha, D);
  return out;
}

/** J [v_θ; v_α] for one task: the change of θ' along a direction of φ. */
export function learnedStepForward(steps: TaskCurvature[], alpha: Float32Array, v: ArrayLike<number>, firstOrder: boolean): Float64Array {
  const D = alpha.length;
  if (v.length !== 2 * D) throw new Error(`Meta-SGD: direction of ${v.length} entries for ${2 * D} meta-parameters`);
  let u = Float64Array.from({ length: D }, (_, j) => v[j]);
  for (const c of steps) {
    const g = c.innerGrad();
    const hu = firstOrder ? null : c.innerHvp(u);
    u = u.map((x, j) => x - (hu ? alpha[j] * hu[j] : 0) - g[j] * v[D + j]);
  }
  return u;
}

/** The KL Hessian-vector product Jᵀ F J v of Meta-SGD-TRPO for one task (undamped). */
export function learnedStepKlHvp(steps: TaskCurvature[], fisher: TaskCurvature, alpha: Float32Array, v: ArrayLike<number>, firstOrder: boolean): Float64Array {
  return learnedStepBackward(steps, alpha, fisher.fisherVp(learnedStepForward(steps, alpha, v, firstOrder)), firstOrder);
}
