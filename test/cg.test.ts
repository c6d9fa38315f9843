import { describe, expect, it } from 'vitest';
import { conjugateGradient, dot } from '../src/tensor/cg.ts';
import { Rng } from '../src/core/rng.ts';

type Matrix = Float64Array[];

function randomSpd(n: number, rng: Rng): Matrix {
  // A = M Mᵀ / n + I: symmetric positive-definite, eigenvalues in [1, ~5] (well conditioned).
  const M = Array.from({ length: n }, () => Float64Array.from({ length: n }, () => rng.normal()));
  return Array.from({ length: n }, (_, i) =>
    Float64Array.from({ length: n }, (_, j) => dot(M[i], M[j]) / n + (i === j ? 1 : 0)),
  );
}

function matVec(A: Matrix, v: Float64Array): Float64Array {
  return Float64Array.from(A, (row) => dot(row, v));
}

/** Direct solve by Gaussian elimination with partial pivoting (reference answer). */
function directSolve(A: Matrix, b: Float64Array): Float64Array {
  const n = b.length;
  const a = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    [a[c], a[p]] = [a[p], a[c]];
    for (let r = c + 1; r < n; r++) {
      const f = a[r][c] / a[c][c];
      for (let k = c; k <= n; k++) a[r][k] -= f * a[c][k];
    }
  }
  const x = new Float64Array(n);
  for (let r = n - 1; r >= 0; r--) {
    let s = a[r][n];
    for (let k = r + 1; k < n; k++) s -= a[r][k] * x[k];
    x[r] = s / a[r][r];
  }
  return x;
}

describe('conjugateGradient', () => {
  it.each([3, 10, 25])('solves a random SPD system of size %i within n iterations', async (n) => {
    const rng = new Rng(n);
    const A = randomSpd(n, rng);
    const b = Float64Array.from({ length: n }, () => rng.normal());
    let calls = 0;
    const res = await conjugateGradient((v) => {
      calls++;
      return matVec(A, v);
    }, b, 5 * n, 1e-16);
    const ref = directSolve(A, b);
    expect(res.iterations).toBeLessThanOrEqual(n);
    expect(calls).toBe(res.iterations);
    for (let i = 0; i < n; i++) expect(res.x[i]).toBeCloseTo(ref[i], 6);
    // The reported residual is ‖b − A x‖.
    const r = matVec(A, res.x).map((v, i) => b[i] - v);
    expect(res.residual).toBeLessThan(1e-8);
    expect(Math.sqrt(dot(r, r))).toBeLessThan(1e-6);
  });

  it('solves a diagonal system with k distinct eigenvalues in k iterations', async () => {
    const diag = [2, 2, 5, 5, 5, 9];
    const b = Float64Array.from([1, -1, 2, 0.5, 3, 1]);
    const res = await conjugateGradient((v) => v.map((x, i) => diag[i] * x), b, 20, 1e-24);
    expect(res.iterations).toBe(3);
    res.x.forEach((x, i) => expect(x).toBeCloseTo(b[i] / diag[i], 10));
  });

  it('stops at the iteration limit (10 by default) and does not overshoot it', async () => {
    const n = 40;
    const rng = new Rng(1);
    const A = randomSpd(n, rng);
    const b = Float64Array.from({ length: n }, () => rng.normal());
    const res = await conjugateGradient((v) => matVec(A, v), b);
    expect(res.iterations).toBe(10);
    expect(res.residual).toBeGreaterThan(0);
    // Still a descent: better than x = 0, whose residual is ‖b‖.
    expect(res.residual).toBeLessThan(Math.sqrt(dot(b, b)));
  });

  it('returns x = 0 at once for b = 0', async () => {
    let calls = 0;
    const res = await conjugateGradient((v) => {
      calls++;
      return v;
    }, new Float64Array(4));
    expect(calls).toBe(0);
    expect(res.iterations).toBe(0);
    expect(Array.from(res.x)).toEqual([0, 0, 0, 0]);
  });

  it('stops on a direction of negative curvature without producing NaN', async () => {
    // A = diag(1, −1); b along the negative eigenvector: pᵀAp < 0 on the first direction.
    const res = await conjugateGradient((v) => Float64Array.from([v[0], -v[1]]), Float64Array.from([0, 1]));
    expect(res.iterations).toBe(0);
    expect(Array.from(res.x)).toEqual([0, 0]);
    expect(res.residual).toBe(1);
  });

  it('keeps the progress made before meeting negative curvature', async () => {
    // Indefinite A = diag(4, 1, −3): the first step has pᵀAp = 4+1−3 > 0, a later one does not.
    const diag = [4, 1, -3];
    const res = await conjugateGradient((v) => v.map((x, i) => diag[i] * x), Float64Array.from([1, 1, 1]), 10);
    expect(res.iterations).toBeGreaterThanOrEqual(1);
    expect(res.iterations).toBeLessThan(3);
    expect(res.x.every(Number.isFinite)).toBe(true);
    expect(Number.isFinite(res.residual)).toBe(true);
  });

  it('stops on a zero or NaN curvature without producing NaN', async () => {
    const zero = await conjugateGradient((v) => new Float64Array(v.length), Float64Array.from([1, 2]));
    expect(zero.iterations).toBe(0);
    expect(Array.from(zero.x)).toEqual([0, 0]);
    const nan = await conjugateGradient((v) => new Float64Array(v.length).fill(Number.NaN), Float64Array.from([1, 2]));
    expect(nan.iterations).toBe(0);
    expect(nan.x.every(Number.isFinite)).toBe(true);
  });

  it('does not modify its right-hand side', async () => {
    const b = Float64Array.from([1, 2, 3]);
    await conjugateGradient((v) => v.map((x) => 2 * x), b);
    expect(Array.from(b)).toEqual([1, 2, 3]);
  });
});
