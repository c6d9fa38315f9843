/**
 * The continual task-adaptation runner (docs/continual.md). For each seed: one task sequence from
 * the schedule, shared by every method; the same starting θ_0; then for each task i in order:
 *   1. measure: sample task i with θ, adapt K steps (returns before / after adaptation);
 *   2. update θ by the method: frozen (never), finetune (θ ← the adapted parameters), online
 *      (s SGD meta-steps on the current task's item), replay (s batches of the current item plus
 *      k−1 items replayed from memory, β = γ = 1), mer (the same with Reptile β and γ);
 *   3. store the task's rows in the MER memory (reservoir over transitions);
 *   4. evaluate every task of the sequence with the new θ (K-step adaptation): row i of R.
 * b (every task with θ_0) and a random-policy reference per task are measured once per seed.
 * After every task the run's state goes to state.json (state.ts), from which
 * `resumeContinual` goes on after a crash or kill to the same results.
 */
import { createRunDir, envSlug, removeStaleTemporaries, writeRunConfig } from '../io/runDir.ts';
import { join } from 'node:path';
import { Rng, deriveSeed } from '../core/rng.ts';
import { ConfigError } from '../core/errors.ts';
import type { Config } from '../io/config.ts';
import { loadRunCheckpoint } from '../io/checkpoint.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { JsonlLog } from '../io/jsonl.ts';
import type { AnyVectorEnv } from '../core/env.ts';
import { type PolicySpec, initParams, numParams } from '../../agents/policy.ts';
import { type ReplayItem, itemMetaGradient, merUpdate } from '../../agents/continualUpdate.ts';
import { agemUpdate, clipNorm, erUpdate, l2Update } from '../../agents/replayBaselines.ts';
import { ReplayMemory } from '../../agents/merMemory.ts';
import { type ContinualConfig, checkContinual, oracleMode } from './config.ts';
import { type ContinualMethod, type ContinualResults, MEMORY_METHODS, type SeedRun } from './types.ts';
import { metricsRows, summarize } from './metrics.ts';
import { toCsv } from '../io/csv.ts';
import { writeReport, writeResults } from './report.ts';
import { makeSamplerLanes, policySpecOf } from '../experiments/metaBatch.ts';
import { type Measurer, adaptAndMeasure, behaviourLogp, disposeItem, offPolicyRows, replayItems, toTransitions } from './data.ts';
import { makeSchedule } from './schedules.ts';
import { TUNABLE } from './tune.ts';
import { type SeedReferences, fillOracle, measureReferences } from './references.ts';

export { fillOracle } from './references.ts';
import { type EnvSource, envKind, openEnvSource } from '../experiments/envSource.ts';
import { type ContinualState, type MethodProgress, type SeedProgressState, coveredByState, loadState, saveState } from './state.ts';

export interface TaskRecord {
  seed: number;
  method: string;
  /** Position in the sequence. */
  task: number;
  params: unknown;
  returnBefore: number;
  returnsAfter: number[];
  /** Row i of R: every task's return (K-step adaptation) after this task. */
  evalRow: number[];
  memorySize: number;
  seconds: number;
}

export interface SeedHooks {
  onTask?: (r: TaskRecord) => void;
  /** Called after every task with the seed's progress; `runContinual` writes it to state.json. */
  checkpoint?: (p: SeedProgressState) => void;
}

/** The lanes of a run: `lanes` for whole task sequences, `single` (if any) for one task at a time. */
export interface MeasureLanes {
  lanes: AnyVectorEnv<unknown>[];
  single?: AnyVectorEnv<unknown>[];
}

/**
 * Runs every method on one seed's sequence, from `resume` if given (the seed's saved progress).
 * Returns the runs (oracle filled by the caller).
 */
export async function runSeed(cfg: Config, c: ContinualConfig, source: Pick<EnvSource, 'taskSource'> & MeasureLanes, spec: PolicySpec, seed: number, theta0In: Float32Array | null, hooks: SeedHooks = {}, resume: SeedProgressState | null = null): Promise<{ tasks: unknown[]; runs: SeedRun[] }> {
  const m: Measurer = { lanes: source.lanes, spec, episodesPerTask: c.episodesPerTask, fastLr: cfg.fastLr, advantages: cfg };
  const one: Measurer = source.single ? { ...m, lanes: source.single } : m;
  const tasks = makeSchedule(cfg.env, source.taskSource, { name: c.schedule, numTasks: c.tasks, cycle: c.cycle, blockSize: c.blockSize }, new Rng(deriveSeed(seed, 1)));
  const theta0 = theta0In ?? initParams(spec, new Rng(deriveSeed(seed, 2)));
  const K = c.adaptSteps;
  const refs = resume?.refs ?? (await measureReferences(m, spec, tasks, theta0, seed, c));
  const progress: SeedProgressState = { seed, refs, finished: resume ? [...resume.finished] : [], current: null };
  for (const method of c.methods) {
    if (progress.finished.some((r) => r.method === method)) continue;
    const from = resume?.current?.method === method ? resume.current : null;
    const run = await runMethod({ m, one }, c, method, seed, tasks, theta0, refs, from, {
      onTask: hooks.onTask,
      checkpoint: (mp) => {
        progress.current = mp;
        hooks.checkpoint?.(progress);
      },
    });
    progress.finished.push(run);
    progress.current = null;
  }
  return { tasks, runs: progress.finished };
}

interface MethodHooks {
  onTask?: (r: TaskRecord) => void;
  checkpoint: (p: MethodProgress) => void;
}

async function runMethod(ms: { m: Measurer; one: Measurer }, c: ContinualConfig, method: string, seed: number, tasks: unknown[], theta0: Float32Array, ref: SeedReferences, from: MethodProgress | null, hooks: MethodHooks): Promise<SeedRun> {
  const { m, one } = ms;
  const { spec } = m;
  const K = c.adaptSteps;
  // Every method sees the same sampling noise stream for the same seed.
  const rng = new Rng(from ? from.rng : deriveSeed(seed, 10));
  const memoryRng = new Rng(from ? from.memoryRng : deriveSeed(seed, 11));
  const usesMemory = MEMORY_METHODS.includes(method);
  const lr = c.methodLr[method as ContinualMethod] ?? c.metaLr;
  let memory: ReplayMemory | null = null;
  if (usesMemory) memory = from?.memory ? ReplayMemory.fromJSON(from.memory) : new ReplayMemory({ capacity: c.memoryCapacity, obsDim: spec.obsDim, actDim: spec.actDim });
  const gradOpts = { fastLr: m.fastLr, firstOrder: c.firstOrder, clip: c.clip, maxImportance: c.maxImportance };
  let theta = from ? from.theta : theta0;
  const unadapted = c.evalUnadapted ? { R0: [] as number[][], b0: ref.b0 } : {};
  const run: SeedRun = from ? from.run : { method, seed, R: [], b: ref.b, random: ref.random, oracle: ref.oracle ?? [], returnsBefore: [], returnsAfter: [], ...unadapted };
  try {
    for (let i = from ? from.next : 0; i < tasks.length; i++) {
      const t0 = performance.now();
      const a = await adaptAndMeasure(one, [tasks[i]], theta, K, rng);
      run.returnsBefore.push(a.returns[0][0]);
      run.returnsAfter.push(a.returns.slice(1).map((r) => r[0]));
      const preLogp = behaviourLogp(spec, a.preParams[0], a.pre[0]);
      const postLogp = behaviourLogp(spec, a.postParams[0], a.post[0]);
      if (method === 'finetune') {
        theta = a.postParams[0];
      } else if (method !== 'frozen') {
        const current: ReplayItem = { pre: offPolicyRows(a.pre[0], preLogp), post: offPolicyRows(a.post[0], postLogp) };
        const replayed: ReplayItem[] = [];
        try {
          const batches: ReplayItem[][] = [];
          for (let s = 0; s < c.batchesPerTask; s++) {
            const extra = memory ? replayItems(memory, c.replayRows, c.replayItems, c.minItemRows, i, memoryRng) : [];
            replayed.push(...extra);
            // The current item last, as MER does with the incoming example after the replayed ones.
            batches.push([...extra, current]);
          }
          const grad = (th: Float32Array, item: ReplayItem) => clipNorm(itemMetaGradient(spec, th, item, gradOpts), c.itemGradClip);
          if (method === 'er') theta = erUpdate(theta, batches, grad, lr);
          else if (method === 'agem') theta = agemUpdate(theta, batches, grad, lr);
          else if (method === 'l2') theta = l2Update(theta, batches, grad, lr, c.l2Weight, theta0);
          else theta = merUpdate(theta, batches, grad, { lr, ...(method === 'mer' ? { beta: c.beta, gamma: c.acrossGamma } : { beta: 1, gamma: 1 }) });
        } finally {
          disposeItem(current);
          replayed.forEach(disposeItem);
        }
      }
      if (memory) {
        memory.offer(toTransitions(a.pre[0], preLogp, i, 0, spec.obsDim, spec.actDim), memoryRng);
        memory.offer(toTransitions(a.post[0], postLogp, i, 1, spec.obsDim, spec.actDim), memoryRng);
      }
      // Common random numbers: every method is evaluated after task i with the same noise.
      const evaluation = (await adaptAndMeasure(m, tasks, theta, K, new Rng(deriveSeed(seed, 1000 + i)))).returns;
      const evalRow = evaluation[K];
      run.R.push(evalRow);
      run.R0?.push(evaluation[0]); // the same sampling, before its adaptation steps
      hooks.onTask?.({ seed, method, task: i, params: tasks[i], returnBefore: a.returns[0][0], returnsAfter: run.returnsAfter[i], evalRow, memorySize: memory?.size ?? 0, seconds: (performance.now() - t0) / 1000 });
      // After the log line: a crash between the two redoes this task, and resume drops its line.
      hooks.checkpoint({ method, next: i + 1, theta, rng: rng.getState(), memoryRng: memoryRng.getState(), memory: memory?.toJSON() ?? null, run });
    }
  } finally {
    memory?.dispose();
  }
  return run;
}

export interface ContinualRunOptions {
  backend: string;
  onTask?: (r: TaskRecord, seedIndex: number) => void;
  log?: (line: string) => void;
}

/** `{out}/continual__{env}__{schedule}__{time}` */
export function continualRunDir(cfg: Config, c: ContinualConfig): string {
  return createRunDir(cfg.out, `continual__${envSlug(cfg.env)}__${c.schedule}`);
}

/** Reads θ_0 from a meta-training run folder, checked against the env's policy size. */
function readInit(init: string, spec: PolicySpec): Float32Array {
  const ck = loadRunCheckpoint(init, 'init');
  if (ck.theta.length !== numParams(spec)) {
    throw new ConfigError('init', `${init} holds ${ck.theta.length} parameters; this env and policy need ${numParams(spec)} (same env, hidden and activation?)`);
  }
  return ck.theta;
}

/**
 * Opens the env for a continual run: lanes for whole sequences and, for built-in envs with more
 * than one task, a second set sized for one task, so a task's own adaptation steps no copies it
 * does not use. (Copy i is seeded the same in both, so the episodes are the same either way.)
 */
async function openContinualSource(cfg: Config, c: ContinualConfig, log?: (line: string) => void): Promise<EnvSource & MeasureLanes> {
  const source = await openEnvSource(cfg, c.tasks, log);
  if (envKind(cfg.env) !== 'builtin' || c.tasks === 1) return source;
  try {
    const single = await makeSamplerLanes(cfg, 1);
    return {
      ...source,
      single,
      close: async () => {
        await Promise.all(single.map((env) => env.close()));
        await source.close();
      },
    };
  } catch (e) {
    await source.close();
    throw e;
  }
}

/**
 * The whole experiment: seeds seedBase … seedBase + seeds − 1, every method each; streams one JSON line per task to
 * `tasks.jsonl` and rewrites `state.json` after every task (state.ts); ends with
 * `results.json` (every run's R, b, references, returns), `runs.csv` (metrics per run), and the
 * report (report.ts): `report.md`, `metrics.csv` (bootstrap intervals per method and
 * metric) and the plots.
 */
export async function runContinual(cfgIn: Config, c: ContinualConfig, o: ContinualRunOptions): Promise<{ runDir: string; results: ContinualResults }> {
  const cfg: Config = { ...cfgIn, episodesPerTask: c.episodesPerTask };
  checkContinual(c, c.episodesPerTask * cfg.horizon);
  const source = await openContinualSource(cfg, c, o.log);
  try {
    const spec = policySpecOf(cfg, source.taskSource);
    const theta0 = c.init ? readInit(c.init, spec) : null;
    const runDir = continualRunDir(cfg, c);
    writeRunConfig(runDir, { ...cfg, continual: c }, [`metarl continual run config: valid --config input (metarl continual --config ${join(runDir, 'config.yaml')})`, `backend in use: ${o.backend}`]);
    const state: ContinualState = { config: cfg, continual: c, backend: o.backend, theta0, tasks: [], done: [], progress: null };
    saveState(runDir, state);
    return await runFrom(runDir, state, source, spec, o);
  } finally {
    await source.close();
  }
}

/**
 * Goes on with the run in `runDir` from its state.json: settings, θ_0, finished seeds and the
 * task in progress all come from there. Task lines logged after the state was saved are dropped
 * (those tasks run again). A finished run only has its results and report written again.
 */
export async function resumeContinual(runDir: string, o: ContinualRunOptions): Promise<{ runDir: string; results: ContinualResults }> {
  const state = loadState(runDir);
  removeStaleTemporaries(runDir);
  if (state.backend !== o.backend) o.log?.(`warning: this run began on the ${state.backend} backend and goes on with ${o.backend}; its numbers will differ from an uninterrupted run`);
  new JsonlLog(join(runDir, 'tasks.jsonl')).truncate((r) => coveredByState(state, Number(r.seed), String(r.method), Number(r.task)));
  const source = await openContinualSource(state.config, state.continual, o.log);
  try {
    const spec = policySpecOf(state.config, source.taskSource);
    if (state.theta0 && state.theta0.length !== numParams(spec)) throw new Error(`${runDir}: θ_0 holds ${state.theta0.length} parameters; the env and policy need ${numParams(spec)}`);
    const p = state.progress;
    const at = p ? `seed ${p.seed}${p.current ? `, ${p.current.method} after task ${p.current.next}` : ''}` : `seed ${state.continual.seedBase + state.done.length / state.continual.methods.length}`;
    o.log?.(`resuming ${runDir} at ${at}`);
    return await runFrom(runDir, state, source, spec, o);
  } finally {
    await source.close();
  }
}

async function runFrom(runDir: string, state: ContinualState, source: EnvSource & MeasureLanes, spec: PolicySpec, o: ContinualRunOptions): Promise<{ runDir: string; results: ContinualResults }> {
  const { config: cfg, continual: c } = state;
  const log = new JsonlLog(join(runDir, 'tasks.jsonl'));
  o.log?.(`env: ${source.description}; run folder ${runDir}`);
  for (let k = state.done.length / c.methods.length; k < c.seeds; k++) {
    const s = c.seedBase + k;
    const resume = state.progress?.seed === s ? state.progress : null;
    const out = await runSeed(
      cfg,
      c,
      source,
      spec,
      s,
      state.theta0,
      {
        onTask: (r) => {
          log.append({ seed: r.seed, method: r.method, task: r.task, params: JSON.stringify(r.params), returnBefore: r.returnBefore, returnsAfter: JSON.stringify(r.returnsAfter), evalRow: JSON.stringify(r.evalRow), memorySize: r.memorySize, seconds: r.seconds });
          o.onTask?.(r, s);
        },
        checkpoint: (p) => {
          state.progress = p;
          saveState(runDir, state);
        },
      },
      resume,
    );
    if (oracleMode(c) === 'best-seen') fillOracle(out.runs);
    state.done.push(...out.runs);
    if (k === 0) state.tasks = out.tasks;
    state.progress = null;
    saveState(runDir, state);
  }
  const runs = state.done;
  const summary = summarize(runs, new Rng(deriveSeed(cfg.seed, 77)), { level: c.ciLevel });
  const stepSizes = Object.fromEntries(c.methods.filter((m) => TUNABLE.includes(m)).map((m) => [m, c.methodLr[m] ?? c.metaLr]));
  const results: ContinualResults = { env: cfg.env, schedule: c.schedule, tasks: state.tasks, adaptSteps: c.adaptSteps, runs, summary, stepSizes, ciLevel: c.ciLevel };
  writeResults(runDir, results);
  writeFileAtomic(join(runDir, 'runs.csv'), toCsv(metricsRows(runs)));
  await writeReport(runDir, results);
  return { runDir, results };
}
