/**
 * The library's entry points for scripts and notebooks: the same runs as `metarl train`,
 * `metarl eval` and `metarl continual`, configured with plain objects instead of flags.
 *
 *   import { register, train, evaluate } from 'metarl';
 *   register('my-env', (o) => new MyEnv(o), { taskSpace: { goal: { low: -1, high: 1 } } });
 *   const run = await train({ env: 'my-env', preset: 'quick', numBatches: 20 });
 *   const ev = await evaluate(run.runDir, { tasks: 40, steps: 3 });
 *
 * Settings resolve as on the command line: the preset's values for the env, then the given
 * fields, validated (a ConfigError names the field and what it allows). The tensor backend is
 * chosen once per process, on the first call that needs it.
 */
import { fileURLToPath } from 'node:url';
import { type Config, type PresetName, resolveConfig } from './io/config.ts';
import { ConfigError } from './core/errors.ts';
import { initBackend } from './tensor/backend.ts';
import { loadRunCheckpoint } from './io/checkpoint.ts';
import { envModuleOf } from '../envs/registry.ts';
import { importRunEnvModule } from '../envs/envModule.ts';
import { type TrainResult, train as trainRun } from './experiments/train.ts';
import { type EvalResult, evaluateAdaptation } from './experiments/evaluate.ts';
import { paperTestTasks } from './experiments/paperTasks.ts';
import type { BatchMetrics } from './experiments/metaBatch.ts';

export type { TrainResult, EvalResult, BatchMetrics };

/** What `train()` takes: any config field (docs: `metarl train --help`), a preset, and callbacks. */
export interface TrainSettings extends Partial<Config> {
  /** Starting settings for the env (default `pytorch-maml-rl`). */
  preset?: PresetName;
  /** Continue the run in this folder from its last checkpoint (its own settings are used). */
  resume?: string;
  /** Start from this run's meta-parameters instead of a random init. */
  init?: string;
  /** Called after every meta-batch with its returns, KL and timings. */
  onBatch?: (batch: number, total: number, metrics: BatchMetrics) => void;
  /** Status lines (backend, env); default: none. */
  log?: (line: string) => void;
  /** Aborting it stops the run after the current meta-batch (a robot: at once), with a checkpoint. */
  signal?: AbortSignal;
}

/** The backend in use, chosen on the first call (tfjs has one global backend per process). */
let backendInUse: Promise<string> | null = null;

function backendFor(requested: string): Promise<string> {
  backendInUse ??= initBackend(requested);
  return backendInUse;
}

/**
 * Meta-trains a policy (MAML-TRPO) and writes a run folder (config.yaml, metrics.jsonl,
 * checkpoint.json) under `out` (default `runs`). Resolves when `numBatches` meta-batches are
 * done or the signal stopped the run (`stopped: true`).
 */
export async function train(settings: TrainSettings): Promise<TrainResult> {
  const { preset = 'pytorch-maml-rl', resume, init, onBatch, log, signal, ...fields } = settings;
  if (resume !== undefined) await importRunEnvModule(resume);
  let cfg = resolveConfig(preset, fields as Record<string, unknown>);
  // A registered env's module goes into the run's config, so that eval and resume find the env.
  const module = cfg.envModule ?? envModuleOf(cfg.env);
  if (module !== undefined) cfg = { ...cfg, envModule: module.startsWith('file:') ? fileURLToPath(module) : module };
  const backend = await backendFor(cfg.backend);
  log?.(`backend: ${backend}`);
  const changes = resume === undefined ? undefined : { numBatches: fields.numBatches, workers: fields.workers, backend: fields.backend, bridge: fields.bridge };
  return trainRun(cfg, { backend, resumeDir: resume, resume: changes, initDir: init, onBatch, log, signal });
}

/** What `evaluate()` takes; every field has the default of `metarl eval`. */
export interface EvaluateSettings {
  /** New tasks (default 100; the MAML paper evaluates 40). */
  tasks?: number;
  /** Adaptation steps (default 3). */
  steps?: number;
  /** Seed of the evaluation's tasks and noise (default 1000003). */
  seed?: number;
  /** Size of step 1, 2, …, the last repeating (default: the run's evalStepSizes, else fastLr). */
  stepSizes?: number[];
  /** Episodes per task and step (default: the run's evalEpisodesPerTask, else episodesPerTask). */
  episodes?: number;
  /** Sampled new tasks, or the MAML paper's test tasks (default: the run's evalTasks). */
  taskSource?: 'sampled' | 'paper';
  onProgress?: (done: number, total: number) => void;
}

/**
 * Returns after 0…K adaptation steps on new tasks, for a run folder's checkpoint or for given
 * meta-parameters θ with their config: mean and standard error over tasks, and per task.
 */
export async function evaluate(run: string | { config: Config; theta: Float32Array }, settings: EvaluateSettings = {}): Promise<EvalResult> {
  if (typeof run === 'string') await importRunEnvModule(run);
  const { config, theta } = typeof run === 'string' ? loadRunCheckpoint(run, 'run') : run;
  const { tasks = 100, steps = 3, seed = 1_000_003 } = settings;
  for (const [field, v, min] of [['tasks', tasks, 1], ['steps', steps, 0], ['episodes', settings.episodes ?? 1, 1]] as const) {
    if (!(Number.isInteger(v) && v >= min)) throw new ConfigError(field, `expected a whole number ≥ ${min}, got ${v}`);
  }
  await backendFor(config.backend);
  const source = settings.taskSource ?? config.evalTasks;
  return evaluateAdaptation(config, theta, {
    tasks,
    steps,
    seed,
    stepSizes: settings.stepSizes,
    episodesPerTask: settings.episodes,
    taskList: source === 'paper' ? paperTestTasks(config.env, tasks) : undefined,
    onProgress: settings.onProgress,
  });
}
