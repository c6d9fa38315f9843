/**
 * Sampling for meta-learning: one vector env holding `episodesPerTask` copies of each task, a
 * policy that uses each task's own parameters, and the post-processing (baseline, GAE,
 * normalized advantages) that turns episodes into task-batched tensors.
 */
import { lastValueFrom } from 'rxjs';
import type { AnyVectorEnv } from '../core/env.ts';
import { EpisodeBatch } from '../core/episodes.ts';
import { Rng, deriveSeed } from '../core/rng.ts';
import { rollout$, toEpisodes } from '../streams/rollout.ts';
import { type PolicySpec, HostPolicy } from '../../agents/policy.ts';
import { LinearFeatureBaseline } from '../../agents/baseline.ts';
import { discountedReturns, gae, normalizePerGroup } from '../../agents/advantages.ts';
import { type TaskArrays, type TaskData, taskDataFromArrays } from '../../agents/maml.ts';

export interface TaskSampler<T> {
  /**
   * Vector envs sampled concurrently ("lanes"): lane k holds `episodesPerTask` copies of each task
   * of the k-th contiguous range of tasks, and was built with its first copy's global index as
   * index offset. While one lane's workers step, this thread computes another lane's actions.
   */
  lanes: AnyVectorEnv<T>[];
  spec: PolicySpec;
  episodesPerTask: number;
}

/**
 * Runs one episode in every env copy: copy i belongs to task ⌊i / episodesPerTask⌋ and acts
 * with that task's parameters. Resets are seeded per copy and action noise per task (both derived
 * from `rng`), so the episodes do not depend on how the tasks are split into lanes or workers.
 */
export async function sampleEpisodes<T>(s: TaskSampler<T>, tasks: T[], params: Float32Array[], rng: Rng): Promise<EpisodeBatch> {
  const M = s.episodesPerTask;
  const copies = s.lanes.reduce((n, env) => n + env.num, 0);
  if (copies !== tasks.length * M || s.lanes.some((env) => env.num % M !== 0)) {
    throw new Error(`sampler: lanes of ${s.lanes.map((env) => env.num).join(' + ')} copies, need ${tasks.length} × ${M}`);
  }
  if (params.length !== tasks.length) throw new Error(`sampler: ${params.length} parameter sets for ${tasks.length} tasks`);
  const resetSeed = rng.nextU32();
  const noiseSeed = rng.nextU32();
  let first = 0;
  const lanes = s.lanes.map((env) => {
    const n = env.num / M;
    const range = { first, n };
    first += n;
    return sampleLane(env, s.spec, M, tasks.slice(range.first, range.first + n), params.slice(range.first, range.first + n), range.first, resetSeed, noiseSeed);
  });
  return EpisodeBatch.concat(await Promise.all(lanes));
}

/** One lane's episodes; its tasks are tasks firstTask … firstTask + tasks.length − 1 of the batch. */
async function sampleLane<T>(env: AnyVectorEnv<T>, spec: PolicySpec, M: number, tasks: T[], params: Float32Array[], firstTask: number, resetSeed: number, noiseSeed: number): Promise<EpisodeBatch> {
  await env.setTasks(tasks.flatMap((t) => Array.from({ length: M }, () => t)));
  const A = spec.actDim;
  const policies = params.map((p) => new HostPolicy(spec, p));
  const noise = tasks.map((_, j) => new Rng(deriveSeed(noiseSeed, firstTask + j)));
  const act = (obs: Float32Array): Float32Array => {
    const out = new Float32Array(env.num * A);
    for (let j = 0; j < tasks.length; j++) {
      const { std } = policies[j];
      policies[j].mean(obs.subarray(j * M * spec.obsDim), M, out, j * M * A);
      for (let i = j * M * A; i < (j + 1) * M * A; i++) out[i] += std[i % A] * noise[j].normal();
    }
    return out;
  };
  return lastValueFrom(rollout$(env, act, { seed: resetSeed }).pipe(toEpisodes(env.num, env.maxEpisodeSteps, spec.obsDim, A)));
}

export interface AdvantageOptions {
  gamma: number;
  gaeLambda: number;
}

/**
 * Fits a baseline per task, bootstraps truncated episodes from it, and returns normalized GAE
 * advantages (E·H rows, zero on padding).
 */
export function computeAdvantages(b: EpisodeBatch, numTasks: number, o: AdvantageOptions): Float64Array {
  const M = b.numEpisodes / numTasks;
  const returns = discountedReturns(b, o.gamma);
  const values = new Float64Array(b.numEpisodes * b.horizon);
  for (let t = 0; t < numTasks; t++) {
    const bl = new LinearFeatureBaseline(b.obsDim);
    bl.fit(b, returns, t * M, (t + 1) * M);
    bl.predict(b, values, t * M, (t + 1) * M);
    for (let e = t * M; e < (t + 1) * M; e++) b.finishPath(e, bl.predictFinal(b, e));
  }
  return normalizePerGroup(b, gae(b, values, o.gamma, o.gaeLambda), M);
}

/** Per-task arrays of an EpisodeBatch whose episodes are grouped by task. */
export function toTaskArrays(b: EpisodeBatch, numTasks: number, advantages: Float64Array): TaskArrays[] {
  const N = (b.numEpisodes / numTasks) * b.horizon;
  const mask = b.mask();
  return Array.from({ length: numTasks }, (_, t) => {
    const w = mask.slice(t * N, (t + 1) * N);
    const count = w.reduce((a, c) => a + c, 0);
    for (let i = 0; i < N; i++) w[i] /= count;
    return {
      rows: N,
      obs: b.obs.slice(t * N * b.obsDim, (t + 1) * N * b.obsDim),
      actions: b.actions.slice(t * N * b.actDim, (t + 1) * N * b.actDim),
      advantages: Float32Array.from(advantages.subarray(t * N, (t + 1) * N)),
      weights: w,
    };
  });
}

/** Per-task tensors of an EpisodeBatch whose episodes are grouped by task. */
export function toTaskData(b: EpisodeBatch, numTasks: number, advantages: Float64Array): TaskData[] {
  return toTaskArrays(b, numTasks, advantages).map(taskDataFromArrays);
}
