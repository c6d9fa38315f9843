/**
 * Configuration of `metarl continual`: one schema whose field descriptions are also the `--help`
 * text. The env and policy fields (env, hidden, activation, initStd, horizon, fastLr, gamma,
 * gaeLambda, workers, bridge …) come from the training config (src/io/config.ts); the fields below
 * describe the task sequence, the methods compared and the MER update. Invalid values raise a
 * ConfigError naming the field and what it allows.
 */
import { plainIssue, valueAt } from '../io/zodText.ts';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { CONTINUAL_METHODS, MEMORY_METHODS, SCHEDULES } from './types.ts';
import { loadRunCheckpoint } from '../io/checkpoint.ts';
import type { Config } from '../io/config.ts';

const int = (min: number) => z.number().int().min(min);

export const ContinualSchema = z
  .object({
    schedule: z.enum(SCHEDULES).describe('task sequence: random, drift (tasks move steadily), blocks (blockSize tasks of one region, then blockSize of the opposite one, repeated) or cyclic (A B C A B C)'),
    blockSize: int(1).default(4).describe('tasks per block of the blocks schedule'),
    tasks: int(2).describe('number of tasks in the sequence (at least 2: forgetting and transfer compare tasks)'),
    cycle: int(1).describe('distinct tasks of the cyclic schedule'),
    methods: z.array(z.enum(CONTINUAL_METHODS)).min(1).describe(`methods compared: ${CONTINUAL_METHODS.join(', ')}`),
    seeds: int(1).describe('number of seeds; each seed has its own sequence, shared by all methods'),
    seedBase: int(0).default(1).describe('first seed: the run uses seeds seedBase … seedBase + seeds − 1 (e.g. 101 for held-out tuning seeds)'),
    episodesPerTask: int(1).describe('episodes sampled per task for each adaptation step and evaluation'),
    adaptSteps: int(1).describe('adaptation steps K: returns are measured after K steps'),
    metaLr: z.number().positive().describe('SGD step size η of a meta-update per item (online, replay, mer, er, agem, l2)'),
    methodLr: z.partialRecord(z.enum(CONTINUAL_METHODS), z.number().positive()).default({}).describe('a method\'s own step size, replacing metaLr for it (e.g. { online: 0.02, mer: 0.05 })'),
    itemGradClip: z.number().min(0).default(0).describe('clip each item meta-gradient to at most this L2 norm before its step (0: off); lets MER use the large item step of its paper'),
    l2Weight: z.number().min(0).default(1).describe('l2: weight λ of the pull λ(θ − θ_0) toward the starting parameters'),
    batchesPerTask: int(1).describe('MER batches s per task (online: SGD steps per task)'),
    replayItems: int(0).describe('replayed items per batch (k − 1) for replay and mer'),
    replayRows: int(1).describe('transitions sampled from the memory to form one batch of replayed items'),
    minItemRows: int(1).describe('rows a replayed item needs in each phase (pre, post)'),
    beta: z.number().gt(0).max(1).describe('MER within-batch Reptile interpolation β'),
    acrossGamma: z.number().gt(0).max(1).describe('MER across-batch Reptile interpolation γ'),
    memoryCapacity: int(1).describe('MER memory capacity in transitions'),
    clip: z.number().gt(0).lt(1).describe('PPO clip range ε of the outer surrogate on replayed data'),
    maxImportance: z.number().gt(0).describe('truncation ρ̄ of importance weights in the inner step on replayed data'),
    firstOrder: z.boolean().describe('first-order item meta-gradients (drop the inner Hessian term)'),
    oracle: z.enum(['auto', 'fixed', 'best-seen']).default('auto').describe("normalization's per-task oracle: 'fixed', θ_0's best return adapting to the task alone over 0 … oracleSteps steps (measured once, whatever methods run), or 'best-seen', the best return any method of the run reached; 'auto': fixed with init (a meta-trained θ_0), best-seen without (a fresh θ_0 is no reference)"),
    oracleSteps: int(1).default(5).describe('adaptation steps of the fixed oracle (at least adaptSteps are used)'),
    ciLevel: z.number().gt(0).lt(1).default(0.95).describe('confidence level of the reported intervals (percentile bootstrap over seeds, shown from 5 seeds on; asking for a level with fewer seeds is an error)'),
    evalUnadapted: z.boolean().default(false).describe('also keep every evaluation\'s returns before adaptation (R0, MER\'s retained accuracy) and report their metrics'),
    init: z.string().min(1).optional().describe('run folder of a meta-training run whose θ starts every method (default: a fresh initialization)'),
  })
  .strict();

export type ContinualConfig = z.infer<typeof ContinualSchema>;

export const CONTINUAL_DEFAULTS: ContinualConfig = {
  schedule: 'drift',
  blockSize: 4,
  tasks: 10,
  cycle: 3,
  methods: ['frozen', 'finetune', 'online', 'replay', 'mer'],
  seeds: 5,
  seedBase: 1,
  episodesPerTask: 10,
  adaptSteps: 1,
  // 0.05 diverged online and replay on navigation; 0.002 was the best of 0.05 … 0.002 (docs/continual.md).
  metaLr: 0.002,
  methodLr: {},
  l2Weight: 1,
  itemGradClip: 0,
  batchesPerTask: 5,
  replayItems: 4,
  replayRows: 6400,
  minItemRows: 32,
  beta: 0.3,
  acrossGamma: 1,
  memoryCapacity: 100_000,
  clip: 0.2,
  maxImportance: 2,
  firstOrder: false,
  oracle: 'auto',
  oracleSteps: 5,
  evalUnadapted: false,
  ciLevel: 0.95,
};

/** Validates a complete continual config; one line naming the field and what it allows. */
export function validateContinual(raw: unknown): ContinualConfig {
  const r = ContinualSchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.join('.') || '(continual config)';
  if (issue.code === 'invalid_value' && 'values' in issue) throw new ConfigError(field, `invalid value; allowed: ${(issue.values as unknown[]).join(', ')}`);
  if (issue.code === 'unrecognized_keys') throw new ConfigError((issue as { keys: string[] }).keys.join(', '), `unknown field; allowed fields: ${Object.keys(ContinualSchema.shape).join(', ')}`);
  throw new ConfigError(field, plainIssue(issue, valueAt(raw, issue.path)));
}

/** `a,b,c` → a list, each name checked (an unknown method names the allowed ones). */
export function parseMethods(list: string): string[] {
  const names = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new ConfigError('--methods', `empty list; allowed: ${CONTINUAL_METHODS.join(', ')}`);
  for (const n of names) {
    if (!(CONTINUAL_METHODS as readonly string[]).includes(n)) throw new ConfigError('--methods', `unknown method '${n}'; allowed: ${CONTINUAL_METHODS.join(', ')}`);
  }
  return names;
}

/** Checks that need several fields at once. */
export function checkContinual(c: ContinualConfig, rowsPerTask: number): void {
  if (c.methods.some((m) => MEMORY_METHODS.includes(m)) && c.memoryCapacity < 2 * c.minItemRows) {
    throw new ConfigError('memoryCapacity', `${c.memoryCapacity} transitions cannot hold one replayed item (2 × minItemRows = ${2 * c.minItemRows}); raise memoryCapacity or lower minItemRows`);
  }
  if (c.minItemRows > rowsPerTask) {
    throw new ConfigError('minItemRows', `${c.minItemRows} is more than the ${rowsPerTask} rows a task's episodes can give (episodesPerTask × horizon)`);
  }
}

/** `--help`'s list of the continual fields (YAML keys under `continual:`). */
export function describeContinualFields(): string {
  return Object.entries(ContinualSchema.shape)
    .map(([k, s]) => `  ${k.padEnd(16)} ${(s as z.ZodType).description ?? ''}`)
    .join('\n');
}

/** The settings θ_0 was meta-trained with: the env and its semantics, the policy, the inner step. */
const INIT_RUN_FIELDS = ['env', 'envModule', 'hidden', 'activation', 'initStd', 'initStdRelative', 'fastLr', 'horizon', 'actionScale', 'cheetahDynamics', 'modelFile'] as const;

/**
 * The `init` run's own env and policy settings, to sit under the config file's and the flags'
 * (so a relu policy is read as relu and adapted with the step it was meta-trained for).
 */
export function initRunSettings(init: string): Partial<Config> {
  const saved = loadRunCheckpoint(init, 'init').config;
  // Continual methods adapt a plain policy with one step size: Meta-SGD's α and RL²'s GRU do not fit.
  if (saved.algo === 'meta-sgd' || saved.algo === 'rl2') throw new ConfigError('init', `${init} was trained with --algo ${saved.algo}; continual runs start from a maml or reptile run's policy`);
  return Object.fromEntries(INIT_RUN_FIELDS.filter((k) => saved[k] !== undefined).map((k) => [k, saved[k]]));
}

/** The oracle a run uses: `auto` is fixed for a meta-trained θ_0 (init), best-seen for a fresh one. */
export function oracleMode(c: ContinualConfig): 'fixed' | 'best-seen' {
  return c.oracle === 'auto' ? (c.init === undefined ? 'best-seen' : 'fixed') : c.oracle;
}
