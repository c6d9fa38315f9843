/**
 * Sampling throughput of the meta-learner against the physics it simulates, in one run:
 *   physics    env steps/s of one in-process vector env with random actions (no policy, no
 *              threads), times the worker count: what W cores could simulate at best;
 *   sampling   env steps/s of `sampleEpisodes` on the preset's lanes (worker threads that act
 *              with the policy themselves), for one sampling phase of a meta-batch;
 *   per-step   the same with workers stepped from the main thread (the earlier design), for scale.
 * Prints text, then one JSON line `{"bench":"sampling",…}` (with the load average: compare ratios).
 *   npx tsx scripts/bench-sampling.ts [--env cheetah-velocity] [--preset paper] [--workers 2] [--reps 3]
 */
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Rng } from '../src/core/rng.ts';
import { make, makeVector, prepareEnv } from '../envs/registry.ts';
import { resolveConfig } from '../src/io/config.ts';
import { envOptions, makeSamplerLanes, policySpecOf } from '../src/experiments/metaBatch.ts';
import { sampleEpisodes } from '../src/experiments/sampler.ts';
import { initParams } from '../agents/policy.ts';
import { WorkerVectorEnv } from '../src/streams/workerPool.ts';

const { values } = parseArgs({ options: { env: { type: 'string', default: 'cheetah-velocity' }, preset: { type: 'string', default: 'paper' }, workers: { type: 'string', default: String(Math.min(2, availableParallelism())) }, reps: { type: 'string', default: '3' } } });
const workers = Number(values.workers);
const reps = Number(values.reps);
const cfg = resolveConfig(values.preset!, { env: values.env, workers });
await prepareEnv(cfg.env);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** In-process physics with random actions: env steps/s on this thread. */
function physicsRate(copies: number, ms: number): number {
  const env = makeVector(cfg.env, copies, envOptions(cfg));
  env.setTasks(make(cfg.env, envOptions(cfg)).sampleTasks(copies, new Rng(1)));
  const rng = new Rng(2);
  const { size } = env.actionSpace;
  const actions = new Float32Array(copies * size);
  let steps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    env.reset(steps);
    for (let t = 0; t < env.maxEpisodeSteps; t++) {
      for (let i = 0; i < actions.length; i++) actions[i] = rng.range(-1, 1);
      env.step(actions);
      steps += copies;
    }
  }
  env.close();
  return steps / ((performance.now() - t0) / 1000);
}

/** One sampling phase (metaBatchSize × episodesPerTask episodes) on the given lanes: env steps/s. */
async function samplingRate(rollouts: boolean): Promise<number> {
  const taskEnv = make(cfg.env, envOptions(cfg));
  const spec = policySpecOf(cfg, taskEnv);
  const lanes = rollouts ? await makeSamplerLanes(cfg, cfg.metaBatchSize) : await Promise.all([WorkerVectorEnv.create({ name: cfg.env, num: cfg.metaBatchSize * cfg.episodesPerTask, workers, options: { ...envOptions(cfg) } })]);
  try {
    const rates: number[] = [];
    for (let r = 0; r <= reps; r++) {
      const tasks = taskEnv.sampleTasks(cfg.metaBatchSize, new Rng(10 + r));
      const theta = initParams(spec, new Rng(3));
      const t0 = performance.now();
      const b = await sampleEpisodes({ lanes, spec, episodesPerTask: cfg.episodesPerTask }, tasks, tasks.map(() => theta), new Rng(20 + r));
      const s = (performance.now() - t0) / 1000;
      if (r > 0) rates.push(b.lengths.reduce((a, x) => a + x, 0) / s); // r = 0 warms up
    }
    return median(rates);
  } finally {
    await Promise.all(lanes.map((l) => l.close()));
    taskEnv.close();
  }
}

const perCore = median(Array.from({ length: reps }, () => physicsRate(Math.min(40, cfg.metaBatchSize * cfg.episodesPerTask), 1500)));
const physics = perCore * workers;
const sampling = await samplingRate(true);
const perStep = await samplingRate(false);
const load = loadavg()[0];
console.log(`${cfg.env} (${values.preset} preset, ${cfg.metaBatchSize}×${cfg.episodesPerTask} episodes of ${cfg.horizon}), ${workers} workers, load ${load.toFixed(2)}`);
console.log(`  physics (random actions, in-process ×${workers}) ${Math.round(physics)} steps/s`);
console.log(`  sampling, workers act themselves        ${Math.round(sampling)} steps/s  (${(100 * sampling / physics).toFixed(0)} % of physics)`);
console.log(`  sampling, stepped from the main thread  ${Math.round(perStep)} steps/s  (${(100 * perStep / physics).toFixed(0)} % of physics)`);
console.log(JSON.stringify({ bench: 'sampling', env: cfg.env, preset: values.preset, workers, cpus: availableParallelism(), loadavg1: +load.toFixed(2), physicsStepsPerSec: Math.round(physics), samplingStepsPerSec: Math.round(sampling), perStepStepsPerSec: Math.round(perStep), ratio: +(sampling / physics).toFixed(3) }));
