/**
 * Data plumbing of continual experiments: sampling a task's episodes and adapting to it (the
 * per-task measurement behind R, before/after returns), turning episodes into off-policy replay
 * rows, and rebuilding replay items from transitions sampled out of the MER memory.
 *
 * Memory rows carry `taskId = 2·visit + phase` (visit: position of the task in the sequence,
 * phase 0 = pre-adaptation rows, 1 = post-adaptation rows), so a replayed item of visit v adapts on
 * its phase-0 rows and is judged on its phase-1 rows (agents/continualUpdate.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { AnyVectorEnv } from '../core/env.ts';
import type { EpisodeBatch } from '../core/episodes.ts';
import type { Rng } from '../core/rng.ts';
import { type PolicySpec, logProbFromMean, logStdTensor, meanOf, toParams } from '../../agents/policy.ts';
import { adaptFlat } from '../../agents/maml.ts';
import { type TaskArrays, disposeTaskData, taskDataFromArrays } from '../../agents/taskData.ts';
import type { OffPolicyRows, ReplayItem } from '../../agents/continualUpdate.ts';
import type { ReplayMemory, SampledTransitions, TransitionBatch } from '../../agents/merMemory.ts';
import { type AdvantageOptions, computeAdvantages, sampleEpisodes, toTaskArrays } from '../experiments/sampler.ts';

export interface Measurer {
  lanes: AnyVectorEnv<unknown>[];
  spec: PolicySpec;
  episodesPerTask: number;
  fastLr: number;
  advantages: AdvantageOptions;
}

export interface Adaptation {
  /** returns[s][t]: mean episode return on task t after s adaptation steps, s = 0 … K. */
  returns: number[][];
  /** Rows of the first sampling (with θ) and of the last (with the adapted parameters), per task. */
  pre: TaskArrays[];
  post: TaskArrays[];
  /** Parameters the `pre` and `post` rows were sampled with, per task. */
  preParams: Float32Array[];
  postParams: Float32Array[];
}

function meanReturnsPerTask(eps: EpisodeBatch, T: number, M: number): number[] {
  const ret = eps.episodeReturns();
  return Array.from({ length: T }, (_, t) => {
    let s = 0;
    for (let e = t * M; e < (t + 1) * M; e++) s += ret[e];
    return s / M;
  });
}

/** Samples every task with θ, adapts K steps (sampling after each), as `metarl eval` does. */
export async function adaptAndMeasure(m: Measurer, tasks: unknown[], theta: Float32Array, K: number, rng: Rng): Promise<Adaptation> {
  const T = tasks.length;
  let params: Float32Array[] = tasks.map(() => theta);
  const returns: number[][] = [];
  let pre: TaskArrays[] = [];
  let post: TaskArrays[] = [];
  let postParams = params;
  for (let s = 0; s <= K; s++) {
    const eps = await sampleEpisodes({ lanes: m.lanes, spec: m.spec, episodesPerTask: m.episodesPerTask }, tasks, params, rng);
    returns.push(meanReturnsPerTask(eps, T, m.episodesPerTask));
    const arrays = toTaskArrays(eps, T, computeAdvantages(eps, T, m.advantages), m.advantages.lossWeighting);
    if (s === 0) pre = arrays;
    post = arrays;
    postParams = params;
    if (s < K) {
      const data = arrays.map(taskDataFromArrays);
      params = adaptFlat(m.spec, params, data, m.fastLr);
      disposeTaskData(data);
    }
  }
  return { returns, pre, post, preParams: tasks.map(() => theta), postParams };
}

/** log π(a|s) of rows under flat parameters, on the host. */
export function behaviourLogp(spec: PolicySpec, theta: ArrayLike<number>, rows: TaskArrays): Float32Array {
  const d = taskDataFromArrays(rows);
  const P = toParams(spec, theta);
  const logp = tf.tidy(() => logProbFromMean(spec, meanOf(spec, P, d.obs), logStdTensor(P), d.actions));
  const out = logp.dataSync() as Float32Array;
  tf.dispose([logp, ...P]);
  disposeTaskData([d]);
  return Float32Array.from(out);
}

/** The real (weight > 0) rows of a phase as a memory batch with task id 2·visit + phase. */
export function toTransitions(rows: TaskArrays, logp: Float32Array, visit: number, phase: 0 | 1, obsDim: number, actDim: number): TransitionBatch {
  const keep: number[] = [];
  for (let n = 0; n < rows.rows; n++) if (rows.weights[n] > 0) keep.push(n);
  const pick = (src: Float32Array, w: number) => {
    const out = new Float32Array(keep.length * w);
    keep.forEach((n, i) => out.set(src.subarray(n * w, (n + 1) * w), i * w));
    return out;
  };
  return { obs: pick(rows.obs, obsDim), actions: pick(rows.actions, actDim), advantages: pick(rows.advantages, 1), logProbs: pick(logp, 1), taskIds: 2 * visit + phase };
}

/** Tensors of one phase's rows (weights = mean over rows) with their behaviour log-probabilities. */
export function offPolicyRows(rows: TaskArrays, logp: Float32Array): OffPolicyRows {
  return { ...taskDataFromArrays(rows), behaviourLogp: tf.tensor1d(logp) };
}

export function disposeItem(item: ReplayItem): void {
  for (const r of [item.pre, item.post]) tf.dispose([r.obs, r.actions, r.advantages, r.weights, r.behaviourLogp]);
}

/**
 * Up to `count` replay items from `rows` transitions sampled out of the memory: grouped by visit,
 * keeping visits (other than `exclude`) with at least `minRows` rows in both phases, in random order.
 */
export function replayItems(memory: ReplayMemory, rows: number, count: number, minRows: number, exclude: number, rng: Rng): ReplayItem[] {
  if (count < 1 || memory.size === 0) return [];
  const sampled: SampledTransitions = memory.sample(Math.min(rows, memory.size), rng);
  try {
    const ids = sampled.taskIds.dataSync();
    const groups = new Map<number, [number[], number[]]>();
    ids.forEach((id, n) => {
      const visit = id >> 1;
      if (visit === exclude) return;
      if (!groups.has(visit)) groups.set(visit, [[], []]);
      groups.get(visit)![id & 1].push(n);
    });
    const eligible = [...groups.entries()].filter(([, [a, b]]) => a.length >= minRows && b.length >= minRows).sort(([x], [y]) => x - y);
    // Fisher–Yates with the caller's generator: which visits are replayed is random but seeded.
    for (let i = eligible.length - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [eligible[i], eligible[j]] = [eligible[j], eligible[i]];
    }
    return eligible.slice(0, count).map(([, phases]) => {
      const [pre, post] = phases.map((idx) => {
        // gatherND with [n, 1] indices: on wasm, tf.gather of 2-D rows is ~40× slower.
        const at = tf.tensor2d(idx, [idx.length, 1], 'int32');
        const rowsOf = {
          obs: tf.gatherND(sampled.obs, at) as tf.Tensor2D,
          actions: tf.gatherND(sampled.actions, at) as tf.Tensor2D,
          advantages: tf.gatherND(sampled.advantages, at) as tf.Tensor1D,
          weights: tf.fill([idx.length], 1 / idx.length),
          behaviourLogp: tf.gatherND(sampled.logProbs, at) as tf.Tensor1D,
        };
        at.dispose();
        return rowsOf;
      });
      return { pre, post };
    });
  } finally {
    tf.dispose([sampled.obs, sampled.actions, sampled.advantages, sampled.logProbs, sampled.taskIds]);
  }
}
