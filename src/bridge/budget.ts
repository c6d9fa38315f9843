/**
 * What a simulator's `hello` would make the agent allocate, checked before anything is allocated.
 * A hello within the protocol's limits may still announce sizes no agent can hold (4096 copies ×
 * 10⁹ steps): training keeps one episode buffer of num × maxEpisodeSteps rows (./streams/rollout.ts
 * `toEpisodes`, core/episodes.ts), so the hello is refused when that exceeds
 * `maxEpisodeBufferBytes`, or when a step or its reply could never fit in one message
 * (`maxMessageBytes`): such an env would only fail later, at its first step.
 */
import type { Hello } from './protocol.ts';
import { FRAME_HEADER_BYTES, framePayloadBytes } from './frames.ts';

/** Episode buffers the agent agrees to hold for one simulator unless configured otherwise: 2 GiB. */
export const DEFAULT_MAX_EPISODE_BUFFER_BYTES = 2 * 1024 ** 3;

/**
 * Float32-sized slots per step besides observation and action: the reward and the padding mask,
 * and float64 advantages, returns and baseline values (two slots each) computed from the batch.
 */
export const EXTRA_FLOATS_PER_STEP = 8;

/** JSON bytes no encoding of a number can go below ("0,"), and of a flag ("true,"). */
const MIN_JSON_NUMBER_BYTES = 2;
const MIN_JSON_FLAG_BYTES = 5;
/** Field names, brackets and id of a step / step_result message, at the least. */
const MIN_JSON_OVERHEAD_BYTES = 40;

/** Entries of a space described by its shape (the schema bounds each dimension). */
function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes as a short human figure: 416 GB, 9.6 kB; round binary sizes as such (2 GiB, 1 MiB). */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes % size === 0 && bytes / size >= 1 && bytes / size < 1024) return `${bytes / size} ${unit}`;
  }
  for (const [unit, size] of [['TB', 1e12], ['GB', 1e9], ['MB', 1e6], ['kB', 1e3]] as const) {
    if (bytes >= size) return `${Number((bytes / size).toPrecision(3))} ${unit}`;
  }
  return `${bytes} bytes`;
}

export interface BudgetLimits {
  maxEpisodeBufferBytes: number;
  maxMessageBytes: number;
  /** Steps and their replies travel as binary frames (else JSON). */
  binary: boolean;
}

/**
 * Why this hello asks for more than the limits allow, as one line naming the option to raise;
 * null when it fits. Uses only numbers from the validated hello: nothing is allocated here.
 */
export function helloBudgetProblem(hello: Hello, limits: BudgetLimits): string | null {
  const obs = shapeSize(hello.observationSpace.shape);
  const act = shapeSize(hello.actionSpace.shape);
  const n = hello.num;
  const perStep = obs + act + EXTRA_FLOATS_PER_STEP;
  // Doubles: 4096 × 1e9 × 131080 × 4 ≈ 2e21 is far below 2^1023, and exact enough to compare.
  const episodeBytes = n * hello.maxEpisodeSteps * perStep * 4;
  if (episodeBytes > limits.maxEpisodeBufferBytes) {
    return `hello: num ${n} × maxEpisodeSteps ${hello.maxEpisodeSteps} × ${perStep} floats needs ${formatBytes(episodeBytes)} of episode buffers; `
      + `allowed ${formatBytes(limits.maxEpisodeBufferBytes)} (maxEpisodeBufferBytes)`;
  }
  const reply = limits.binary
    ? FRAME_HEADER_BYTES + framePayloadBytes('step_result', n, obs)
    : MIN_JSON_OVERHEAD_BYTES + n * (obs + 1) * MIN_JSON_NUMBER_BYTES + 2 * n * MIN_JSON_FLAG_BYTES;
  const request = limits.binary ? FRAME_HEADER_BYTES + framePayloadBytes('step', n, act) : MIN_JSON_OVERHEAD_BYTES + n * act * MIN_JSON_NUMBER_BYTES;
  const how = limits.binary ? 'as a binary frame' : 'as JSON, at the least';
  if (reply > limits.maxMessageBytes) {
    return `hello: a step_result for num ${n} × ${obs} observation entries takes ${formatBytes(reply)} ${how}; `
      + `messages are limited to ${formatBytes(limits.maxMessageBytes)} (maxMessageBytes)`;
  }
  if (request > limits.maxMessageBytes) {
    return `hello: a step for num ${n} × ${act} action entries takes ${formatBytes(request)} ${how}; `
      + `messages are limited to ${formatBytes(limits.maxMessageBytes)} (maxMessageBytes)`;
  }
  const tasks = MIN_JSON_OVERHEAD_BYTES + n * minTaskJsonBytes(hello.tasks);
  if (tasks > limits.maxMessageBytes) {
    return `hello: a set_tasks for num ${n} tasks of this task space takes ${formatBytes(tasks)} as JSON, at the least; `
      + `messages are limited to ${formatBytes(limits.maxMessageBytes)} (maxMessageBytes)`;
  }
  return null;
}

/** The fewest JSON bytes one task drawn from `space` can take (`{"goal":[0,0]},`). */
function minTaskJsonBytes(space: Hello['tasks']): number {
  let bytes = 2;
  for (const [name, f] of Object.entries(space)) {
    const value = 'choices' in f ? 1 : Array.isArray(f.low) ? 2 + f.low.length * MIN_JSON_NUMBER_BYTES : 1;
    bytes += name.length + 4 + value; // "name": value,
  }
  return bytes;
}
