/**
 * A task distribution as plain JSON, announced by a simulator (our protocol's `hello`) or written
 * in a robot config: each field of a task is drawn either uniformly from a box or from a list.
 *
 *   { "goal": { "low": [-0.5, -0.5], "high": [0.5, 0.5] }, "mode": { "choices": ["a", "b"] } }
 *
 * gives tasks like { goal: [0.12, -0.3], mode: "b" }. Fields are drawn in declaration order, box
 * entries in order with rng.range(low, high), choices with ⌊rng.uniform()·length⌋, so the built-in
 * `navigation` distribution ({ goal: box ±0.5 }) and `cheetah-direction` ({ direction: choices
 * [-1, 1] }) draw exactly the tasks their in-process envs draw for the same generator.
 */
import { plainIssue, valueAt } from '../io/zodText.ts';
import { z } from 'zod';
import type { Rng } from '../core/rng.ts';
import { ConfigError } from '../core/errors.ts';

const finite = z.number().finite();
const bound = z.union([finite, z.array(finite).min(1).max(64)]);

export const TaskFieldSchema = z.union([
  z.object({ low: bound, high: bound }).strict(),
  z.object({ choices: z.array(z.unknown()).min(1).max(1024) }).strict(),
]);

export const TaskSpaceSchema = z.record(z.string().min(1).max(64), TaskFieldSchema).refine((r) => Object.keys(r).length <= 32, 'at most 32 task fields');

export type TaskField = z.infer<typeof TaskFieldSchema>;
export type TaskSpace = z.infer<typeof TaskSpaceSchema>;

/** Validates a task space (from a config or the network); names the offending field. */
export function parseTaskSpace(raw: unknown, where = 'tasks'): TaskSpace {
  const r = TaskSpaceSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ConfigError([where, ...issue.path.map(String)].join('.'), plainIssue(issue, valueAt(raw, issue.path)));
  }
  for (const [name, f] of Object.entries(r.data)) {
    if ('low' in f) {
      const low = [f.low].flat();
      const high = [f.high].flat();
      if (low.length !== high.length) throw new ConfigError(`${where}.${name}`, `low and high differ in length (${low.length} vs ${high.length})`);
      if (low.some((l, i) => !(l <= high[i]))) throw new ConfigError(`${where}.${name}`, 'needs low ≤ high in every entry');
    }
  }
  return r.data;
}

/** Draws n tasks. */
export function sampleTasks(space: TaskSpace, n: number, rng: Rng): Record<string, unknown>[] {
  return Array.from({ length: n }, () => {
    const task: Record<string, unknown> = {};
    for (const [name, f] of Object.entries(space)) {
      if ('choices' in f) {
        task[name] = f.choices[Math.min(f.choices.length - 1, Math.floor(rng.uniform() * f.choices.length))];
      } else if (Array.isArray(f.low)) {
        const high = f.high as number[];
        task[name] = f.low.map((l, i) => rng.range(l, high[i]));
      } else {
        task[name] = rng.range(f.low, f.high as number);
      }
    }
    return task;
  });
}

/** Whether `task` could have been drawn from `space` (every field present and in range). */
export function taskInSpace(space: TaskSpace, task: unknown): boolean {
  if (typeof task !== 'object' || task === null) return false;
  const t = task as Record<string, unknown>;
  return Object.entries(space).every(([name, f]) => {
    const v = t[name];
    if ('choices' in f) return f.choices.some((c) => JSON.stringify(c) === JSON.stringify(v));
    const low = [f.low].flat();
    const high = [f.high].flat();
    const xs = Array.isArray(f.low) ? v : [v];
    return Array.isArray(xs) && xs.length === low.length && xs.every((x, i) => typeof x === 'number' && x >= low[i] && x <= high[i]);
  });
}
