/**
 * Gymnasium-shaped environment interfaces. Built-in simulators are synchronous; remote ones
 * (WebSocket bridge) return promises. The rollout stream accepts both.
 */
import type { Box } from './spaces.ts';

export interface ResetResult {
  obs: Float32Array;
  info: Record<string, unknown>;
}

export interface StepResult {
  obs: Float32Array;
  reward: number;
  /** The episode reached a terminal state: no value follows it. */
  terminated: boolean;
  /** The episode was cut short (time limit): its tail value is bootstrapped. */
  truncated: boolean;
  info: Record<string, unknown>;
}

export interface Env {
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  /** Maximum number of steps in an episode (the time limit that sets `truncated`). */
  readonly maxEpisodeSteps: number;
  reset(options?: { seed?: number }): ResetResult;
  step(action: Float32Array): StepResult;
  close(): void;
}

/** An environment family indexed by tasks; a task is plain JSON. */
export interface TaskEnv<T> extends Env {
  sampleTasks(n: number, rng: import('./rng.ts').Rng): T[];
  setTask(task: T): void;
  getTask(): T;
}

/** Results of stepping n copies at once: row-major arrays with n rows. */
export interface VectorStepResult {
  obs: Float32Array; // n × obsDim
  reward: Float32Array; // n
  terminated: Uint8Array; // n
  truncated: Uint8Array; // n
  /**
   * n, optional: 1 where the copy's step did not happen as commanded (a robot interrupted by a
   * disconnect, a timeout, stale data or a stop in force). Such a step is not a transition: it is
   * not recorded, and the copy's episode ends at its previous step (truncated).
   */
  discarded?: Uint8Array;
}

/**
 * n copies of an env stepped together. Copies whose episode ended are not stepped again until the
 * next reset; their rows in the results are left as they were (reward 0).
 */
export interface VectorEnv<T = unknown> {
  readonly num: number;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  readonly maxEpisodeSteps: number;
  /** Sets copy i's task to tasks[i]. */
  setTasks(tasks: T[]): void;
  reset(seed?: number): Float32Array;
  step(actions: Float32Array): VectorStepResult;
  close(): void;
}

/**
 * What samplers need of a vector env, in-process (`VectorEnv`) or spread over worker threads
 * (every call may then be asynchronous).
 */
export interface AnyVectorEnv<T = unknown> {
  readonly num: number;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  readonly maxEpisodeSteps: number;
  setTasks(tasks: T[]): void | Promise<void>;
  reset(seed?: number): Float32Array | PromiseLike<Float32Array>;
  step(actions: Float32Array): VectorStepResult | PromiseLike<VectorStepResult>;
  close(): void | Promise<void>;
}
