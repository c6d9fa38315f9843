/**
 * A fixed group of worker threads answering numbered requests, with one failure policy: an error
 * answered by a worker, a worker that exits or crashes, or a call that times out fails the whole
 * group. Every worker is then terminated, the call rejects with the original error (core errors
 * keep their class), and later calls reject with that same error. `close()` lets the workers
 * answer a last request (if given), then terminates them; afterwards no thread of the group is left.
 *
 * Requests are `{ type, …, id }`; a worker answers each with a `Reply` of the same id
 * (src/core/workerProtocol.ts). Used by WorkerVectorEnv (sampling) and MetaWorkerPool (meta-updates).
 */
import { Worker } from 'node:worker_threads';
import { type Reply, reviveError } from '../core/workerProtocol.ts';

/** A request before the group numbers it. */
export interface RequestBody {
  type: string;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface Slot {
  index: number;
  worker: Worker;
  threadId: number;
  pending: Map<number, Pending>;
  exited: Promise<void>;
  alive: boolean;
  crash?: Error;
}

const liveWorkers = new Set<Worker>();

/** Worker threads started by any WorkerGroup in this thread that have not exited yet (for tests, leak checks). */
export function liveWorkerCount(): number {
  return liveWorkers.size;
}

/**
 * How to start a worker running `entry`. A `.ts` entry goes through tsWorkerBootstrap.mjs, which
 * registers tsx inside the worker: under Node 20 the main thread's tsx hooks (from `npx tsx` or
 * vitest) do not reach worker threads, and neither does `--import tsx` in execArgv.
 */
export function workerStart(entry: URL): { url: URL; workerData?: { tsEntry: string } } {
  if (!/\.[cm]?ts$/.test(entry.pathname)) return { url: entry };
  return { url: new URL('./tsWorkerBootstrap.mjs', import.meta.url), workerData: { tsEntry: entry.href } };
}

export interface WorkerGroupOptions {
  /** Worker entry; a `.ts` entry is loaded through tsx. */
  entry: URL;
  /** Number of threads. */
  count: number;
  /** Prefix of error messages, e.g. `WorkerVectorEnv`. */
  owner: string;
  /** What worker `index` holds, for error messages (e.g. `copies 0–199`). */
  describe?: (index: number) => string;
  /** Default milliseconds a worker may take to answer one call. */
  callTimeoutMs: number;
}

export class WorkerGroup {
  private readonly slots: Slot[];
  private nextId = 0;
  private failure: Error | null = null;
  private closed = false;
  private stopping: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(private readonly o: WorkerGroupOptions) {
    const start = workerStart(o.entry);
    this.slots = Array.from({ length: o.count }, (_, index): Slot => {
      const worker = new Worker(start.url, { workerData: start.workerData });
      worker.unref(); // only pending calls keep the process alive (see call())
      liveWorkers.add(worker);
      return { index, worker, threadId: worker.threadId, pending: new Map(), exited: Promise.resolve(), alive: true };
    });
    for (const s of this.slots) this.watch(s);
  }

  get size(): number {
    return this.slots.length;
  }

  /** Thread ids, in worker order. */
  get threadIds(): number[] {
    return this.slots.map((s) => s.threadId);
  }

  /** Workers of this group that have not exited yet. */
  get liveCount(): number {
    return this.slots.filter((s) => s.alive).length;
  }

  /** Resolves if the group can take calls; rejects with its failure, or because it was closed. */
  usable(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error(`${this.o.owner}: used after close()`));
    return Promise.resolve();
  }

  /**
   * Sends one request to every worker (or to those for which `build` returns one; the others'
   * answers are undefined). Any failure fails the group and rejects once all workers are gone.
   */
  async all(build: (index: number) => [RequestBody, ArrayBuffer[]] | null, timeoutMs = this.o.callTimeoutMs): Promise<unknown[]> {
    await this.usable();
    try {
      return await Promise.all(this.slots.map((s) => {
        const r = build(s.index);
        return r === null ? undefined : this.call(s, r[0], r[1], timeoutMs);
      }));
    } catch (e) {
      await this.fail(e as Error);
      throw this.failure ?? e;
    }
  }

  /** Records the first failure, rejects every pending call with it, and terminates all workers. */
  fail(e: Error): Promise<void> {
    if (this.failure === null && !this.closed) this.failure = e;
    return this.stopAll(this.failure ?? e);
  }

  /**
   * Sends `last` (if given) to every live worker and waits up to `timeoutMs` for the answers, then
   * terminates every worker. Resolves once all have exited. Safe to call more than once.
   */
  close(last?: RequestBody, timeoutMs = 5_000): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      if (this.failure === null && last) {
        await Promise.allSettled(this.slots.filter((s) => s.alive).map((s) => this.call(s, last, [], timeoutMs)));
      }
      await this.stopAll(new Error(`${this.o.owner}: closed while a call was pending`));
    })();
    return this.closing;
  }

  // ——— plumbing ———

  private what(s: Slot): string {
    return this.o.describe ? `worker ${s.index} (${this.o.describe(s.index)})` : `worker ${s.index}`;
  }

  /** One request to one worker, answered by the reply with the same id (or a timeout / exit). */
  private call(s: Slot, req: RequestBody, transfer: ArrayBuffer[], timeoutMs: number): Promise<unknown> {
    if (!s.alive) return Promise.reject(s.crash ?? new Error(`${this.o.owner}: ${this.what(s)} has exited`));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        s.pending.delete(id);
        if (s.pending.size === 0) s.worker.unref();
        reject(new Error(`${this.o.owner}: ${this.what(s)} did not answer '${req.type}' within ${timeoutMs} ms`));
      }, timeoutMs);
      if (s.pending.size === 0) s.worker.ref();
      s.pending.set(id, { resolve, reject, timer });
      s.worker.postMessage({ ...req, id }, transfer);
    });
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
      s.crash = new Error(`${this.o.owner}: ${this.what(s)} crashed: ${e.name}: ${e.message}`, { cause: e });
    });
    s.worker.on('exit', (code) => {
      s.alive = false;
      liveWorkers.delete(s.worker);
      const crash = s.crash ?? new Error(`${this.o.owner}: ${this.what(s)} exited unexpectedly with code ${code}`);
      s.crash = crash;
      for (const id of [...s.pending.keys()]) this.settle(s, id)?.reject(crash);
      if (this.stopping === null) void this.fail(crash);
      resolveExit();
    });
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
