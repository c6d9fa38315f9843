/**
 * Sampling for RL²: trials of `episodesPerTrial` (K) consecutive episodes of one task on one env
 * copy, acting with the GRU policy of agents/gru.ts. The hidden state carries over from one
 * episode to the next within a trial and starts at zero in every trial. At step t the policy sees
 *     x_t = [o_t, a_{t−1}, r_{t−1}, d_{t−1}]
 * where d_{t−1} = 1 on the first step of every episode after the trial's first (the previous
 * episode just ended) and a, r, d are all zero at the trial's first step.
 *
 * Trial g = t·M + m is task t's m-th trial (M trials per task). The lanes' copies take trials in
 * order, in rounds if they hold fewer copies than trials (the last round's spare copies run a
 * filler trial that is dropped). Action noise has its own stream per trial, deriveSeed(noiseSeed,
 * g), and every reset is seeded per round and episode (the env seeds each copy from it), so the
 * trials do not depend on how the copies are split into lanes or worker threads. Only reset, step
 * and setTasks are used: the policy acts on this thread.
 *
 * The trials are returned as an EpisodeBatch whose "episodes" are trials of horizon K·H: a trial's
 * real steps are contiguous (episode 0's, then episode 1's, …), then padding. That is the layout
 * the GRU unroll, the baseline and GAE over the whole trial need.
 */
import type { AnyVectorEnv } from '../core/env.ts';
import { EpisodeBatch } from '../core/episodes.ts';
import { Rng, deriveSeed } from '../core/rng.ts';
import { type GruSpec, HostGru, gruInputDim } from '../../agents/gru.ts';
import { stepWeights } from '../../agents/advantages.ts';
import type { Rl2Arrays } from '../../agents/rl2.ts';
import { type AdvantageOptions, computeAdvantages } from './sampler.ts';

export interface TrialSampler<T> {
  /** Vector envs sampled concurrently (see sampler.ts TaskSampler.lanes). */
  lanes: AnyVectorEnv<T>[];
  spec: GruSpec;
  /** M: trials per task. */
  trialsPerTask: number;
  /** K: episodes per trial. */
  episodesPerTrial: number;
  /** Called after each round of trials with how many of this call's trials are done. */
  onRound?: (trialsDone: number, trialsTotal: number) => void;
}

export interface TrialBatch {
  /** Trials as episodes of horizon K·H (grouped by task: M per task). */
  steps: EpisodeBatch;
  /** Policy inputs x_t, rows as in `steps`: E × K·H × (obsDim + actDim + 2). */
  inputs: Float32Array;
  episodesPerTrial: number;
  /** H: the env's time limit per episode. */
  episodeHorizon: number;
  /** Steps of each episode, E × K (trial-major). */
  episodeLengths: Int32Array;
  /** Undiscounted return of each episode: [trial][episode]. */
  episodeReturns: number[][];
}

/** Samples `trialsPerTask` trials of every task with the GRU parameters θ. */
export async function sampleTrials<T>(s: TrialSampler<T>, tasks: T[], theta: ArrayLike<number>, rng: Rng): Promise<TrialBatch> {
  const M = s.trialsPerTask;
  const E = tasks.length * M;
  const C = s.lanes.reduce((n, env) => n + env.num, 0);
  if (!(C > 0 && E > 0)) throw new Error(`rl2 sampler: nothing to sample (${C} env copies, ${tasks.length} tasks × ${M} trials)`);
  const resetSeed = rng.nextU32();
  const noiseSeed = rng.nextU32();
  const policy = new HostGru(s.spec, theta);
  const rounds: TrialBatch[] = [];
  for (let r = 0; r * C < E; r++) {
    const seeds = Array.from({ length: s.episodesPerTrial }, (_, k) => deriveSeed(resetSeed, r * s.episodesPerTrial + k));
    let first = r * C;
    const lanes = s.lanes.map((env) => {
      const trials = Array.from({ length: env.num }, (_, c) => first + c);
      first += env.num;
      const taskOf = trials.map((g) => Math.floor(Math.min(g, E - 1) / M));
      return sampleLane(env, policy, s.episodesPerTrial, taskOf.map((t) => tasks[t]), trials.map((g) => deriveSeed(noiseSeed, g)), seeds);
    });
    const round = concatTrials(await Promise.all(lanes));
    const keep = E - r * C;
    rounds.push(round.steps.numEpisodes > keep ? sliceTrials(round, keep) : round);
    s.onRound?.(Math.min(E, (r + 1) * C), E);
  }
  return concatTrials(rounds);
}

/** One lane's copies, each running one trial of K episodes (copy c: task tasks[c], noise noiseSeeds[c]). */
async function sampleLane<T>(env: AnyVectorEnv<T>, policy: HostGru, K: number, tasks: T[], noiseSeeds: number[], resetSeeds: number[]): Promise<TrialBatch> {
  const { obsDim, actDim: A, hidden: U } = policy.spec;
  const I = gruInputDim(policy.spec);
  const n = env.num;
  const H = env.maxEpisodeSteps;
  const L = K * H;
  await env.setTasks(tasks);
  const noise = noiseSeeds.map((seed) => new Rng(seed));
  const out: TrialBatch = { steps: new EpisodeBatch(n, L, obsDim, A), inputs: new Float32Array(n * L * I), episodesPerTrial: K, episodeHorizon: H, episodeLengths: new Int32Array(n * K), episodeReturns: Array.from({ length: n }, () => new Array<number>(K).fill(0)) };
  const b = out.steps;
  const h = new Float64Array(n * U);
  const hNext = new Float64Array(n * U);
  const mean = new Float64Array(n * A);
  // x_t of every copy: obs, then the previous action, reward and episode-ended flag (zero at first).
  const x = new Float32Array(n * I);
  const active = new Uint8Array(n);
  const actions = new Float32Array(n * A);
  for (let k = 0; k < K; k++) {
    let obs = await env.reset(resetSeeds[k]);
    active.fill(1);
    for (let t = 0; t < H && active.includes(1); t++) {
      for (let c = 0; c < n; c++) for (let i = 0; i < obsDim; i++) x[c * I + i] = obs[c * obsDim + i];
      policy.step(h, x, n, hNext, mean);
      actions.fill(0);
      for (let c = 0; c < n; c++) {
        if (!active[c]) continue;
        for (let j = 0; j < A; j++) actions[c * A + j] = mean[c * A + j] + policy.std[j] * noise[c].normal();
      }
      const res = await env.step(actions);
      for (let c = 0; c < n; c++) {
        if (!active[c]) continue;
        // A discarded step is no transition: the episode ends at the step before, state unchanged.
        if (res.discarded?.[c]) {
          active[c] = 0;
          continue;
        }
        const row = c * L + b.lengths[c]++;
        b.obs.set(x.subarray(c * I, c * I + obsDim), row * obsDim);
        b.actions.set(actions.subarray(c * A, (c + 1) * A), row * A);
        b.rewards[row] = res.reward[c];
        out.inputs.set(x.subarray(c * I, (c + 1) * I), row * I);
        out.episodeLengths[c * K + k]++;
        out.episodeReturns[c][k] += res.reward[c];
        h.set(hNext.subarray(c * U, (c + 1) * U), c * U);
        x.set(actions.subarray(c * A, (c + 1) * A), c * I + obsDim);
        x[c * I + obsDim + A] = res.reward[c];
        x[c * I + obsDim + A + 1] = 0;
        if (res.terminated[c] || res.truncated[c]) {
          active[c] = 0;
          b.terminated[c] = res.terminated[c];
          b.finalObs.set(res.obs.subarray(c * obsDim, (c + 1) * obsDim), c * obsDim);
        }
      }
      obs = res.obs;
    }
    for (let c = 0; c < n; c++) x[c * I + obsDim + A + 1] = 1;
  }
  return out;
}

/** Trials of several batches, in order, as one. */
function concatTrials(parts: TrialBatch[]): TrialBatch {
  if (parts.length === 1) return parts[0];
  const inputs = new Float32Array(parts.reduce((s, p) => s + p.inputs.length, 0));
  const lengths = new Int32Array(parts.reduce((s, p) => s + p.episodeLengths.length, 0));
  let [i, l] = [0, 0];
  for (const p of parts) {
    inputs.set(p.inputs, i);
    lengths.set(p.episodeLengths, l);
    i += p.inputs.length;
    l += p.episodeLengths.length;
  }
  const { episodesPerTrial, episodeHorizon } = parts[0];
  return { steps: EpisodeBatch.concat(parts.map((p) => p.steps)), inputs, episodesPerTrial, episodeHorizon, episodeLengths: lengths, episodeReturns: parts.flatMap((p) => p.episodeReturns) };
}

/** The first `count` trials (copies). */
function sliceTrials(b: TrialBatch, count: number): TrialBatch {
  const rowValues = b.inputs.length / b.steps.numEpisodes;
  const K = b.episodesPerTrial;
  return { ...b, steps: b.steps.slice(0, count), inputs: b.inputs.slice(0, count * rowValues), episodeLengths: b.episodeLengths.slice(0, count * K), episodeReturns: b.episodeReturns.slice(0, count) };
}

/** Mean return of episode k of every trial (k = 0: the first; K − 1: the last). */
export function meanEpisodeReturn(b: TrialBatch, k: number): number {
  let s = 0;
  for (const r of b.episodeReturns) s += r[k];
  return s / b.episodeReturns.length;
}

/**
 * The batch as RL² learning arrays: a linear baseline per task fitted on its trials, GAE over each
 * trial as one sequence (the discount runs on across episode boundaries, as in the RL² paper),
 * advantages normalized per task, and row weights that make a weighted sum the mean over tasks of
 * each task's mean over steps (`lossWeighting`, with trials in the role of episodes).
 */
export function trialArrays(b: TrialBatch, numTasks: number, o: AdvantageOptions): Rl2Arrays {
  const s = b.steps;
  const M = s.numEpisodes / numTasks;
  if (!Number.isInteger(M)) throw new Error(`trialArrays: ${s.numEpisodes} trials do not split into ${numTasks} tasks`);
  const advantages = computeAdvantages(s, numTasks, o);
  const weights = new Float32Array(s.numEpisodes * s.horizon);
  for (let t = 0; t < numTasks; t++) {
    const w = stepWeights(s, t * M, (t + 1) * M, o.lossWeighting);
    for (let i = 0; i < w.length; i++) weights[t * M * s.horizon + i] = w[i] / numTasks;
  }
  return { trials: s.numEpisodes, steps: s.horizon, inputs: b.inputs, actions: s.actions, advantages: Float32Array.from(advantages), weights };
}
