/**
 * Task sequences for continual experiments (tasks are the envs' plain-JSON tasks):
 *   random  T tasks drawn independently from the env's own distribution;
 *   drift   tasks that move steadily: navigation goals quadrant by quadrant (+,+) → (−,+) → (−,−)
 *           → (+,−); cheetah-velocity targets sweeping 0 → 2; cheetah-direction forward, then
 *           backward; any other env: sorted by its first numeric field;
 *   blocks  `blockSize` tasks from one region of the task space, then `blockSize` from the
 *           opposite region, alternating: navigation goals in quadrant (+,+), then (−,−);
 *           cheetah-direction forward, then backward; cheetah-velocity targets in [0, 0.6], then
 *           [1.4, 2]; any other env: the lower half of its tasks by their first numeric field,
 *           then the upper half. A method that only tracks the current block forgets the other.
 *   cyclic  `cycle` distinct tasks repeated in order (A B C A B C …).
 */
import { Rng } from '../core/rng.ts';
import { ConfigError, assertOneOf } from '../core/errors.ts';
import { SCHEDULES, type ScheduleName } from './types.ts';
import type { TaskSource } from '../experiments/envSource.ts';

export interface ScheduleOptions {
  name: string;
  numTasks: number;
  /** Distinct tasks of the cyclic schedule. */
  cycle: number;
  /** Tasks per block of the blocks schedule. */
  blockSize?: number;
}

export function makeSchedule(env: string, source: TaskSource, o: ScheduleOptions, rng: Rng): unknown[] {
  const name = assertOneOf('schedule', o.name, SCHEDULES) as ScheduleName;
  if (!(Number.isInteger(o.numTasks) && o.numTasks >= 1)) throw new ConfigError('tasks', `must be a positive integer, got ${o.numTasks}`);
  const T = o.numTasks;
  switch (name) {
    case 'random':
      return source.sampleTasks(T, rng);
    case 'cyclic': {
      if (!(Number.isInteger(o.cycle) && o.cycle >= 1)) throw new ConfigError('cycle', `must be a positive integer, got ${o.cycle}`);
      const base = source.sampleTasks(o.cycle, rng);
      return Array.from({ length: T }, (_, i) => base[i % o.cycle]);
    }
    case 'drift':
      return drift(env, source, T, rng);
    case 'blocks': {
      const size = o.blockSize ?? 4;
      if (!(Number.isInteger(size) && size >= 1)) throw new ConfigError('blockSize', `must be a positive integer, got ${size}`);
      return blocks(env, source, T, size, rng);
    }
  }
}

/** Block of task i: 0, 0, …, 1, 1, …, 0, … (blocks of `size`). */
const blockOf = (i: number, size: number) => Math.floor(i / size) % 2;

function blocks(env: string, source: TaskSource, T: number, size: number, rng: Rng): unknown[] {
  if (env === 'navigation') {
    return Array.from({ length: T }, (_, i) => {
      const s = blockOf(i, size) === 0 ? 1 : -1; // (+,+), then (−,−)
      return { goal: [s * rng.range(0.05, 0.5), s * rng.range(0.05, 0.5)] };
    });
  }
  if (env === 'cheetah-direction') return Array.from({ length: T }, (_, i) => ({ direction: blockOf(i, size) === 0 ? 1 : -1 }));
  if (env === 'cheetah-velocity') return Array.from({ length: T }, (_, i) => ({ velocity: blockOf(i, size) === 0 ? rng.range(0, 0.6) : rng.range(1.4, 2) }));
  // Other envs: a pool of 2T draws split at the median of the first numeric field.
  const pool = sortByFirstNumber(source.sampleTasks(2 * T, rng) as Record<string, unknown>[]);
  const low = pool.slice(0, T);
  const high = pool.slice(T);
  const next = [0, 0];
  return Array.from({ length: T }, (_, i) => {
    const b = blockOf(i, size);
    return (b === 0 ? low : high)[next[b]++];
  });
}

/** Position of task i in [0, 1] along the drift. */
const along = (i: number, T: number) => (T === 1 ? 0 : i / (T - 1));

function drift(env: string, source: TaskSource, T: number, rng: Rng): unknown[] {
  if (env === 'navigation') {
    // Quadrant q = ⌊4i/T⌋ in the order (+,+), (−,+), (−,−), (+,−); the goal anywhere inside it.
    const signs: [number, number][] = [[1, 1], [-1, 1], [-1, -1], [1, -1]];
    return Array.from({ length: T }, (_, i) => {
      const [sx, sy] = signs[Math.min(3, Math.floor((4 * i) / T))];
      return { goal: [sx * rng.range(0.05, 0.5), sy * rng.range(0.05, 0.5)] };
    });
  }
  if (env === 'cheetah-velocity') return Array.from({ length: T }, (_, i) => ({ velocity: 2 * along(i, T) }));
  if (env === 'cheetah-direction') return Array.from({ length: T }, (_, i) => ({ direction: i < T / 2 ? 1 : -1 }));
  // Other envs (bridged simulators): draw, then order by the first numeric field.
  return sortByFirstNumber(source.sampleTasks(T, rng) as Record<string, unknown>[]);
}

/** Tasks ordered by their first numeric field (its first entry for a vector); stable. */
function sortByFirstNumber(tasks: Record<string, unknown>[]): Record<string, unknown>[] {
  const key = (t: Record<string, unknown>) => {
    const v = Object.values(t).find((x) => typeof x === 'number' || (Array.isArray(x) && typeof x[0] === 'number'));
    return Array.isArray(v) ? (v[0] as number) : ((v as number | undefined) ?? 0);
  };
  return tasks.slice().sort((a, b) => key(a) - key(b));
}
