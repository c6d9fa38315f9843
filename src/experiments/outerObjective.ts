/**
 * The MAML-TRPO outer objective of one meta-batch, computed in this thread (`LocalObjective`) or
 * spread over worker threads (`MetaWorkerPool.begin`), behind one asynchronous interface.
 *
 * Sharding: tasks are split into contiguous ranges, one per worker; each worker holds its tasks'
 * data and a MetaObjective over them, and answers per-task parts (gradient terms, Fisher-vector
 * terms, losses). This thread combines the parts in task order with `meanOfParts`, exactly as
 * MetaObjective does in-process, so both give bit-identical results for any number of workers
 * (the workers run the same tfjs backend).
 */
import { siblingModule } from '../core/moduleUrl.ts';
import * as tf from '@tensorflow/tfjs';
import { availableParallelism } from 'node:os';
import { MetaObjective, type MetaObjectiveOptions, addDamping, meanOfParts, sumOfParts } from '../../agents/maml.ts';
import { type TaskArrays, taskDataFromArrays } from '../../agents/taskData.ts';
import { toFlat } from '../../agents/policy.ts';
import type { Evaluation } from '../../agents/trpo.ts';
import { WorkerGroup } from '../streams/workerGroup.ts';
import { splitSlices } from '../streams/workerPool.ts';

export interface OuterObjective {
  readonly numTasks: number;
  /** Adds one inner step on each task's train data; resolves to the adapted parameters per task. */
  addInnerStep(data: TaskArrays[]): Promise<Float32Array[]>;
  /** Sets the validation data, sampled with the adapted parameters. */
  setValidation(data: TaskArrays[]): Promise<void>;
  metaGradient(): Promise<Float64Array>;
  lossAtOld(): Promise<number>;
  /** Damped KL Hessian-vector product through the inner steps, at θ_old. */
  fisherVectorProduct(v: Float64Array): Promise<Float64Array>;
  /** Mean surrogate loss and KL after adapting from θ (line search). */
  evaluate(theta: Float32Array): Promise<Evaluation>;
  dispose(): Promise<void>;
}

/** The objective computed in this thread. */
export class LocalObjective implements OuterObjective {
  private readonly obj: MetaObjective;

  constructor(options: MetaObjectiveOptions, theta: ArrayLike<number>, readonly numTasks: number) {
    this.obj = new MetaObjective(options, theta, numTasks);
  }

  async addInnerStep(data: TaskArrays[]): Promise<Float32Array[]> {
    this.obj.addInnerStep(data.map(taskDataFromArrays));
    return this.obj.adapted().map((P) => toFlat(P));
  }

  async setValidation(data: TaskArrays[]): Promise<void> {
    this.obj.setValidation(data.map(taskDataFromArrays));
  }

  async metaGradient(): Promise<Float64Array> {
    return this.obj.metaGradient();
  }

  async lossAtOld(): Promise<number> {
    return this.obj.lossAtOld();
  }

  async fisherVectorProduct(v: Float64Array): Promise<Float64Array> {
    return this.obj.fisherVectorProduct(v);
  }

  async evaluate(theta: Float32Array): Promise<Evaluation> {
    return this.obj.evaluate(theta);
  }

  async dispose(): Promise<void> {
    this.obj.dispose();
  }
}

/** Requests to a meta-update worker (src/experiments/metaWorker.ts); each is answered by a Reply. */
export type MetaRequest =
  | { id: number; type: 'init'; backend: string; options: MetaObjectiveOptions }
  | { id: number; type: 'begin'; theta: Float32Array; numTasks: number }
  | { id: number; type: 'inner'; data: TaskArrays[] }
  | { id: number; type: 'valid'; data: TaskArrays[] }
  | { id: number; type: 'gradient' }
  | { id: number; type: 'lossAtOld' }
  | { id: number; type: 'fvp'; v: Float64Array }
  | { id: number; type: 'evaluate'; theta: Float32Array }
  | { id: number; type: 'end' };

type MetaRequestBody = { [K in MetaRequest['type']]: Omit<Extract<MetaRequest, { type: K }>, 'id'> }[MetaRequest['type']];

export const META_WORKER_URL = siblingModule('./metaWorker', import.meta.url);

/** Backends whose work can be spread over CPU threads (the native TensorFlow ones are multi-threaded already). */
export function shardableBackend(backend: string): boolean {
  return backend === 'wasm' || backend === 'cpu';
}

export interface MetaWorkerPoolOptions {
  /** Worker threads (default: one per core). */
  workers?: number;
  /** Active tfjs backend of this thread; the workers use the same one (`wasm` or `cpu`). */
  backend?: string;
  /** Milliseconds a worker may take to answer one call (default 10 min). */
  callTimeoutMs?: number;
}

/**
 * Worker threads that compute the outer objective of each meta-batch, tasks split over them.
 * A failure in any worker fails the pool (every worker terminated, the error rethrown with its
 * class); `close()` leaves no thread behind.
 */
export class MetaWorkerPool {
  private constructor(
    private readonly group: WorkerGroup,
    private readonly options: MetaObjectiveOptions,
  ) {}

  static async create(options: MetaObjectiveOptions, o: MetaWorkerPoolOptions = {}): Promise<MetaWorkerPool> {
    const workers = o.workers ?? availableParallelism();
    if (!(Number.isInteger(workers) && workers > 0)) throw new Error(`MetaWorkerPool: workers must be a positive integer, got ${workers}`);
    const backend = o.backend ?? tf.getBackend();
    if (!shardableBackend(backend)) throw new Error(`MetaWorkerPool: backend '${backend}' cannot be spread over worker threads; use the in-process objective`);
    const group = new WorkerGroup({ entry: META_WORKER_URL, count: workers, owner: 'MetaWorkerPool', callTimeoutMs: o.callTimeoutMs ?? 600_000 });
    const pool = new MetaWorkerPool(group, options);
    try {
      await group.all(() => [{ type: 'init', backend, options }, []]);
    } catch (e) {
      await group.close();
      throw e;
    }
    return pool;
  }

  get workerCount(): number {
    return this.group.size;
  }

  get liveWorkers(): number {
    return this.group.liveCount;
  }

  /** Starts a meta-batch's objective at θ_old over `numTasks` tasks, split over the workers. */
  async begin(theta: Float32Array, numTasks: number): Promise<OuterObjective> {
    const shards = splitSlices(numTasks, Math.min(this.group.size, numTasks));
    const active = shards.length;
    const call = async (build: (shard: { offset: number; count: number }) => MetaRequestBody): Promise<unknown[]> =>
      (await this.group.all((k) => (k < active ? [build(shards[k]), []] : null))).slice(0, active);
    await call(({ count }) => ({ type: 'begin', theta, numTasks: count }));
    const slice = <A>(xs: A[]) => (shard: { offset: number; count: number }) => xs.slice(shard.offset, shard.offset + shard.count);
    const damping = this.options.damping;
    return {
      numTasks,
      async addInnerStep(data) {
        const part = slice(data);
        return ((await call((s) => ({ type: 'inner', data: part(s) }))) as Float32Array[][]).flat();
      },
      async setValidation(data) {
        const part = slice(data);
        await call((s) => ({ type: 'valid', data: part(s) }));
      },
      async metaGradient() {
        return meanOfParts(((await call(() => ({ type: 'gradient' }))) as Float64Array[][]).flat(), numTasks);
      },
      async lossAtOld() {
        return sumOfParts(((await call(() => ({ type: 'lossAtOld' }))) as number[][]).flat()) / numTasks;
      },
      async fisherVectorProduct(v) {
        return addDamping(meanOfParts(((await call(() => ({ type: 'fvp', v }))) as Float64Array[][]).flat(), numTasks), v, damping);
      },
      async evaluate(theta) {
        const parts = (await call(() => ({ type: 'evaluate', theta }))) as { loss: number[]; kl: number[] }[];
        return { loss: sumOfParts(parts.flatMap((p) => p.loss)) / numTasks, kl: sumOfParts(parts.flatMap((p) => p.kl)) / numTasks };
      },
      async dispose() {
        // After a failure the workers are gone with their tensors; the failure was already reported.
        await call(() => ({ type: 'end' })).catch(() => {});
      },
    };
  }

  close(): Promise<void> {
    return this.group.close({ type: 'end' });
  }
}
