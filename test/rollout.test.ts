import { describe, expect, it } from 'vitest';
import { EMPTY, Observable, lastValueFrom, map, of, take, throwError, timer, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { VectorStepResult } from '../src/core/env.ts';
import { Box } from '../src/core/spaces.ts';
import { NumericError } from '../src/core/errors.ts';
import { meanStepReward, rollout$, toEpisodes, type SteppableVectorEnv, type StepBatch } from '../src/streams/rollout.ts';
import { Navigation } from '../envs/navigation.ts';
import { SyncVectorEnv } from '../envs/vector.ts';

type Answer = (r: VectorStepResult, call: number) => VectorStepResult | PromiseLike<VectorStepResult> | Observable<VectorStepResult>;

/**
 * A 1-D fake vector env. Copy i's episode lasts lengths[i] steps (terminated when terminates[i],
 * else truncated); its observation after step t is 10·i + t + 1 and its reward there is the action
 * it received. `answer` wraps each result (sync, Observable, Promise) to simulate a remote env.
 */
class FakeVectorEnv implements SteppableVectorEnv {
  readonly num: number;
  readonly observationSpace = new Box(-Infinity, Infinity, [1]);
  readonly actionSpace = new Box(-1, 1, [1]);
  readonly maxEpisodeSteps: number;
  stepCalls = 0;
  resetCalls = 0;
  private t = 0;
  private readonly obs: Float32Array;
  private readonly done: Uint8Array;

  constructor(
    private readonly lengths: number[],
    private readonly answer: Answer = (r) => r,
    private readonly terminates: boolean[] = lengths.map(() => true),
    maxEpisodeSteps = 100,
  ) {
    this.num = lengths.length;
    this.maxEpisodeSteps = maxEpisodeSteps;
    this.obs = new Float32Array(this.num);
    this.done = new Uint8Array(this.num);
  }

  reset(): Float32Array {
    this.resetCalls++;
    this.t = 0;
    this.obs.fill(0);
    this.done.fill(0);
    return this.obs.slice();
  }

  step(actions: Float32Array): ReturnType<Answer> {
    const call = this.stepCalls++;
    this.t++;
    const reward = new Float32Array(this.num);
    const terminated = new Uint8Array(this.num);
    const truncated = new Uint8Array(this.num);
    for (let i = 0; i < this.num; i++) {
      if (this.done[i]) continue;
      this.obs[i] = 10 * i + this.t;
      reward[i] = actions[i];
      if (this.t >= this.lengths[i]) {
        this.done[i] = 1;
        if (this.terminates[i]) terminated[i] = 1;
        else truncated[i] = 1;
      }
    }
    return this.answer({ obs: this.obs.slice(), reward, terminated, truncated }, call);
  }
}

/** Action for copy i at step t: t + i/10 (so rewards identify both). */
const actFn = (obs: Float32Array, t: number): Float32Array => Float32Array.from(obs, (_, i) => t + i / 10);

function scheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

function collectSync(source: Observable<StepBatch>): { steps: StepBatch[]; completed: boolean; error: unknown } {
  const out = { steps: [] as StepBatch[], completed: false, error: undefined as unknown };
  source.subscribe({ next: (s) => out.steps.push(s), complete: () => (out.completed = true), error: (e) => (out.error = e) });
  return out;
}

describe('rollout$ with an asynchronous env (marbles)', () => {
  it('emits one batch per env answer and completes when every copy has ended', () => {
    scheduler().run(({ expectObservable }) => {
      const env = new FakeVectorEnv([3, 2], (r) => timer(2).pipe(map(() => r)));
      const ts$ = rollout$(env, actFn).pipe(map((s) => `${s.t}:${Array.from(s.active).join('')}`));
      expectObservable(ts$).toBe('--a-b-(c|)', { a: '0:11', b: '1:11', c: '2:10' });
    });
  });

  it('stops at the horizon even if episodes are still running', () => {
    const env = new FakeVectorEnv([50], (r) => timer(1).pipe(map(() => r)));
    scheduler().run(({ expectObservable }) => {
      expectObservable(rollout$(env, actFn, { horizon: 3 }).pipe(map((s) => s.t))).toBe('-ab(c|)', { a: 0, b: 1, c: 2 });
    });
    expect(env.stepCalls).toBe(3);
  });

  it('waits for an asynchronous reset before stepping', () => {
    scheduler().run(({ expectObservable, cold }) => {
      const env = new FakeVectorEnv([1], (r) => cold('-(r|)', { r }));
      const origReset = env.reset.bind(env);
      const asyncEnv: SteppableVectorEnv = Object.assign(Object.create(env), {
        reset: () => cold('---(o|)', { o: origReset() }),
        step: (a: Float32Array) => env.step(a),
      });
      expectObservable(rollout$(asyncEnv, actFn).pipe(map((s) => s.t))).toBe('----(a|)', { a: 0 });
    });
  });

  it('propagates an error from the env step observable', () => {
    scheduler().run(({ expectObservable, cold }) => {
      const boom = new Error('link lost');
      const env = new FakeVectorEnv([5], (r, call) => (call < 1 ? cold('-(r|)', { r }) : cold('--#', undefined, boom)));
      expectObservable(rollout$(env, actFn).pipe(map((s) => s.t))).toBe('-a-#', { a: 0 }, boom);
    });
  });

  it('propagates an error thrown synchronously by env.step after an asynchronous step', () => {
    scheduler().run(({ expectObservable }) => {
      const env = new FakeVectorEnv([5], (r, call) => {
        if (call === 1) throw new Error('step refused');
        return timer(1).pipe(map(() => r));
      });
      expectObservable(rollout$(env, actFn).pipe(map((s) => s.t))).toBe('-(a#)', { a: 0 }, new Error('step refused'));
    });
  });

  it('propagates an error thrown by the policy', () => {
    scheduler().run(({ expectObservable }) => {
      const env = new FakeVectorEnv([5], (r) => timer(1).pipe(map(() => r)));
      const act = (obs: Float32Array, t: number) => {
        if (t === 2) throw new Error('policy failed');
        return actFn(obs, t);
      };
      expectObservable(rollout$(env, act).pipe(map((s) => s.t))).toBe('-a(b#)', { a: 0, b: 1 }, new Error('policy failed'));
    });
  });

  it('errors with a NumericError naming the step when an async observation has a NaN', () => {
    scheduler().run(({ expectObservable }) => {
      const env = new FakeVectorEnv([5], (r, call) => {
        if (call === 2) r.obs[0] = Number.NaN;
        return timer(1).pipe(map(() => r));
      });
      expectObservable(rollout$(env, actFn).pipe(map((s) => s.t))).toBe(
        '-ab#',
        { a: 0, b: 1 },
        new NumericError('observation at step 2 contains NaN at index 0; stopping before it spreads'),
      );
    });
  });

  it('errors instead of hanging when the env answers a step with no result', () => {
    scheduler().run(({ expectObservable, cold }) => {
      const env = new FakeVectorEnv([5], (r, call) => (call === 0 ? cold('-(r|)', { r }) : cold<VectorStepResult>('--|')));
      expectObservable(rollout$(env, actFn).pipe(map((s) => s.t))).toBe('-a-#', { a: 0 }, new Error('env.step at step 1 completed without a result'));
    });
  });

  it('stops calling env.step when the consumer unsubscribes mid-rollout', () => {
    const env = new FakeVectorEnv([50], (r) => timer(2).pipe(map(() => r)));
    scheduler().run(({ expectObservable }) => {
      // Steps are requested at frames 0, 2, 4; the consumer leaves at frame 5.
      expectObservable(rollout$(env, actFn).pipe(map((s) => s.t)), '-----!').toBe('--a-b-', { a: 0, b: 1 });
    });
    expect(env.stepCalls).toBe(3);
  });

  it('stops calling env.step after take(n) with an asynchronous env', () => {
    const env = new FakeVectorEnv([50], (r) => timer(1).pipe(map(() => r)));
    scheduler().run(({ expectObservable }) => {
      expectObservable(rollout$(env, actFn).pipe(take(2), map((s) => s.t))).toBe('-a(b|)', { a: 0, b: 1 });
    });
    expect(env.stepCalls).toBe(2);
  });
});

describe('rollout$ with a synchronous env', () => {
  it('runs to completion inside subscribe()', () => {
    const env = new FakeVectorEnv([3, 1]);
    const out = collectSync(rollout$(env, actFn));
    expect(out.completed).toBe(true);
    expect(out.error).toBeUndefined();
    expect(out.steps.map((s) => s.t)).toEqual([0, 1, 2]);
    expect(out.steps.map((s) => Array.from(s.active))).toEqual([[1, 1], [1, 0], [1, 0]]);
    expect(env.stepCalls).toBe(3);
    expect(env.resetCalls).toBe(1);
  });

  it('hands the policy the previous step\'s observation', () => {
    const env = new FakeVectorEnv([3]);
    const seen: number[] = [];
    collectSync(rollout$(env, (obs, t) => {
      seen.push(obs[0]);
      return actFn(obs, t);
    }));
    expect(seen).toEqual([0, 1, 2]);
  });

  it('runs synchronously when the env answers with synchronous Observables', () => {
    const env = new FakeVectorEnv([4, 2], (r) => of(r));
    const out = collectSync(rollout$(env, actFn));
    expect(out.error).toBeUndefined();
    expect(out.completed).toBe(true);
    expect(out.steps.map((s) => s.t)).toEqual([0, 1, 2, 3]);
  });

  it('does not grow the stack with long synchronous-Observable rollouts', () => {
    const env = new FakeVectorEnv([20_000], (r) => of(r), [true], 20_000);
    let n = 0;
    let error: unknown;
    rollout$(env, actFn).subscribe({ next: () => n++, error: (e) => (error = e) });
    expect(error).toBeUndefined();
    expect(n).toBe(20_000);
  });

  it('stops calling env.step after take(n)', () => {
    const env = new FakeVectorEnv([50]);
    const out = collectSync(rollout$(env, actFn).pipe(take(2)) as Observable<StepBatch>);
    expect(out.steps).toHaveLength(2);
    expect(env.stepCalls).toBe(2);
  });

  it('errors with a NumericError naming the step for a NaN observation', () => {
    const env = new FakeVectorEnv([5], (r, call) => {
      if (call === 3) r.obs[0] = Number.NaN;
      return r;
    });
    const out = collectSync(rollout$(env, actFn));
    expect(out.steps).toHaveLength(3);
    expect(out.completed).toBe(false);
    expect(out.error).toBeInstanceOf(NumericError);
    expect((out.error as Error).message).toMatch(/observation at step 3/);
    expect(env.stepCalls).toBe(4);
  });

  it('errors naming the reset for a NaN initial observation', () => {
    const env = new FakeVectorEnv([5]);
    env.reset = () => new Float32Array([Number.NaN]);
    const out = collectSync(rollout$(env, actFn));
    expect(out.error).toBeInstanceOf(NumericError);
    expect((out.error as Error).message).toMatch(/observation at reset/);
    expect(env.stepCalls).toBe(0);
  });

  it('turns a throwing env.step into a stream error', () => {
    const env = new FakeVectorEnv([5], (_r, call) => {
      if (call === 1) throw new Error('simulator crashed');
      return _r;
    });
    const out = collectSync(rollout$(env, actFn));
    expect(out.steps).toHaveLength(1);
    expect((out.error as Error).message).toBe('simulator crashed');
  });

  it('runs a real navigation vector env with a policy heading for the goal', async () => {
    const envs = [new Navigation(), new Navigation()];
    const venv = new SyncVectorEnv(envs);
    venv.setTasks([{ goal: [0.3, 0] }, { goal: [0.5, 0.5] }]);
    const toward = (obs: Float32Array) => Float32Array.from([1, 0, 0, 0]); // copy 1 stands still
    const batch = await lastValueFrom(rollout$(venv, toward).pipe(toEpisodes(2, 100, 2, 2)));
    expect(Array.from(batch.lengths)).toEqual([3, 100]);
    expect(Array.from(batch.terminated)).toEqual([1, 0]);
    expect(batch.finalObs[0]).toBeCloseTo(0.3, 5);
  });
});

describe('rollout$ with a Promise-returning env', () => {
  it('awaits each step and completes', async () => {
    const env = new FakeVectorEnv([2, 3], (r) => Promise.resolve(r));
    const steps = await lastValueFrom(rollout$(env, actFn).pipe(toArray()));
    expect(steps.map((s) => s.t)).toEqual([0, 1, 2]);
  });

  it('errors when the step promise rejects', async () => {
    const env = new FakeVectorEnv([3], (r, call) => (call === 1 ? Promise.reject(new Error('timeout')) : Promise.resolve(r)));
    await expect(lastValueFrom(rollout$(env, actFn))).rejects.toThrow('timeout');
  });
});

describe('toEpisodes', () => {
  it('builds lengths, rewards, actions, observations, terminated flags and final observations', async () => {
    // Copy 0 terminates after 3 steps, copy 1 is truncated after 2, copy 2 runs to the horizon.
    const env = new FakeVectorEnv([3, 2, 9], (r) => r, [true, false, true]);
    const H = 4;
    const b = await lastValueFrom(rollout$(env, actFn, { horizon: H }).pipe(toEpisodes(3, H, 1, 1)));
    expect(Array.from(b.lengths)).toEqual([3, 2, 4]);
    expect(Array.from(b.terminated)).toEqual([1, 0, 0]);
    // Rewards echo the actions t + i/10; padding rows stay 0.
    const f = (x: number) => Math.fround(x);
    expect(Array.from(b.rewards)).toEqual([0, 1, 2, 0, f(0.1), f(1.1), 0, 0, f(0.2), f(1.2), f(2.2), f(3.2)]);
    expect(Array.from(b.actions)).toEqual(Array.from(b.rewards));
    // obs at row t is the observation the action was chosen from (10·i + t), padding 0.
    expect(Array.from(b.obs)).toEqual([0, 1, 2, 0, 0, 11, 0, 0, 0, 21, 22, 23]);
    // finalObs is the observation after each episode's last step.
    expect(Array.from(b.finalObs)).toEqual([3, 12, 24]);
    expect(Array.from(b.mask())).toEqual([1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1]);
  });

  it('emits a fresh batch for each subscription', async () => {
    const env = new FakeVectorEnv([2]);
    const episodes$ = rollout$(env, actFn).pipe(toEpisodes(1, 3, 1, 1));
    const a = await lastValueFrom(episodes$);
    const b = await lastValueFrom(episodes$);
    expect(a).not.toBe(b);
    expect(Array.from(b.rewards)).toEqual([0, 1, 0]); // not accumulated twice
  });

  it('passes an upstream error through', async () => {
    await expect(lastValueFrom(throwError(() => new Error('x')).pipe(toEpisodes(1, 2, 1, 1)))).rejects.toThrow('x');
  });

  it('gives an all-padding batch for an empty rollout', async () => {
    const b = await lastValueFrom((EMPTY as Observable<StepBatch>).pipe(toEpisodes(2, 3, 1, 1)));
    expect(Array.from(b.lengths)).toEqual([0, 0]);
  });
});

describe('meanStepReward', () => {
  it('averages rewards over the active copies only', () => {
    const env = new FakeVectorEnv([1, 3]);
    const means: number[] = [];
    rollout$(env, actFn).pipe(meanStepReward()).subscribe((m) => means.push(m));
    // step 0: actions 0 and 0.1; steps 1, 2: only copy 1 (1.1, 2.1).
    expect(means[0]).toBeCloseTo(0.05, 6);
    expect(means[1]).toBeCloseTo(1.1, 6);
    expect(means[2]).toBeCloseTo(2.1, 6);
  });
});
