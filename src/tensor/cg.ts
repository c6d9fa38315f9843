/**
 * Conjugate gradient in float64 on the host: solves A x = b for symmetric positive-definite A.
 * `Avp` may answer asynchronously (products computed in worker threads).
 */
export interface CgResult {
  x: Float64Array;
  iterations: number;
  residual: number;
}

export async function conjugateGradient(
  Avp: (v: Float64Array) => Float64Array | Promise<Float64Array>,
  b: Float64Array,
  iterations = 10,
  residualTol = 1e-10,
): Promise<CgResult> {
  const n = b.length;
  const x = new Float64Array(n);
  const r = Float64Array.from(b);
  const p = Float64Array.from(b);
  let rr = dot(r, r);
  let k = 0;
  for (; k < iterations && rr >= residualTol; k++) {
    const Ap = await Avp(p);
    const pAp = dot(p, Ap);
    if (!(pAp > 0)) break; // not positive-definite along p (or NaN): stop with what we have
    const alpha = rr / pAp;
    for (let i = 0; i < n; i++) {
      x[i] += alpha * p[i];
      r[i] -= alpha * Ap[i];
    }
    const rrNew = dot(r, r);
    const beta = rrNew / rr;
    for (let i = 0; i < n; i++) p[i] = r[i] + beta * p[i];
    rr = rrNew;
  }
  return { x, iterations: k, residual: Math.sqrt(rr) };
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
