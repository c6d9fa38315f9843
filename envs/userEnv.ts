/**
 * A user's own environment, brought in with `register()` (envs/registry.ts): Gymnasium's
 * `reset`/`step`, synchronous or returning promises, and a task set with `setTask`. Tasks come
 * from the env's own `sampleTasks(n, rng)` or from a JSON task space (src/bridge/taskSpace.ts).
 *
 * What the agent relies on is checked at every call, so that a faulty env fails the run with a
 * message naming it instead of teaching the policy from garbage:
 *   observations  length = observationSpace.size, finite entries;
 *   rewards       finite numbers;
 *   actions       clipped into actionSpace before `step` (the policy's Gaussian sample is not
 *                 bounded; the loss keeps the unclipped sample, as the bridge does).
 *
 * `AsyncVectorEnv` steps n copies together (their promises concurrently) with the vector-env
 * semantics of envs/vector.ts: copy i is seeded with deriveSeed(seed, indexOffset + i), a copy
 * whose episode ended is not stepped again until the next reset, and an episode still running
 * after maxEpisodeSteps steps is truncated there.
 */
import type { AnyVectorEnv, ResetResult, StepResult, TaskEnv, VectorStepResult } from '../src/core/env.ts';
import type { Box } from '../src/core/spaces.ts';
import type { Rng } from '../src/core/rng.ts';
import { deriveSeed } from '../src/core/rng.ts';
import { ConfigError, NumericError } from '../src/core/errors.ts';
import { type TaskSpace, sampleTasks } from '../src/bridge/taskSpace.ts';

type MaybePromise<T> = T | Promise<T>;

/** A Gymnasium-shaped env whose tasks can be set: what `register()`'s factory returns. */
export interface UserEnv<T = unknown> {
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  /** Time limit in steps: the agent ends (truncates) an episode here if the env has not. */
  readonly maxEpisodeSteps: number;
  reset(options?: { seed?: number }): MaybePromise<ResetResult>;
  step(action: Float32Array): MaybePromise<StepResult>;
  setTask(task: T): void;
  /** The env's own task distribution; needed unless `register()` is given a `taskSpace`. */
  sampleTasks?(n: number, rng: Rng): T[];
  close?(): void;
}

/** A user env after `make()`: reset/step may return promises. */
export interface AnyTaskEnv<T = unknown> extends Omit<TaskEnv<T>, 'reset' | 'step'> {
  reset(options?: { seed?: number }): MaybePromise<ResetResult>;
  step(action: Float32Array): MaybePromise<StepResult>;
}

/** Checks the shape of what a factory returned and fills in the task sampler and `close`. */
export function adaptUserEnv<T>(name: string, env: UserEnv<T>, taskSpace?: TaskSpace): AnyTaskEnv<T> {
  const field = `env ${name}`;
  if (typeof env !== 'object' || env === null) throw new ConfigError(field, 'the registered factory returned no object');
  for (const k of ['reset', 'step', 'setTask'] as const) {
    if (typeof env[k] !== 'function') throw new ConfigError(field, `the env has no ${k}() method`);
  }
  for (const k of ['observationSpace', 'actionSpace'] as const) {
    if (!isBox(env[k])) throw new ConfigError(field, `${k} must be a Box (import { Box } from 'metarl')`);
  }
  if (!(Number.isInteger(env.maxEpisodeSteps) && env.maxEpisodeSteps >= 1)) throw new ConfigError(field, `maxEpisodeSteps must be a whole number ≥ 1, got ${String(env.maxEpisodeSteps)}`);
  if (taskSpace === undefined && typeof env.sampleTasks !== 'function') throw new ConfigError(field, 'give register() a taskSpace or the env a sampleTasks(n, rng) method');
  let task: T | undefined;
  return {
    observationSpace: env.observationSpace,
    actionSpace: env.actionSpace,
    maxEpisodeSteps: env.maxEpisodeSteps,
    sampleTasks: (n, rng) => (taskSpace ? (sampleTasks(taskSpace, n, rng) as T[]) : env.sampleTasks!(n, rng)),
    setTask: (t) => {
      task = t;
      env.setTask(t);
    },
    getTask: () => task as T,
    reset: (options) => env.reset(options),
    step: (action) => env.step(action),
    close: () => env.close?.(),
  };
}

/** Structural: a Box from another copy of the package is a Box too. */
function isBox(b: unknown): b is Box {
  const x = b as Box;
  return typeof x === 'object' && x !== null && x.low instanceof Float64Array && x.high instanceof Float64Array && x.low.length === x.high.length && x.low.length > 0 && typeof x.clipInPlace === 'function';
}

const isThenable = <T>(x: MaybePromise<T>): x is Promise<T> => typeof (x as Promise<T>)?.then === 'function';

function checkObs(name: string, obs: unknown, size: number, where: string): Float32Array {
  const arr = obs instanceof Float32Array ? obs : ArrayBuffer.isView(obs) || Array.isArray(obs) ? Float32Array.from(obs as ArrayLike<number>) : null;
  if (arr === null || arr.length !== size) throw new NumericError(`env ${name}: ${where} returned an observation of ${arr?.length ?? typeof obs} entries; its observationSpace has ${size}`);
  for (let j = 0; j < size; j++) if (!Number.isFinite(arr[j])) throw new NumericError(`env ${name}: ${where} returned a non-finite observation entry ${j} (${arr[j]})`);
  return arr;
}

/** n copies of a user env, stepped together; every call returns a promise. */
export class AsyncVectorEnv<T> implements AnyVectorEnv<T> {
  readonly num: number;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  readonly maxEpisodeSteps: number;
  private readonly done: Uint8Array;
  private readonly steps: Int32Array;
  private readonly obsBuf: Float32Array;

  constructor(
    private readonly name: string,
    private readonly envs: AnyTaskEnv<T>[],
    readonly indexOffset = 0,
  ) {
    if (envs.length === 0) throw new Error('AsyncVectorEnv: needs at least one env');
    this.num = envs.length;
    this.observationSpace = envs[0].observationSpace;
    this.actionSpace = envs[0].actionSpace;
    this.maxEpisodeSteps = envs[0].maxEpisodeSteps;
    this.done = new Uint8Array(this.num);
    this.steps = new Int32Array(this.num);
    this.obsBuf = new Float32Array(this.num * this.observationSpace.size);
  }

  setTasks(tasks: T[]): void {
    if (tasks.length !== this.num) throw new Error(`setTasks: got ${tasks.length} tasks for ${this.num} envs`);
    tasks.forEach((t, i) => this.envs[i].setTask(t));
  }

  async reset(seed?: number): Promise<Float32Array> {
    const d = this.observationSpace.size;
    this.done.fill(0);
    this.steps.fill(0);
    const results = this.envs.map((env, i) => env.reset({ seed: seed === undefined ? undefined : deriveSeed(seed, this.indexOffset + i) }));
    const settled = results.some(isThenable) ? await Promise.all(results) : (results as ResetResult[]);
    settled.forEach((r, i) => this.obsBuf.set(checkObs(this.name, r?.obs, d, 'reset()'), i * d));
    return this.obsBuf.slice();
  }

  async step(actions: Float32Array): Promise<VectorStepResult> {
    const d = this.observationSpace.size;
    const a = this.actionSpace.size;
    if (actions.length !== this.num * a) throw new Error(`step: expected ${this.num * a} action entries (${this.num} × ${a}), got ${actions.length}`);
    const clipped = actions.slice();
    this.actionSpace.clipInPlace(clipped);
    const results = this.envs.map((env, i) => (this.done[i] ? null : env.step(clipped.subarray(i * a, (i + 1) * a))));
    const settled = results.some((r) => r !== null && isThenable(r)) ? await Promise.all(results) : (results as (StepResult | null)[]);
    const reward = new Float32Array(this.num);
    const terminated = new Uint8Array(this.num);
    const truncated = new Uint8Array(this.num);
    settled.forEach((r, i) => {
      if (r === null) return;
      this.obsBuf.set(checkObs(this.name, r?.obs, d, 'step()'), i * d);
      if (typeof r.reward !== 'number' || !Number.isFinite(r.reward)) throw new NumericError(`env ${this.name}: step() returned reward ${String(r.reward)}; rewards must be finite numbers`);
      reward[i] = r.reward;
      terminated[i] = r.terminated ? 1 : 0;
      truncated[i] = r.truncated || (!r.terminated && ++this.steps[i] >= this.maxEpisodeSteps) ? 1 : 0;
      if (terminated[i] || truncated[i]) this.done[i] = 1;
    });
    return { obs: this.obsBuf.slice(), reward, terminated, truncated };
  }

  close(): void {
    for (const e of this.envs) e.close();
  }
}
