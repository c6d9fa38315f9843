/**
 * The continual runner on a tiny navigation drift: shapes of every record, the same first-task
 * measurements for every method, methods that update θ differ from frozen, the MER memory fills
 * (and only for replay / mer), and a seed reproduces exactly.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/tensor/backend.ts';
import { resolveConfig } from '../src/io/config.ts';
import { CONTINUAL_DEFAULTS, type ContinualConfig, oracleMode } from '../src/continual/config.ts';
import { openEnvSource } from '../src/experiments/envSource.ts';
import { policySpecOf } from '../src/experiments/metaBatch.ts';
import { type TaskRecord, fillOracle, runSeed } from '../src/continual/run.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const c: ContinualConfig = { ...CONTINUAL_DEFAULTS, tasks: 4, seeds: 1, episodesPerTask: 4, batchesPerTask: 2, replayItems: 2, replayRows: 400, minItemRows: 8, memoryCapacity: 2000 };
const cfg = resolveConfig('pytorch-maml-rl', { horizon: 20, episodesPerTask: c.episodesPerTask, hidden: [16] });

async function runOnce(seed: number, cc: ContinualConfig = c) {
  const source = await openEnvSource(cfg, cc.tasks);
  try {
    const records: TaskRecord[] = [];
    const out = await runSeed(cfg, cc, source, policySpecOf(cfg, source.taskSource), seed, null, { onTask: (r) => records.push(r) });
    return { ...out, records };
  } finally {
    await source.close();
  }
}

describe('continual runner', () => {
  it('runs every method over a drift sequence with consistent shapes and method semantics', async () => {
    const { tasks, runs, records } = await runOnce(1);
    expect(tasks).toHaveLength(4);
    // Drift on navigation: quadrants (+,+), (−,+), (−,−), (+,−).
    const signs = (tasks as { goal: number[] }[]).map((t) => t.goal.map(Math.sign));
    expect(signs).toEqual([[1, 1], [-1, 1], [-1, -1], [1, -1]]);
    expect(runs.map((r) => r.method)).toEqual(['frozen', 'finetune', 'online', 'replay', 'mer']);
    expect(records).toHaveLength(5 * 4);
    for (const r of runs) {
      expect(r.R).toHaveLength(4);
      for (const row of r.R) expect(row.every(Number.isFinite) && row.length === 4).toBe(true);
      expect(r.returnsAfter.every((x) => x.length === c.adaptSteps)).toBe(true);
    }
    // Every method starts from θ_0 with the same noise stream: identical measurements on the first task.
    for (const r of runs) expect([r.returnsBefore[0], r.returnsAfter[0]]).toEqual([runs[0].returnsBefore[0], runs[0].returnsAfter[0]]);
    // Rows of R after task 0 share their noise across methods: frozen (θ_0) and online (moved) differ.
    const [frozen, , online] = runs;
    expect(frozen.R[0]).not.toEqual(online.R[0]);
    expect(records.filter((r) => r.method === 'mer').at(-1)!.memorySize).toBeGreaterThan(0);
    expect(records.filter((r) => r.method === 'online').every((r) => r.memorySize === 0)).toBe(true);
    // A fresh θ_0 (no init): the oracle is best-seen, filled from all the methods' runs.
    expect(runs[0].oracle).toEqual([]);
    fillOracle(runs);
    for (const r of runs) for (let j = 0; j < 4; j++) expect(r.oracle[j]).toBeGreaterThanOrEqual(Math.max(...r.R.map((row) => row[j])));
  }, 120_000);

  it('a method\'s metrics do not depend on which other methods ran (fixed oracle); evalUnadapted keeps R0', async () => {
    const alone = await runOnce(3, { ...c, methods: ['frozen'], evalUnadapted: true, oracle: 'fixed' });
    const withOthers = await runOnce(3, { ...c, methods: ['frozen', 'online'], evalUnadapted: true, oracle: 'fixed' });
    expect(withOthers.runs[0]).toEqual(alone.runs[0]);
    const { R0, b0 } = alone.runs[0];
    expect(R0).toHaveLength(4);
    expect(R0!.every((row) => row.length === 4 && row.every(Number.isFinite))).toBe(true);
    expect(b0).toHaveLength(4);
    expect(R0).not.toEqual(alone.runs[0].R); // before vs after the adaptation step of the same evaluation
    // The fixed oracle is measured before the methods: at least b_j and random_j + 1.
    for (let j = 0; j < 4; j++) expect(alone.runs[0].oracle[j]).toBeGreaterThanOrEqual(Math.max(alone.runs[0].b[j], alone.runs[0].random[j] + 1));
    expect(oracleMode({ ...c, oracle: 'auto', init: 'pretrained/navigation' })).toBe('fixed');
    expect(oracleMode({ ...c, oracle: 'auto' })).toBe('best-seen');
  }, 180_000);

  it('reproduces a seed exactly', async () => {
    const a = await runOnce(2);
    const b = await runOnce(2);
    expect(b.runs).toEqual(a.runs);
  }, 120_000);
});
