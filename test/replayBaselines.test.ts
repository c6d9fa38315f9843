/**
 * The continual baselines' update rules (agents/replayBaselines.ts), checked against the formulas
 * with linear item gradients g_i(θ) = A_i θ + c_i, for which every step can be computed by hand.
 */
import { describe, expect, it } from 'vitest';
import { agemProject, agemUpdate, clipNorm, erUpdate, l2Update } from '../agents/replayBaselines.ts';
import type { ReplayItem } from '../agents/continualUpdate.ts';
import { NumericError } from '../src/core/errors.ts';

/** Items are just labels here; the gradient of item i at θ is A_i θ + c_i (2-D). */
const A = [[[1, 0], [0, 2]], [[0.5, 0.5], [0, 1]], [[2, 0], [1, 1]]];
const C = [[1, -1], [-2, 0.5], [0.25, 3]];
const item = (i: number) => ({ id: i }) as unknown as ReplayItem;
const grad = (th: Float32Array, it: ReplayItem) => {
  const i = (it as unknown as { id: number }).id;
  return Float64Array.from([0, 1], (r) => A[i][r][0] * th[0] + A[i][r][1] * th[1] + C[i][r]);
};
const close = (a: ArrayLike<number>, b: number[]) => Array.from(a).forEach((x, j) => expect(x).toBeCloseTo(b[j], 5));

describe('replay baselines', () => {
  it('ER: one step per batch on the mean of its items\' gradients', () => {
    const theta = Float32Array.of(0.5, -1);
    const out = erUpdate(theta, [[item(0), item(1)], [item(2)]], grad, 0.1);
    const g0 = grad(theta, item(0));
    const g1 = grad(theta, item(1));
    const mid = [0.5 - 0.1 * (g0[0] + g1[0]) / 2, -1 - 0.1 * (g0[1] + g1[1]) / 2];
    const g2 = grad(Float32Array.from(mid), item(2));
    close(out, [mid[0] - 0.1 * g2[0], mid[1] - 0.1 * g2[1]]);
  });

  it('A-GEM projects only a conflicting gradient, onto the plane orthogonal to the reference', () => {
    const g = Float64Array.of(1, -2);
    const ref = Float64Array.of(1, 1); // g·ref = −1 < 0
    const p = agemProject(g, ref);
    close(p, [1.5, -1.5]);
    expect(p[0] * ref[0] + p[1] * ref[1]).toBeCloseTo(0, 12);
    const agreeing = Float64Array.of(2, 1);
    expect(agemProject(agreeing, ref)).toBe(agreeing); // g·ref > 0: unchanged
    expect(agemProject(g, Float64Array.of(0, 0))).toBe(g); // no reference
  });

  it('A-GEM update: the current (last) item\'s gradient, projected against the replayed items\' mean', () => {
    const theta = Float32Array.of(1, 2);
    const out = agemUpdate(theta, [[item(1), item(2), item(0)]], grad, 0.05);
    const ref = Float64Array.from(grad(theta, item(1)), (x, j) => (x + grad(theta, item(2))[j]) / 2);
    const g = agemProject(grad(theta, item(0)), ref);
    close(out, [1 - 0.05 * g[0], 2 - 0.05 * g[1]]);
    // A batch of the current item alone is a plain SGD step.
    const g0 = grad(theta, item(0));
    close(agemUpdate(theta, [[item(0)]], grad, 0.05), [1 - 0.05 * g0[0], 2 - 0.05 * g0[1]]);
  });

  it('L2: the current item\'s gradient plus λ(θ − θ_0); λ = 0 is plain online SGD', () => {
    const theta0 = Float32Array.of(0, 0);
    const theta = Float32Array.of(1, -1);
    const g = grad(theta, item(0));
    close(l2Update(theta, [[item(2), item(0)]], grad, 0.1, 0.5, theta0), [1 - 0.1 * (g[0] + 0.5), -1 - 0.1 * (g[1] - 0.5)]);
    close(l2Update(theta, [[item(0)]], grad, 0.1, 0, theta0), [1 - 0.1 * g[0], -1 - 0.1 * g[1]]);
  });

  it('clipNorm scales a gradient longer than the bound down to it, and leaves shorter ones', () => {
    const g = Float64Array.of(3, 4); // norm 5
    close(clipNorm(g, 2.5), [1.5, 2]);
    expect(clipNorm(g, 5)).toBe(g);
    expect(clipNorm(g, 0)).toBe(g);
  });

  it('a step to non-finite parameters throws a NumericError', () => {
    expect(() => erUpdate(Float32Array.of(1, 1), [[item(0)]], grad, 1e39)).toThrow(NumericError);
  });
});
