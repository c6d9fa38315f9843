/**
 * The meta-training run: run folder, resolved config, JSONL metrics, atomic checkpoints, resume,
 * progress reporting and clean stops: on a simulator, a stop request checkpoints at the end of the
 * current meta-batch; on hardware (a robot), it halts the env at once — the stop action goes out,
 * no action follows — and the checkpoint is that of the last finished meta-batch (the interrupted
 * one is dropped: nothing is learned from interrupted data).
 */
import { join } from 'node:path';
import { Rng } from '../core/rng.ts';
import { ConfigError, HaltedError, NumericError, assertFinite } from '../core/errors.ts';
import type { Config } from '../io/config.ts';
import { type Checkpoint, loadRunCheckpoint, saveCheckpoint } from '../io/checkpoint.ts';
import type { MetricRecord } from '../io/jsonl.ts';
import { RunLogs } from '../io/runLogs.ts';
import { createRunDir, envSlug, experimentName, prepareOut, removeStaleTemporaries, writeRunConfig } from '../io/runDir.ts';
import { type AnySpec, adoptMetaParams, initMetaParams } from './metaParams.ts';
import { Rl2Learner } from './rl2Learner.ts';
import { type BatchMetrics, MetaLearner } from './metaBatch.ts';
import type { BridgeStats } from '../bridge/bridgeEnv.ts';

export { METRICS_FILE } from '../io/runLogs.ts';

export interface TrainOptions {
  /** Backend name in use (recorded in the run). */
  backend: string;
  /**
   * Existing run folder to continue. Its own config is used — the `cfg` argument is then ignored —
   * except for what `resume` changes explicitly.
   */
  resumeDir?: string;
  /**
   * On resume, the settings that may change without changing the run's results: a longer run
   * (`numBatches`, not below the batches done), worker threads, backend, bridge connection.
   */
  resume?: Partial<Pick<Config, 'numBatches' | 'workers' | 'backend' | 'bridge'>>;
  /** Run folder (e.g. pretrained/navigation) whose meta-parameters start a new run instead of a random init. */
  initDir?: string;
  /** Called after every meta-batch. */
  onBatch?: (batch: number, total: number, m: BatchMetrics) => void;
  /** Called after every round of episodes within a meta-batch (a robot: every episode). */
  onEpisodes?: (batch: number, done: number, total: number) => void;
  /** Checked between meta-batches: when it returns true, checkpoint and stop. */
  shouldStop?: () => boolean;
  /**
   * Stop request (Ctrl-C, SIGTERM). Simulators finish the meta-batch (as shouldStop); a hardware
   * env is halted the moment it fires.
   */
  signal?: AbortSignal;
  /** Status lines (what the env is connected to, waiting for a simulator…). */
  log?: (line: string) => void;
}

export interface TrainResult {
  runDir: string;
  /** The config the run trained with (a resumed run's own). */
  config: Config;
  batchesDone: number;
  theta: Float32Array;
  stopped: boolean;
}

/** Creates `{out}/{env}__{exp}__{seed}__{time}` (CleanRL's layout), exclusively (src/io/runDir.ts). */
export function newRunDir(cfg: Config, exp = experimentName(cfg)): string {
  return createRunDir(cfg.out, `${envSlug(cfg.env)}__${exp}__${cfg.seed}`);
}

/** Totals carried across meta-batches (and resumes): env steps and training wall time. */
export interface RunTotals {
  envSteps: number;
  wallSeconds: number;
}

export function toRecord(batch: number, m: BatchMetrics, totals?: RunTotals): MetricRecord {
  return {
    batch,
    ...(totals ? { 'charts/env_steps_total': totals.envSteps, 'time/wall_s': totals.wallSeconds, 'time/unix': Date.now() / 1000 } : {}),
    'charts/return_before': m.returnBefore,
    'charts/return_after': m.returnAfter,
    'losses/kl': m.kl,
    'losses/surrogate_change': m.surrogateChange,
    'losses/ls_steps': m.lsSteps,
    'losses/accepted': m.accepted,
    'time/sampling_s': m.secondsSampling,
    'time/inner_s': m.secondsInner,
    'time/outer_s': m.secondsOuter,
    'charts/env_steps': m.envSteps,
    ...(m.env ? envRecord(m.env) : {}),
  };
}

/** Bridge counters of one meta-batch as `env/…` metrics (snake_case, as the other keys). */
function envRecord(s: BridgeStats): MetricRecord {
  return {
    'env/stops': s.stops,
    'env/interrupted_episodes': s.interruptedEpisodes,
    'env/discarded_steps': s.discardedSteps,
    'env/reconnects': s.reconnects,
    'env/rejected': s.rejected,
    'env/clipped_actions': s.clippedActions,
  };
}

/** A run's meta-parameters as the start of a new run, checked against this run's algorithm and policy. */
function initTheta(ck: Checkpoint, cfg: Config, spec: AnySpec, dir: string): Float32Array {
  return adoptMetaParams(ck.theta, cfg, spec, `${dir} (a ${ck.config.hidden.join('×')} ${ck.config.activation} ${ck.config.algo ?? 'maml'} policy for ${ck.config.env})`);
}

export async function train(cfgIn: Config, opts: TrainOptions): Promise<TrainResult> {
  let cfg = cfgIn;
  let resumed: Checkpoint | null = null;
  if (opts.resumeDir && opts.initDir) throw new ConfigError('--init', 'a resumed run continues from its own checkpoint; drop --init');
  const init = opts.initDir ? loadRunCheckpoint(opts.initDir, '--init') : null;
  if (opts.resumeDir) {
    resumed = loadRunCheckpoint(opts.resumeDir, '--resume');
    const changes = Object.fromEntries(Object.entries(opts.resume ?? {}).filter(([, v]) => v !== undefined));
    cfg = { ...resumed.config, ...changes };
    if (cfg.numBatches < resumed.batch) throw new ConfigError('--num-batches', `${cfg.numBatches} is below the ${resumed.batch} meta-batches this run has done`);
  }
  if (!resumed) prepareOut(cfg.out); // a bad --out fails now, not after the env is up
  // Open the env first: a bridged env's spaces are known only once it is connected.
  const learner = cfg.algo === 'rl2' ? await Rl2Learner.create(cfg, { log: opts.log }) : await MetaLearner.create(cfg, { log: opts.log });
  const halt = () => learner.halt('stop requested');
  try {
    opts.log?.(`env: ${learner.envDescription}`);
    let runDir: string;
    let start: Checkpoint;
    if (resumed) {
      runDir = opts.resumeDir!;
      start = resumed;
    } else {
      runDir = newRunDir(cfg);
      const seeded = new Rng(cfg.seed);
      const theta = initMetaParams(cfg, learner.spec, seeded); // drawn either way, so the generator's state is the same
      start = { batch: 0, theta: init ? initTheta(init, cfg, learner.spec, opts.initDir!) : theta, rng: seeded.getState(), config: cfg, backend: opts.backend };
    }
    removeStaleTemporaries(runDir);
    writeRunConfig(runDir, cfg, [`metarl run config: valid --config input (metarl train --config ${join(runDir, 'config.yaml')})`, `backend in use: ${opts.backend}`]);
    // Batches logged after the checkpoint are redone on resume: drop them so the series continues.
    const logs = new RunLogs(runDir, (r) => (r.batch as number) < start.batch);
    const before = logs.last();
    // Runs logged before these totals existed: env steps summed, wall time from the phases' seconds.
    const totals: RunTotals = {
      envSteps: Number(before?.['charts/env_steps_total'] ?? logs.sum('charts/env_steps')),
      wallSeconds: Number(before?.['time/wall_s'] ?? logs.sum('time/sampling_s') + logs.sum('time/inner_s') + logs.sum('time/outer_s')),
    };
    const wallAtStart = totals.wallSeconds;
    const t0 = performance.now();

    const rng = new Rng(start.rng);
    let theta = start.theta;
    let batch = start.batch;
    let rngAtBatch = rng.getState();
    const save = () => saveCheckpoint(runDir, { batch, theta, rng: rngAtBatch, config: cfg, backend: opts.backend });
    if (!resumed) save();
    if (learner.hardware) opts.signal?.addEventListener('abort', halt, { once: true });
    if (learner.hardware && opts.signal?.aborted) halt();
    try {
      while (batch < cfg.numBatches) {
        // Built-in simulators run entirely in microtasks; yield to the event loop so that signal
        // handlers (Ctrl-C) and timers get a chance to run between meta-batches.
        await new Promise((resolve) => setImmediate(resolve));
        if (opts.shouldStop?.() || opts.signal?.aborted) {
          save();
          return { runDir, config: cfg, batchesDone: batch, theta, stopped: true };
        }
        let step: Awaited<ReturnType<MetaLearner['step']>>;
        try {
          step = await learner.step(theta, rng, opts.onEpisodes && ((done, total) => opts.onEpisodes!(batch + 1, done, total)));
        } catch (e) {
          if (!(e instanceof HaltedError)) throw e;
          save(); // the last finished meta-batch, with the generator as it was then
          return { runDir, config: cfg, batchesDone: batch, theta, stopped: true };
        }
        const { theta: next, metrics } = step;
        if (!Number.isFinite(metrics.returnBefore) || !Number.isFinite(metrics.returnAfter)) {
          throw new NumericError(`meta-batch ${batch}: non-finite returns`);
        }
        assertFinite(`parameters after meta-batch ${batch}`, next);
        theta = next;
        totals.envSteps += metrics.envSteps;
        totals.wallSeconds = wallAtStart + (performance.now() - t0) / 1000;
        logs.append(toRecord(batch, metrics, totals));
        batch += 1;
        opts.onBatch?.(batch, cfg.numBatches, metrics);
        rngAtBatch = rng.getState();
        if (batch % cfg.checkpointEvery === 0 || batch === cfg.numBatches) save();
      }
    } catch (e) {
      // Whatever failed (a lost simulator, NaN, a misconfigured robot), the meta-batches finished so
      // far are kept: checkpoint them now, not only every checkpointEvery.
      let kept: string;
      try {
        save();
        kept = `checkpoint of the ${batch} finished meta-batches written`;
      } catch (saveError) {
        kept = `the checkpoint could not be written (${(saveError as Error).message}); the last one on disk is kept`;
      }
      // A config error would recur on resume (the run keeps its settings): no resume hint for it.
      const hint = e instanceof ConfigError ? '' : `; resume with: metarl train --resume ${runDir}`;
      if (e instanceof Error) e.message += ` (run ${runDir}: ${kept}${hint})`;
      throw e;
    }
    return { runDir, config: cfg, batchesDone: batch, theta, stopped: false };
  } finally {
    opts.signal?.removeEventListener('abort', halt);
    await learner.close();
  }
}
