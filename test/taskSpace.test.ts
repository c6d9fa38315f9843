/** Task spaces: the built-in distributions reproduced draw for draw, validation, membership. */
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { ConfigError } from '../src/core/errors.ts';
import { make, prepareEnv } from '../envs/registry.ts';
import { parseTaskSpace, sampleTasks, taskInSpace } from '../src/bridge/taskSpace.ts';

describe('task spaces', () => {
  it('draw the same tasks as the in-process navigation and cheetah-direction envs', async () => {
    const nav = parseTaskSpace({ goal: { low: [-0.5, -0.5], high: [0.5, 0.5] } });
    expect(sampleTasks(nav, 50, new Rng(3))).toEqual(make('navigation').sampleTasks(50, new Rng(3)));
    await prepareEnv('cheetah-direction');
    const dir = parseTaskSpace({ direction: { choices: [-1, 1] } });
    const env = make('cheetah-direction');
    expect(sampleTasks(dir, 50, new Rng(4))).toEqual(env.sampleTasks(50, new Rng(4)));
    env.close();
  });

  it('draws scalars, vectors and choices within their ranges', () => {
    const space = parseTaskSpace({ v: { low: 0, high: 2 }, g: { low: [-1, 5], high: [1, 6] }, m: { choices: ['a', { k: 1 }] } });
    const tasks = sampleTasks(space, 200, new Rng(1));
    for (const t of tasks) expect(taskInSpace(space, t)).toBe(true);
    expect(new Set(tasks.map((t) => JSON.stringify(t.m))).size).toBe(2);
    expect(taskInSpace(space, { v: 3, g: [0, 5.5], m: 'a' })).toBe(false);
    expect(taskInSpace(space, { v: 1, g: [0], m: 'a' })).toBe(false);
    expect(taskInSpace(space, { v: 1, g: [0, 5.5], m: 'c' })).toBe(false);
    expect(taskInSpace(space, null)).toBe(false);
  });

  it.each([
    [{ g: { low: [0, 0], high: [1] } }, /tasks\.g.*differ in length/],
    [{ g: { low: 2, high: 1 } }, /tasks\.g.*low ≤ high/],
    [{ g: { low: 0 } }, /tasks\.g/],
    [{ g: { choices: [] } }, /tasks\.g/],
    [{ g: { low: 0, high: 1, extra: 1 } }, /tasks\.g/],
    ['nope', /tasks/],
  ])('refuses %j with a ConfigError naming the field', (raw, msg) => {
    expect(() => parseTaskSpace(raw)).toThrow(ConfigError);
    expect(() => parseTaskSpace(raw)).toThrow(msg);
  });
});
