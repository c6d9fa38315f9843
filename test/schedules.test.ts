/** Task sequences of continual runs (src/continual/schedules.ts): drift and blocks per env, reproducible per seed. */
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { makeSchedule } from '../src/continual/schedules.ts';
import type { TaskSource } from '../src/experiments/envSource.ts';
import { Box } from '../src/core/spaces.ts';

/** A stand-in env whose tasks have one numeric field `x` ~ U[0, 1]. */
const plain: TaskSource = {
  observationSpace: new Box(-1, 1, [1]),
  actionSpace: new Box(-1, 1, [1]),
  sampleTasks: (n, rng) => Array.from({ length: n }, () => ({ x: rng.uniform() })),
};
const schedule = (env: string, name: string, T: number, blockSize = 4, seed = 1) => makeSchedule(env, plain, { name, numTasks: T, cycle: 3, blockSize }, new Rng(seed));

describe('blocks schedule', () => {
  it('navigation: blockSize goals in quadrant (+,+), then blockSize in (−,−), alternating', () => {
    const tasks = schedule('navigation', 'blocks', 16) as { goal: number[] }[];
    tasks.forEach((t, i) => {
      const s = Math.floor(i / 4) % 2 === 0 ? 1 : -1;
      expect(Math.sign(t.goal[0]), `task ${i}`).toBe(s);
      expect(Math.sign(t.goal[1]), `task ${i}`).toBe(s);
      expect(Math.abs(t.goal[0])).toBeGreaterThanOrEqual(0.05);
      expect(Math.abs(t.goal[0])).toBeLessThanOrEqual(0.5);
    });
    expect(schedule('navigation', 'blocks', 16)).toEqual(tasks); // same seed, same sequence
    expect(schedule('navigation', 'blocks', 16, 4, 2)).not.toEqual(tasks);
  });

  it('cheetah-direction: forward ×b then backward ×b; cheetah-velocity: slow then fast targets', () => {
    expect((schedule('cheetah-direction', 'blocks', 8, 2) as { direction: number }[]).map((t) => t.direction)).toEqual([1, 1, -1, -1, 1, 1, -1, -1]);
    const v = (schedule('cheetah-velocity', 'blocks', 6, 3) as { velocity: number }[]).map((t) => t.velocity);
    expect(v.slice(0, 3).every((x) => x >= 0 && x <= 0.6)).toBe(true);
    expect(v.slice(3).every((x) => x >= 1.4 && x <= 2)).toBe(true);
  });

  it('any other env: blocks from the lower and upper halves of its tasks by the first numeric field', () => {
    const xs = (schedule('my-sim', 'blocks', 8, 2) as { x: number }[]).map((t) => t.x);
    const low = [...xs.slice(0, 2), ...xs.slice(4, 6)];
    const high = [...xs.slice(2, 4), ...xs.slice(6, 8)];
    expect(Math.max(...low)).toBeLessThan(Math.min(...high));
    expect(new Set(xs).size).toBe(8);
  });

  it('refuses a block size that is not a positive integer', () => {
    expect(() => schedule('navigation', 'blocks', 8, 0)).toThrow(/^blockSize: must be a positive integer, got 0$/);
  });
});

describe('drift schedule', () => {
  it('navigation: quadrants in order (+,+), (−,+), (−,−), (+,−)', () => {
    const tasks = schedule('navigation', 'drift', 8) as { goal: number[] }[];
    expect(tasks.map((t) => t.goal.map(Math.sign))).toEqual([[1, 1], [1, 1], [-1, 1], [-1, 1], [-1, -1], [-1, -1], [1, -1], [1, -1]]);
  });
});
