import { afterEach, describe, expect, it } from 'vitest';
import { lastValueFrom, type Subscription } from 'rxjs';
import { ConfigError, NumericError } from '../src/core/errors.ts';
import type { EpisodeBatch } from '../src/core/episodes.ts';
import { Rng } from '../src/core/rng.ts';
import { rollout$, toEpisodes, type SteppableVectorEnv } from '../src/streams/rollout.ts';
import { WorkerVectorEnv, liveWorkerCount, splitSlices, withWorkerEnv, type WorkerVectorEnvOptions } from '../src/streams/workerPool.ts';
import { ENV_NAMES, make, makeVector, prepareEnv } from '../envs/registry.ts';
import { Navigation } from '../envs/navigation.ts';

const FAULTY = new URL('./fixtures/faultyWorker.ts', import.meta.url);
const NUM = 7;
const STEPS = 40;

/** Deterministic "policy": seeded noise, the same for every env implementation. */
function noisyAct(seed: number, num: number, actDim: number, scale: number) {
  const rng = new Rng(seed);
  return (): Float32Array => {
    const out = new Float32Array(num * actDim);
    for (let i = 0; i < out.length; i++) out[i] = scale * rng.normal();
    return out;
  };
}

async function episodes(env: SteppableVectorEnv & { setTasks(t: unknown[]): unknown }, tasks: unknown[], seed: number, scale = 0.08): Promise<EpisodeBatch> {
  await env.setTasks(tasks);
  const o = env.observationSpace.size;
  const a = env.actionSpace.size;
  return lastValueFrom(rollout$(env, noisyAct(seed + 1, env.num, a, scale), { seed }).pipe(toEpisodes(env.num, env.maxEpisodeSteps, o, a)));
}

function expectSameBatch(b: EpisodeBatch, ref: EpisodeBatch): void {
  expect(b.lengths).toEqual(ref.lengths);
  expect(b.terminated).toEqual(ref.terminated);
  expect(b.obs).toEqual(ref.obs);
  expect(b.actions).toEqual(ref.actions);
  expect(b.rewards).toEqual(ref.rewards);
  expect(b.finalObs).toEqual(ref.finalObs);
}

function navTasks(n: number, seed: number): unknown[] {
  return new Navigation().sampleTasks(n, new Rng(seed));
}

const opened: WorkerVectorEnv[] = [];
async function open(o: Partial<WorkerVectorEnvOptions> = {}): Promise<WorkerVectorEnv> {
  const env = await WorkerVectorEnv.create({ name: 'navigation', num: NUM, workers: 2, options: { maxEpisodeSteps: STEPS }, ...o });
  opened.push(env);
  return env;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((e) => e.close()));
  expect(liveWorkerCount()).toBe(0);
});

describe('splitSlices', () => {
  it('covers every copy once, in contiguous slices differing by at most one', () => {
    expect(splitSlices(7, 3)).toEqual([{ offset: 0, count: 3 }, { offset: 3, count: 2 }, { offset: 5, count: 2 }]);
    expect(splitSlices(2, 2)).toEqual([{ offset: 0, count: 1 }, { offset: 1, count: 1 }]);
  });
});

describe('WorkerVectorEnv', () => {
  it('gives the same episodes as the in-process SyncVectorEnv for 1, 2 and 3 workers', async () => {
    const tasks = navTasks(NUM, 5);
    const ref = await episodes(makeVector('navigation', NUM, { maxEpisodeSteps: STEPS }), tasks, 123);
    expect(ref.lengths.some((l) => l > 1)).toBe(true);
    for (const workers of [1, 2, 3]) {
      const env = await open({ workers });
      expect(env.workerCount).toBe(workers);
      expect([env.num, env.observationSpace.size, env.actionSpace.size, env.maxEpisodeSteps]).toEqual([NUM, 2, 2, STEPS]);
      expect(env.actionSpace.high[0]).toBeCloseTo(0.1);
      expectSameBatch(await episodes(env, tasks, 123), ref);
      // A second rollout with another seed and tasks on the same workers still matches.
      const tasks2 = navTasks(NUM, 6);
      expectSameBatch(await episodes(env, tasks2, 9), await episodes(makeVector('navigation', NUM, { maxEpisodeSteps: STEPS }), tasks2, 9));
    }
  });

  it('defaults to os.availableParallelism() workers, at most one per copy', async () => {
    const env = await open({ workers: undefined, num: 2 });
    expect(env.workerCount).toBeLessThanOrEqual(2);
    expect(new Set(env.threadIds).size).toBe(env.workerCount);
  });

  it('errors the stream with NumericError for a NaN action and leaves no worker', async () => {
    const env = await open({ workers: 3 });
    await env.setTasks(navTasks(NUM, 1));
    const act = (obs: Float32Array, t: number) => new Float32Array(NUM * 2).fill(t === 3 ? NaN : 0.01);
    const err = await lastValueFrom(rollout$(env, act, { seed: 1 })).catch((e) => e);
    expect(err).toBeInstanceOf(NumericError);
    expect(err.message).toBe('navigation: action contains NaN at index 0');
    expect(env.liveWorkers).toBe(0);
    expect(liveWorkerCount()).toBe(0);
    await expect(env.reset(1)).rejects.toBe(err); // a failed env stays failed
  });

  it('errors the stream with ConfigError for a bad task, even when setTasks is not awaited', async () => {
    const env = await open({ workers: 3 });
    const bad = navTasks(NUM, 2);
    bad[5] = { goal: [3, 0] };
    let expected = '';
    try { new Navigation().setTask(bad[5] as never); } catch (e) { expected = (e as Error).message; }
    void env.setTasks(bad); // as a synchronous caller would: the error must still surface
    const err = await lastValueFrom(rollout$(env, () => new Float32Array(NUM * 2), { seed: 1 })).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.field).toBe('task.goal');
    expect(err.message).toBe(expected);
    expect(env.liveWorkers).toBe(0);
    await expect(env.setTasks(navTasks(NUM, 2))).rejects.toBe(err);
  });

  it('rejects create() with ConfigError for an unknown env, leaving no worker', async () => {
    const err = await WorkerVectorEnv.create({ name: 'no-such-env', num: 3, workers: 2 }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/unknown env 'no-such-env'; allowed: navigation/);
    expect(liveWorkerCount()).toBe(0);
  });

  it('unsubscribing mid-step then close() stops stepping and leaves no worker', async () => {
    const fault = { mode: 'slow', atStep: 0, offset: 0 };
    const env = await open({ workerUrl: FAULTY, options: { maxEpisodeSteps: STEPS, fault } });
    await env.setTasks(navTasks(NUM, 3));
    const seen: number[] = [];
    const sub: Subscription = rollout$(env, () => new Float32Array(NUM * 2).fill(0.01), { seed: 1 }).subscribe({
      next: (s) => seen.push(s.t),
      error: (e) => { throw e; },
    });
    await new Promise((r) => setTimeout(r, 70)); // a 20 ms step is in flight
    sub.unsubscribe();
    const stepsAtUnsubscribe = seen.length;
    expect(stepsAtUnsubscribe).toBeGreaterThan(0);
    expect(stepsAtUnsubscribe).toBeLessThan(STEPS);
    await env.close(); // lets the pending step finish, then terminates
    expect(env.liveWorkers).toBe(0);
    expect(liveWorkerCount()).toBe(0);
    await new Promise((r) => setTimeout(r, 30));
    expect(seen.length).toBe(stepsAtUnsubscribe);
    await expect(env.step(new Float32Array(NUM * 2))).rejects.toThrow(/used after close/);
  });

  it.each([
    ['exit', /worker 1 \(copies 4–6\) exited unexpectedly with code 3/],
    ['throw', /worker 1 \(copies 4–6\) crashed: RangeError: simulated crash in the worker/],
    ['hang', /worker 1 \(copies 4–6\) did not answer 'step' within 400 ms/],
  ])('a worker that %ss mid-call rejects the rollout instead of hanging', async (mode, message) => {
    const fault = { mode, atStep: 3, offset: 4 };
    const env = await open({ workerUrl: FAULTY, callTimeoutMs: 400, options: { maxEpisodeSteps: STEPS, fault } });
    await env.setTasks(navTasks(NUM, 4));
    const err = await lastValueFrom(rollout$(env, () => new Float32Array(NUM * 2).fill(0.01), { seed: 1 })).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(message);
    expect(env.liveWorkers).toBe(0);
    expect(liveWorkerCount()).toBe(0);
  });

  it('withWorkerEnv closes the env when the body throws', async () => {
    let env: WorkerVectorEnv | undefined;
    await expect(withWorkerEnv({ name: 'navigation', num: 3, workers: 2 }, async (e) => {
      env = e;
      await e.reset(0);
      throw new Error('body failed');
    })).rejects.toThrow('body failed');
    expect(env!.liveWorkers).toBe(0);
    expect(liveWorkerCount()).toBe(0);
  });
});

describe.runIf((ENV_NAMES as readonly string[]).includes('cheetah-velocity'))('WorkerVectorEnv with cheetah-velocity', () => {
  it('matches the in-process env for 2 workers', async () => {
    await prepareEnv('cheetah-velocity');
    const n = 3;
    const options = { maxEpisodeSteps: 20 };
    const tasks = make('cheetah-velocity', options).sampleTasks(n, new Rng(1));
    const ref = await episodes(makeVector('cheetah-velocity', n, options), tasks, 7, 0.5);
    const env = await open({ name: 'cheetah-velocity', num: n, workers: 2, options });
    expectSameBatch(await episodes(env, tasks, 7, 0.5), ref);
  });
});
