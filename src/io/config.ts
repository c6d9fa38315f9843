/**
 * Run configuration: one schema, where every field carries the one-line description that is
 * also its `--help` text. Values come from a preset, then a YAML file, then command-line flags;
 * the resolved config is saved in the run folder. Invalid values raise a ConfigError naming the
 * field and what it allows.
 */
import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import { plainIssue, valueAt } from './zodText.ts';
import { type EnvName, envNames, isBuiltinEnv, isKnownEnv } from '../../envs/registry.ts';
import { CHEETAH_DYNAMICS } from '../../envs/cheetah.ts';
import { BACKENDS } from '../tensor/backendNames.ts';

const int = (min: number) => z.number().int().min(min);

/** Meta-learners of `--algo` (docs/algorithms.md). */
export const ALGOS = ['maml', 'reptile', 'meta-sgd', 'rl2'] as const;
export type Algo = (typeof ALGOS)[number];

/** Which KL the TRPO line search bounds (the step direction uses their common Hessian). */
export const LINE_SEARCH_KL = ['old-new', 'new-old'] as const;

/** Allowed values of `env`, for messages: the built-in and registered envs, then the bridges. */
export function envHelp(): string {
  return `${envNames().join(', ')}, an env registered by --env-module, ros (a robot through rosbridge, described by \`robot\`), serve (simulators dial the agent), or ws://host:port (the agent dials a simulator)`;
}

/** A built-in or registered env, `serve`, `ros`, or a ws:// / wss:// URL of a simulator speaking metarl-bridge/1. */
export function isEnvName(env: string): boolean {
  return isKnownEnv(env) || env === 'serve' || env === 'ros' || /^wss?:\/\/[^\s/]+(\/\S*)?$/.test(env);
}

export const BridgeSchema = z
  .object({
    host: z.string().min(1).describe('interface `serve` binds (127.0.0.1: this machine only)'),
    port: int(0).max(65535).describe('port `serve` listens on (0: any free port)'),
    token: z.string().min(1).optional().describe('shared secret a simulator must present (and receives back)'),
    binary: z.boolean().describe('use binary frames for steps when the simulator offers them'),
    callTimeoutMs: int(1).describe('milliseconds a reset/step may wait for the simulator before the run fails'),
    acceptTimeoutMs: int(1).describe('milliseconds `serve` waits for a simulator to connect'),
    maxMessageBytes: int(1024).describe('largest message accepted from a simulator'),
    stallTimeoutMs: int(0).describe('safety: send stop when the agent sends no step this long mid-episode (0: off)'),
    maxRateHz: z.number().min(0).describe('safety: at most this many steps per second (0: unlimited)'),
    maxEpisodeBufferBytes: int(1).optional().describe("largest episode buffers a simulator's hello may ask for (copies × maxEpisodeSteps × sizes; default 2 GiB); a bigger hello is refused"),
  })
  .strict();

export const ConfigSchema = z
  .object({
    env: z
      .string()
      .refine(isEnvName, { error: () => `unknown env; allowed: ${envHelp()}` })
      .describe('built-in simulator, an env registered by envModule, `serve`, `ros`, or ws://host:port of a simulator (see docs/bridge-protocol.md)'),
    envModule: z.string().min(1).optional().describe('file (.ts or .js) whose import registers the env with register() (docs/custom-envs.md); also loaded by every sampling worker'),
    seed: int(0).describe('random seed for tasks, action noise and initial weights'),
    algo: z.enum(ALGOS).default('maml').describe('meta-learner: maml (second-order MAML, TRPO outer step), reptile (θ moves toward the adapted parameters), meta-sgd (MAML with a learned per-parameter inner step size) or rl2 (a recurrent policy that adapts in its hidden state); docs/algorithms.md'),
    reptileStepSize: z.number().gt(0).max(1).default(0.1).describe('reptile: outer step size ε of θ ← θ + ε·mean(θ′ − θ)'),
    rl2Hidden: int(1).default(64).describe('rl2: units of the GRU policy\'s hidden state'),
    rl2Episodes: int(2).default(2).describe('rl2: episodes per trial (the hidden state is kept across them; episodesPerTask trials per task)'),
    backend: z.enum(BACKENDS).describe('tensor backend (auto tries tensorflow-gpu, tensorflow, webgpu on a hardware GPU, wasm, cpu)'),
    hidden: z.array(int(1)).min(1).describe('hidden layer widths of the policy MLP'),
    activation: z.enum(['tanh', 'relu']).describe('hidden activation of the policy MLP'),
    initStd: z.number().positive().describe('initial standard deviation of the Gaussian policy'),
    initStdRelative: z.boolean().describe("initStd is a fraction of each action dimension's half-range (high - low)/2, not an absolute std (robot preset: exploration scaled to the action bounds)"),
    metaBatchSize: int(1).describe('tasks per meta-batch'),
    episodesPerTask: int(1).describe('episodes sampled per task for each inner step and for validation'),
    horizon: int(1).describe('episode time limit in steps'),
    numBatches: int(1).describe('number of meta-batches (outer updates) to train'),
    fastLr: z.number().positive().describe('inner-loop (adaptation) step size'),
    numSteps: int(1).describe('inner-loop gradient steps during meta-training'),
    firstOrder: z.boolean().describe('drop second-order terms of the meta-gradient (first-order MAML)'),
    gamma: z.number().gt(0).max(1).describe('discount factor'),
    gaeLambda: z.number().min(0).max(1).describe('GAE lambda'),
    maxKl: z.number().positive().describe('TRPO trust region: maximum mean KL per outer update'),
    cgIters: int(1).describe('conjugate-gradient iterations of the TRPO step'),
    cgDamping: z.number().min(0).describe('damping added to the KL Hessian-vector product'),
    lsMaxSteps: int(1).describe('maximum backtracking line-search steps'),
    lsBacktrack: z.number().gt(0).lt(1).describe('line-search step shrink factor'),
    hvpSubsample: z.number().gt(0).max(1).describe('fraction of each task\'s episodes used in the KL Hessian-vector product (1 = exact)'),
    actionScale: z.number().positive().optional().describe("built-in envs: the policy acts in [-s, s], clipped and mapped linearly onto the env's control range (unset: the range itself; docs/reproducing.md)"),
    cheetahDynamics: z.enum(CHEETAH_DYNAMICS).describe("cheetah envs: 'gym' (pytorch-maml-rl: frame skip 5, root velocity) or 'rllab' (MAML paper: frame skip 1, centre-of-mass velocity and position)"),
    bootstrapTruncated: z.boolean().describe('at the time limit, bootstrap from the baseline\'s value of the last observation (false: value 0, as both references do)'),
    baselineObsClip: z.number().min(0).describe('clip observations to ±this in the linear baseline\'s features (rllab: 10; 0 = no clip, pytorch-maml-rl)'),
    lossWeighting: z.enum(['step', 'episode']).describe("how steps weigh in losses and advantage normalization: 'step' (rllab) or 'episode', the mean of per-episode means (pytorch-maml-rl); equal when episodes have equal lengths"),
    lineSearchKl: z.enum(LINE_SEARCH_KL).describe("KL the TRPO line search bounds: 'old-new' = KL(old ‖ new) (rllab) or 'new-old' = KL(new ‖ old) (pytorch-maml-rl)"),
    evalStepSizes: z.array(z.number().positive()).describe('eval: step size of adaptation step 1, 2, … (the last repeats; empty: fastLr for every step)'),
    evalEpisodesPerTask: int(0).describe('eval: episodes per task and adaptation step (0: episodesPerTask)'),
    evalTasks: z.enum(['sampled', 'paper']).describe("eval: new tasks 'sampled' from the env's distribution (with the eval seed) or the MAML paper's test tasks ('paper': its scripts' np.random.seed(1) draws)"),
    modelFile: z.string().min(1).optional().describe('MJCF file replacing the built-in half-cheetah model (cheetah envs)'),
    workers: int(0).describe('worker threads for sampling (two lanes of this many) and for the meta-update (0 = main thread only)'),
    robot: z.record(z.string(), z.unknown()).optional().describe('env ros: the robot description (url, topics, action, reward, tasks, safety; docs/ros.md)'),
    bridge: BridgeSchema.describe('WebSocket bridge settings (env serve or ws://…): host, port, token, binary, callTimeoutMs, acceptTimeoutMs, maxMessageBytes, stallTimeoutMs, maxRateHz'),
    checkpointEvery: int(1).describe('write a checkpoint every N meta-batches (and at the end)'),
    out: z.string().min(1).describe('folder under which run folders are created'),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;

const base: Config = {
  env: 'navigation',
  seed: 1,
  algo: 'maml',
  reptileStepSize: 0.1,
  rl2Hidden: 64,
  rl2Episodes: 2,
  backend: 'auto',
  hidden: [64, 64],
  activation: 'tanh',
  initStd: 1,
  initStdRelative: false,
  metaBatchSize: 20,
  episodesPerTask: 20,
  horizon: 100,
  numBatches: 50,
  fastLr: 0.1,
  numSteps: 1,
  firstOrder: false,
  gamma: 0.99,
  gaeLambda: 1,
  maxKl: 0.01,
  cgIters: 10,
  cgDamping: 1e-5,
  lsMaxSteps: 15,
  lsBacktrack: 0.8,
  hvpSubsample: 1,
  cheetahDynamics: 'gym',
  bootstrapTruncated: false,
  baselineObsClip: 0,
  lossWeighting: 'episode',
  lineSearchKl: 'new-old',
  evalStepSizes: [],
  evalEpisodesPerTask: 0,
  evalTasks: 'sampled',
  workers: 0,
  bridge: { host: '127.0.0.1', port: 8765, binary: true, callTimeoutMs: 10_000, acceptTimeoutMs: 600_000, maxMessageBytes: 1 << 20, stallTimeoutMs: 0, maxRateHz: 0 },
  checkpointEvery: 10,
  out: 'runs',
};

/** Named starting points; a config file and flags override them (docs/reproducing.md). */
export const PRESETS = {
  /**
   * tristandeleu/pytorch-maml-rl's configs: 2×64 tanh, 20 tasks × 20 episodes, TRPO; no bootstrap
   * at the time limit, no clip in the baseline's features, per-episode means, line search on
   * KL(new ‖ old).
   */
  'pytorch-maml-rl': base,
  /**
   * The MAML paper as its authors' code (cbfinn/maml_rl, rllab) ran it: 2×100 ReLU, the policy
   * acting in [-1, 1] mapped onto each env's range, baseline features clipped to ±10, line search
   * on KL(old ‖ new), and its evaluation's step sizes (per env below).
   */
  paper: { ...base, hidden: [100, 100], activation: 'relu', actionScale: 1, baselineObsClip: 10, lossWeighting: 'step', lineSearchKl: 'old-new', evalTasks: 'paper' },
  /**
   * Real hardware (env ros): 4 tasks × 2 episodes per meta-batch (minutes, not hours, at 10 Hz),
   * exploration noise 0.3 of each action's half-range (initStd 1 on ±0.3 m/s would put most
   * commands at the bounds), a checkpoint after every meta-batch. Pair with `mode: realtime`.
   */
  robot: { ...base, metaBatchSize: 4, episodesPerTask: 2, numBatches: 20, initStd: 0.3, initStdRelative: true, checkpointEvery: 1, workers: 0 },
  /** A short run for the quick start: fewer tasks and batches, same algorithm. */
  quick: { ...base, metaBatchSize: 10, episodesPerTask: 10, numBatches: 15, hvpSubsample: 0.2 },
} satisfies Record<string, Config>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/**
 * What changes per env. pytorch-maml-rl's cheetah configs: 40 tasks, horizon 100, its
 * `NormalizedActionWrapper(scale=10)`. The paper's runs, from the policies its Fig. 5 evaluates
 * (cbfinn/maml_rl `maml_examples/test_maml_*.py` and the file names they load) and its appendix
 * ("α = 0.1 for the first step, 0.05 for all future steps"):
 *   navigation          20 tasks × 20 episodes, inner step 0.1, 100 batches; eval steps 0.1 then
 *                       0.05 on 4000 samples (40 episodes of ≤ 100 steps). The repository's
 *                       point scripts use 0.5 instead; measured here, 0.5 learns worse
 *                       (docs/reproducing.md)
 *   cheetah-velocity    rllab env, horizon 200, 40 tasks × 10 episodes, max KL 0.01, 475 batches;
 *                       eval steps 0.1 then 0.05 on 20 episodes
 *   cheetah-direction   rllab env, horizon 200, 40 tasks × 20 episodes, max KL 0.02, 100 batches;
 *                       eval steps 0.1 then 0.05 on 20 episodes
 * Built-in envs sample and meta-update on one worker thread per core.
 */
const PER_ENV: Record<PresetName, Partial<Record<EnvName, Partial<Config>>>> = {
  'pytorch-maml-rl': {
    'cheetah-velocity': { metaBatchSize: 40, horizon: 100, actionScale: 10 },
    'cheetah-direction': { metaBatchSize: 40, horizon: 100, actionScale: 10 },
  },
  paper: {
    navigation: { numBatches: 100, evalStepSizes: [0.1, 0.05], evalEpisodesPerTask: 40 },
    'cheetah-velocity': { cheetahDynamics: 'rllab', metaBatchSize: 40, episodesPerTask: 10, horizon: 200, numBatches: 475, evalStepSizes: [0.1, 0.05], evalEpisodesPerTask: 20 },
    'cheetah-direction': { cheetahDynamics: 'rllab', metaBatchSize: 40, horizon: 200, maxKl: 0.02, numBatches: 100, evalStepSizes: [0.1, 0.05], evalEpisodesPerTask: 20 },
  },
  robot: {},
  quick: {
    'cheetah-velocity': { metaBatchSize: 10, episodesPerTask: 10, horizon: 100, numBatches: 5, actionScale: 10 },
    'cheetah-direction': { metaBatchSize: 10, episodesPerTask: 10, horizon: 100, numBatches: 5, actionScale: 10 },
  },
};

/**
 * What changes per meta-learner, on top of any preset (a config file and flags still override):
 *   reptile   3 inner steps (with one, Reptile is first-order joint training) and ε = 0.5, the
 *             step of its navigation test (test/reptile.test.ts);
 *   meta-sgd  the preset's own settings: α starts at fastLr;
 *   rl2       a GRU of 64 units over trials of 2 episodes (the env-step budget of a one-step MAML
 *             batch: trials × 2 episodes against episodes × (1 + 1)), and a trust region of 0.05:
 *             on navigation, 30 meta-batches, episode 2 gained +2.3 on episode 1 with 0.05
 *             against +1.5 with 0.02 and less with 0.01.
 */
export const PER_ALGO: Record<Algo, Partial<Config>> = {
  maml: {},
  reptile: { numSteps: 3, reptileStepSize: 0.5 },
  'meta-sgd': {},
  rl2: { rl2Hidden: 64, rl2Episodes: 2, maxKl: 0.05 },
};

/** The preset's settings for an env. */
export function presetFor(preset: PresetName, env: string): Config {
  if (!isEnvName(env)) throw new ConfigError('env', `unknown env '${env}'; allowed: ${envHelp()}`);
  const p = { ...PRESETS[preset], ...(isBuiltinEnv(env) ? PER_ENV[preset][env] : {}), env } as Config;
  // Built-in envs sample and meta-update on one worker thread per core (results are the same for
  // any number): on 2 cores the navigation preset's meta-batch takes 2.8 s instead of 4.8.
  return isBuiltinEnv(env) && preset !== 'robot' ? { ...p, workers: defaultWorkers() } : p;
}

/**
 * Worker threads of the built-in envs' presets: one per core, or METARL_WORKERS (a whole number
 * ≥ 0; 0 = all in the main thread — the test suite's setting, where many runs share two cores).
 */
export function defaultWorkers(): number {
  const given = process.env.METARL_WORKERS;
  if (given === undefined || given === '') return availableParallelism();
  const n = Number(given);
  if (!(Number.isInteger(n) && n >= 0)) throw new ConfigError('METARL_WORKERS', `expected a whole number ≥ 0, got '${given}'`);
  return n;
}

/** Field names of the nested objects, for "unknown field" errors. */
const NESTED_KEYS: Record<string, string[]> = { bridge: Object.keys(BridgeSchema.shape) };

/** One line per problem: `field.path: what is wrong (allowed: …)`, in plain words. */
function describeIssue(issue: z.core.$ZodIssue, raw: unknown): ConfigError {
  const field = issue.path.join('.') || '(config)';
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return new ConfigError(field, `invalid value ${JSON.stringify(valueAt(raw, issue.path))}; allowed: ${(issue.values as unknown[]).join(', ')}`);
  }
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys;
    const parent = issue.path.join('.');
    const allowed = parent === '' ? Object.keys(ConfigSchema.shape) : (NESTED_KEYS[parent] ?? []);
    return new ConfigError(keys.map((k) => (parent ? `${parent}.${k}` : k)).join(', '), `unknown field; allowed${parent ? ` in ${parent}` : ''}: ${allowed.join(', ')}`);
  }
  return new ConfigError(field, plainIssue(issue, valueAt(raw, issue.path)));
}

/** Validates a complete config object. */
export function validateConfig(raw: unknown): Config {
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) throw describeIssue(r.error.issues[0], raw);
  return r.data;
}

/** Reads a YAML config file (a partial config: fields to override). */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError('--config', `cannot read ${path}: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new ConfigError('--config', `${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigError('--config', `${path} must hold a mapping of field: value`);
  return data as Record<string, unknown>;
}

/** preset ← file ← overrides, validated. */
export function resolveConfig(preset: string, fileIn: Record<string, unknown> = {}, overrides: Record<string, unknown> = {}): Config {
  if (!(preset in PRESETS)) throw new ConfigError('--preset', `unknown preset '${preset}'; allowed: ${PRESET_NAMES.join(', ')}`);
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const env = String(defined.env ?? fileIn.env ?? PRESETS[preset as PresetName].env);
  // `--env ros --config robot.yaml`: a bare robot description (it has a url) is the `robot` section.
  const file = env === 'ros' && 'url' in fileIn && !('robot' in fileIn) ? { robot: fileIn } : fileIn;
  const algo = String(defined.algo ?? file.algo ?? 'maml');
  const base = { ...presetFor(preset as PresetName, env), ...(PER_ALGO[algo as Algo] ?? {}) };
  const merged = { ...base, ...file, ...defined };
  // Sections merge field by field, so a file may set just `bridge: { port: 9000 }`; a flag left
  // unset (`--port` without `--host`) is no value and must not erase the default.
  for (const key of ['bridge'] as const) {
    const parts = [base[key], file[key], defined[key]].filter((x) => x !== undefined);
    if (parts.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))) {
      merged[key] = Object.assign({}, ...parts.map((p) => Object.fromEntries(Object.entries(p as object).filter(([, v]) => v !== undefined))));
    }
  }
  return validateConfig(merged);
}

/**
 * A config saved by an older version, completed with the values its run behaved as for fields
 * added since: the env's own control range, gym cheetah, bootstrap at the time limit, features
 * clipped to ±10, line search on KL(old ‖ new), eval with fastLr (and no bridge settings).
 */
export function upgradeConfig(saved: Record<string, unknown>): Config {
  const env = String(saved.env ?? 'navigation');
  const defaults = presetFor('pytorch-maml-rl', env);
  const { ctrlCostOn, ...rest } = saved;
  if (ctrlCostOn === 'sampled') {
    throw new ConfigError('ctrlCostOn', "this run charged the control cost on the unclipped sample, a setting retired because no reference does that (docs/reproducing.md); retrain it");
  }
  const before = 'lineSearchKl' in saved ? {} : { actionScale: undefined, cheetahDynamics: 'gym', bootstrapTruncated: true, baselineObsClip: 10, lossWeighting: 'step', lineSearchKl: 'old-new', evalStepSizes: [], evalEpisodesPerTask: 0 };
  return validateConfig({ ...defaults, ...before, ...rest });
}
