/**
 * Messages between a `WorkerVectorEnv` (src/streams/workerPool.ts, main thread) and the vector-env
 * worker (envs/worker.ts). Both sides import this file, which is why it lives in core: envs/ and
 * src/streams/ may not import each other.
 *
 * Every request carries an `id`; the worker answers each request, in order, with one `Reply` of
 * the same id. Typed arrays in step/reset answers are transferred, not copied.
 */
import type { VectorStepResult } from './env.ts';
import { ConfigError, NumericError } from './errors.ts';

/** A Box as plain data (structured clone keeps ±Infinity in Float64Arrays). */
export interface BoxData {
  low: Float64Array;
  high: Float64Array;
  shape: number[];
}

/**
 * A whole rollout of a worker's copies with the policy (sent once per sampling phase): copy c
 * acts with params[taskOf[c]] and the noise stream seeded noiseSeeds[c]; the envs reset with
 * `resetSeed` (copy i seeded by its global index, as in `reset`). Plain data: the spec's shape.
 */
export interface RolloutSpec {
  spec: { obsDim: number; actDim: number; hidden: number[]; activation: 'tanh' | 'relu'; initStd: number | number[] };
  params: Float32Array[];
  taskOf: number[];
  noiseSeeds: number[];
  resetSeed: number;
}

/** One worker's episodes (one per copy), padded to the time limit, as EpisodeBatch arrays. */
export interface RolloutParts {
  obs: Float32Array;
  actions: Float32Array;
  rewards: Float32Array;
  lengths: Int32Array;
  terminated: Uint8Array;
  finalObs: Float32Array;
}

export type Request =
  | { id: number; type: 'init'; name: string; options: Record<string, unknown>; num: number; indexOffset: number; envModule?: string }
  | ({ id: number; type: 'rollout' } & RolloutSpec)
  | { id: number; type: 'setTasks'; tasks: unknown[] }
  | { id: number; type: 'reset'; seed?: number }
  | { id: number; type: 'step'; actions: Float32Array }
  | { id: number; type: 'close' };

/** A request before the pool numbers it. */
export type RequestBody = { [K in Request['type']]: Omit<Extract<Request, { type: K }>, 'id'> }[Request['type']];

/** What the worker answers to `init`: enough for the main thread to describe the env. */
export interface InitInfo {
  num: number;
  observationSpace: BoxData;
  actionSpace: BoxData;
  maxEpisodeSteps: number;
}

/** Answer values by request type. */
export interface ReplyValue {
  init: InitInfo;
  setTasks: null;
  reset: Float32Array;
  step: VectorStepResult;
  rollout: RolloutParts;
  close: null;
}

/** An error as plain data: name and message survive the thread boundary, classes do not. */
export interface ErrorData {
  name: string;
  message: string;
  stack?: string;
  /** ConfigError's field. */
  field?: string;
}

export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: ErrorData };

export function serializeError(e: unknown): ErrorData {
  if (e instanceof Error) {
    const data: ErrorData = { name: e.name, message: e.message, stack: e.stack };
    if (e instanceof ConfigError) data.field = e.field;
    return data;
  }
  return { name: 'Error', message: String(e) };
}

/**
 * Rebuilds an error sent by a worker: NumericError and ConfigError come back as their own
 * classes (so `instanceof` and the CLI's exit codes work); any other error as an Error with the
 * original name. The message is the original one; the stack is the worker's.
 */
export function reviveError(d: ErrorData): Error {
  let e: Error;
  if (d.name === 'NumericError') {
    e = new NumericError(d.message);
  } else if (d.name === 'ConfigError') {
    const field = d.field ?? 'env';
    const prefix = `${field}: `;
    e = new ConfigError(field, d.message.startsWith(prefix) ? d.message.slice(prefix.length) : d.message);
    e.message = d.message;
  } else {
    e = new Error(d.message);
    e.name = d.name;
  }
  if (d.stack) e.stack = `${d.stack}\n    (rethrown from a worker thread)`;
  return e;
}
