/**
 * `metarl eval`: a run folder's policy adapted on new tasks (the run's evaluation settings, or the
 * flags'), printed as a table and saved as the folder's eval.json. tfjs and the envs load only
 * once the flags and the run folder have been checked.
 */
import { join } from 'node:path';
import { ConfigError } from './core/errors.ts';
import type { Config } from './io/config.ts';
import { loadRunCheckpoint } from './io/checkpoint.ts';
import { importRunEnvModule } from '../envs/envModule.ts';
import { writeFileAtomic } from './io/atomic.ts';
import type { EvalResult } from './experiments/evaluate.ts';
import { paperTestTasks } from './experiments/paperTasks.ts';

function printEval(r: EvalResult, tasks: number): void {
  if (r.adaptation === 'episodes') {
    console.log(`adaptation within a trial on ${tasks} new tasks, ${r.episodesPerTask} trials per task, hidden state kept across episodes (mean return ± standard error):`);
    for (const s of r.steps) console.log(`  episode ${s + 1}: ${r.mean[s].toFixed(2)} ± ${r.stderr[s].toFixed(2)}`);
    return;
  }
  console.log(`adaptation on ${tasks} new tasks, ${r.episodesPerTask} episodes per task and step (mean return ± standard error):`);
  for (const s of r.steps) {
    const a = r.learnedStep;
    const size = s === 0 ? '' : a ? ` (learned step sizes α: mean ${a.mean.toPrecision(3)}, range ${a.min.toPrecision(3)} … ${a.max.toPrecision(3)})` : ` (step size ${r.stepSizes[s - 1]})`;
    console.log(`  after ${s} step${s === 1 ? ' ' : 's'}: ${r.mean[s].toFixed(2)} ± ${r.stderr[s].toFixed(2)}${size}`);
  }
}

/** Tasks evaluated so far: rewritten in place on a TTY; in a log, a line at most every 10 s and at the end. */
function evalProgress(): (done: number, total: number) => void {
  let last = performance.now();
  return (done, total) => {
    if (process.stderr.isTTY) process.stderr.write(`  evaluated ${done}/${total} tasks\r`);
    else if (done === total || performance.now() - last >= 10_000) {
      process.stderr.write(`  evaluated ${done}/${total} tasks\n`);
      last = performance.now();
    }
  };
}

/** `--step-sizes 0.1,0.05`: positive numbers, comma-separated. */
export function stepSizes(v: string): number[] {
  const xs = v.split(',').map((x) => Number(x.trim()));
  if (v.trim() === '' || !xs.every((x) => Number.isFinite(x) && x > 0)) throw new ConfigError('--step-sizes', `expected positive numbers separated by commas (e.g. 0.1,0.05), got '${v}'`);
  return xs;
}

/**
 * `eval-<tasks>t-<steps>s-seed<seed>.json`, then the flags that replaced the run's own eval
 * settings (`-sampled`, `-20ep`, `-lr0.1_0.05`), so that no two settings share a file.
 */
export function evalFileName(tasks: number, steps: number, seed: number, overrides: string[] = []): string {
  return `eval-${tasks}t-${steps}s-seed${seed}${overrides.filter(Boolean).map((o) => `-${o}`).join('')}.json`;
}

export interface EvalFlags {
  run: string;
  tasks: number;
  steps: number;
  seed: number;
  backend?: string;
  env?: string;
  stepSizes?: number[];
  episodes?: number;
  taskSource?: 'paper' | 'sampled';
}

export async function runEval(opts: EvalFlags): Promise<EvalResult> {
  await importRunEnvModule(opts.run);
  const ck = loadRunCheckpoint(opts.run, '--run', opts.env);
  for (const [flag, v] of [['--tasks', opts.tasks], ['--steps', opts.steps], ['--episodes', opts.episodes ?? 1]] as const) {
    if (!(Number.isInteger(v) && v >= (flag === '--steps' ? 0 : 1))) throw new ConfigError(flag, `expected a whole number ≥ ${flag === '--steps' ? 0 : 1}, got ${v}`);
  }
  if (opts.stepSizes && ck.config.algo === 'meta-sgd') throw new ConfigError('--step-sizes', `${opts.run} is a meta-sgd run, which adapts with its learned step sizes; drop --step-sizes`);
  if (opts.stepSizes && ck.config.algo === 'rl2') throw new ConfigError('--step-sizes', `${opts.run} is an rl2 run, which adapts in its hidden state without gradient steps; drop --step-sizes (--steps K runs trials of K + 1 episodes)`);
  const [{ describeBackend, initBackend }, { evaluateAdaptation }] = await Promise.all([import('./tensor/backend.ts'), import('./experiments/evaluate.ts')]);
  const backend = await initBackend((opts.backend ?? ck.config.backend) as Config['backend']);
  process.stderr.write(`backend: ${describeBackend(backend)}; ${ck.config.env} checkpoint after ${ck.batch} meta-batches\n`);
  const source = opts.taskSource ?? ck.config.evalTasks;
  const taskList = source === 'paper' ? paperTestTasks(ck.config.env, opts.tasks) : undefined;
  const r = await evaluateAdaptation(ck.config, ck.theta, {
    tasks: opts.tasks,
    taskList,
    steps: opts.steps,
    seed: opts.seed,
    stepSizes: opts.stepSizes,
    episodesPerTask: opts.episodes,
    onProgress: evalProgress(),
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  const record = { env: ck.config.env, tasks: opts.tasks, taskSource: source, seed: opts.seed, batch: ck.batch, backend, ...r };
  // One file per setting, so evaluations with other settings never overwrite each other, and
  // eval.json for the latest (what the tables and the pretrained test read).
  const text = JSON.stringify(record, null, 1);
  const overrides = [opts.taskSource !== undefined ? opts.taskSource : '', opts.episodes !== undefined ? `${opts.episodes}ep` : '', opts.stepSizes ? `lr${opts.stepSizes.join('_')}` : ''];
  writeFileAtomic(join(opts.run, evalFileName(opts.tasks, opts.steps, opts.seed, overrides)), text);
  writeFileAtomic(join(opts.run, 'eval.json'), text);
  printEval(r, opts.tasks);
  return r;
}
