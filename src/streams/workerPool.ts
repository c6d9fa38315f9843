/**
 * A vector env spread over worker threads. `WorkerVectorEnv.create({ name, num, workers })` splits
 * the `num` copies into contiguous slices, one per worker (envs/worker.ts); each slice is a
 * SyncVectorEnv built with its global index offset, so copy i is always seeded with
 * deriveSeed(seed, i) and results are identical for any worker count (and to the in-process
 * SyncVectorEnv). Every call returns a Promise, so `rollout$` steps it as it steps remote envs.
 *
 * Failure policy: an error thrown by an env inside a worker (NumericError, ConfigError, …), a
 * worker that exits or crashes, or a call that times out makes the whole env fail: every worker
 * is terminated, the call rejects with the original error (name, message and class for core
 * errors), and later calls reject with that same error. Call `close()` when done (or use
 * `withWorkerEnv`); after a failure or close no worker threads remain.
 */
import { siblingModule } from '../core/moduleUrl.ts';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { AnyVectorEnv, VectorStepResult } from '../core/env.ts';
import { Box } from '../core/spaces.ts';
import type { InitInfo, RequestBody, RolloutParts, RolloutSpec } from '../core/workerProtocol.ts';
import type { SteppableVectorEnv } from './rollout.ts';
import { WorkerGroup, liveWorkerCount } from './workerGroup.ts';

export { liveWorkerCount };

/** The worker entry that serves registry envs. A URL, not an import: src/streams may not import envs/. */
export const DEFAULT_WORKER_URL = siblingModule('../../envs/worker', import.meta.url);

export interface WorkerVectorEnvOptions {
  /** Registry name of the env, e.g. `navigation`. */
  name: string;
  /** Total number of env copies. */
  num: number;
  /** Number of worker threads (at most `num`); defaults to os.availableParallelism(). */
  workers?: number;
  /** Global index of the first copy (seeds copy i with deriveSeed(seed, indexOffset + i)); default 0. */
  indexOffset?: number;
  /** URL of a module each worker imports before building the env (it registers a user's env). */
  envModule?: string;
  /** Options passed to `makeVector` in every worker (plain JSON). */
  options?: Record<string, unknown>;
  /** Worker entry; defaults to envs/worker.ts. A `.ts` entry is loaded through tsx. */
  workerUrl?: URL | string;
  /** The entry serves `rollout` (whole episodes with the policy): rolloutEpisodes() may be used. */
  servesRollouts?: boolean;
  /** Milliseconds a worker may take to answer one reset/step/setTasks before the env fails (default 60 s). */
  callTimeoutMs?: number;
  /** Milliseconds a worker may take to start and build its envs (default 60 s; MuJoCo loads wasm). */
  initTimeoutMs?: number;
  /** Milliseconds `close()` waits for workers to close their envs before terminating them. */
  closeTimeoutMs?: number;
}

/** Contiguous slices of `num` copies over `workers` workers, sizes differing by at most one. */
export function splitSlices(num: number, workers: number): { offset: number; count: number }[] {
  const base = Math.floor(num / workers);
  const extra = num % workers;
  const out: { offset: number; count: number }[] = [];
  let offset = 0;
  for (let k = 0; k < workers; k++) {
    const count = base + (k < extra ? 1 : 0);
    out.push({ offset, count });
    offset += count;
  }
  return out;
}

function positiveInt(what: string, v: number): number {
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`WorkerVectorEnv: ${what} must be a positive integer, got ${v}`);
  return v;
}

export class WorkerVectorEnv<T = unknown> implements AnyVectorEnv<T>, SteppableVectorEnv {
  readonly num: number;
  /** Whether rolloutEpisodes() is served (see WorkerVectorEnvOptions.servesRollouts). */
  servesRollouts = false;
  private info: { observationSpace: Box; actionSpace: Box; maxEpisodeSteps: number } | null = null;

  private constructor(
    private readonly group: WorkerGroup,
    private readonly slices: { offset: number; count: number }[],
    private readonly closeTimeoutMs: number,
  ) {
    this.num = slices.reduce((a, s) => a + s.count, 0);
  }

  /** Starts the workers and builds each one's slice; rejects (with no worker left) if any fails. */
  static async create<T = unknown>(o: WorkerVectorEnvOptions): Promise<WorkerVectorEnv<T>> {
    const num = positiveInt('num', o.num);
    const workers = Math.min(positiveInt('workers', o.workers ?? availableParallelism()), num);
    const entry = typeof o.workerUrl === 'string' ? new URL(o.workerUrl, pathToFileURL(process.cwd() + '/')) : (o.workerUrl ?? DEFAULT_WORKER_URL);
    const slices = splitSlices(num, workers);
    const describe = (k: number) => {
      const { offset, count } = slices[k];
      return count === 1 ? `copy ${offset}` : `copies ${offset}–${offset + count - 1}`;
    };
    const group = new WorkerGroup({ entry, count: workers, owner: 'WorkerVectorEnv', describe, callTimeoutMs: o.callTimeoutMs ?? 60_000 });
    const env = new WorkerVectorEnv<T>(group, slices, o.closeTimeoutMs ?? 5_000);
    env.servesRollouts = o.servesRollouts === true;
    const init = (k: number): [RequestBody, ArrayBuffer[]] => [{ type: 'init', name: o.name, options: o.options ?? {}, num: slices[k].count, indexOffset: (o.indexOffset ?? 0) + slices[k].offset, envModule: o.envModule }, []];
    const infos = (await group.all(init, o.initTimeoutMs ?? 60_000)) as InitInfo[];
    const box = (d: InitInfo['actionSpace']) => new Box(d.low, d.high, d.shape);
    env.info = { observationSpace: box(infos[0].observationSpace), actionSpace: box(infos[0].actionSpace), maxEpisodeSteps: infos[0].maxEpisodeSteps };
    return env;
  }

  private get spaces(): NonNullable<WorkerVectorEnv['info']> {
    if (this.info === null) throw new Error('WorkerVectorEnv: not initialised (use WorkerVectorEnv.create)');
    return this.info;
  }

  get observationSpace(): Box {
    return this.spaces.observationSpace;
  }

  get actionSpace(): Box {
    return this.spaces.actionSpace;
  }

  /** The env's time limit (from the workers' envs). */
  get maxEpisodeSteps(): number {
    return this.spaces.maxEpisodeSteps;
  }

  /** Number of worker threads. */
  get workerCount(): number {
    return this.group.size;
  }

  /** Thread ids of the workers, in slice order. */
  get threadIds(): number[] {
    return this.group.threadIds;
  }

  /** Workers of this env that have not exited yet. */
  get liveWorkers(): number {
    return this.group.liveCount;
  }

  /**
   * Sets copy i's task to tasks[i]. The request is queued at once, before any later reset or
   * step, so callers may skip awaiting it; a bad task then fails the next call too.
   */
  setTasks(tasks: T[]): Promise<void> {
    let p: Promise<void>;
    if (tasks.length !== this.num) {
      const e = new Error(`setTasks: got ${tasks.length} tasks for ${this.num} envs`);
      p = this.group.usable().then(() => this.group.fail(e)).then(() => this.group.usable());
    } else {
      p = this.group.all((k) => [{ type: 'setTasks', tasks: tasks.slice(this.slices[k].offset, this.slices[k].offset + this.slices[k].count) }, []]).then(() => undefined);
    }
    p.catch(() => {}); // not unhandled if the caller does not await: the next call reports the error
    return p;
  }

  /** Resets every copy (copy i seeded with deriveSeed(seed, i)); resolves to n × obsDim observations. */
  async reset(seed?: number): Promise<Float32Array> {
    const parts = await this.group.all(() => [{ type: 'reset', seed }, []]);
    return this.gather(parts as Float32Array[], this.observationSpace.size);
  }

  /** Steps every running copy with its row of `actions` (n × actDim). */
  async step(actions: Float32Array): Promise<VectorStepResult> {
    await this.group.usable();
    const a = this.actionSpace.size;
    if (actions.length !== this.num * a) {
      throw new Error(`step: expected ${this.num * a} action entries (${this.num} × ${a}), got ${actions.length}`);
    }
    const parts = (await this.group.all((k) => {
      const { offset, count } = this.slices[k];
      const slice = actions.slice(offset * a, (offset + count) * a);
      return [{ type: 'step', actions: slice }, [slice.buffer]];
    })) as VectorStepResult[];
    return {
      obs: this.gather(parts.map((p) => p.obs), this.observationSpace.size),
      reward: this.gather(parts.map((p) => p.reward), 1),
      terminated: this.gather(parts.map((p) => p.terminated), 1),
      truncated: this.gather(parts.map((p) => p.truncated), 1),
    };
  }

  /**
   * Whole rollouts in the workers (a worker entry that serves `rollout`, such as the meta-learner's
   * src/experiments/samplerWorker.ts): each worker gets the parameters of the tasks its copies
   * use, once, and answers with its copies' episodes, in slice order.
   */
  async rolloutEpisodes(o: Omit<RolloutSpec, 'taskOf'> & { taskOf: ArrayLike<number> }): Promise<RolloutParts[]> {
    if (!this.servesRollouts) throw new Error('rolloutEpisodes: this env\'s worker entry does not serve rollouts');
    if (o.taskOf.length !== this.num || o.noiseSeeds.length !== this.num) throw new Error(`rolloutEpisodes: ${o.taskOf.length} tasks and ${o.noiseSeeds.length} noise seeds for ${this.num} envs`);
    return (await this.group.all((k) => {
      const { offset, count } = this.slices[k];
      // Only the tasks this worker's copies use, renumbered in order of first use.
      const local = new Map<number, number>();
      const taskOf = Array.from({ length: count }, (_, c) => {
        const t = o.taskOf[offset + c];
        if (!local.has(t)) local.set(t, local.size);
        return local.get(t)!;
      });
      const params = [...local.keys()].map((t) => o.params[t]);
      return [{ type: 'rollout', spec: o.spec, params, taskOf, noiseSeeds: o.noiseSeeds.slice(offset, offset + count), resetSeed: o.resetSeed }, []];
    })) as RolloutParts[];
  }

  /**
   * Lets each worker finish what it was asked and close its env (up to closeTimeoutMs), then
   * terminates every worker. Resolves once all have exited. Safe to call more than once.
   */
  close(): Promise<void> {
    return this.group.close({ type: 'close' }, this.closeTimeoutMs);
  }

  /** Concatenates per-worker rows of width `w` in slice order. */
  private gather<A extends Float32Array | Uint8Array>(parts: A[], w: number): A {
    const out = new (parts[0].constructor as new (n: number) => A)(this.num * w);
    parts.forEach((p, k) => out.set(p, this.slices[k].offset * w));
    return out;
  }
}

/** Creates a WorkerVectorEnv, runs `fn` with it, and closes it whatever happens. */
export async function withWorkerEnv<T, R>(o: WorkerVectorEnvOptions, fn: (env: WorkerVectorEnv<T>) => R | Promise<R>): Promise<R> {
  const env = await WorkerVectorEnv.create<T>(o);
  try {
    return await fn(env);
  } finally {
    await env.close();
  }
}
