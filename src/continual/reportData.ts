/**
 * The numbers a continual-experiment report shows, taken from a `ContinualResults`: input checks
 * with messages that name the run and the array at fault, the method order, and seed averages
 * (return curves with a Student-t interval, mean normalized R matrices, per-task returns).
 * The metric intervals themselves are not recomputed here: they come from `results.summary`.
 */
import { CONTINUAL_METHODS, METRIC_NAMES, type ContinualResults, type SeedRun } from './types.ts';

/** The results cannot be reported as they are; the message says which part is wrong. */
export class InvalidResultsError extends Error {
  constructor(message: string) {
    super(`invalid continual results: ${message}`);
    this.name = 'InvalidResultsError';
  }
}

function fail(msg: string): never {
  throw new InvalidResultsError(msg);
}

/** Throws an InvalidResultsError unless `results` is complete and consistent (T tasks, K steps). */
export function validateResults(results: ContinualResults): void {
  if (typeof results !== 'object' || results === null) fail('expected an object');
  if (typeof results.env !== 'string' || typeof results.schedule !== 'string') fail('env and schedule must be strings');
  if (!Array.isArray(results.tasks) || results.tasks.length === 0) fail('tasks must be a non-empty array');
  if (!Number.isInteger(results.adaptSteps) || results.adaptSteps < 1) fail(`adaptSteps must be an integer ≥ 1, got ${results.adaptSteps}`);
  if (!Array.isArray(results.runs) || results.runs.length === 0) fail('runs is empty: there is nothing to report (did the runner finish any method × seed?)');
  const T = results.tasks.length;
  const K = results.adaptSteps;
  const seen = new Set<string>();
  results.runs.forEach((run, r) => {
    const label = `run ${r} (method ${run?.method}, seed ${run?.seed})`;
    if (typeof run?.method !== 'string' || run.method === '') fail(`run ${r} has no method name`);
    if (!Number.isFinite(run.seed)) fail(`${label}: seed must be a number`);
    const key = `${run.method}\u0000${run.seed}`;
    if (seen.has(key)) fail(`${label} appears twice`);
    seen.add(key);
    checkMatrix(`${label}: R`, run.R, T, T);
    for (const field of ['b', 'random', 'oracle', 'returnsBefore'] as const) checkVector(`${label}: ${field}`, run[field], T);
    checkMatrix(`${label}: returnsAfter`, run.returnsAfter, T, K);
    run.oracle.forEach((o, j) => {
      if (o === run.random[j]) fail(`${label}: oracle equals random on task ${j + 1} (${o}), so its returns cannot be normalized`);
    });
  });
  if (typeof results.summary !== 'object' || results.summary === null) fail('summary is missing');
  const methods = new Set(results.runs.map((run) => run.method));
  for (const method of methods) {
    const metrics = results.summary[method];
    if (!metrics) fail(`summary has no entry for method '${method}' (summary has: ${Object.keys(results.summary).join(', ') || 'nothing'})`);
    for (const name of METRIC_NAMES) {
      const iv = metrics[name];
      if (!iv || ![iv.mean, iv.lo, iv.hi].every(Number.isFinite)) fail(`summary.${method}.${name} must have finite mean, lo and hi`);
      if (!(iv.lo <= iv.mean && iv.mean <= iv.hi)) fail(`summary.${method}.${name}: expected lo ≤ mean ≤ hi, got ${iv.lo}, ${iv.mean}, ${iv.hi}`);
      if (!(iv.level > 0 && iv.level < 1) || !Number.isInteger(iv.n) || iv.n < 1) fail(`summary.${method}.${name}: level must be in (0, 1) and n a positive integer`);
    }
  }
  for (const method of Object.keys(results.summary)) {
    if (!methods.has(method)) fail(`summary has method '${method}' but no run of it`);
  }
}

function checkVector(what: string, v: unknown, length: number): void {
  if (!Array.isArray(v)) fail(`${what} is missing (expected ${length} numbers)`);
  const arr = v as unknown[];
  if (arr.length !== length) fail(`${what} has ${arr.length} entries; expected ${length}`);
  const bad = arr.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
  if (bad >= 0) fail(`${what}[${bad}] is ${String(arr[bad])}; expected a finite number`);
}

function checkMatrix(what: string, m: unknown, rows: number, cols: number): void {
  if (!Array.isArray(m)) fail(`${what} is missing (expected ${rows}×${cols})`);
  const arr = m as unknown[];
  const width = Array.isArray(arr[0]) ? arr[0].length : 0;
  const rectangular = arr.every((row) => Array.isArray(row) && row.length === width);
  if (arr.length !== rows || (rectangular && width !== cols)) fail(`${what} is ${arr.length}×${width}; expected ${rows}×${cols}`);
  // Row by row, so a ragged or short row is named: 'R[2] has 5 entries; expected 4'.
  arr.forEach((row, i) => checkVector(`${what}[${i}]`, row, cols));
}

/** Methods in the runner's canonical order, then any other method in order of first appearance. */
export function reportMethods(results: ContinualResults): string[] {
  const present = [...new Set(results.runs.map((r) => r.method))];
  const known = (CONTINUAL_METHODS as readonly string[]).filter((m) => present.includes(m));
  return [...known, ...present.filter((m) => !known.includes(m))];
}

/** One method's runs, sorted by seed so that every average is taken in the same order. */
export function runsOf(results: ContinualResults, method: string): SeedRun[] {
  return results.runs.filter((r) => r.method === method).sort((a, b) => a.seed - b.seed);
}

/** Two-sided 97.5 % quantiles of Student's t for 1…30 degrees of freedom. */
const T_975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** Confidence level of the return bands (the metric intervals carry their own level). */
export const CURVE_LEVEL = 0.95;

/**
 * Mean and 95 % Student-t interval over seeds. With one seed the interval is the mean itself
 * (no spread to estimate), so a band collapses to its line rather than vanishing or blowing up.
 */
export function seedMeanInterval(values: number[]): { mean: number; lo: number; hi: number } {
  const n = values.length;
  const mean = values.reduce((s, x) => s + x, 0) / n;
  if (n < 2) return { mean, lo: mean, hi: mean };
  const variance = values.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  // Past 30 degrees of freedom, 1.96 + 2.4/df is within 0.003 of the exact quantile.
  const t = n - 1 <= T_975.length ? T_975[n - 2] : 1.96 + 2.4 / (n - 1);
  const half = t * Math.sqrt(variance / n);
  return { mean, lo: mean - half, hi: mean + half };
}

/** R[i][j] normalized per task j: (R − random_j) / (oracle_j − random_j), averaged over the method's seeds. */
export function meanNormalizedR(results: ContinualResults, method: string): number[][] {
  const runs = runsOf(results, method);
  const T = results.tasks.length;
  return Array.from({ length: T }, (_, i) =>
    Array.from({ length: T }, (_, j) => {
      const sum = runs.reduce((s, r) => s + (r.R[i][j] - r.random[j]) / (r.oracle[j] - r.random[j]), 0);
      return sum / runs.length;
    }),
  );
}

/** Per task position: return when the task arrives (before adapting) and after K steps, over seeds. */
export interface TaskReturns {
  before: { mean: number; lo: number; hi: number };
  after: { mean: number; lo: number; hi: number };
}

export function taskReturns(results: ContinualResults, method: string): TaskReturns[] {
  const runs = runsOf(results, method);
  const K = results.adaptSteps;
  return results.tasks.map((_, i) => ({
    before: seedMeanInterval(runs.map((r) => r.returnsBefore[i])),
    after: seedMeanInterval(runs.map((r) => r.returnsAfter[i][K - 1])),
  }));
}

/** Number of distinct seeds over all runs (methods may in principle have different ones). */
export function seedCount(results: ContinualResults): number {
  return new Set(results.runs.map((r) => r.seed)).size;
}
