import { describe, expect, it, vi } from 'vitest';
import { Navigation } from '../envs/navigation.ts';
import { SyncVectorEnv } from '../envs/vector.ts';
import { ENV_NAMES, make, makeVector } from '../envs/registry.ts';
import { ConfigError, NumericError } from '../src/core/errors.ts';
import { Rng } from '../src/core/rng.ts';

const act = (x: number, y: number) => new Float32Array([x, y]);

function navWithGoal(goal: [number, number], maxEpisodeSteps?: number): Navigation {
  const env = new Navigation({ maxEpisodeSteps });
  env.setTask({ goal });
  return env;
}

function expectConfigError(fn: () => unknown, field: string): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).field).toBe(field);
    expect((e as Error).message).toContain(field);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('Navigation', () => {
  it('starts every episode at the origin', () => {
    const env = navWithGoal([0.3, 0.3]);
    expect(Array.from(env.reset().obs)).toEqual([0, 0]);
    env.step(act(0.1, 0.1));
    env.step(act(0.1, 0.1));
    expect(Array.from(env.reset().obs)).toEqual([0, 0]);
  });

  it('clips each action dimension to [-0.1, 0.1]', () => {
    const env = navWithGoal([0.5, 0.5]);
    env.reset();
    const r1 = env.step(act(5, -3));
    expect(r1.obs[0]).toBeCloseTo(0.1, 6);
    expect(r1.obs[1]).toBeCloseTo(-0.1, 6);
    const r2 = env.step(act(0.05, -0.02)); // inside the box: passed through
    expect(r2.obs[0]).toBeCloseTo(0.15, 6);
    expect(r2.obs[1]).toBeCloseTo(-0.12, 6);
  });

  it('with actionScale 1 (the MAML paper\'s rllab normalize) maps [-1, 1] onto [-0.1, 0.1]', () => {
    const env = new Navigation({ actionScale: 1 });
    env.setTask({ goal: [0.5, 0.5] });
    expect([env.actionSpace.low[0], env.actionSpace.high[0]]).toEqual([-1, 1]);
    env.reset();
    const r1 = env.step(act(0.5, -3)); // 0.5 → 0.05; −3 clipped to −1 → −0.1
    expect(r1.obs[0]).toBeCloseTo(0.05, 6);
    expect(r1.obs[1]).toBeCloseTo(-0.1, 6);
    expect(() => new Navigation({ actionScale: -1 })).toThrow(/actionScale/);
  });

  it('does not clip the caller\'s action array in place', () => {
    const env = navWithGoal([0.5, 0.5]);
    env.reset();
    const a = act(2, -2);
    env.step(a);
    expect(Array.from(a)).toEqual([2, -2]);
  });

  it('rewards minus the distance to the goal after the move', () => {
    const env = navWithGoal([0.5, 0.4]);
    env.reset();
    const r = env.step(act(0.1, 0));
    // After the move the agent is at (0.1, 0): distance sqrt(0.4² + 0.4²).
    expect(r.reward).toBeCloseTo(-Math.hypot(0.4, 0.4), 6);
    const r2 = env.step(act(-1, 0.1)); // clipped to (-0.1, 0.1): back to (0, 0.1)
    expect(r2.reward).toBeCloseTo(-Math.hypot(0.5, 0.3), 6);
  });

  it('terminates when both coordinates are within 0.01 of the goal', () => {
    const env = navWithGoal([0.3, -0.2]);
    env.reset();
    const s1 = env.step(act(0.1, -0.1));
    const s2 = env.step(act(0.1, -0.1));
    expect(s1.terminated || s2.terminated).toBe(false);
    const s3 = env.step(act(0.1, 0)); // now at (0.3, -0.2)
    expect(s3.terminated).toBe(true);
    expect(s3.truncated).toBe(false);
    expect(s3.reward).toBeCloseTo(0, 5);
  });

  it('uses a strict tolerance of 0.01 per coordinate', () => {
    const near = navWithGoal([0.105, 0.005]);
    near.reset();
    expect(near.step(act(0.1, 0)).terminated).toBe(true);
    // One coordinate close, the other 0.015 away: not done.
    const far = navWithGoal([0.1, 0.015]);
    far.reset();
    expect(far.step(act(0.1, 0)).terminated).toBe(false);
  });

  it('truncates at step 100 and not before', () => {
    const env = navWithGoal([0.5, 0.5]);
    env.reset();
    for (let t = 1; t < 100; t++) {
      const r = env.step(act(0, 0));
      expect(r.truncated, `step ${t}`).toBe(false);
      expect(r.terminated).toBe(false);
    }
    const last = env.step(act(0, 0));
    expect(last.truncated).toBe(true);
    expect(last.terminated).toBe(false);
  });

  it('honours a custom time limit and resets its step counter', () => {
    const env = navWithGoal([0.5, 0.5], 3);
    env.reset();
    expect(env.step(act(0, 0)).truncated).toBe(false);
    expect(env.step(act(0, 0)).truncated).toBe(false);
    expect(env.step(act(0, 0)).truncated).toBe(true);
    env.reset();
    expect(env.step(act(0, 0)).truncated).toBe(false);
  });

  it('rejects a non-positive or fractional time limit', () => {
    expectConfigError(() => new Navigation({ maxEpisodeSteps: 0 }), 'maxEpisodeSteps');
    expectConfigError(() => new Navigation({ maxEpisodeSteps: 2.5 }), 'maxEpisodeSteps');
  });

  it('samples goals inside [-0.5, 0.5]² that spread over the square', () => {
    const env = new Navigation();
    const tasks = env.sampleTasks(2000, new Rng(0));
    expect(tasks).toHaveLength(2000);
    const xs = tasks.map((t) => t.goal[0]);
    const ys = tasks.map((t) => t.goal[1]);
    for (const v of [...xs, ...ys]) {
      expect(v).toBeGreaterThanOrEqual(-0.5);
      expect(v).toBeLessThanOrEqual(0.5);
    }
    expect(Math.min(...xs)).toBeLessThan(-0.45);
    expect(Math.max(...ys)).toBeGreaterThan(0.45);
    // Every sampled task is accepted by setTask.
    for (const t of tasks.slice(0, 50)) env.setTask(t);
  });

  it('samples the same tasks from the same seed', () => {
    const env = new Navigation();
    expect(env.sampleTasks(5, new Rng(4))).toEqual(env.sampleTasks(5, new Rng(4)));
  });

  it('sets and reports its task', () => {
    const env = new Navigation();
    env.setTask({ goal: [0.25, -0.5] });
    expect(env.getTask()).toEqual({ goal: [0.25, -0.5] });
    expect(env.reset().info.goal).toEqual([0.25, -0.5]);
  });

  it.each([
    ['out of range', { goal: [0.6, 0] }],
    ['negative out of range', { goal: [0, -0.51] }],
    ['NaN', { goal: [Number.NaN, 0] }],
    ['infinite', { goal: [0, Infinity] }],
    ['too short', { goal: [0.1] }],
    ['too long', { goal: [0.1, 0.1, 0.1] }],
    ['not an array', { goal: '0.1,0.1' }],
    ['missing goal', {}],
    ['null task', null],
  ])('rejects a malformed goal (%s) with a ConfigError naming task.goal', (_name, task) => {
    const env = new Navigation();
    env.setTask({ goal: [0.1, 0.2] });
    expectConfigError(() => env.setTask(task as never), 'task.goal');
    expect(env.getTask()).toEqual({ goal: [0.1, 0.2] }); // unchanged
  });

  it.each([
    ['NaN', Number.NaN],
    ['+Infinity', Infinity],
    ['-Infinity', -Infinity],
  ])('throws a NumericError for a %s action', (_name, bad) => {
    const env = navWithGoal([0.3, 0.3]);
    env.reset();
    expect(() => env.step(act(bad, 0))).toThrow(NumericError);
    expect(() => env.step(act(0, bad))).toThrow(NumericError);
  });
});

describe('registry', () => {
  it('makes a navigation env by name, passing options through', () => {
    const env = make('navigation', { maxEpisodeSteps: 7 });
    expect(env).toBeInstanceOf(Navigation);
    expect(env.maxEpisodeSteps).toBe(7);
    expect(env.observationSpace.size).toBe(2);
    expect(env.actionSpace.size).toBe(2);
  });

  it('rejects an unknown env name with a ConfigError listing the allowed names', () => {
    const err = expectConfigError(() => make('nope'), 'env');
    expect(err.message).toContain('nope');
    for (const name of ENV_NAMES) expect(err.message).toContain(name);
  });

  it('makes a vector env of independent copies', () => {
    const venv = makeVector('navigation', 3);
    expect(venv.num).toBe(3);
    venv.setTasks([{ goal: [0.1, 0] }, { goal: [0.2, 0] }, { goal: [0.3, 0] }]);
    venv.reset();
    const r = venv.step(new Float32Array([0.1, 0, 0.1, 0, 0.1, 0]));
    expect(r.reward[0]).toBeCloseTo(0, 6);
    expect(r.reward[1]).toBeCloseTo(-0.1, 6);
    expect(r.reward[2]).toBeCloseTo(-0.2, 6);
    expect(Array.from(r.terminated)).toEqual([1, 0, 0]);
  });
});

describe('SyncVectorEnv', () => {
  function pair(): { venv: SyncVectorEnv<unknown>; a: Navigation; b: Navigation } {
    const a = navWithGoal([0.1, 0]); // reached in one step
    const b = navWithGoal([0.5, 0.5]);
    return { venv: new SyncVectorEnv<unknown>([a, b]), a, b };
  }

  it('returns n × obsDim observations at reset', () => {
    const { venv } = pair();
    expect(Array.from(venv.reset())).toEqual([0, 0, 0, 0]);
  });

  it('does not step copies whose episode ended, until the next reset', () => {
    const { venv, a, b } = pair();
    const stepA = vi.spyOn(a, 'step');
    const stepB = vi.spyOn(b, 'step');
    venv.reset();
    const r1 = venv.step(new Float32Array([0.1, 0, 0.1, 0.1]));
    expect(Array.from(r1.terminated)).toEqual([1, 0]);
    const r2 = venv.step(new Float32Array([0.1, 0.1, 0.1, 0.1]));
    expect(stepA).toHaveBeenCalledTimes(1);
    expect(stepB).toHaveBeenCalledTimes(2);
    // The ended copy's row keeps its last observation, with reward 0 and no new end flags.
    expect(r2.obs[0]).toBeCloseTo(0.1, 6);
    expect(r2.obs[1]).toBeCloseTo(0, 6);
    expect(r2.reward[0]).toBe(0);
    expect(r2.terminated[0]).toBe(0);
    expect(r2.obs[2]).toBeCloseTo(0.2, 6);
    venv.reset();
    venv.step(new Float32Array(4));
    expect(stepA).toHaveBeenCalledTimes(2);
  });

  it('passes each copy its own slice of the actions', () => {
    const { venv } = pair();
    venv.reset();
    const r = venv.step(new Float32Array([0.05, -0.02, -0.03, 0.04]));
    expect(r.obs[0]).toBeCloseTo(0.05, 6);
    expect(r.obs[1]).toBeCloseTo(-0.02, 6);
    expect(r.obs[2]).toBeCloseTo(-0.03, 6);
    expect(r.obs[3]).toBeCloseTo(0.04, 6);
  });

  it('returns fresh arrays, not views of its buffer', () => {
    const { venv } = pair();
    const o0 = venv.reset();
    const r1 = venv.step(new Float32Array([0, 0, 0.1, 0]));
    venv.step(new Float32Array([0, 0, 0.1, 0]));
    expect(Array.from(o0)).toEqual([0, 0, 0, 0]);
    expect(r1.obs[2]).toBeCloseTo(0.1, 6);
  });

  it('rejects an action array of the wrong length', () => {
    const { venv } = pair();
    venv.reset();
    expect(() => venv.step(new Float32Array(3))).toThrow(/expected 4 action entries/);
  });

  it('rejects a task list of the wrong length', () => {
    const { venv } = pair();
    expect(() => venv.setTasks([{ goal: [0, 0] }])).toThrow(/1 tasks for 2 envs/);
  });

  it('propagates a NumericError for a non-finite action', () => {
    const { venv } = pair();
    venv.reset();
    expect(() => venv.step(new Float32Array([0, 0, Number.NaN, 0]))).toThrow(NumericError);
  });
});
