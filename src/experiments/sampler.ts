/**
 * Sampling for meta-learning: one vector env holding `episodesPerTask` copies of each task, a
 * policy that uses each task's own parameters, and the post-processing (baseline, GAE,
 * normalized advantages) that turns episodes into task-batched tensors.
 */
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom } from 'rxjs';
import type { AnyVectorEnv } from '../core/env.ts';
import type { EpisodeBatch } from '../core/episodes.ts';
import type { Rng } from '../core/rng.ts';
import { rollout$, toEpisodes } from '../streams/rollout.ts';
import { type PolicySpec, HostPolicy } from '../../agents/policy.ts';
import { LinearFeatureBaseline } from '../../agents/baseline.ts';
import { discountedReturns, gae, normalizePerGroup } from '../../agents/advantages.ts';
import { type TaskArrays, type TaskData, taskDataFromArrays } from '../../agents/maml.ts';

export interface TaskSampler<T> {
  env: AnyVectorEnv<T>;
  spec: PolicySpec;
  episodesPerTask: number;
}

/**
 * Runs one episode in every env copy: copy i belongs to task ⌊i / episodesPerTask⌋ and acts
 * with that task's parameters. Action noise comes from `rng`.
 */
export async function sampleEpisodes<T>(s: TaskSampler<T>, tasks: T[], params: Float32Array[], rng: Rng): Promise<EpisodeBatch> {
  const M = s.episodesPerTask;
  const { env, spec } = s;
  if (env.num !== tasks.length * M) throw new Error(`sampler: env has ${env.num} copies, need ${tasks.length} × ${M}`);
  if (params.length !== tasks.length) throw new Error(`sampler: ${params.length} parameter sets for ${tasks.length} tasks`);
  await env.setTasks(tasks.flatMap((t) => Array.from({ length: M }, () => t)));
  const A = spec.actDim;
  const policies = params.map((p) => new HostPolicy(spec, p));
  const act = (obs: Float32Array): Float32Array => {
    const out = new Float32Array(env.num * A);
    for (let t = 0; t < tasks.length; t++) {
      policies[t].mean(obs.subarray(t * M * spec.obsDim), M, out, t * M * A);
    }
    for (let i = 0; i < out.length; i++) out[i] += policies[Math.floor(i / (M * A))].std[i % A] * rng.normal();
    return out;
  };
  return lastValueFrom(rollout$(env, act, { seed: rng.nextU32() }).pipe(toEpisodes(env.num, env.maxEpisodeSteps, spec.obsDim, A)));
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
