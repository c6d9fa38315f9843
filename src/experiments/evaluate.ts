/**
 * Adaptation evaluation: on new tasks, the mean return after 0, 1, …, K inner steps. Each step
 * samples fresh episodes with the current (adapted) parameters and adapts on them with that
 * step's size (the MAML paper's evaluation: 0.1 for the first step, 0.05 after on the cheetah).
 * Returns are averaged per task, then over tasks (standard error across tasks).
 */
import { Rng } from '../core/rng.ts';
import type { Config } from '../io/config.ts';
import { ConfigError } from '../core/errors.ts';
import { adaptFlat } from '../../agents/maml.ts';
import { disposeTaskData } from '../../agents/taskData.ts';
import { numParams } from '../../agents/policy.ts';
import { type StepSize, splitLearnedStep } from '../../agents/metaSgd.ts';
import { metaParamCount } from './metaParams.ts';
import { MetaLearner } from './metaBatch.ts';
import { computeAdvantages, sampleEpisodes, toTaskData } from './sampler.ts';

export interface EvalOptions {
  tasks: number;
  steps: number;
  /** Episodes per task and step (default: the config's evalEpisodesPerTask, else episodesPerTask). */
  episodesPerTask?: number;
  /** Size of step 1, 2, … (the last repeats; default: the config's evalStepSizes, else fastLr). */
  stepSizes?: number[];
  /** These tasks instead of `tasks` drawn from the env's distribution (e.g. the paper's). */
  taskList?: unknown[];
  seed: number;
  onProgress?: (done: number, total: number) => void;
  /** The parameters each task is sampled with at step s (0: θ itself), for figures. */
  onParams?: (step: number, tasks: unknown[], params: Float32Array[]) => void;
}

export interface EvalResult {
  steps: number[];
  /** Step size used for step s + 1 (s = 0 … K − 1); empty for meta-sgd, which uses its learned α. */
  stepSizes: number[];
  /**
   * rl2: 'episodes', index s is episode s + 1 of a trial (the policy adapts in its hidden state,
   * with no gradient step; `episodesPerTask` then counts trials). Otherwise gradient steps.
   */
  adaptation?: 'episodes';
  /** meta-sgd: the learned per-parameter step sizes α used at every step, summarized. */
  learnedStep?: { mean: number; min: number; max: number };
  episodesPerTask: number;
  mean: number[];
  stderr: number[];
  /** perTask[s][j]: mean return on task j after s steps. */
  perTask: number[][];
}

/** The size of each of `steps` adaptation steps: `sizes` in order, the last one repeating. */
export function stepSchedule(sizes: number[], fallback: number, steps: number): number[] {
  const given = sizes.length > 0 ? sizes : [fallback];
  return Array.from({ length: steps }, (_, i) => given[Math.min(i, given.length - 1)]);
}

export async function evaluateAdaptation(cfg: Config, theta: Float32Array, o: EvalOptions): Promise<EvalResult> {
  if (cfg.algo === 'rl2') {
    // "After s steps" is episode s + 1 of a trial of steps + 1 episodes.
    const { evaluateRl2 } = await import('./rl2Learner.ts');
    const trials = o.episodesPerTask ?? cfg.evalEpisodesPerTask;
    return evaluateRl2({ ...cfg, evalEpisodesPerTask: trials }, theta, { tasks: o.tasks, seed: o.seed, episodes: o.steps + 1, taskList: o.taskList, onProgress: o.onProgress });
  }
  const chunk = cfg.metaBatchSize;
  const episodes = o.episodesPerTask ?? (cfg.evalEpisodesPerTask || cfg.episodesPerTask);
  const sizes = stepSchedule(o.stepSizes ?? cfg.evalStepSizes, cfg.fastLr, o.steps);
  const learner = await MetaLearner.create({ ...cfg, episodesPerTask: episodes }, { metaUpdates: false });
  const M = learner.cfg.episodesPerTask;
  const want = metaParamCount(cfg, learner.spec);
  if (theta.length !== want) {
    await learner.close();
    throw new ConfigError('theta', `${theta.length} parameters given; a ${cfg.hidden.join('×')} ${cfg.activation} ${cfg.algo} policy for ${cfg.env} has ${want} (a checkpoint from another env, policy or algorithm?)`);
  }
  // Meta-SGD adapts with its learned α at every step (the schedule's sizes do not apply).
  const learned = cfg.algo === 'meta-sgd' ? splitLearnedStep(theta, numParams(learner.spec)) : null;
  const policy = learned ? learned.theta : theta;
  const stepOf = (s: number): StepSize => (learned ? learned.alpha : sizes[s]);
  const rng = new Rng(o.seed);
  const allTasks = o.taskList ?? learner.taskSource.sampleTasks(o.tasks, rng);
  const perTask: number[][] = Array.from({ length: o.steps + 1 }, () => []);
  try {
    for (let c = 0; c < allTasks.length; c += chunk) {
      const tasks = allTasks.slice(c, c + chunk);
      // The vector env has room for `chunk` tasks; pad the last chunk with repeats, ignored below.
      const padded = tasks.concat(Array.from({ length: chunk - tasks.length }, () => tasks[0]));
      let params: Float32Array[] = padded.map(() => policy);
      for (let s = 0; s <= o.steps; s++) {
        o.onParams?.(s, tasks, params.slice(0, tasks.length));
        const eps = await sampleEpisodes({ lanes: learner.lanes, spec: learner.spec, episodesPerTask: M }, padded, params, rng);
        const ret = eps.episodeReturns();
        for (let j = 0; j < tasks.length; j++) {
          let sum = 0;
          for (let e = j * M; e < (j + 1) * M; e++) sum += ret[e];
          perTask[s].push(sum / M);
        }
        if (s < o.steps) {
          const data = toTaskData(eps, chunk, computeAdvantages(eps, chunk, cfg), cfg.lossWeighting);
          params = adaptFlat(learner.spec, params, data, stepOf(s));
          disposeTaskData(data);
        }
      }
      o.onProgress?.(Math.min(c + chunk, allTasks.length), allTasks.length);
    }
  } finally {
    await learner.close();
  }
  const mean = perTask.map((xs) => xs.reduce((a, b) => a + b, 0) / xs.length);
  const stderr = perTask.map((xs, s) => {
    const m = mean[s];
    const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(xs.length - 1, 1);
    return Math.sqrt(v / xs.length);
  });
  const stepSizes = learned ? [] : sizes;
  return { steps: perTask.map((_, s) => s), stepSizes, ...(learned ? { learnedStep: summarize(learned.alpha) } : {}), episodesPerTask: episodes, mean, stderr, perTask };
}

/** Mean, min and max of a vector (Meta-SGD's α, for reports). */
function summarize(xs: Float32Array): { mean: number; min: number; max: number } {
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const x of xs) {
    sum += x;
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  return { mean: sum / xs.length, min, max };
}
