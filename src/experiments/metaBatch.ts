/**
 * One MAML-TRPO meta-batch: sample tasks, sample and adapt (k inner steps), sample with the
 * adapted policies, then one TRPO update of the meta-parameters. Plumbing only: the algorithm
 * lives in agents/.
 */
import { siblingModule } from '../core/moduleUrl.ts';
import * as tf from '@tensorflow/tfjs';
import type { AnyVectorEnv } from '../core/env.ts';
import { ConfigError, assertFinite } from '../core/errors.ts';
import type { Rng } from '../core/rng.ts';
import { type EnvOptions, envModuleOf, isBuiltinEnv, makeVector } from '../../envs/registry.ts';
import { WorkerVectorEnv, splitSlices } from '../streams/workerPool.ts';
import type { MetaObjectiveOptions } from '../../agents/maml.ts';
import { type PolicySpec, numParams } from '../../agents/policy.ts';
import { trpoStep } from '../../agents/trpo.ts';
import { reptileUpdate } from '../../agents/reptile.ts';
import { policyPart } from '../../agents/metaSgd.ts';
import type { Config } from '../io/config.ts';
import { computeAdvantages, sampleEpisodes, toTaskArrays } from './sampler.ts';
import { LocalObjective, MetaWorkerPool, type OuterObjective, shardableBackend } from './outerObjective.ts';
import { type EnvSource, type TaskSource, openEnvSource } from './envSource.ts';
import { checkSizes } from './budget.ts';
import type { BridgeStats } from '../bridge/bridgeEnv.ts';
import { EnvLearner } from './envLearner.ts';

export interface BatchMetrics {
  /** Mean episode return with the meta-parameters, before adaptation. */
  returnBefore: number;
  /** Mean episode return with the adapted parameters (after numSteps inner steps). */
  returnAfter: number;
  kl: number;
  surrogateChange: number;
  lsSteps: number;
  accepted: boolean;
  secondsSampling: number;
  secondsInner: number;
  secondsOuter: number;
  envSteps: number;
  /** Bridged envs: what the bridge had to reject, stop or repair during this meta-batch. */
  env?: BridgeStats;
}

export function policySpecOf(cfg: Config, env: TaskSource): PolicySpec {
  return {
    obsDim: env.observationSpace.size,
    actDim: env.actionSpace.size,
    hidden: cfg.hidden,
    activation: cfg.activation,
    // Relative: a fraction of each dimension's half-range (bounded action spaces only).
    initStd: cfg.initStdRelative ? relativeStd(cfg.initStd, env.actionSpace) : cfg.initStd,
  };
}

function relativeStd(fraction: number, box: TaskSource['actionSpace']): number[] {
  return Array.from({ length: box.size }, (_, j) => {
    const half = (box.high[j] - box.low[j]) / 2;
    if (!Number.isFinite(half) || !(half > 0)) throw new ConfigError('initStdRelative', `action dimension ${j} has no finite range [${box.low[j]}, ${box.high[j]}]; give an absolute initStd`);
    return fraction * half;
  });
}

/** The TRPO step's settings of a config (the outer step of maml, meta-sgd and rl2). */
export function trpoSettings(cfg: Config): { maxKl: number; cgIters: number; lsMaxSteps: number; lsBacktrack: number } {
  return { maxKl: cfg.maxKl, cgIters: cfg.cgIters, lsMaxSteps: cfg.lsMaxSteps, lsBacktrack: cfg.lsBacktrack };
}

/** Worker entry of the sampling workers: the env plus whole rollouts with the policy. */
export const SAMPLER_WORKER_URL = siblingModule('./samplerWorker', import.meta.url);

/** Options every env copy is built with. */
export function envOptions(cfg: Config): EnvOptions {
  const options: EnvOptions = { maxEpisodeSteps: cfg.horizon };
  if (cfg.actionScale !== undefined) options.actionScale = cfg.actionScale;
  if (cfg.env.startsWith('cheetah')) options.dynamics = cfg.cheetahDynamics;
  if (cfg.modelFile !== undefined) options.modelFile = cfg.modelFile;
  return options;
}

/** The vector env a config asks for: in-process, or spread over `cfg.workers` worker threads. */
export async function makeSamplerEnv(cfg: Config, num: number, indexOffset = 0): Promise<AnyVectorEnv<unknown>> {
  const options = envOptions(cfg);
  if (cfg.workers > 0) {
    const envModule = isBuiltinEnv(cfg.env) ? undefined : workerEnvModule(cfg);
    // The sampling workers act themselves (samplerWorker.ts): no per-step round trip to this thread.
    return WorkerVectorEnv.create({ name: cfg.env, num, indexOffset, workers: Math.min(cfg.workers, num), options: { ...options }, workerUrl: SAMPLER_WORKER_URL, servesRollouts: true, envModule });
  }
  return makeVector(cfg.env, num, options, indexOffset);
}

/** The module that registers a user's env in worker threads (they start with an empty registry). */
function workerEnvModule(cfg: Config): string {
  const module = envModuleOf(cfg.env) ?? cfg.envModule;
  if (module === undefined) throw new ConfigError('workers', `env '${cfg.env}' was registered by code in this thread only, so worker threads cannot build it; set workers: 0, or register it from a module file (register(name, factory, { module: import.meta.url }) or --env-module)`);
  return module;
}

/**
 * The sampler's lanes for `numTasks` tasks: with worker threads, two lanes (each on `cfg.workers`
 * threads) so that one lane's simulators step while this thread computes the other's actions;
 * in-process, one. Results do not depend on the split (see sampleEpisodes).
 */
export async function makeSamplerLanes(cfg: Config, numTasks: number): Promise<AnyVectorEnv<unknown>[]> {
  const M = cfg.episodesPerTask;
  const ranges = splitSlices(numTasks, cfg.workers > 0 ? Math.min(2, numTasks) : 1);
  const made = await Promise.allSettled(ranges.map(({ offset, count }) => makeSamplerEnv(cfg, count * M, offset * M)));
  const lanes = made.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = made.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(lanes.map((env) => env.close()));
    throw failed.reason;
  }
  return lanes;
}

/**
 * MAML-TRPO (or Reptile, or Meta-SGD: `cfg.algo`) one meta-batch at a time, over any env source (built-in, registered, bridged, robot):
 *
 *   const learner = await MetaLearner.create(config);
 *   let theta = initParams(learner.spec, new Rng(config.seed));
 *   for (let b = 0; b < 10; b++) ({ theta } = await learner.step(theta, rng));
 *   await learner.close();
 *
 * `step` samples tasks, adapts to each with `numSteps` inner gradient steps, and takes one TRPO
 * step on the meta-parameters θ; θ is a plain Float32Array the caller owns (see `train` for runs
 * with checkpoints and logs).
 */
export class MetaLearner extends EnvLearner {
  readonly spec: PolicySpec;

  private metaPool: MetaWorkerPool | null = null;

  private constructor(cfg: Config, source: EnvSource) {
    super(cfg, source);
    this.spec = policySpecOf(cfg, source.taskSource);
  }

  /**
   * Loads the env (MuJoCo, workers) and builds the sampler for `metaBatchSize × episodesPerTask`
   * copies. With `workers` > 0 on the wasm or cpu backend, the meta-update is spread over as many
   * worker threads too (tasks split between them; identical results). `metaUpdates: false`
   * (evaluation) skips those threads.
   */
  static async create(cfg: Config, o: { metaUpdates?: boolean; log?: (line: string) => void } = {}): Promise<MetaLearner> {
    if (cfg.algo === 'rl2') throw new ConfigError('algo', 'rl2 trains a recurrent policy: use Rl2Learner (src/experiments/rl2Learner.ts), not MetaLearner');
    const source = await openEnvSource(cfg, cfg.metaBatchSize, o.log);
    const learner = new MetaLearner(cfg, source);
    try {
      checkSizes(cfg, learner.spec.obsDim, learner.spec.actDim); // bridged envs: sizes known only now
      if ((o.metaUpdates ?? true) && cfg.workers > 0 && shardableBackend(tf.getBackend())) {
        learner.metaPool = await MetaWorkerPool.create(learner.objectiveOptions(), { workers: Math.min(cfg.workers, cfg.metaBatchSize) });
      }
    } catch (e) {
      await learner.close();
      throw e;
    }
    return learner;
  }

  private objectiveOptions(): MetaObjectiveOptions {
    const cfg = this.cfg;
    return { spec: this.spec, fastLr: cfg.fastLr, firstOrder: cfg.firstOrder, damping: cfg.cgDamping, hvpSubsample: cfg.hvpSubsample, lineSearchKl: cfg.lineSearchKl, learnedStep: cfg.algo === 'meta-sgd' };
  }

  /** Worker threads computing the meta-update (0 = in this thread). */
  get metaWorkers(): number {
    return this.metaPool?.workerCount ?? 0;
  }

  /**
   * Runs one meta-batch from θ; returns the new θ and the batch's metrics. `onEpisodes` hears of
   * every finished round of episodes (a robot: every episode) across the batch's sampling phases.
   */
  async step(theta: Float32Array, rng: Rng, onEpisodes?: (done: number, total: number) => void): Promise<{ theta: Float32Array; metrics: BatchMetrics }> {
    const cfg = this.cfg;
    const T = cfg.metaBatchSize;
    const perPhase = T * cfg.episodesPerTask;
    let phase = 0;
    const onRound = onEpisodes && ((done: number) => onEpisodes(phase * perPhase + done, (cfg.numSteps + 1) * perPhase));
    const sampler = { lanes: this.lanes, spec: this.spec, episodesPerTask: cfg.episodesPerTask, onRound };
    const tasks = this.taskSource.sampleTasks(T, rng);
    const obj: OuterObjective = this.metaPool ? await this.metaPool.begin(theta, T) : new LocalObjective(this.objectiveOptions(), theta, T);
    let secondsSampling = 0;
    let secondsInner = 0;
    let envSteps = 0;
    const clock = () => performance.now() / 1000;
    const statsBefore = this.bridgeStats();
    try {
      // Meta-SGD's θ holds [policy; α]: the policy part acts.
      const policy = policyPart(theta, numParams(this.spec));
      let params: Float32Array[] = tasks.map(() => policy);
      let returnBefore = NaN;
      for (let i = 0; i < cfg.numSteps; i++) {
        const t0 = clock();
        const eps = await sampleEpisodes(sampler, tasks, params, rng);
        phase++;
        const t1 = clock();
        if (i === 0) returnBefore = eps.meanReturn();
        envSteps += eps.lengths.reduce((a, b) => a + b, 0);
        params = await obj.addInnerStep(toTaskArrays(eps, T, computeAdvantages(eps, T, cfg), cfg.lossWeighting));
        secondsSampling += t1 - t0;
        secondsInner += clock() - t1;
      }
      const t2 = clock();
      const valid = await sampleEpisodes(sampler, tasks, params, rng);
      envSteps += valid.lengths.reduce((a, b) => a + b, 0);
      const returnAfter = valid.meanReturn();
      secondsSampling += clock() - t2;

      if (cfg.algo === 'reptile') {
        // θ moves toward the adapted parameters; the validation episodes only measure returnAfter.
        const t3 = clock();
        const next = reptileUpdate(theta, params, cfg.reptileStepSize);
        const secondsOuter = clock() - t3;
        return { theta: next, metrics: { returnBefore, returnAfter, kl: 0, surrogateChange: 0, lsSteps: 0, accepted: true, secondsSampling, secondsInner, secondsOuter, envSteps, ...this.statsSince(statsBefore) } };
      }
      const t3 = clock();
      await obj.setValidation(toTaskArrays(valid, T, computeAdvantages(valid, T, cfg), cfg.lossWeighting));
      const gradient = await obj.metaGradient();
      assertFinite('meta-gradient', gradient);
      const lossBefore = await obj.lossAtOld();
      assertFinite('surrogate loss', [lossBefore]);
      const res = await trpoStep(
        theta,
        { gradient, fvp: (v) => obj.fisherVectorProduct(v), evaluate: (th) => obj.evaluate(th), lossBefore },
        trpoSettings(cfg),
      );
      assertFinite('updated parameters', res.theta);
      const secondsOuter = clock() - t3;
      return {
        theta: res.theta,
        metrics: {
          returnBefore,
          returnAfter,
          kl: res.kl,
          surrogateChange: res.improvement,
          lsSteps: res.lsSteps,
          accepted: res.accepted,
          secondsSampling,
          secondsInner,
          secondsOuter,
          envSteps,
          ...this.statsSince(statsBefore),
        },
      };
    } finally {
      await obj.dispose();
    }
  }

  override async close(): Promise<void> {
    await Promise.all([super.close(), this.metaPool?.close()]);
  }
}
