/**
 * The meta-learning sampler: episodes do not depend on how tasks are split into lanes (in-process
 * or over worker threads), and EpisodeBatch.concat keeps every field of every episode.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { EpisodeBatch } from '../src/core/episodes.ts';
import { make, makeVector } from '../envs/registry.ts';
import { WorkerVectorEnv } from '../src/streams/workerPool.ts';
import { SAMPLER_WORKER_URL } from '../src/experiments/metaBatch.ts';
import { liveWorkerCount } from '../src/streams/workerGroup.ts';
import { sampleEpisodes } from '../src/experiments/sampler.ts';
import { type PolicySpec, initParams } from '../agents/policy.ts';
import type { AnyVectorEnv } from '../src/core/env.ts';

const spec: PolicySpec = { obsDim: 2, actDim: 2, hidden: [8], activation: 'tanh', initStd: 1 };
const M = 3;
const T = 5;

function fields(b: EpisodeBatch) {
  return [b.obs, b.actions, b.rewards, b.lengths, b.terminated, b.finalObs].map((a) => Array.from(a));
}

async function sample(lanes: AnyVectorEnv<unknown>[]) {
  const rng = new Rng(9);
  const tasks = make('navigation').sampleTasks(T, rng);
  const params = tasks.map((_, t) => initParams(spec, new Rng(100 + t)));
  return sampleEpisodes({ lanes, spec, episodesPerTask: M }, tasks, params, rng);
}

/** In-process lanes over the task ranges given by their sizes (in tasks). */
const syncLanes = (sizes: number[]) => {
  let first = 0;
  return sizes.map((n) => {
    const env = makeVector('navigation', n * M, { maxEpisodeSteps: 20 }, first * M);
    first += n;
    return env;
  });
};

describe('sampleEpisodes', () => {
  it('gives the same episodes for any split of the tasks into lanes, in-process or in workers', async () => {
    const one = await sample(syncLanes([T]));
    expect(one.numEpisodes).toBe(T * M);
    // Copies of one task act with different noise.
    const H = one.horizon * spec.actDim;
    expect(Array.from(one.actions.subarray(0, H))).not.toEqual(Array.from(one.actions.subarray(H, 2 * H)));
    for (const sizes of [[2, 3], [1, 1, 3], [4, 1]]) {
      expect(fields(await sample(syncLanes(sizes)))).toEqual(fields(one));
    }
    // Workers stepped from this thread, and workers that act themselves (whole rollouts with the
    // policy, split over 1, 2 or 3 threads): the same episodes bit for bit.
    for (const [rollouts, w] of [[false, 2], [true, 1], [true, 2], [true, 3]] as const) {
      const opts = rollouts ? { workerUrl: SAMPLER_WORKER_URL, servesRollouts: true } : {};
      const workerLanes = [
        await WorkerVectorEnv.create({ name: 'navigation', num: 2 * M, workers: w, options: { maxEpisodeSteps: 20 }, ...opts }),
        await WorkerVectorEnv.create({ name: 'navigation', num: 3 * M, indexOffset: 2 * M, workers: w, options: { maxEpisodeSteps: 20 }, ...opts }),
      ];
      try {
        expect(fields(await sample(workerLanes))).toEqual(fields(one));
      } finally {
        await Promise.all(workerLanes.map((env) => env.close()));
      }
    }
    expect(liveWorkerCount()).toBe(0);
  });

  it('a rollout failing in a sampling worker (NaN parameters) rejects with NumericError and leaves no worker', async () => {
    const env = await WorkerVectorEnv.create({ name: 'navigation', num: 2 * M, workers: 2, options: { maxEpisodeSteps: 20 }, workerUrl: SAMPLER_WORKER_URL, servesRollouts: true });
    try {
      const tasks = make('navigation').sampleTasks(2, new Rng(1));
      const bad = initParams(spec, new Rng(1));
      bad[0] = NaN;
      await expect(sampleEpisodes({ lanes: [env], spec, episodesPerTask: M }, tasks, [bad, bad], new Rng(2))).rejects.toMatchObject({ name: 'NumericError' });
    } finally {
      await env.close();
    }
    expect(liveWorkerCount()).toBe(0);
  });

  it('runs envs smaller than the batch in rounds, with the same episodes (navigation starts at the origin)', async () => {
    const one = await sample(syncLanes([T]));
    // 1 copy: 15 rounds; 4 copies: 4 rounds with 1 filler; lanes of 4 + 3 copies: 3 rounds with 6 fillers.
    for (const sizes of [[1], [4], [4, 3]]) {
      let first = 0;
      const lanes = sizes.map((n) => {
        const env = makeVector('navigation', n, { maxEpisodeSteps: 20 }, first);
        first += n;
        return env;
      });
      const got = await sample(lanes);
      expect(got.numEpisodes).toBe(T * M);
      expect(fields(got)).toEqual(fields(one));
    }
  });

  it('refuses mismatched parameters and empty lanes', async () => {
    const rng = new Rng(1);
    await expect(sampleEpisodes({ lanes: syncLanes([T]), spec, episodesPerTask: M }, [1, 2], [initParams(spec, rng)], rng)).rejects.toThrow(/1 parameter sets for 2 tasks/);
    await expect(sampleEpisodes({ lanes: [], spec, episodesPerTask: M }, [1], [initParams(spec, rng)], rng)).rejects.toThrow(/nothing to sample/);
  });
});

describe('EpisodeBatch.concat', () => {
  it('places each batch\'s episodes after the previous ones, every field', () => {
    const rng = new Rng(4);
    const make = (n: number) => {
      const b = new EpisodeBatch(n, 4, 2, 1);
      for (const a of [b.obs, b.actions, b.rewards, b.finalObs, b.lastValues]) for (let i = 0; i < a.length; i++) a[i] = rng.normal();
      for (let e = 0; e < n; e++) {
        b.lengths[e] = 1 + (e % 4);
        b.terminated[e] = e % 2;
      }
      return b;
    };
    const parts = [make(2), make(3), make(1)];
    const all = EpisodeBatch.concat(parts);
    expect(all.numEpisodes).toBe(6);
    let e = 0;
    for (const p of parts) {
      const back = all.slice(e, e + p.numEpisodes);
      expect([...fields(back), Array.from(back.lastValues)]).toEqual([...fields(p), Array.from(p.lastValues)]);
      e += p.numEpisodes;
    }
    expect(() => EpisodeBatch.concat([make(1), new EpisodeBatch(1, 5, 2, 1)])).toThrow(/differ/);
  });
});
