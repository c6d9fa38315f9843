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
import { type PolicySpec, HostPolicy } from '../../agents/hostPolicy.ts';
import type { RolloutParts, RolloutSpec } from '../core/workerProtocol.ts';
import { makeActor } from './actor.ts';
import { LinearFeatureBaseline } from '../../agents/baseline.ts';
import { type StepWeighting, discountedReturns, gae, normalizePerGroup, stepWeights } from '../../agents/advantages.ts';
import { type TaskArrays, type TaskData, taskDataFromArrays } from '../../agents/taskData.ts';

export interface TaskSampler<T> {
  /**
   * Vector envs sampled concurrently ("lanes"). Built-in simulators get lanes that hold together
   * exactly `episodesPerTask` copies of every task, each built with its first copy's global index
   * as index offset; while one lane's workers step, this thread computes another lane's actions.
   * Smaller envs (a remote simulator, one robot) are run for as many rounds as needed.
   */
  lanes: AnyVectorEnv<T>[];
  spec: PolicySpec;
  episodesPerTask: number;
  /** Called after each round of episodes with how many of this call's episodes are done. */
  onRound?: (episodesDone: number, episodesTotal: number) => void;
}

/**
 * Samples `episodesPerTask` episodes of every task: episode g = t·M + k belongs to task t and acts
 * with params[t]. The lanes' copies take the episodes in order, in rounds if they hold fewer copies
 * than episodes (the last round's spare copies run a filler episode that is dropped). Action noise
 * has its own stream per episode and resets are seeded per copy, so the episodes do not depend on
 * how the copies are split into lanes or worker threads.
 */
export async function sampleEpisodes<T>(s: TaskSampler<T>, tasks: T[], params: Float32Array[], rng: Rng): Promise<EpisodeBatch> {
  const M = s.episodesPerTask;
  const E = tasks.length * M;
  const C = s.lanes.reduce((n, env) => n + env.num, 0);
  if (params.length !== tasks.length) throw new Error(`sampler: ${params.length} parameter sets for ${tasks.length} tasks`);
  if (!(C > 0 && E > 0)) throw new Error(`sampler: nothing to sample (${C} env copies, ${tasks.length} tasks × ${M} episodes)`);
  const resetSeed = rng.nextU32();
  const noiseSeed = rng.nextU32();
  const policies = params.map((p) => new HostPolicy(s.spec, p));
  const rounds: EpisodeBatch[] = [];
  for (let r = 0; r * C < E; r++) {
    // One round in one reset: the common case (copies = episodes) uses the drawn seed itself.
    const seed = r === 0 ? resetSeed : deriveSeed(resetSeed, r);
    let first = r * C;
    const lanes = s.lanes.map((env) => {
      const episodes = Array.from({ length: env.num }, (_, c) => first + c);
      first += env.num;
      return sampleLane(env, s.spec, episodes, E, M, tasks, params, policies, noiseSeed, seed);
    });
    const round = EpisodeBatch.concat(await Promise.all(lanes));
    rounds.push(round.numEpisodes > E - r * C ? round.slice(0, E - r * C) : round);
    s.onRound?.(Math.min(E, (r + 1) * C), E);
  }
  return EpisodeBatch.concat(rounds);
}

/** One lane's copies running episodes `episodes[c]` (≥ E: a filler copy, acting for the last task). */
async function sampleLane<T>(
  env: AnyVectorEnv<T>,
  spec: PolicySpec,
  episodes: number[],
  E: number,
  M: number,
  tasks: T[],
  params: Float32Array[],
  policies: HostPolicy[],
  noiseSeed: number,
  resetSeed: number,
): Promise<EpisodeBatch> {
  const taskOf = episodes.map((g) => Math.floor(Math.min(g, E - 1) / M));
  await env.setTasks(taskOf.map((t) => tasks[t]));
  const noiseSeeds = episodes.map((g) => deriveSeed(noiseSeed, g));
  if (hasRollouts(env)) {
    // Sampling workers act themselves: θ goes out once, episodes come back (no per-step round trip).
    const parts = await env.rolloutEpisodes({ spec, params: params, taskOf, noiseSeeds, resetSeed });
    return EpisodeBatch.concat(parts.map((p) => episodesFromParts(p, env.maxEpisodeSteps, spec)));
  }
  const act = makeActor(spec, policies, taskOf, noiseSeeds.map((s) => new Rng(s)));
  return lastValueFrom(rollout$(env, act, { seed: resetSeed }).pipe(toEpisodes(env.num, env.maxEpisodeSteps, spec.obsDim, spec.actDim)));
}

/** A lane whose workers can run whole rollouts with the policy (WorkerVectorEnv). */
interface RolloutLane {
  readonly servesRollouts: boolean;
  rolloutEpisodes(o: RolloutSpec): Promise<RolloutParts[]>;
}

function hasRollouts(env: unknown): env is RolloutLane {
  return (env as Partial<RolloutLane>).servesRollouts === true && typeof (env as Partial<RolloutLane>).rolloutEpisodes === 'function';
}

/** A worker's episodes as an EpisodeBatch. */
function episodesFromParts(p: RolloutParts, horizon: number, spec: PolicySpec): EpisodeBatch {
  const b = new EpisodeBatch(p.lengths.length, horizon, spec.obsDim, spec.actDim);
  b.obs.set(p.obs);
  b.actions.set(p.actions);
  b.rewards.set(p.rewards);
  b.lengths.set(p.lengths);
  b.terminated.set(p.terminated);
  b.finalObs.set(p.finalObs);
  return b;
}

export interface AdvantageOptions {
  gamma: number;
  gaeLambda: number;
  /** Bootstrap an episode cut by the time limit from the baseline (false: the value after it is 0). */
  bootstrapTruncated: boolean;
  /** Clip observations to ±this in the baseline's features (0: no clip). */
  baselineObsClip: number;
  /** How steps weigh in the advantage normalization (and the losses: see toTaskArrays). */
  lossWeighting: StepWeighting;
}

/**
 * Fits a baseline per task (to that task's episodes, then predicts on them), sets the value after
 * each episode's last step (the baseline's, for a truncated episode when `bootstrapTruncated`;
 * else 0), and returns normalized GAE advantages (E·H rows, zero on padding).
 */
export function computeAdvantages(b: EpisodeBatch, numTasks: number, o: AdvantageOptions): Float64Array {
  const M = b.numEpisodes / numTasks;
  const returns = discountedReturns(b, o.gamma);
  const values = new Float64Array(b.numEpisodes * b.horizon);
  for (let t = 0; t < numTasks; t++) {
    const bl = new LinearFeatureBaseline(b.obsDim, { obsClip: o.baselineObsClip });
    bl.fit(b, returns, t * M, (t + 1) * M);
    bl.predict(b, values, t * M, (t + 1) * M);
    for (let e = t * M; e < (t + 1) * M; e++) b.finishPath(e, o.bootstrapTruncated ? bl.predictFinal(b, e) : 0);
  }
  return normalizePerGroup(b, gae(b, values, o.gamma, o.gaeLambda), M, o.lossWeighting);
}

/**
 * Per-task arrays of an EpisodeBatch whose episodes are grouped by task; each task's row weights
 * make its losses the mean over real steps under `weighting` (agents/advantages.ts stepWeights).
 */
export function toTaskArrays(b: EpisodeBatch, numTasks: number, advantages: Float64Array, weighting: StepWeighting = 'step'): TaskArrays[] {
  const M = b.numEpisodes / numTasks;
  const N = M * b.horizon;
  return Array.from({ length: numTasks }, (_, t) => {
    const w = Float32Array.from(stepWeights(b, t * M, (t + 1) * M, weighting));
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
export function toTaskData(b: EpisodeBatch, numTasks: number, advantages: Float64Array, weighting: StepWeighting = 'step'): TaskData[] {
  return toTaskArrays(b, numTasks, advantages, weighting).map(taskDataFromArrays);
}
