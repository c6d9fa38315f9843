/**
 * Reptile (Nichol, Achiam & Schulman 2018) as a meta-update for policies. For each task t of the
 * meta-batch, θ'_t is θ after k inner policy-gradient steps on the task's own episodes (the same
 * inner loop as MAML's, each step on freshly sampled episodes); then
 *
 *     θ ← θ + ε · (1/T) Σ_t (θ'_t − θ)
 *
 * with outer step size ε. No second derivatives and no trust region: the update moves θ toward
 * the adapted parameters, i.e. toward a point from which few steps reach every task.
 */
import { NumericError } from '../src/core/errors.ts';

export function reptileUpdate(theta: Float32Array, adapted: readonly Float32Array[], epsilon: number): Float32Array {
  if (adapted.length === 0) throw new Error('reptileUpdate: no adapted parameters');
  const mean = new Float64Array(theta.length);
  for (const p of adapted) {
    if (p.length !== theta.length) throw new Error(`reptileUpdate: ${p.length} adapted parameters for ${theta.length}`);
    for (let j = 0; j < mean.length; j++) mean[j] += p[j] / adapted.length;
  }
  const next = Float32Array.from(theta, (x, j) => x + epsilon * (mean[j] - x));
  if (!next.every(Number.isFinite)) throw new NumericError('Reptile: non-finite parameters after the meta-update');
  return next;
}
