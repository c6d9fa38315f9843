import { beforeEach, describe, expect, it, vi } from 'vitest';
import { EpisodeBatch } from '../src/core/episodes.ts';
import { NumericError } from '../src/core/errors.ts';
import { Rng } from '../src/core/rng.ts';
import { discountedReturns, gae, normalizePerGroup, stepWeights } from '../agents/advantages.ts';
import { LinearFeatureBaseline } from '../agents/baseline.ts';
import { computeAdvantages } from '../src/experiments/sampler.ts';

// The baseline solves its normal equations with mathjs's lusolve. This pass-through spy records
// the diagonal of each system it is asked to solve and can be told to fail the next few solves,
// so the ridge-growing retry path can be exercised.
const solver = vi.hoisted(() => ({ failNext: 0, firstDiagonals: [] as number[] }));
vi.mock('mathjs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('mathjs')>();
  return {
    ...actual,
    lusolve: (A: number[][], b: number[]) => {
      solver.firstDiagonals.push(A[0][0]);
      if (solver.failNext > 0) {
        solver.failNext--;
        throw new Error('Linear system cannot be solved since matrix is singular');
      }
      return actual.lusolve(A, b);
    },
  };
});

beforeEach(() => {
  solver.failNext = 0;
  solver.firstDiagonals = [];
});

/** A batch with the given per-episode rewards (1-D obs/actions), padded to `horizon`. */
function batchOf(rewards: number[][], horizon: number, terminated: boolean[] = rewards.map(() => true)): EpisodeBatch {
  const b = new EpisodeBatch(rewards.length, horizon, 1, 1);
  rewards.forEach((rs, e) => {
    b.lengths[e] = rs.length;
    b.terminated[e] = terminated[e] ? 1 : 0;
    rs.forEach((r, t) => (b.rewards[e * horizon + t] = r));
  });
  return b;
}

function rows(x: Float64Array, e: number, H: number): number[] {
  return Array.from(x.subarray(e * H, (e + 1) * H));
}

describe('discountedReturns', () => {
  it('matches a hand-computed example and leaves padding at 0', () => {
    const b = batchOf([[1, 2, 3], [4]], 4);
    const g = discountedReturns(b, 0.5);
    // G2 = 3, G1 = 2 + 0.5·3 = 3.5, G0 = 1 + 0.5·3.5 = 2.75
    expect(rows(g, 0, 4)).toEqual([2.75, 3.5, 3, 0]);
    expect(rows(g, 1, 4)).toEqual([4, 0, 0, 0]);
  });

  it('sums rewards undiscounted at gamma 1 and keeps only the reward at gamma 0', () => {
    const b = batchOf([[1, -2, 5]], 3);
    expect(Array.from(discountedReturns(b, 1))).toEqual([4, 3, 5]);
    expect(Array.from(discountedReturns(b, 0))).toEqual([1, -2, 5]);
  });

  it('ignores rewards written past an episode\'s length', () => {
    const b = batchOf([[1, 1]], 4);
    b.rewards[3] = 100; // stale data in a padding row
    expect(Array.from(discountedReturns(b, 0.9))).toEqual([1 + 0.9, 1, 0, 0]);
  });
});

describe('gae', () => {
  it('matches a hand-computed example with lambda 0.5', () => {
    const b = batchOf([[1, 2, 3]], 3);
    const values = new Float64Array([0.5, 1, 1.5]);
    const a = gae(b, values, 0.9, 0.5);
    // δ2 = 3 − 1.5 = 1.5; δ1 = 2 + 0.9·1.5 − 1 = 2.35; δ0 = 1 + 0.9·1 − 0.5 = 1.4
    // A2 = 1.5; A1 = 2.35 + 0.45·1.5 = 3.025; A0 = 1.4 + 0.45·3.025 = 2.76125
    expect(a[0]).toBeCloseTo(2.76125, 12);
    expect(a[1]).toBeCloseTo(3.025, 12);
    expect(a[2]).toBeCloseTo(1.5, 12);
  });

  it('equals the discounted returns for terminated episodes with lambda 1 and zero values', () => {
    const rng = new Rng(3);
    const H = 12;
    const rewards = [5, 12, 1, 9].map((len) => Array.from({ length: len }, () => rng.range(-2, 1)));
    const b = batchOf(rewards, H);
    const a = gae(b, new Float64Array(b.numEpisodes * H), 0.99, 1);
    const g = discountedReturns(b, 0.99);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(g[i], 10);
  });

  it('with lambda 1 gives returns minus values (the Monte-Carlo advantage)', () => {
    const b = batchOf([[1, 2, 3, 4]], 5);
    const values = new Float64Array([0.3, -1, 2, 0.5, 0]);
    const a = gae(b, values, 0.95, 1);
    const g = discountedReturns(b, 0.95);
    for (let t = 0; t < 4; t++) expect(a[t]).toBeCloseTo(g[t] - values[t], 10);
    expect(a[4]).toBe(0); // padding
  });

  it('bootstraps a truncated episode from lastValues and ignores it for a terminated one', () => {
    const gamma = 0.9;
    const b = batchOf([[1, 1], [1, 1]], 2, [false, true]);
    b.finishPath(0, 10);
    b.finishPath(1, 10);
    expect(Array.from(b.lastValues)).toEqual([10, 0]);
    const a = gae(b, new Float64Array(4), gamma, 1);
    // Truncated: the tail value 10 follows the last step.
    expect(a[1]).toBeCloseTo(1 + gamma * 10, 6);
    expect(a[0]).toBeCloseTo(1 + gamma * (1 + gamma * 10), 6);
    // Terminated: nothing follows the last step.
    expect(a[3]).toBeCloseTo(1, 6);
    expect(a[2]).toBeCloseTo(1 + gamma, 6);
  });
});

describe('EpisodeBatch', () => {
  it('finishPath forces the bootstrap value to 0 after a terminal state', () => {
    const b = batchOf([[0], [0]], 1, [true, false]);
    b.finishPath(0, 3.5);
    b.finishPath(1, 3.5);
    expect(Array.from(b.lastValues)).toEqual([0, 3.5]);
  });

  it('masks real steps, sums returns and slices episodes as copies', () => {
    const b = batchOf([[1, 2], [3], [4, 5, 6]], 3, [true, false, true]);
    b.finishPath(1, 7);
    expect(Array.from(b.mask())).toEqual([1, 1, 0, 1, 0, 0, 1, 1, 1]);
    expect(Array.from(b.episodeReturns())).toEqual([3, 3, 15]);
    expect(b.meanReturn()).toBe(7);
    const s = b.slice(1, 3);
    expect(s.numEpisodes).toBe(2);
    expect(Array.from(s.lengths)).toEqual([1, 3]);
    expect(Array.from(s.terminated)).toEqual([0, 1]);
    expect(Array.from(s.lastValues)).toEqual([7, 0]);
    expect(Array.from(s.rewards)).toEqual([3, 0, 0, 4, 5, 6]);
    s.rewards[0] = 99;
    expect(b.rewards[3]).toBe(3);
  });
});

describe('normalizePerGroup', () => {
  it('gives mean 0 and std 1 per group over real steps and leaves padding at 0', () => {
    const H = 5;
    const b = batchOf([[0, 0, 0], [0, 0, 0, 0, 0], [0, 0], [0, 0, 0, 0]], H);
    const rng = new Rng(9);
    const x = new Float64Array(4 * H);
    for (let e = 0; e < 4; e++) for (let t = 0; t < b.lengths[e]; t++) x[e * H + t] = rng.range(0, 10) + 100 * e;
    const out = normalizePerGroup(b, x, 2);
    expect(out).toBe(x); // in place
    const mask = b.mask();
    for (const [g0, g1] of [[0, 2], [2, 4]]) {
      const vals: number[] = [];
      for (let i = g0 * H; i < g1 * H; i++) if (mask[i]) vals.push(x[i]);
      const mean = vals.reduce((a, v) => a + v, 0) / vals.length;
      const variance = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / vals.length;
      expect(mean).toBeCloseTo(0, 10);
      expect(variance).toBeCloseTo(1, 6);
    }
    for (let i = 0; i < x.length; i++) if (!mask[i]) expect(x[i]).toBe(0);
  });

  it('keeps groups independent: shifting one group does not change the other', () => {
    const b = batchOf([[0, 0], [0, 0], [0, 0], [0, 0]], 2);
    const base = [1, 2, 3, 4, 5, 7, 11, 13];
    const x1 = normalizePerGroup(b, Float64Array.from(base), 2);
    const x2 = normalizePerGroup(b, Float64Array.from(base.map((v, i) => (i >= 4 ? v + 1000 : v))), 2);
    for (let i = 0; i < 8; i++) expect(x2[i]).toBeCloseTo(x1[i], 9);
  });

  it('maps a constant group to zeros instead of NaN', () => {
    const b = batchOf([[0, 0, 0]], 3);
    const x = normalizePerGroup(b, new Float64Array([4, 4, 4]), 1);
    expect(Array.from(x)).toEqual([0, 0, 0]);
  });

  it('handles a last group smaller than episodesPerGroup', () => {
    const b = batchOf([[0, 0], [0, 0], [0, 0]], 2);
    const x = normalizePerGroup(b, new Float64Array([1, 2, 3, 4, 10, 20]), 2);
    expect(x[4]).toBeCloseTo(-1, 6);
    expect(x[5]).toBeCloseTo(1, 6);
  });
});

describe('LinearFeatureBaseline', () => {
  /** Features are [x, y, x², y², τ, τ², τ³, 1] with τ = t/100 for a 2-D observation. */
  const W = [0.5, -1, 2, 0.3, -3, 1.5, 0.7, -0.2];
  function linearTarget(b: EpisodeBatch): Float64Array {
    const y = new Float64Array(b.numEpisodes * b.horizon);
    for (let e = 0; e < b.numEpisodes; e++) {
      for (let t = 0; t < b.lengths[e]; t++) {
        const r = e * b.horizon + t;
        const x0 = b.obs[2 * r];
        const x1 = b.obs[2 * r + 1];
        const tau = t / 100;
        const f = [x0, x1, x0 * x0, x1 * x1, tau, tau * tau, tau ** 3, 1];
        y[r] = f.reduce((s, v, i) => s + v * W[i], 0);
      }
    }
    return y;
  }

  function randomBatch(seed: number, E = 6, H = 100): EpisodeBatch {
    const rng = new Rng(seed);
    const b = new EpisodeBatch(E, H, 2, 2);
    for (let e = 0; e < E; e++) {
      b.lengths[e] = H - 10 * e;
      for (let t = 0; t < b.lengths[e]; t++) {
        b.obs[2 * (e * H + t)] = rng.range(-1, 1);
        b.obs[2 * (e * H + t) + 1] = rng.range(-1, 1);
      }
    }
    return b;
  }

  it('recovers a target that is exactly linear in its features', () => {
    const b = randomBatch(1);
    const y = linearTarget(b);
    const bl = new LinearFeatureBaseline(2);
    bl.fit(b, y);
    // The 1e-5 ridge biases the weights very slightly; τ, τ², τ³ are the least well determined.
    Array.from(bl.weights).forEach((w, i) => expect(w).toBeCloseTo(W[i], 2));
    const pred = new Float64Array(y.length);
    bl.predict(b, pred);
    const mask = b.mask();
    for (let i = 0; i < y.length; i++) {
      if (mask[i]) expect(Math.abs(pred[i] - y[i])).toBeLessThan(1e-3);
      else expect(pred[i]).toBe(0); // padding untouched
    }
  });

  it('fits and predicts only over the requested episode range', () => {
    const b = randomBatch(2);
    const y = linearTarget(b);
    // Corrupt the targets of episodes outside [2, 4): a fit restricted to [2, 4) must not see them.
    for (let i = 0; i < 2 * b.horizon; i++) y[i] += 50;
    const bl = new LinearFeatureBaseline(2);
    bl.fit(b, y, 2, 4);
    const pred = new Float64Array(y.length);
    bl.predict(b, pred, 2, 4);
    for (let t = 0; t < b.lengths[2]; t++) expect(Math.abs(pred[2 * b.horizon + t] - y[2 * b.horizon + t])).toBeLessThan(1e-3);
    expect(pred[0]).toBe(0);
    expect(pred[5 * b.horizon]).toBe(0);
  });

  it('predicts the value after the last step from finalObs at t = length', () => {
    const b = randomBatch(3);
    const bl = new LinearFeatureBaseline(2);
    bl.fit(b, linearTarget(b));
    b.finalObs.set([0.4, -0.6], 2 * 1); // episode 1, length 90
    const tau = b.lengths[1] / 100;
    const f = [0.4, -0.6, 0.16, 0.36, tau, tau * tau, tau ** 3, 1].map((v) => Math.fround(v));
    const expected = f.reduce((s, v, i) => s + v * W[i], 0);
    expect(bl.predictFinal(b, 1)).toBeCloseTo(expected, 2);
  });

  it('clips observations to ±obsClip in its features (rllab), and not at all by default (pytorch-maml-rl)', () => {
    const b = new EpisodeBatch(1, 1, 1, 1);
    b.lengths[0] = 1;
    const value = (bl: LinearFeatureBaseline) => {
      bl.weights = Float64Array.from([1, 1, 0, 0, 0, 0]); // value = o + o²
      const out = new Float64Array(1);
      bl.predict(b, out);
      return out[0];
    };
    b.obs[0] = 12;
    expect(value(new LinearFeatureBaseline(1, { obsClip: 10 }))).toBe(110);
    expect(value(new LinearFeatureBaseline(1))).toBe(156);
    b.obs[0] = -3;
    expect(value(new LinearFeatureBaseline(1, { obsClip: 10 }))).toBe(6);
  });

  it('fits all-identical observations (a singular feature matrix) thanks to the ridge', () => {
    const H = 20;
    const b = new EpisodeBatch(3, H, 2, 2);
    b.lengths.fill(H); // every observation (0, 0): the x and x² columns are all zero
    const y = new Float64Array(3 * H);
    for (let e = 0; e < 3; e++) for (let t = 0; t < H; t++) y[e * H + t] = 2 - 5 * (t / 100);
    const bl = new LinearFeatureBaseline(2);
    bl.fit(b, y);
    expect(bl.weights.every(Number.isFinite)).toBe(true);
    const pred = new Float64Array(y.length);
    bl.predict(b, pred);
    for (let i = 0; i < y.length; i++) expect(pred[i]).toBeCloseTo(y[i], 3);
  });

  it('grows the ridge ×10 when a solve fails and still fits', () => {
    const H = 20;
    const b = new EpisodeBatch(2, H, 1, 1);
    b.lengths.fill(H); // obs all 0: the first diagonal entry of XᵀX + ridge·I is the ridge itself
    const y = new Float64Array(2 * H).fill(3);
    solver.failNext = 2;
    const bl = new LinearFeatureBaseline(1);
    bl.fit(b, y);
    expect(solver.firstDiagonals).toHaveLength(3);
    expect(solver.firstDiagonals[0]).toBeCloseTo(1e-5, 15);
    expect(solver.firstDiagonals[1]).toBeCloseTo(1e-4, 15);
    expect(solver.firstDiagonals[2]).toBeCloseTo(1e-3, 15);
    const pred = new Float64Array(y.length);
    bl.predict(b, pred);
    for (let i = 0; i < y.length; i++) expect(pred[i]).toBeCloseTo(3, 3);
  });

  it('gives up with a NumericError after five failed solves, keeping its old weights', () => {
    const b = new EpisodeBatch(1, 4, 1, 1);
    b.lengths[0] = 4;
    const bl = new LinearFeatureBaseline(1);
    bl.weights = Float64Array.from([1, 2, 3, 4, 5, 6]);
    solver.failNext = 5;
    expect(() => bl.fit(b, new Float64Array(4))).toThrow(NumericError);
    expect(solver.firstDiagonals).toHaveLength(5);
    expect(solver.firstDiagonals[4]).toBeCloseTo(0.1, 12);
    expect(Array.from(bl.weights)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('computeAdvantages', () => {
  /** One task, two episodes cut by the time limit with rewards that rise along the episode. */
  function truncatedBatch(): EpisodeBatch {
    const H = 30;
    const b = new EpisodeBatch(2, H, 1, 1);
    for (let e = 0; e < 2; e++) {
      b.lengths[e] = H;
      for (let t = 0; t < H; t++) {
        b.obs[e * H + t] = t / 10 + e;
        b.rewards[e * H + t] = 1 + t / 10;
      }
      b.finalObs[e] = H / 10 + e;
    }
    return b;
  }

  it('sets the value after a truncated episode to 0 without bootstrapping (both references) and to the baseline\'s with it', () => {
    const o = { gamma: 0.99, gaeLambda: 1, baselineObsClip: 0, lossWeighting: 'step' as const };
    const off = truncatedBatch();
    computeAdvantages(off, 1, { ...o, bootstrapTruncated: false });
    expect(Array.from(off.lastValues)).toEqual([0, 0]);
    const on = truncatedBatch();
    const adv = computeAdvantages(on, 1, { ...o, bootstrapTruncated: true });
    const bl = new LinearFeatureBaseline(1);
    bl.fit(on, discountedReturns(on, 0.99));
    for (let e = 0; e < 2; e++) {
      expect(on.lastValues[e]).toBeCloseTo(bl.predictFinal(on, e), 3);
      expect(Math.abs(on.lastValues[e])).toBeGreaterThan(0.01);
    }
    const without = computeAdvantages(truncatedBatch(), 1, { ...o, bootstrapTruncated: false });
    expect(Array.from(adv)).not.toEqual(Array.from(without));
  });

  it('passes the observation clip on to the baseline', () => {
    const big = truncatedBatch();
    for (let i = 0; i < big.obs.length; i++) big.obs[i] *= 10; // up to 39: beyond the clip
    const o = { gamma: 0.99, gaeLambda: 1, bootstrapTruncated: false, lossWeighting: 'step' as const };
    const clipped = computeAdvantages(truncatedBatch(), 1, { ...o, baselineObsClip: 10 });
    const sameAsClipped = computeAdvantages(truncatedBatch(), 1, { ...o, baselineObsClip: 0 });
    expect(Array.from(clipped)).toEqual(Array.from(sameAsClipped)); // obs ≤ 3.9: the clip is inactive
    const a = computeAdvantages(big, 1, { ...o, baselineObsClip: 10 });
    const b = computeAdvantages(truncatedBatchTimes(10), 1, { ...o, baselineObsClip: 0 });
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });

  function truncatedBatchTimes(k: number): EpisodeBatch {
    const b = truncatedBatch();
    for (let i = 0; i < b.obs.length; i++) b.obs[i] *= k;
    return b;
  }
});

describe('step weighting', () => {
  /** Two episodes of lengths 1 and 3 (horizon 4), values x. */
  function unequal(): EpisodeBatch {
    const b = new EpisodeBatch(2, 4, 1, 1);
    b.lengths.set([1, 3]);
    return b;
  }

  it("weighs every step alike ('step', rllab) or every episode alike ('episode', pytorch-maml-rl)", () => {
    const b = unequal();
    expect(Array.from(stepWeights(b, 0, 2, 'step'))).toEqual([0.25, 0, 0, 0, 0.25, 0.25, 0.25, 0]);
    const w = Array.from(stepWeights(b, 0, 2, 'episode'));
    expect(w.map((x) => +x.toFixed(12))).toEqual([0.5, 0, 0, 0, 1 / 6, 1 / 6, 1 / 6, 0].map((x) => +x.toFixed(12)));
    // Equal lengths: the two agree.
    const even = new EpisodeBatch(2, 3, 1, 1);
    even.lengths.set([3, 3]);
    expect(Array.from(stepWeights(even, 0, 2, 'episode')).map((x) => +x.toFixed(12))).toEqual(Array.from(stepWeights(even, 0, 2, 'step')).map((x) => +x.toFixed(12)));
  });

  it("normalizes with pytorch-maml-rl's weighted_normalize under 'episode' (hand-computed)", () => {
    const b = unequal();
    const x = Float64Array.from([4, 0, 0, 0, 1, 2, 3, 0]);
    // mean = (4 + mean(1, 2, 3)) / 2 = 3; variance = ((4−3)² + mean(4, 1, 0)) / 2 = 4/3.
    normalizePerGroup(b, x, 2, 'episode');
    const sd = Math.sqrt(4 / 3);
    [1 / sd, 0, 0, 0, -2 / sd, -1 / sd, 0, 0].forEach((v, i) => expect(x[i]).toBeCloseTo(v, 6));
    const y = Float64Array.from([4, 0, 0, 0, 1, 2, 3, 0]);
    normalizePerGroup(b, y, 2, 'step'); // mean 2.5
    expect(y[6]).toBeCloseTo(0.5 / Math.sqrt((2.25 + 2.25 + 0.25 + 0.25) / 4), 6);
  });
});
