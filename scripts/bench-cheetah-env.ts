/**
 * Single-thread throughput of the cheetah env: a SyncVectorEnv of N copies of cheetah-velocity
 * stepped with uniform random actions in [-1, 1]. Prints a line of text and one JSON line.
 *   npx tsx scripts/bench-cheetah-env.ts [--copies 20] [--seconds 5]
 */
import { makeVector, prepareEnv } from '../envs/registry.ts';
import { Rng } from '../src/core/rng.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const copies = arg('copies', 20);
const seconds = arg('seconds', 5);
const name = 'cheetah-velocity';

await prepareEnv(name);
const venv = makeVector(name, copies, { maxEpisodeSteps: 200 });
const rng = new Rng(0);
venv.setTasks(Array.from({ length: copies }, (_, i) => ({ velocity: (2 * i) / copies })));
const actions = new Float32Array(copies * venv.actionSpace.size);

/** Runs whole episodes until `budgetMs` has passed; returns env steps and elapsed ms. */
function run(budgetMs: number, seed: number): { steps: number; ms: number } {
  let steps = 0;
  const t0 = performance.now();
  let episode = 0;
  while (performance.now() - t0 < budgetMs) {
    venv.reset(seed + episode++);
    for (let t = 0; t < venv.maxEpisodeSteps; t++) {
      for (let i = 0; i < actions.length; i++) actions[i] = rng.range(-1, 1);
      venv.step(actions);
      steps += copies;
    }
  }
  return { steps, ms: performance.now() - t0 };
}

run(500, 1000); // warm-up (JIT)
const { steps, ms } = run(seconds * 1000, 0);
venv.close();
const stepsPerSec = steps / (ms / 1000);
const physicsStepsPerSec = stepsPerSec * 5;
console.log(
  `${name}: ${copies} copies, ${steps} env steps in ${(ms / 1000).toFixed(2)} s on one thread → ` +
    `${Math.round(stepsPerSec)} env steps/s (${Math.round(physicsStepsPerSec)} physics steps/s)`,
);
console.log(JSON.stringify({ bench: 'cheetah-env', env: name, copies, steps, seconds: ms / 1000, envStepsPerSec: stepsPerSec, physicsStepsPerSec }));
