/**
 * `tsx scripts/bench.ts [--env navigation|cheetah-velocity] [--preset P] [--batches N] [--hvp-subsample F] [--backend B]`
 * Seconds per meta-batch of second-order MAML-TRPO (by default the pytorch-maml-rl navigation
 * preset: 20 tasks × 20 episodes × 100 steps) split into sampling / inner / outer, and for
 * navigation its vectorized env steps/s. Prints text, then one JSON line. `npm run bench` runs
 * this for navigation and for cheetah-velocity (paper preset: 40 tasks × 20 episodes × 200
 * steps), and scripts/bench-workers.ts for cheetah env steps/s on 1 worker and on all cores.
 */
import { loadavg, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Rng } from '../src/core/rng.ts';
import { initBackend } from '../src/tensor/backend.ts';
import { makeVector } from '../envs/registry.ts';
import { resolveConfig } from '../src/io/config.ts';
import { MetaLearner } from '../src/experiments/metaBatch.ts';
import { initParams } from '../agents/policy.ts';

const { values } = parseArgs({
  options: {
    batches: { type: 'string', default: '5' },
    'hvp-subsample': { type: 'string', default: '0.1' },
    backend: { type: 'string', default: 'auto' },
    env: { type: 'string', default: 'navigation' },
    preset: { type: 'string', default: 'pytorch-maml-rl' },
    'first-order': { type: 'boolean', default: false },
  },
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function benchEnv(): number {
  const n = 400;
  const env = makeVector('navigation', n);
  const rng = new Rng(0);
  env.setTasks(Array.from({ length: n }, () => ({ goal: [rng.range(-0.5, 0.5), rng.range(-0.5, 0.5)] })));
  const actions = new Float32Array(n * 2);
  let steps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 2000) {
    env.reset(steps);
    for (let t = 0; t < 100; t++) {
      for (let i = 0; i < actions.length; i++) actions[i] = rng.range(-0.1, 0.1);
      env.step(actions);
      steps += n;
    }
  }
  return steps / ((performance.now() - t0) / 1000);
}

const backend = await initBackend(values.backend);
const load = loadavg();
const envStepsPerSec = values.env === 'navigation' ? benchEnv() : undefined;
const cfg = resolveConfig(values.preset, {}, {
  env: values.env,
  hvpSubsample: values['hvp-subsample'] === undefined ? undefined : Number(values['hvp-subsample']),
  firstOrder: values['first-order'],
});
const learner = await MetaLearner.create(cfg);
const rng = new Rng(cfg.seed);
let theta = initParams(learner.spec, rng);
const rows: { total: number; sampling: number; inner: number; outer: number; before: number; after: number }[] = [];
for (let b = 0; b < Number(values.batches); b++) {
  const { theta: next, metrics: m } = await learner.step(theta, rng);
  theta = next;
  const row = { total: m.secondsSampling + m.secondsInner + m.secondsOuter, sampling: m.secondsSampling, inner: m.secondsInner, outer: m.secondsOuter, before: m.returnBefore, after: m.returnAfter };
  rows.push(row);
  process.stderr.write(`  meta-batch ${b + 1}: ${row.total.toFixed(2)} s (sampling ${row.sampling.toFixed(2)}, inner ${row.inner.toFixed(2)}, outer ${row.outer.toFixed(2)})\n`);
}
await learner.close();
const result = {
  backend,
  cpus: cpus().length,
  loadavg1: load[0],
  navigationEnvStepsPerSec: envStepsPerSec === undefined ? undefined : Math.round(envStepsPerSec),
  preset: `${values.preset} ${cfg.env}: ${cfg.metaBatchSize} tasks x ${cfg.episodesPerTask} episodes x ${cfg.horizon} steps, ${cfg.firstOrder ? 'first' : 'second'}-order TRPO, ${cfg.workers} sampling workers`,
  hvpSubsample: cfg.hvpSubsample,
  firstOrder: cfg.firstOrder,
  metaBatches: rows.length,
  medianSecondsPerMetaBatch: median(rows.map((r) => r.total)),
  medianSampling: median(rows.map((r) => r.sampling)),
  medianInner: median(rows.map((r) => r.inner)),
  medianOuter: median(rows.map((r) => r.outer)),
};
console.log(`backend ${backend}; load average ${load[0].toFixed(2)} on ${result.cpus} cores`);
if (envStepsPerSec !== undefined) console.log(`navigation env: ${Math.round(envStepsPerSec).toLocaleString('en')} steps/s (400 copies, vectorized)`);
console.log(`meta-batch (${result.preset}, hvpSubsample ${cfg.hvpSubsample}): median ${result.medianSecondsPerMetaBatch.toFixed(2)} s = sampling ${result.medianSampling.toFixed(2)} + inner ${result.medianInner.toFixed(2)} + outer ${result.medianOuter.toFixed(2)}`);
console.log(JSON.stringify(result));
