/**
 * Continual-learning metrics (src/continual/metrics.ts): hand-computed matrices,
 * per-task normalization, bootstrap intervals (coverage, determinism, width), the per-method
 * summary, CSV quoting and error cases.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import {
  bootstrapInterval,
  metricsOf,
  metricsOfMatrix,
  metricsRows,
  normalizeReturns,
  pairedDifferences,
  summarize,
  summaryRows,
} from '../src/continual/metrics.ts';
import { METRIC_NAMES, type SeedRun } from '../src/continual/types.ts';
import { toCsv } from '../src/io/csv.ts';

// Rows: after training through task i; columns: evaluated on task j. Task 0 first improves while
// task 1 is learned (0.8 → 0.95) and is then forgotten (0.5), so `forgetting` (max over l < L)
// and `forgettingCW` (from R[i][i]) differ.
const R = [
  [0.8, 0.1, 0.3],
  [0.95, 0.9, 0.2],
  [0.5, 0.7, 0.4],
];
const b = [0.2, 0.0, 0.1];

/** A raw run whose normalized returns are `Rn`, `bn` under the given references. */
function rawRun(method: string, seed: number, Rn: number[][], bn: number[], random: number[], oracle: number[]): SeedRun {
  const raw = (x: number, j: number) => random[j] + x * (oracle[j] - random[j]);
  return {
    method,
    seed,
    R: Rn.map((row) => row.map(raw)),
    b: bn.map(raw),
    random,
    oracle,
    returnsBefore: bn.map(raw),
    returnsAfter: Rn.map((row, j) => [raw(row[j], j), raw(row[j] + 0.05, j)]),
  };
}

describe('metricsOfMatrix on a hand-computed 3 × 3 case (L = 2)', () => {
  it('gives ACC, LA, BWT, FWT, forgetting and forgettingCW', () => {
    const m = metricsOfMatrix(R, b);
    expect(m.acc).toBeCloseTo((0.5 + 0.7 + 0.4) / 3, 12); // mean of the last row
    expect(m.la).toBeCloseTo((0.8 + 0.9 + 0.4) / 3, 12); // mean of the diagonal
    expect(m.bwt).toBeCloseTo((0.5 - 0.8 + (0.7 - 0.9)) / 2, 12); // tasks 0, 1: −0.25
    expect(m.fwt).toBeCloseTo((0.1 - 0.0 + (0.2 - 0.1)) / 2, 12); // R[0][1] − b1, R[1][2] − b2: 0.1
    expect(m.forgetting).toBeCloseTo((0.95 - 0.5 + (0.9 - 0.7)) / 2, 12); // max(0.8, 0.95) − 0.5, max(0.1, 0.9) − 0.7
    expect(m.forgettingCW).toBeCloseTo((0.8 - 0.5 + (0.9 - 0.7)) / 2, 12);
    expect(m.forgettingCW).toBeCloseTo(-m.bwt, 12);
  });

  it('takes forgetting’s max over every l < L, including rows before the task was trained', () => {
    // Task 1 scores 0.95 zero-shot (row 0) and 0.9 once trained (row 1): the max is 0.95.
    const m = metricsOfMatrix([[0.8, 0.95, 0.3], [0.6, 0.9, 0.2], [0.5, 0.7, 0.4]], b);
    expect(m.forgetting).toBeCloseTo((0.8 - 0.5 + (0.95 - 0.7)) / 2, 12);
    expect(m.fwt).toBeCloseTo((0.95 - 0 + (0.2 - 0.1)) / 2, 12);
  });

  it('gives the two-task case and a perfect, forgetting-free learner', () => {
    const two = metricsOfMatrix([[1, 0.3], [0.6, 0.9]], [0.5, 0.1]);
    expect(two).toEqual({ acc: 0.75, la: 0.95, bwt: 0.6 - 1, fwt: 0.3 - 0.1, forgetting: 1 - 0.6, forgettingCW: 1 - 0.6 });
    const perfect = metricsOfMatrix([[1, 0, 0], [1, 1, 0], [1, 1, 1]], [0, 0, 0]);
    expect(perfect).toEqual({ acc: 1, la: 1, bwt: 0, fwt: 0, forgetting: 0, forgettingCW: 0 });
  });
});

describe('normalizeReturns and metricsOf', () => {
  const random = [-100, -50, 10];
  const oracle = [0, 50, 20];

  it('maps random to 0 and oracle to 1 per task (column j of R, b_j, returns on task j)', () => {
    const run = rawRun('mer', 1, R, b, random, oracle);
    const n = normalizeReturns(run);
    n.R.forEach((row, i) => row.forEach((x, j) => expect(x).toBeCloseTo(R[i][j], 12)));
    n.b.forEach((x, j) => expect(x).toBeCloseTo(b[j], 12));
    n.returnsBefore.forEach((x, j) => expect(x).toBeCloseTo(b[j], 12));
    n.returnsAfter.forEach((row, j) => expect(row[1]).toBeCloseTo(R[j][j] + 0.05, 12));
    const { R: rawR } = run;
    expect(normalizeReturns({ ...run, R: rawR.map((row) => row.map((_, j) => random[j])) }).R.flat()).toEqual(new Array(9).fill(0));
    const viaRaw = metricsOf(run);
    const direct = metricsOfMatrix(R, b);
    for (const k of METRIC_NAMES) expect(viaRaw[k]).toBeCloseTo(direct[k], 12);
  });

  it('accepts an oracle below random (flips that task) but not oracle = random', () => {
    const flipped = normalizeReturns(rawRun('x', 1, R, b, [0, 0, 0], [-1, 1, 1]));
    expect(flipped.R[0][0]).toBeCloseTo(0.8, 12);
    const run = rawRun('mer', 7, R, b, random, oracle);
    expect(() => normalizeReturns({ ...run, oracle: [0, -50, 20] })).toThrow(/mer\/seed 7: task 1 has oracle return = random return = -50/);
  });

  it('rejects wrong shapes, non-finite values and fewer than 2 tasks', () => {
    const run = rawRun('finetune', 2, R, b, random, oracle);
    expect(() => metricsOf({ ...run, R: [R[0], R[1]] })).toThrow(/R\[0\] has length 3; expected 2/);
    expect(() => metricsOf({ ...run, b: [1, 2] })).toThrow(/finetune\/seed 2: b has length 2; expected 3/);
    expect(() => metricsOf({ ...run, random: [0, Number.NaN, 0] })).toThrow(/random\[1\] is NaN/);
    expect(() => metricsOf({ ...run, returnsAfter: [[1], [2]] })).toThrow(/returnsAfter must have one row per task/);
    expect(() => metricsOf({ ...run, R: [] })).toThrow(/non-empty T × T/);
    expect(() => metricsOfMatrix([[0.5]], [0.1])).toThrow(/at least 2 tasks/);
  });
});

/** n draws of N(mu, sigma²). */
function normals(n: number, mu: number, sigma: number, rng: Rng): number[] {
  return Array.from({ length: n }, () => mu + sigma * rng.normal());
}

describe('bootstrapInterval', () => {
  it('gives lo = hi = mean for one value, and the exact percentiles of a two-point case', () => {
    expect(bootstrapInterval([0.3], new Rng(1))).toEqual({ mean: 0.3, lo: 0.3, hi: 0.3, level: 0.95, n: 1 });
    // Resampled means of [0, 1] are 0, ½, 1 with probability ¼, ½, ¼.
    const wide = bootstrapInterval([0, 1], new Rng(2));
    expect([wide.lo, wide.mean, wide.hi]).toEqual([0, 0.5, 1]);
    const narrow = bootstrapInterval([0, 1], new Rng(2), { level: 0.4 });
    expect([narrow.lo, narrow.hi]).toEqual([0.5, 0.5]);
    expect(bootstrapInterval([2, 2, 2, 2], new Rng(3))).toMatchObject({ mean: 2, lo: 2, hi: 2, n: 4 });
  });

  it('is deterministic for a seed', () => {
    const xs = normals(8, 0, 1, new Rng(5));
    expect(bootstrapInterval(xs, new Rng(9))).toEqual(bootstrapInterval(xs, new Rng(9)));
    expect(bootstrapInterval(xs, new Rng(9))).not.toEqual(bootstrapInterval(xs, new Rng(10)));
  });

  it('covers the true mean of normal data at about the nominal level (binomial tolerance)', () => {
    const reps = 1000;
    const n = 50;
    const level = 0.95;
    const data = new Rng(123);
    let covered = 0;
    for (let r = 0; r < reps; r++) {
      const iv = bootstrapInterval(normals(n, 3, 2, data), data.fork(), { resamples: 1000, level });
      if (iv.lo <= 3 && 3 <= iv.hi) covered++;
    }
    // Coverage count ~ Binomial(reps, c): sd √(0.95·0.05/1000) ≈ 0.0069; allow 4 sd. The percentile
    // bootstrap of a mean also under-covers slightly at small n (its width uses the plug-in sd and
    // normal quantiles: c ≈ P(|t₄₉| ≤ 1.96·√(49/50)) ≈ 0.942 at n = 50), hence 0.01 more below.
    const sd = Math.sqrt((level * (1 - level)) / reps);
    expect(covered / reps).toBeGreaterThan(level - 0.01 - 4 * sd);
    expect(covered / reps).toBeLessThan(level + 4 * sd);
  });

  it('narrows with more seeds (width ∝ 1/√n)', () => {
    const rng = new Rng(77);
    const meanWidth = (n: number) => {
      let w = 0;
      for (let r = 0; r < 40; r++) {
        const iv = bootstrapInterval(normals(n, 0, 1, rng), rng.fork(), { resamples: 2000 });
        w += (iv.hi - iv.lo) / 40;
      }
      return w;
    };
    const [w5, w20, w80] = [meanWidth(5), meanWidth(20), meanWidth(80)];
    expect(w20).toBeLessThan(w5);
    expect(w80).toBeLessThan(w20);
    expect(w5 / w80).toBeGreaterThan(2.5); // √16 = 4 in expectation (less at n = 5, whose plug-in sd is biased low)
  });

  it('rejects empty input, non-finite values and bad options', () => {
    expect(() => bootstrapInterval([], new Rng(1))).toThrow(/no values/);
    expect(() => bootstrapInterval([1, Number.POSITIVE_INFINITY], new Rng(1))).toThrow(/value 1 is Infinity/);
    expect(() => bootstrapInterval([1, 2], new Rng(1), { level: 1 })).toThrow(/level/);
    expect(() => bootstrapInterval([1, 2], new Rng(1), { resamples: 0 })).toThrow(/resamples/);
  });
});

describe('summarize', () => {
  const runs: SeedRun[] = [];
  const refs = { random: [-100, -50, 10], oracle: [0, 50, 20] };
  for (const [method, shift] of [['mer', 0], ['finetune', -0.2]] as const) {
    for (const seed of [1, 2, 3]) {
      const Rs = R.map((row, i) => row.map((x, j) => x + shift * (i > j ? 1 : 0) + 0.01 * seed));
      runs.push(rawRun(method, seed, Rs, b, refs.random, refs.oracle));
    }
  }

  it('gives, per method in order of appearance, an interval over its seeds for every metric', () => {
    const s = summarize(runs, new Rng(4), { resamples: 2000 });
    expect(Object.keys(s)).toEqual(['mer', 'finetune']);
    for (const method of ['mer', 'finetune']) {
      const per = runs.filter((r) => r.method === method).map(metricsOf);
      expect(Object.keys(s[method])).toEqual([...METRIC_NAMES]);
      for (const k of METRIC_NAMES) {
        const iv = s[method][k];
        expect(iv.n).toBe(3);
        expect(iv.level).toBe(0.95);
        expect(iv.mean).toBeCloseTo(per.reduce((a, m) => a + m[k], 0) / 3, 12);
        expect(iv.lo).toBeLessThanOrEqual(iv.mean + 1e-12);
        expect(iv.hi).toBeGreaterThanOrEqual(iv.mean - 1e-12);
      }
    }
    expect(s.finetune.bwt.mean).toBeLessThan(s.mer.bwt.mean); // the shift below the diagonal hurts BWT
    expect(summarize(runs, new Rng(4), { resamples: 2000 })).toEqual(s);
  });

  it('rejects no runs and a repeated (method, seed)', () => {
    expect(() => summarize([], new Rng(1))).toThrow(/no runs/);
    expect(() => summarize([runs[0], runs[1], runs[0]], new Rng(1))).toThrow(/mer\/seed 1 appears twice/);
  });
});

describe('CSV (RFC 4180)', () => {
  it('quotes fields with commas, quotes, CR or LF, doubles inner quotes, ends records with CRLF', () => {
    expect(toCsv([['plain', 'a,b', 'say "hi"', 'two\nlines', 'cr\rhere', 1.5, -0.25, null, undefined, true]])).toBe(
      'plain,"a,b","say ""hi""","two\nlines","cr\rhere",1.5,-0.25,,,true\r\n',
    );
    expect(toCsv([])).toBe('');
    expect(toCsv([['a'], ['b']])).toBe('a\r\nb\r\n');
  });

  it('builds metrics.csv and summary rows with headers', () => {
    const run = rawRun('replay, v2', 3, R, b, [0, 0, 0], [1, 1, 1]);
    const rows = metricsRows([run]);
    expect(rows[0]).toEqual(['method', 'seed', 'acc', 'la', 'bwt', 'fwt', 'forgetting', 'forgettingCW']);
    expect(rows[1].slice(0, 2)).toEqual(['replay, v2', 3]);
    expect(toCsv(rows).split('\r\n')[1].startsWith('"replay, v2",3,')).toBe(true);
    const summary = summarize([run], new Rng(1));
    const srows = summaryRows(summary);
    expect(srows[0]).toEqual(['method', 'metric', 'mean', 'lo', 'hi', 'level', 'n']);
    expect(srows).toHaveLength(1 + METRIC_NAMES.length);
    expect(srows[1]).toEqual(['replay, v2', 'acc', summary['replay, v2'].acc.mean, summary['replay, v2'].acc.mean, summary['replay, v2'].acc.mean, 0.95, 1]);
  });
});

describe('pairedDifferences', () => {
  const refs = { random: [-100, -50, 10], oracle: [0, 50, 20] };
  const run = (method: string, seed: number, shift: number) => rawRun(method, seed, R.map((row, i) => row.map((x, j) => x + shift * (i > j ? 1 : 0) + 0.03 * seed * seed)), b, refs.random, refs.oracle);

  it('is the mean of per-seed differences, matched by seed number, only over shared seeds', () => {
    // Seeds vary a lot between each other but not within a pair: the paired interval stays tight.
    const runs = [run('mer', 1, 0), run('mer', 2, 0), run('mer', 3, 0), run('online', 3, -0.2), run('online', 1, -0.2), run('online', 4, -0.2)];
    const d = pairedDifferences(runs, 'mer', 'online', new Rng(5), { resamples: 2000 });
    const per = [1, 3].map((s) => metricsOf(run('mer', s, 0)).acc - metricsOf(run('online', s, -0.2)).acc);
    expect(d.acc.n).toBe(2);
    expect(d.acc.mean).toBeCloseTo((per[0] + per[1]) / 2, 12);
    expect(d.acc.mean).toBeCloseTo(0.4 / 3, 9); // two of the last row's three entries shifted by 0.2
    expect(d.acc.hi - d.acc.lo).toBeLessThan(1e-9);
    expect(d.la.mean).toBeCloseTo(0, 12); // the diagonal is not shifted
    // Unpaired, the same runs give ACC intervals that overlap: the seed effect swamps the shift.
    const s = summarize(runs, new Rng(6), { resamples: 2000 });
    expect(s.mer.acc.lo).toBeLessThan(s.online.acc.hi);
  });

  it('rejects methods without a shared seed', () => {
    expect(() => pairedDifferences([run('mer', 1, 0), run('online', 2, 0)], 'mer', 'online', new Rng(1))).toThrow(/share no seed/);
  });
});
