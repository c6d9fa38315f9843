/**
 * Continual-learning metrics (REFERENCE §5) as pure functions over the shapes of
 * types.ts: per-task normalization of returns, the metrics of one run, percentile
 * bootstrap intervals over seeds, the per-method summary, and RFC 4180 CSV text.
 *
 * Indexing. Tasks are indexed 0 … T−1 here; in the formulas below L = T − 1 is the last index.
 * REFERENCE §5 writes GEM's definitions (Lopez-Paz & Ranzato 2017), whose tasks are numbered
 * 1 … T; translated to 0-based indices they read, on normalized returns R (T × T) and b (T):
 *     ACC = mean_{j=0..L} R[L][j]                 LA  = mean_{i=0..L} R[i][i]
 *     BWT = mean_{i=0..L−1} (R[L][i] − R[i][i])   FWT = mean_{i=1..L} (R[i−1][i] − b[i])
 *     forgetting   = mean_{i=0..L−1} (max_{l=0..L−1} R[l][i] − R[L][i])
 *     forgettingCW = mean_{i=0..L−1} (R[i][i] − R[L][i])   (Continual World; = −BWT)
 * GEM's "i ≥ 2" in FWT is 1-based: every task but the first, whose R[i−1][i] does not exist.
 * The max in `forgetting` runs over every l < L, as in REFERENCE §5 (Chaudhry et al. 2018).
 */
import type { Rng } from '../core/rng.ts';
import { type ContinualMetrics, type Interval, METRIC_NAMES, type SeedRun } from './types.ts';
import type { CsvCell } from '../io/csv.ts';

/** A run's returns after per-task normalization: (x − random_j) / (oracle_j − random_j). */
export interface NormalizedReturns {
  R: number[][]; // [T][T]
  b: number[]; // [T]
  returnsBefore: number[]; // [T]
  returnsAfter: number[][]; // [T][K]
}

function fail(message: string): never {
  throw new RangeError(message);
}

function label(run: Pick<SeedRun, 'method' | 'seed'>): string {
  return `run ${run.method}/seed ${run.seed}`;
}

function checkVector(what: string, v: unknown, length: number): asserts v is number[] {
  if (!Array.isArray(v) || v.length !== length) fail(`${what} has length ${Array.isArray(v) ? v.length : typeof v}; expected ${length}`);
  v.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(`${what}[${i}] is ${x}; expected a finite number`);
  });
}

function checkSquare(what: string, R: unknown): number {
  if (!Array.isArray(R) || R.length === 0) fail(`${what} must be a non-empty T × T matrix`);
  const T = R.length;
  R.forEach((row, i) => checkVector(`${what}[${i}]`, row, T));
  return T;
}

/**
 * Normalizes R, b, returnsBefore and returnsAfter per task j (column j of R, entry j of b, row j
 * of returnsAfter). Throws if any array has the wrong size, a value is not finite, or a task's
 * oracle equals its random return (the scale would be infinite). An oracle below the random
 * return is allowed (noisy references on easy tasks) and flips that task's sign.
 */
export function normalizeReturns(run: SeedRun): NormalizedReturns {
  const who = label(run);
  const T = checkSquare(`${who}: R`, run.R);
  checkVector(`${who}: b`, run.b, T);
  checkVector(`${who}: random`, run.random, T);
  checkVector(`${who}: oracle`, run.oracle, T);
  checkVector(`${who}: returnsBefore`, run.returnsBefore, T);
  if (!Array.isArray(run.returnsAfter) || run.returnsAfter.length !== T) fail(`${who}: returnsAfter must have one row per task (${T})`);
  run.returnsAfter.forEach((row, i) => checkVector(`${who}: returnsAfter[${i}]`, row, Array.isArray(row) ? row.length : -1));
  for (let j = 0; j < T; j++) {
    if (run.oracle[j] === run.random[j]) {
      fail(`${who}: task ${j} has oracle return = random return = ${run.oracle[j]}, so (x − random)/(oracle − random) is undefined; measure the references again or drop the task`);
    }
  }
  const norm = (x: number, j: number) => (x - run.random[j]) / (run.oracle[j] - run.random[j]);
  return {
    R: run.R.map((row) => row.map(norm)),
    b: run.b.map(norm),
    returnsBefore: run.returnsBefore.map(norm),
    returnsAfter: run.returnsAfter.map((row, j) => row.map((x) => norm(x, j))),
  };
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The metrics of already-normalized R (T × T, T ≥ 2) and b (T); see the top of the file. */
export function metricsOfMatrix(R: number[][], b: number[]): ContinualMetrics {
  const T = checkSquare('R', R);
  checkVector('b', b, T);
  if (T < 2) fail(`continual metrics need at least 2 tasks (BWT, FWT and forgetting are means over tasks 0…T−2 or 1…T−1); got T = ${T}`);
  const L = T - 1;
  const seen = Array.from({ length: L }, (_, i) => i); // tasks 0 … L−1
  const bestBeforeEnd = (i: number) => Math.max(...seen.map((l) => R[l][i]));
  return {
    acc: mean(R[L]),
    la: mean(R.map((row, i) => row[i])),
    bwt: mean(seen.map((i) => R[L][i] - R[i][i])),
    fwt: mean(Array.from({ length: L }, (_, k) => R[k][k + 1] - b[k + 1])),
    forgetting: mean(seen.map((i) => bestBeforeEnd(i) - R[L][i])),
    forgettingCW: mean(seen.map((i) => R[i][i] - R[L][i])),
  };
}

/** The metrics of one run, on normalized returns. */
export function metricsOf(run: SeedRun): ContinualMetrics {
  const n = normalizeReturns(run);
  return metricsOfMatrix(n.R, n.b);
}

/** The same metrics on the returns before adaptation (R0, b0; runs with evalUnadapted), or null. */
export function unadaptedMetricsOf(run: SeedRun): ContinualMetrics | null {
  if (run.R0 === undefined || run.b0 === undefined) return null;
  const n = normalizeReturns({ ...run, R: run.R0, b: run.b0 });
  return metricsOfMatrix(n.R, n.b);
}

export interface BootstrapOptions {
  /** Number of resamples of the values (default 10,000). */
  resamples?: number;
  /** Confidence level in (0, 1) (default 0.95). */
  level?: number;
}

/** The q-quantile of ascending `sorted`, interpolating linearly between order statistics. */
function quantileSorted(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Percentile bootstrap interval of the mean of `values` (one value per seed): resample n values
 * with replacement `resamples` times, and take the (1 − level)/2 and (1 + level)/2 quantiles of
 * the resampled means. Deterministic for the Rng's state; n = 1 gives lo = hi = mean.
 */
export function bootstrapInterval(values: readonly number[], rng: Rng, opts: BootstrapOptions = {}): Interval {
  const { resamples = 10_000, level = 0.95 } = opts;
  const n = values.length;
  if (n === 0) fail('bootstrapInterval: no values (one per seed) to summarize');
  values.forEach((x, i) => {
    if (!Number.isFinite(x)) fail(`bootstrapInterval: value ${i} is ${x}; expected a finite number`);
  });
  if (!Number.isInteger(resamples) || resamples < 1) fail(`bootstrapInterval: resamples must be an integer ≥ 1, got ${resamples}`);
  if (!(level > 0 && level < 1)) fail(`bootstrapInterval: level must be in (0, 1), got ${level}`);
  const m = mean(values as number[]);
  if (n === 1) return { mean: m, lo: m, hi: m, level, n };
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[rng.int(n)];
    means[r] = s / n;
  }
  means.sort();
  return { mean: m, lo: quantileSorted(means, (1 - level) / 2), hi: quantileSorted(means, (1 + level) / 2), level, n };
}

export type MetricIntervals = Record<keyof ContinualMetrics, Interval>;

/**
 * Per method (in order of first appearance), an Interval for every metric over that method's
 * seeds. Each (method, metric) gets its own child stream forked from `rng` in that order, so the
 * result is deterministic for the Rng's state. A repeated (method, seed) pair is an error.
 */
export function summarize(runs: readonly SeedRun[], rng: Rng, opts: BootstrapOptions = {}): Record<string, MetricIntervals> {
  if (runs.length === 0) fail('summarize: no runs');
  const byMethod = new Map<string, ContinualMetrics[]>();
  const seen = new Set<string>();
  for (const run of runs) {
    const key = JSON.stringify([run.method, run.seed]);
    if (seen.has(key)) fail(`summarize: ${label(run)} appears twice`);
    seen.add(key);
    if (!byMethod.has(run.method)) byMethod.set(run.method, []);
    byMethod.get(run.method)!.push(metricsOf(run));
  }
  const summary: Record<string, MetricIntervals> = {};
  for (const [method, metrics] of byMethod) {
    const intervals = {} as MetricIntervals;
    for (const name of METRIC_NAMES) intervals[name] = bootstrapInterval(metrics.map((x) => x[name]), rng.fork(), opts);
    summary[method] = intervals;
  }
  return summary;
}

/**
 * Paired comparison of method `a` with method `b` over the seeds both ran: per seed, every metric
 * of a minus that of b (a seed gives both the same task sequence and sampling noise), then a
 * bootstrap interval of the mean difference. Seed-to-seed differences in difficulty cancel, so
 * this is the sharper test of "a beats b" than comparing the two methods' own intervals.
 */
export function pairedDifferences(runs: readonly SeedRun[], a: string, b: string, rng: Rng, opts: BootstrapOptions = {}): MetricIntervals {
  const of = (method: string) => new Map(runs.filter((r) => r.method === method).map((r) => [r.seed, metricsOf(r)]));
  const ma = of(a);
  const mb = of(b);
  const seeds = [...ma.keys()].filter((s) => mb.has(s));
  if (seeds.length === 0) fail(`pairedDifferences: ${a} and ${b} share no seed`);
  const out = {} as MetricIntervals;
  for (const name of METRIC_NAMES) out[name] = bootstrapInterval(seeds.map((s) => ma.get(s)![name] - mb.get(s)![name]), rng.fork(), opts);
  return out;
}

/** Rows for `metrics.csv`: a header, then one row per run with its metrics (normalized returns). */
export function metricsRows(runs: readonly SeedRun[]): CsvCell[][] {
  return [['method', 'seed', ...METRIC_NAMES], ...runs.map((run) => {
    const m = metricsOf(run);
    return [run.method, run.seed, ...METRIC_NAMES.map((k) => m[k])];
  })];
}

/** Rows for a summary CSV: a header, then one row per (method, metric) interval. */
export function summaryRows(summary: Record<string, MetricIntervals>): CsvCell[][] {
  const rows: CsvCell[][] = [['method', 'metric', 'mean', 'lo', 'hi', 'level', 'n']];
  for (const [method, intervals] of Object.entries(summary)) {
    for (const k of METRIC_NAMES) {
      const iv = intervals[k];
      rows.push([method, k, iv.mean, iv.lo, iv.hi, iv.level, iv.n]);
    }
  }
  return rows;
}
