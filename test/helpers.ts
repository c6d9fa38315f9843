/** Shared helpers for tests: small random MAML problems on the active tfjs backend. */
import { Rng } from '../src/core/rng.ts';
import { type TaskArrays, type TaskData, taskDataFromArrays } from '../agents/taskData.ts';
import type { PolicySpec } from '../agents/policy.ts';
import { dot } from '../src/tensor/cg.ts';

/** Random per-task data as arrays: N rows, the last `pad` of them padding (zero weight). */
export function randomTaskArrays(spec: PolicySpec, T: number, N: number, rng: Rng, pad = 0): TaskArrays[] {
  return Array.from({ length: T }, () => {
    const obs = Float32Array.from({ length: N * spec.obsDim }, () => rng.range(-1, 1));
    const actions = Float32Array.from({ length: N * spec.actDim }, () => rng.normal());
    const advantages = Float32Array.from({ length: N }, () => rng.normal());
    const weights = new Float32Array(N).fill(1 / (N - pad));
    weights.fill(0, N - pad);
    return { rows: N, obs, actions, advantages, weights };
  });
}

/** The same as tensors on the active backend. */
export function randomTaskData(spec: PolicySpec, T: number, N: number, rng: Rng, pad = 0): TaskData[] {
  return randomTaskArrays(spec, T, N, rng, pad).map(taskDataFromArrays);
}

export function randomDirection(n: number, rng: Rng): Float64Array {
  const v = Float64Array.from({ length: n }, () => rng.normal());
  const norm = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
  return v.map((x) => x / norm);
}

export function axpy(theta: ArrayLike<number>, eps: number, v: ArrayLike<number>): Float32Array {
  return Float32Array.from(theta, (x, i) => x + eps * v[i]);
}

export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

/**
 * A curvature product probed along two random directions u, v of length n: uᵀHv, vᵀHu (equal for
 * a symmetric H) and uᵀHu (positive for a positive-definite one), for the tests to bound.
 */
export function probeProduct(hvp: (x: Float64Array) => Float64Array, n: number, rng: Rng) {
  const u = randomDirection(n, rng);
  const v = randomDirection(n, rng);
  return { u, v, uHv: dot(u, hvp(v)), vHu: dot(v, hvp(u)), uHu: dot(u, hvp(u)) };
}
