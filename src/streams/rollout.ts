/**
 * Rollouts as RxJS streams. `rollout$` steps a vector env with a policy until every copy's episode
 * has ended (or the horizon is reached) and emits one `StepBatch` per step; `toEpisodes` folds the
 * steps into an `EpisodeBatch`. Env steps may be synchronous (built-in simulators: the whole
 * rollout runs in one synchronous loop, no scheduling overhead) or asynchronous (an Observable or
 * Promise: remote simulators), and unsubscribing stops stepping at once.
 */
import { Observable, defer, from, reduce, map, take, type OperatorFunction, isObservable } from 'rxjs';
import type { VectorStepResult } from '../core/env.ts';
import type { Box } from '../core/spaces.ts';
import { EpisodeBatch } from '../core/episodes.ts';
import { assertFinite } from '../core/errors.ts';

/** What the rollout needs of an env: sync built-ins and async remote envs both fit. */
export interface SteppableVectorEnv {
  readonly num: number;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  readonly maxEpisodeSteps: number;
  reset(seed?: number): Float32Array | PromiseLike<Float32Array> | Observable<Float32Array>;
  step(actions: Float32Array): VectorStepResult | PromiseLike<VectorStepResult> | Observable<VectorStepResult>;
}

/** Chooses actions (n × actDim, row-major) for observations (n × obsDim) at step t. */
export type ActFn = (obs: Float32Array, t: number) => Float32Array;

export interface StepBatch {
  /** Step index within the episode (0-based). */
  t: number;
  obs: Float32Array;
  actions: Float32Array;
  reward: Float32Array;
  terminated: Uint8Array;
  truncated: Uint8Array;
  nextObs: Float32Array;
  /** 1 for copies whose episode was still running at this step. */
  active: Uint8Array;
}

export interface RolloutOptions {
  seed?: number;
  /** Step limit; defaults to the env's time limit. */
  horizon?: number;
}

type Maybe<T> = T | PromiseLike<T> | Observable<T>;

function isAsync<T>(x: Maybe<T>): x is PromiseLike<T> | Observable<T> {
  return isObservable(x) || (typeof x === 'object' && x !== null && typeof (x as PromiseLike<T>).then === 'function');
}

/** One episode per env copy, stepped in lock-step; emits every step, completes when all ended. */
export function rollout$(env: SteppableVectorEnv, act: ActFn, options: RolloutOptions = {}): Observable<StepBatch> {
  const horizon = options.horizon ?? env.maxEpisodeSteps;
  return new Observable<StepBatch>((subscriber) => {
    const n = env.num;
    const active = new Uint8Array(n).fill(1);
    let obs: Float32Array;
    let t = 0;
    let stopped = false;

    // Runs a possibly-async value through `k`. Returns true when `k` already ran (a plain value or
    // an Observable that answered inside subscribe()), so the caller's loop continues without
    // recursion; otherwise the answer's arrival resumes the loop. Errors thrown by `k` in an
    // async callback go to the subscriber: RxJS would otherwise report them as unhandled.
    const run = <T>(x: Maybe<T>, k: (v: T) => void, what: string): boolean => {
      if (!isAsync(x)) {
        k(x);
        return true;
      }
      let answered = false;
      let inSubscribe = true;
      let syncValue: T | undefined;
      const inner = from(x).pipe(take(1)).subscribe({
        next: (v) => {
          answered = true;
          if (inSubscribe) {
            syncValue = v;
            return;
          }
          try {
            k(v);
          } catch (e) {
            subscriber.error(e);
            return;
          }
          loop();
        },
        error: (e) => subscriber.error(e),
        complete: () => {
          if (!answered) subscriber.error(new Error(`${what} completed without a result`));
        },
      });
      inSubscribe = false;
      if (answered) {
        k(syncValue as T);
        return true;
      }
      subscriber.add(inner);
      return false;
    };

    const onStep = (actions: Float32Array) => (r: VectorStepResult) => {
      assertFinite(`observation at step ${t}`, r.obs);
      // A discarded step is not part of the episode: the copy is inactive in it (see VectorStepResult).
      const live = active.slice();
      if (r.discarded) for (let i = 0; i < n; i++) if (r.discarded[i]) live[i] = 0;
      const batch: StepBatch = { t, obs, actions, reward: r.reward, terminated: r.terminated, truncated: r.truncated, nextObs: r.obs, active: live };
      for (let i = 0; i < n; i++) if (r.terminated[i] || r.truncated[i]) active[i] = 0;
      obs = r.obs;
      t += 1;
      subscriber.next(batch);
    };

    const loop = (): void => {
      try {
        while (!stopped && !subscriber.closed) {
          if (t >= horizon || !active.some((a) => a === 1)) {
            subscriber.complete();
            return;
          }
          const actions = act(obs, t);
          if (!run(env.step(actions), onStep(actions), `env.step at step ${t}`)) return;
        }
      } catch (e) {
        subscriber.error(e);
      }
    };

    try {
      if (run(env.reset(options.seed), (o) => { assertFinite('observation at reset', o); obs = o; }, 'env.reset')) loop();
    } catch (e) {
      subscriber.error(e);
    }
    return () => {
      stopped = true;
    };
  });
}

/** Folds a rollout's steps into an EpisodeBatch (one episode per env copy). */
export function toEpisodes(num: number, horizon: number, obsDim: number, actDim: number): OperatorFunction<StepBatch, EpisodeBatch> {
  return (source) =>
    defer(() => source.pipe(
      reduce((b, s) => {
        for (let i = 0; i < num; i++) {
          if (!s.active[i]) continue;
          const row = i * horizon + s.t;
          b.obs.set(s.obs.subarray(i * obsDim, (i + 1) * obsDim), row * obsDim);
          b.actions.set(s.actions.subarray(i * actDim, (i + 1) * actDim), row * actDim);
          b.rewards[row] = s.reward[i];
          b.lengths[i] = s.t + 1;
          b.finalObs.set(s.nextObs.subarray(i * obsDim, (i + 1) * obsDim), i * obsDim);
          if (s.terminated[i]) b.terminated[i] = 1;
        }
        return b;
      }, new EpisodeBatch(num, horizon, obsDim, actDim)),
    ));
}

/** Mean reward per step over the active copies: a small metric stream for progress displays. */
export function meanStepReward(): OperatorFunction<StepBatch, number> {
  return map((s) => {
    let sum = 0;
    let k = 0;
    for (let i = 0; i < s.active.length; i++) if (s.active[i]) { sum += s.reward[i]; k++; }
    return k === 0 ? 0 : sum / k;
  });
}
