/**
 * Adaptation evaluation: on new tasks, the mean return after 0, 1, …, K inner steps. Each step
 * samples fresh episodes with the current (adapted) parameters and adapts on them, as during
 * meta-training. Returns are averaged per task, then over tasks (standard error across tasks).
 */
import { Rng } from '../core/rng.ts';
import type { Config } from '../io/config.ts';
import { adaptFlat, disposeTaskData } from '../../agents/maml.ts';
import { MetaLearner } from './metaBatch.ts';
import { computeAdvantages, sampleEpisodes, toTaskData } from './sampler.ts';

export interface EvalOptions {
  tasks: number;
  steps: number;
  episodesPerTask?: number;
  seed: number;
  onProgress?: (done: number, total: number) => void;
}

export interface EvalResult {
  steps: number[];
  mean: number[];
  stderr: number[];
  /** perTask[s][j]: mean return on task j after s steps. */
  perTask: number[][];
}

export async function evaluateAdaptation(cfg: Config, theta: Float32Array, o: EvalOptions): Promise<EvalResult> {
  const chunk = cfg.metaBatchSize;
  const learner = await MetaLearner.create({ ...cfg, episodesPerTask: o.episodesPerTask ?? cfg.episodesPerTask }, { metaUpdates: false });
  const M = learner.cfg.episodesPerTask;
  const rng = new Rng(o.seed);
  const allTasks = learner.taskSource.sampleTasks(o.tasks, rng);
  const perTask: number[][] = Array.from({ length: o.steps + 1 }, () => []);
  try {
    for (let c = 0; c < allTasks.length; c += chunk) {
      const tasks = allTasks.slice(c, c + chunk);
      // The vector env has room for `chunk` tasks; pad the last chunk with repeats, ignored below.
      const padded = tasks.concat(Array.from({ length: chunk - tasks.length }, () => tasks[0]));
      let params: Float32Array[] = padded.map(() => theta);
      for (let s = 0; s <= o.steps; s++) {
        const eps = await sampleEpisodes({ lanes: learner.lanes, spec: learner.spec, episodesPerTask: M }, padded, params, rng);
        const ret = eps.episodeReturns();
        for (let j = 0; j < tasks.length; j++) {
          let sum = 0;
          for (let e = j * M; e < (j + 1) * M; e++) sum += ret[e];
          perTask[s].push(sum / M);
        }
        if (s < o.steps) {
          const data = toTaskData(eps, chunk, computeAdvantages(eps, chunk, cfg));
          params = adaptFlat(learner.spec, params, data, cfg.fastLr);
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
  return { steps: perTask.map((_, s) => s), mean, stderr, perTask };
}
