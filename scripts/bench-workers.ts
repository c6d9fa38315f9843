/**
 * Env steps/s of a vector env stepped in-process (SyncVectorEnv), on 1 worker thread and on N
 * worker threads (WorkerVectorEnv), for navigation and, when registered, cheetah-velocity.
 * Actions are uniform random in the action box; episodes run to the time limit. Prints text, then
 * one JSON line.
 *   npx tsx scripts/bench-workers.ts [--seconds 2] [--workers N] [--nav-copies 400] [--cheetah-copies 40]
 */
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Rng } from '../src/core/rng.ts';
import { WorkerVectorEnv } from '../src/streams/workerPool.ts';
import { ENV_NAMES, make, makeVector, prepareEnv } from '../envs/registry.ts';
import type { AnyVectorEnv } from '../src/core/env.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    workers: { type: 'string', default: String(availableParallelism()) },
    'nav-copies': { type: 'string', default: '400' },
    'cheetah-copies': { type: 'string', default: '40' },
  },
});
const seconds = Number(values.seconds);
const maxWorkers = Number(values.workers);

/** Steps whole episodes for `ms` milliseconds (after a short warm-up); returns env steps per second. */
async function stepsPerSecond(env: AnyVectorEnv, tasks: unknown[], ms: number): Promise<number> {
  await env.setTasks(tasks);
  const rng = new Rng(0);
  const { low, high, size } = env.actionSpace;
  const actions = new Float32Array(env.num * size);
  const run = async (budget: number): Promise<{ steps: number; elapsed: number }> => {
    let steps = 0;
    let episode = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < budget) {
      await env.reset(episode++);
      const active = new Uint8Array(env.num).fill(1);
      for (let t = 0; t < env.maxEpisodeSteps && active.includes(1); t++) {
        for (let i = 0; i < actions.length; i++) actions[i] = rng.range(low[i % size], high[i % size]);
        const r = await env.step(actions);
        // Only copies still running were stepped; ended ones wait for the next reset.
        for (let i = 0; i < env.num; i++) {
          steps += active[i];
          if (r.terminated[i] || r.truncated[i]) active[i] = 0;
        }
      }
    }
    return { steps, elapsed: performance.now() - t0 };
  };
  await run(Math.min(500, ms / 4)); // JIT warm-up
  const { steps, elapsed } = await run(ms);
  return steps / (elapsed / 1000);
}

interface Row { env: string; copies: number; mode: string; workers: number; envStepsPerSec: number }
const rows: Row[] = [];
const benchEnvs: [string, number][] = [['navigation', Number(values['nav-copies'])]];
if ((ENV_NAMES as readonly string[]).includes('cheetah-velocity')) benchEnvs.push(['cheetah-velocity', Number(values['cheetah-copies'])]);

for (const [name, copies] of benchEnvs) {
  await prepareEnv(name);
  const options = { maxEpisodeSteps: name === 'navigation' ? 100 : 200 };
  const tasks = make(name, options).sampleTasks(copies, new Rng(1));
  const local = makeVector(name, copies, options);
  rows.push({ env: name, copies, mode: 'in-process', workers: 0, envStepsPerSec: await stepsPerSecond(local, tasks, seconds * 1000) });
  local.close();
  for (const workers of [...new Set([1, maxWorkers])]) {
    const env = await WorkerVectorEnv.create({ name, num: copies, workers, options });
    try {
      rows.push({ env: name, copies, mode: 'workers', workers, envStepsPerSec: await stepsPerSecond(env, tasks, seconds * 1000) });
    } finally {
      await env.close();
    }
  }
}

for (const r of rows) {
  const base = rows.find((b) => b.env === r.env && b.mode === 'workers' && b.workers === 1)!;
  const label = r.mode === 'in-process' ? 'in-process' : `${r.workers} worker${r.workers > 1 ? 's' : ''}`;
  console.log(`${r.env.padEnd(17)} ${String(r.copies).padStart(4)} copies  ${label.padEnd(11)} ${Math.round(r.envStepsPerSec).toString().padStart(9)} env steps/s  (×${(r.envStepsPerSec / base.envStepsPerSec).toFixed(2)} vs 1 worker)`);
}
console.log(JSON.stringify({ bench: 'workers', cpus: availableParallelism(), loadavg1: loadavg()[0], seconds, rows }));
