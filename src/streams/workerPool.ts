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
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { AnyVectorEnv, VectorStepResult } from '../core/env.ts';
import { Box } from '../core/spaces.ts';
import { type InitInfo, type Reply, type Request, type RequestBody, reviveError } from '../core/workerProtocol.ts';
import type { SteppableVectorEnv } from './rollout.ts';

/** The worker entry that serves registry envs. A URL, not an import: src/streams may not import envs/. */
export const DEFAULT_WORKER_URL = new URL('../../envs/worker.ts', import.meta.url);

export interface WorkerVectorEnvOptions {
  /** Registry name of the env, e.g. `navigation`. */
  name: string;
  /** Total number of env copies. */
  num: number;
  /** Number of worker threads (at most `num`); defaults to os.availableParallelism(). */
  workers?: number;
  /** Options passed to `makeVector` in every worker (plain JSON). */
  options?: Record<string, unknown>;
  /** Worker entry; defaults to envs/worker.ts. A `.ts` entry is loaded through tsx. */
  workerUrl?: URL | string;
  /** Milliseconds a worker may take to answer one reset/step/setTasks before the env fails (default 60 s). */
  callTimeoutMs?: number;
  /** Milliseconds a worker may take to start and build its envs (default 60 s; MuJoCo loads wasm). */
  initTimeoutMs?: number;
  /** Milliseconds `close()` waits for workers to close their envs before terminating them. */
  closeTimeoutMs?: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** One worker thread and the calls waiting for its answers. */
interface Slot {
  index: number;
  worker: Worker;
  threadId: number;
  /** Global index of the slice's first copy, and the slice's size. */
  offset: number;
  count: number;
  pending: Map<number, Pending>;
  exited: Promise<void>;
  alive: boolean;
  crash?: Error;
}

const liveWorkers = new Set<Worker>();

/** Worker threads started by WorkerVectorEnv in this thread that have not exited yet (for tests, leak checks). */
export function liveWorkerCount(): number {
  return liveWorkers.size;
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

/**
 * How to start a worker running `entry`. A `.ts` entry goes through tsWorkerBootstrap.mjs, which
 * registers tsx inside the worker: under Node 20 the main thread's tsx hooks (from `npx tsx` or
 * vitest) do not reach worker threads, and neither does `--import tsx` in execArgv.
 */
function workerStart(entry: URL): { url: URL; workerData?: { tsEntry: string } } {
  if (!/\.[cm]?ts$/.test(entry.pathname)) return { url: entry };
  return { url: new URL('./tsWorkerBootstrap.mjs', import.meta.url), workerData: { tsEntry: entry.href } };
}

function positiveInt(what: string, v: number): number {
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`WorkerVectorEnv: ${what} must be a positive integer, got ${v}`);
  return v;
}

export class WorkerVectorEnv<T = unknown> implements AnyVectorEnv<T>, SteppableVectorEnv {
  readonly num: number;
  private info: { observationSpace: Box; actionSpace: Box; maxEpisodeSteps: number } | null = null;
  private nextId = 0;
  private failure: Error | null = null;
  private closed = false;
  private stopping: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly slots: Slot[],
    private readonly callTimeoutMs: number,
    private readonly closeTimeoutMs: number,
  ) {
    this.num = slots.reduce((a, s) => a + s.count, 0);
    for (const s of slots) this.watch(s);
  }

  /** Starts the workers and builds each one's slice; rejects (with no worker left) if any fails. */
  static async create<T = unknown>(o: WorkerVectorEnvOptions): Promise<WorkerVectorEnv<T>> {
    const num = positiveInt('num', o.num);
    const workers = Math.min(positiveInt('workers', o.workers ?? availableParallelism()), num);
    const url = typeof o.workerUrl === 'string' ? new URL(o.workerUrl, pathToFileURL(process.cwd() + '/')) : (o.workerUrl ?? DEFAULT_WORKER_URL);
    const start = workerStart(url);
    const slots = splitSlices(num, workers).map(({ offset, count }, index): Slot => {
      const worker = new Worker(start.url, { workerData: start.workerData });
      worker.unref(); // only pending calls keep the process alive (see call())
      liveWorkers.add(worker);
      return { index, worker, threadId: worker.threadId, offset, count, pending: new Map(), exited: Promise.resolve(), alive: true };
    });
    const env = new WorkerVectorEnv<T>(slots, o.callTimeoutMs ?? 60_000, o.closeTimeoutMs ?? 5_000);
    const init = (s: Slot): [RequestBody, ArrayBuffer[]] => [{ type: 'init', name: o.name, options: o.options ?? {}, num: s.count, indexOffset: s.offset }, []];
    const infos = (await env.all(init, o.initTimeoutMs ?? 60_000)) as InitInfo[];
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
    return this.slots.length;
  }

  /** Thread ids of the workers, in slice order. */
  get threadIds(): number[] {
    return this.slots.map((s) => s.threadId);
  }

  /** Workers of this env that have not exited yet. */
  get liveWorkers(): number {
    return this.slots.filter((s) => s.alive).length;
  }

  /**
   * Sets copy i's task to tasks[i]. The request is queued at once, before any later reset or
   * step, so callers may skip awaiting it; a bad task then fails the next call too.
   */
  setTasks(tasks: T[]): Promise<void> {
    let p: Promise<void>;
    if (this.failure || this.closed) {
      p = this.usable();
    } else if (tasks.length !== this.num) {
      const e = new Error(`setTasks: got ${tasks.length} tasks for ${this.num} envs`);
      p = this.fail(e).then(() => Promise.reject(this.failure ?? e));
    } else {
      p = this.all((s) => [{ type: 'setTasks', tasks: tasks.slice(s.offset, s.offset + s.count) }, []]).then(() => undefined);
    }
    p.catch(() => {}); // not unhandled if the caller does not await: the next call reports the error
    return p;
  }

  /** Resets every copy (copy i seeded with deriveSeed(seed, i)); resolves to n × obsDim observations. */
  async reset(seed?: number): Promise<Float32Array> {
    await this.usable();
    const parts = await this.all((s) => [{ type: 'reset', seed }, []]);
    return this.gather(parts as Float32Array[], this.observationSpace.size);
  }

  /** Steps every running copy with its row of `actions` (n × actDim). */
  async step(actions: Float32Array): Promise<VectorStepResult> {
    await this.usable();
    const a = this.actionSpace.size;
    if (actions.length !== this.num * a) {
      throw new Error(`step: expected ${this.num * a} action entries (${this.num} × ${a}), got ${actions.length}`);
    }
    const parts = (await this.all((s) => {
      const slice = actions.slice(s.offset * a, (s.offset + s.count) * a);
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
   * Lets each worker finish what it was asked and close its env (up to closeTimeoutMs), then
   * terminates every worker. Resolves once all have exited. Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      if (this.failure === null) {
        await Promise.allSettled(this.slots.filter((s) => s.alive).map((s) => this.call(s, { type: 'close' }, [], this.closeTimeoutMs)));
      }
      await this.stopAll(new Error('WorkerVectorEnv: closed while a call was pending'));
    })();
    return this.closing;
  }

  // ——— plumbing ———

  private usable(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('WorkerVectorEnv: used after close()'));
    return Promise.resolve();
  }

  /** Concatenates per-worker rows of width `w` in slice order. */
  private gather<A extends Float32Array | Uint8Array>(parts: A[], w: number): A {
    const out = new (parts[0].constructor as new (n: number) => A)(this.num * w);
    parts.forEach((p, k) => out.set(p, this.slots[k].offset * w));
    return out;
  }

  /** Sends one request to every worker; any failure fails the env and rejects once all workers are gone. */
  private async all(build: (s: Slot) => [RequestBody, ArrayBuffer[]], timeoutMs = this.callTimeoutMs): Promise<unknown[]> {
    try {
      return await Promise.all(this.slots.map((s) => {
        const [req, transfer] = build(s);
        return this.call(s, req, transfer, timeoutMs);
      }));
    } catch (e) {
      await this.fail(e as Error);
      throw this.failure ?? e;
    }
  }

  /** One request to one worker, answered by the reply with the same id (or a timeout / exit). */
  private call(s: Slot, req: RequestBody, transfer: ArrayBuffer[], timeoutMs: number): Promise<unknown> {
    if (!s.alive) return Promise.reject(s.crash ?? new Error(`WorkerVectorEnv: worker ${s.index} has exited`));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        s.pending.delete(id);
        if (s.pending.size === 0) s.worker.unref();
        reject(new Error(`WorkerVectorEnv: worker ${s.index} (${this.copies(s)}) did not answer '${req.type}' within ${timeoutMs} ms`));
      }, timeoutMs);
      if (s.pending.size === 0) s.worker.ref();
      s.pending.set(id, { resolve, reject, timer });
      s.worker.postMessage({ ...req, id } satisfies Request, transfer);
    });
  }

  private copies(s: Slot): string {
    return s.count === 1 ? `copy ${s.offset}` : `copies ${s.offset}–${s.offset + s.count - 1}`;
  }

  private settle(s: Slot, id: number): Pending | undefined {
    const p = s.pending.get(id);
    if (!p) return undefined;
    s.pending.delete(id);
    clearTimeout(p.timer);
    if (s.pending.size === 0) s.worker.unref();
    return p;
  }

  private watch(s: Slot): void {
    let resolveExit!: () => void;
    s.exited = new Promise((r) => (resolveExit = r));
    s.worker.on('message', (m: Reply) => {
      const p = this.settle(s, m.id);
      if (!p) return;
      if (m.ok) p.resolve(m.value);
      else p.reject(reviveError(m.error));
    });
    s.worker.on('error', (e) => {
      // An uncaught error in the worker; 'exit' follows.
      s.crash = new Error(`WorkerVectorEnv: worker ${s.index} (${this.copies(s)}) crashed: ${e.name}: ${e.message}`, { cause: e });
    });
    s.worker.on('exit', (code) => {
      s.alive = false;
      liveWorkers.delete(s.worker);
      const crash = s.crash ?? new Error(`WorkerVectorEnv: worker ${s.index} (${this.copies(s)}) exited unexpectedly with code ${code}`);
      s.crash = crash;
      for (const id of [...s.pending.keys()]) this.settle(s, id)?.reject(crash);
      if (this.stopping === null) void this.fail(crash);
      resolveExit();
    });
  }

  /** Records the first failure, rejects every pending call with it, and terminates all workers. */
  private fail(e: Error): Promise<void> {
    if (this.failure === null && !this.closed) this.failure = e;
    return this.stopAll(this.failure ?? e);
  }

  private stopAll(reason: Error): Promise<void> {
    this.stopping ??= Promise.all(this.slots.map(async (s) => {
      for (const id of [...s.pending.keys()]) this.settle(s, id)?.reject(reason);
      if (s.alive) await s.worker.terminate();
      await s.exited;
    })).then(() => undefined);
    return this.stopping;
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
