/**
 * One TRPO update on flat parameters: natural-gradient direction by conjugate gradient (float64
 * on the host), scaled to the KL trust region, then a backtracking line search that accepts the
 * first step that both lowers the loss and keeps KL ≤ maxKl. No accepted step → parameters stay.
 */
import { conjugateGradient, dot } from '../src/tensor/cg.ts';

export interface TrpoOptions {
  maxKl: number;
  cgIters: number;
  lsMaxSteps: number;
  lsBacktrack: number;
}

export interface Evaluation {
  loss: number;
  kl: number;
}

/** The products and evaluations may be computed elsewhere (worker threads), hence the promises. */
export interface TrpoProblem {
  /** Gradient of the loss at the current parameters. */
  gradient: Float64Array;
  /** Damped KL Hessian-vector product at the current parameters. */
  fvp: (v: Float64Array) => Float64Array | Promise<Float64Array>;
  /** Loss and KL (to the current policy) at candidate parameters. */
  evaluate: (theta: Float32Array) => Evaluation | Promise<Evaluation>;
  /** Loss at the current parameters. */
  lossBefore: number;
}

export interface TrpoResult {
  theta: Float32Array;
  accepted: boolean;
  /** Line-search steps tried (1 = the full step was accepted). */
  lsSteps: number;
  kl: number;
  lossAfter: number;
  /** Change of the surrogate loss (negative is an improvement). */
  improvement: number;
  cgResidual: number;
}

export async function trpoStep(theta: Float32Array, problem: TrpoProblem, o: TrpoOptions): Promise<TrpoResult> {
  const g = problem.gradient;
  const cg = await conjugateGradient(problem.fvp, g, o.cgIters);
  const dir = cg.x;
  // Largest step along dir with ½ sᵀ F s = maxKl.
  const shs = 0.5 * dot(dir, await problem.fvp(dir));
  const scale = shs > 0 ? Math.sqrt(o.maxKl / shs) : 0;
  let ratio = 1;
  for (let i = 0; i < o.lsMaxSteps && scale > 0; i++, ratio *= o.lsBacktrack) {
    const cand = new Float32Array(theta.length);
    for (let j = 0; j < cand.length; j++) cand[j] = theta[j] - ratio * scale * dir[j];
    const { loss, kl } = await problem.evaluate(cand);
    const improvement = loss - problem.lossBefore;
    if (Number.isFinite(loss) && Number.isFinite(kl) && improvement < 0 && kl <= o.maxKl) {
      return { theta: cand, accepted: true, lsSteps: i + 1, kl, lossAfter: loss, improvement, cgResidual: cg.residual };
    }
  }
  return { theta, accepted: false, lsSteps: o.lsMaxSteps, kl: 0, lossAfter: problem.lossBefore, improvement: 0, cgResidual: cg.residual };
}
