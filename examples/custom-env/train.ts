/**
 * Meta-trains a policy on the custom env and evaluates how it adapts to new targets:
 *
 *   npx tsx train.ts [meta-batches]          (default 20)
 *
 * The run folder (config, metrics, checkpoint) goes under ./runs; `metarl eval --run <folder>` and
 * `metarl train --resume <folder>` work on it too, because the run's config names this env's module.
 */
import { evaluate, train } from 'metarl';
import './point-mass.ts';

const numBatches = Number(process.argv[2] ?? 20);
const run = await train({
  env: 'point-mass',
  preset: 'quick',
  horizon: 50,
  numBatches,
  out: 'runs',
  onBatch: (b, total, m) => console.error(`meta-batch ${b}/${total}: return ${m.returnBefore.toFixed(2)} → ${m.returnAfter.toFixed(2)} after one step`),
});
const ev = await evaluate(run.runDir, { tasks: 20, steps: 2 });
console.log(JSON.stringify({ runDir: run.runDir, batches: run.batchesDone, meanReturnAfterSteps: ev.mean }));
