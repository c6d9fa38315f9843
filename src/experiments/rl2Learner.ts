/**
 * RL² one meta-batch at a time, with the public surface of MetaLearner (metaBatch.ts) so that the
 * training loop can drive either:
 *
 *   const learner = await Rl2Learner.create(config);
 *   let theta = initGruParams(learner.spec, new Rng(config.seed));
 *   for (let b = 0; b < 10; b++) ({ theta } = await learner.step(theta, rng));
 *   await learner.close();
 *
 * `step` samples `metaBatchSize` tasks and `episodesPerTask` trials of each (a trial: `rl2Episodes`
 * episodes of the task with the GRU's hidden state kept), and takes one TRPO step on θ over the
 * trials (agents/rl2.ts; the KL Hessian-vector product on the `hvpSubsample` fraction of each
 * task's trials). No gradient steps at test time: the policy adapts in its hidden state, so
 * `evaluateRl2` reports the return of episode 1, 2, … of a trial where MAML's evaluation reports
 * the return after 0, 1, … gradient steps. Plumbing only: the algorithm lives in agents/.
 */
import { ConfigError, assertFinite } from '../core/errors.ts';
import { Rng } from '../core/rng.ts';
import type { Config } from '../io/config.ts';
import { type GruSpec, numGruParams } from '../../agents/gru.ts';
import { Rl2Objective, subsampleTrials } from '../../agents/rl2.ts';
import { trpoStep } from '../../agents/trpo.ts';
import { type BatchMetrics, policySpecOf, trpoSettings } from './metaBatch.ts';
import { type EnvSource, type TaskSource, openEnvSource } from './envSource.ts';
import { MAX_PARAMETERS, checkSizes } from './budget.ts';
import type { EvalResult } from './evaluate.ts';
import { type TrialBatch, meanEpisodeReturn, sampleTrials, trialArrays } from './rl2Sampler.ts';
import { EnvLearner } from './envLearner.ts';

/** The GRU policy a config asks for on an env. */
export function gruSpecOf(cfg: Config, env: TaskSource): GruSpec {
  const { obsDim, actDim, initStd } = policySpecOf(cfg, env);
  const spec = { obsDim, actDim, hidden: cfg.rl2Hidden, initStd };
  const n = numGruParams(spec);
  if (n > MAX_PARAMETERS) throw new ConfigError('rl2Hidden', `${cfg.rl2Hidden} units give ${n.toExponential(2)} parameters; allowed up to ${MAX_PARAMETERS.toExponential(0)}`);
  return spec;
}

export class Rl2Learner extends EnvLearner {
  readonly spec: GruSpec;

  private constructor(cfg: Config, source: EnvSource) {
    super(cfg, source);
    this.spec = gruSpecOf(cfg, source.taskSource);
  }

  /** RL² computes its update on this thread. */
  get metaWorkers(): number {
    return 0;
  }

  /**
   * Loads the env and builds the sampler for `metaBatchSize × episodesPerTask` copies (one trial
   * each; openEnvSource sizes lanes as tasks × episodesPerTask). `metaUpdates` is accepted for
   * MetaLearner's signature; RL² has no meta-update workers.
   */
  static async create(cfg: Config, o: { metaUpdates?: boolean; log?: (line: string) => void } = {}): Promise<Rl2Learner> {
    const source = await openEnvSource(cfg, cfg.metaBatchSize, o.log);
    try {
      const learner = new Rl2Learner(cfg, source);
      checkSizes(cfg, learner.spec.obsDim, learner.spec.actDim); // bridged envs: sizes known only now
      return learner;
    } catch (e) {
      await source.close();
      throw e;
    }
  }

  /** Samples trials of `tasks` (M = episodesPerTask per task) with θ. */
  sample(tasks: unknown[], theta: Float32Array, rng: Rng, onRound?: (trialsDone: number, trialsTotal: number) => void): Promise<TrialBatch> {
    const cfg = this.cfg;
    return sampleTrials({ lanes: this.lanes, spec: this.spec, trialsPerTask: cfg.episodesPerTask, episodesPerTrial: cfg.rl2Episodes, onRound }, tasks, theta, rng);
  }

  /**
   * Runs one meta-batch from θ; returns the new θ and the batch's metrics: returnBefore is the
   * mean return of the trials' first episodes, returnAfter that of their last. `onEpisodes` hears
   * of every finished round of trials, counted in episodes.
   */
  async step(theta: Float32Array, rng: Rng, onEpisodes?: (done: number, total: number) => void): Promise<{ theta: Float32Array; metrics: BatchMetrics }> {
    const cfg = this.cfg;
    const K = cfg.rl2Episodes;
    if (theta.length !== numGruParams(this.spec)) throw new ConfigError('theta', `${theta.length} parameters given; the ${cfg.rl2Hidden}-unit GRU policy for ${cfg.env} has ${numGruParams(this.spec)}`);
    const clock = () => performance.now() / 1000;
    const statsBefore = this.bridgeStats();
    const tasks = this.taskSource.sampleTasks(cfg.metaBatchSize, rng);
    const t0 = clock();
    const batch = await this.sample(tasks, theta, rng, onEpisodes && ((done, total) => onEpisodes(done * K, total * K)));
    const secondsSampling = clock() - t0;
    const t1 = clock();
    const arrays = trialArrays(batch, cfg.metaBatchSize, cfg);
    const fisher = cfg.hvpSubsample < 1 ? subsampleTrials(arrays, cfg.metaBatchSize, cfg.hvpSubsample) : arrays;
    const obj = new Rl2Objective({ spec: this.spec, damping: cfg.cgDamping, lineSearchKl: cfg.lineSearchKl }, theta, arrays, fisher);
    try {
      const gradient = obj.gradient();
      assertFinite('RL² gradient', gradient);
      const lossBefore = obj.lossAtOld();
      assertFinite('surrogate loss', [lossBefore]);
      const res = await trpoStep(
        theta,
        { gradient, fvp: (v) => obj.fisherVectorProduct(v), evaluate: (th) => obj.evaluate(th), lossBefore },
        trpoSettings(cfg),
      );
      assertFinite('updated parameters', res.theta);
      const metrics: BatchMetrics = {
        returnBefore: meanEpisodeReturn(batch, 0),
        returnAfter: meanEpisodeReturn(batch, K - 1),
        kl: res.kl,
        surrogateChange: res.improvement,
        lsSteps: res.lsSteps,
        accepted: res.accepted,
        secondsSampling,
        secondsInner: 0,
        secondsOuter: clock() - t1,
        envSteps: batch.steps.lengths.reduce((a, b) => a + b, 0),
        ...this.statsSince(statsBefore),
      };
      return { theta: res.theta, metrics };
    } finally {
      obj.dispose();
    }
  }
}

export interface Rl2EvalOptions {
  tasks: number;
  seed: number;
  /** Episodes per trial (default: the config's rl2Episodes). */
  episodes?: number;
  /** These tasks instead of `tasks` drawn from the env's distribution. */
  taskList?: unknown[];
  onProgress?: (done: number, total: number) => void;
}

/**
 * Adaptation of RL² on new tasks: the mean return of episode s = 0 … N − 1 of a trial, averaged
 * over each task's trials (evalEpisodesPerTask, else episodesPerTask), then over tasks (standard
 * error across tasks). Tasks are drawn as evaluateAdaptation draws them, so both see the same ones.
 */
export async function evaluateRl2(cfg: Config, theta: Float32Array, o: Rl2EvalOptions): Promise<EvalResult> {
  const trials = cfg.evalEpisodesPerTask || cfg.episodesPerTask;
  const N = o.episodes ?? cfg.rl2Episodes;
  const chunk = cfg.metaBatchSize;
  const learner = await Rl2Learner.create({ ...cfg, episodesPerTask: trials, rl2Episodes: N }, { metaUpdates: false });
  if (theta.length !== numGruParams(learner.spec)) {
    await learner.close();
    throw new ConfigError('theta', `${theta.length} parameters given; the ${cfg.rl2Hidden}-unit GRU policy for ${cfg.env} has ${numGruParams(learner.spec)} (a checkpoint from another env or policy?)`);
  }
  const rng = new Rng(o.seed);
  const allTasks = o.taskList ?? learner.taskSource.sampleTasks(o.tasks, rng);
  const perTask: number[][] = Array.from({ length: N }, () => []);
  try {
    for (let c = 0; c < allTasks.length; c += chunk) {
      const tasks = allTasks.slice(c, c + chunk);
      // The vector env has room for `chunk` tasks; pad the last chunk with repeats, ignored below.
      const padded = tasks.concat(Array.from({ length: chunk - tasks.length }, () => tasks[0]));
      const batch = await learner.sample(padded, theta, rng);
      for (let j = 0; j < tasks.length; j++) {
        for (let s = 0; s < N; s++) {
          let sum = 0;
          for (let e = j * trials; e < (j + 1) * trials; e++) sum += batch.episodeReturns[e][s];
          perTask[s].push(sum / trials);
        }
      }
      o.onProgress?.(Math.min(c + chunk, allTasks.length), allTasks.length);
    }
  } finally {
    await learner.close();
  }
  const mean = perTask.map((xs) => xs.reduce((a, b) => a + b, 0) / xs.length);
  const stderr = perTask.map((xs, s) => Math.sqrt(xs.reduce((a, b) => a + (b - mean[s]) ** 2, 0) / Math.max(xs.length - 1, 1) / xs.length));
  return { steps: perTask.map((_, s) => s), stepSizes: [], adaptation: 'episodes', episodesPerTask: trials, mean, stderr, perTask };
}
