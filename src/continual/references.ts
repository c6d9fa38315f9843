/**
 * Per-seed reference returns that normalize a continual run's returns, (x − random_j) /
 * (oracle_j − random_j), measured once per seed before any method runs, each with its own
 * generator so that which methods run cannot shift them:
 *
 *   random_j   an untrained policy's return on τ_j, without adaptation;
 *   b_j        θ_0's return on τ_j after K adaptation steps (b0_j: without adaptation);
 *   oracle_j   `fixed` (default): the best return of θ_0 adapted to τ_j alone over 0 … S steps,
 *              S = max(K, oracleSteps), and at least b_j; measured, so it does not depend on
 *              the methods compared (a method may exceed it: normalized values above 1).
 *              `best-seen`: the best return any method of the run reached on τ_j at any point
 *              (the earlier definition; adding a method can change every other method's numbers).
 * `auto` (default) is `fixed` when θ_0 is a meta-trained run's (`init`) and `best-seen` for a fresh
 * θ_0: a few steps from a random policy reach little, and dividing by oracle − random ≈ 1 then
 * blows normalized values up (ACC −6 and FWT +8 were measured that way on navigation).
 * Both keep oracle_j ≥ random_j + 1 so that the normalization stays defined.
 */
import { Rng, deriveSeed } from '../core/rng.ts';
import { initParams, type PolicySpec } from '../../agents/policy.ts';
import { type Measurer, adaptAndMeasure } from './data.ts';
import { type ContinualConfig, oracleMode } from './config.ts';
import type { SeedRun } from './types.ts';

export interface SeedReferences {
  random: number[];
  b: number[];
  b0?: number[];
  /** Only for the `fixed` oracle; `best-seen` is filled after the methods ran (fillOracle). */
  oracle?: number[];
}

/** The references of one seed's sequence (see the file comment). */
export async function measureReferences(m: Measurer, spec: PolicySpec, tasks: unknown[], theta0: Float32Array, seed: number, c: ContinualConfig): Promise<SeedReferences> {
  const K = c.adaptSteps;
  const random = (await adaptAndMeasure(m, tasks, initParams(spec, new Rng(deriveSeed(seed, 3))), 0, new Rng(deriveSeed(seed, 4)))).returns[0];
  const measured = await adaptAndMeasure(m, tasks, theta0, K, new Rng(deriveSeed(seed, 5)));
  const refs: SeedReferences = { random, b: measured.returns[K], b0: measured.returns[0] };
  if (oracleMode(c) === 'fixed') {
    const S = Math.max(K, c.oracleSteps);
    const long = await adaptAndMeasure(m, tasks, theta0, S, new Rng(deriveSeed(seed, 6)));
    refs.oracle = tasks.map((_, j) => Math.max(refs.b[j], random[j] + 1, ...long.returns.map((row) => row[j])));
  }
  return refs;
}

/**
 * The `best-seen` oracle of one seed: the best return seen on task j by any method at any point
 * (R entries and adaptation returns when it arrived), never below random_j + 1; set in place.
 */
export function fillOracle(runs: SeedRun[]): void {
  const T = runs[0].b.length;
  const oracle = Array.from({ length: T }, (_, j) => {
    let best = runs[0].b[j];
    for (const r of runs) {
      for (const row of r.R) best = Math.max(best, row[j]);
      best = Math.max(best, ...r.returnsAfter[j]);
    }
    return Math.max(best, runs[0].random[j] + 1);
  });
  for (const r of runs) r.oracle = oracle;
}
