/**
 * The resumable state of a continual run: `state.json` in the run folder, rewritten atomically
 * after every task of every method, so a run killed at any point (kill -9 included) goes on from
 * its last finished task with `metarl continual --resume RUN_DIR` and ends with the same results
 * as a run that was never stopped.
 *
 * It holds the settings (so a resume needs nothing else), the starting θ_0, the finished seeds,
 * the current seed's references, the methods finished in it, and the method in progress: its
 * parameters, both random generators, its partial returns and R rows, and the MER memory.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import type { RngState } from '../core/rng.ts';
import { type Config, upgradeConfig } from '../io/config.ts';
import { withoutSecrets } from '../io/secrets.ts';
import { RngStateSchema, base64, count, finiteArray, readChecked, writeChecked } from '../io/checkedJson.ts';
import type { ReplayMemoryJSON } from '../../agents/merMemory.ts';
import { base64ToFloat32, float32ToBase64 } from '../../agents/merMemoryCodec.ts';
import { type ContinualConfig, validateContinual } from './config.ts';
import type { SeedRun } from './types.ts';
import type { SeedReferences } from './references.ts';

export const STATE_FILE = 'state.json';
const VERSION = 2;

/** One method × seed run as stored (types.ts SeedRun). */
const SeedRunSchema = z.object({
  method: z.string().max(64),
  seed: count,
  R: z.array(finiteArray),
  b: finiteArray,
  random: finiteArray,
  oracle: finiteArray,
  returnsBefore: finiteArray,
  returnsAfter: z.array(finiteArray),
  R0: z.array(finiteArray).optional(),
  b0: finiteArray.optional(),
}).strict();
const MemorySchema = z.object({
  version: z.literal(1),
  capacity: count,
  obsDim: count,
  actDim: count,
  age: count,
  size: count,
  obs: base64,
  actions: base64,
  advantages: base64,
  logProbs: base64,
  taskIds: base64,
}).strict().refine((m) => m.size <= m.capacity, 'memory size above its capacity');
const fields = {
  config: z.record(z.string(), z.unknown()),
  continual: z.record(z.string(), z.unknown()),
  backend: z.string().max(64),
  theta0: base64.nullable(),
  tasks: z.array(z.unknown()),
  done: z.array(SeedRunSchema),
  progress: z.object({
    seed: count,
    refs: z.object({ b: finiteArray, random: finiteArray, b0: finiteArray.optional(), oracle: finiteArray.optional() }).strict(),
    finished: z.array(SeedRunSchema),
    current: z.object({
      method: z.string().max(64),
      next: count,
      theta: base64,
      rng: RngStateSchema,
      memoryRng: RngStateSchema,
      memory: MemorySchema.nullable(),
      run: SeedRunSchema,
    }).strict().nullable(),
  }).strict().nullable(),
};
const StateSchema = z.object({ version: z.literal(VERSION), ...fields }).strict();
const V1Schema = z.object({ version: z.literal(1), ...fields }).strict();
type StateBody = z.infer<typeof StateSchema> | z.infer<typeof V1Schema>;

/** A method part-way through one seed's sequence: everything needed to run its next task. */
export interface MethodProgress {
  method: string;
  /** Tasks finished (the position of the next one). */
  next: number;
  theta: Float32Array;
  rng: RngState;
  memoryRng: RngState;
  memory: ReplayMemoryJSON | null;
  /** The run so far: R, returnsBefore and returnsAfter hold `next` entries. */
  run: SeedRun;
}

export interface SeedProgressState {
  seed: number;
  /** Per-seed references measured before any method ran. */
  refs: SeedReferences;
  /** Methods finished on this seed, in order. */
  finished: SeedRun[];
  current: MethodProgress | null;
}

export interface ContinualState {
  config: Config;
  continual: ContinualConfig;
  backend: string;
  /** θ_0 read from `init` (null: a fresh initialization per seed). */
  theta0: Float32Array | null;
  /** Task parameters of the first seed's sequence (the report's task column), once it has begun. */
  tasks: unknown[];
  /** Runs of the finished seeds, oracle filled. */
  done: SeedRun[];
  /** The seed in progress (null before the first one starts). */
  progress: SeedProgressState | null;
}

/** Writes the state atomically: a crash mid-write leaves the previous state whole. */
export function saveState(runDir: string, s: ContinualState): void {
  const cur = s.progress?.current;
  const body = {
    version: VERSION,
    config: withoutSecrets(s.config),
    continual: s.continual,
    backend: s.backend,
    theta0: s.theta0 ? float32ToBase64(s.theta0) : null,
    tasks: s.tasks,
    done: s.done,
    progress: s.progress && {
      ...s.progress,
      current: cur && { ...cur, theta: float32ToBase64(cur.theta) },
    },
  };
  writeChecked(join(runDir, STATE_FILE), body);
}

export function hasState(runDir: string): boolean {
  return existsSync(join(runDir, STATE_FILE));
}

/** Reads `state.json`; a missing, cut or foreign file gets an error naming it. */
export function loadState(runDir: string): ContinualState {
  const path = join(runDir, STATE_FILE);
  if (!existsSync(path)) throw new ConfigError('--resume', `${runDir} holds no ${STATE_FILE} (is it a continual run folder?)`);
  const raw = readChecked<StateBody>(path, StateSchema, '--resume', { version: 1, schema: V1Schema });
  const cur = raw.progress?.current;
  return {
    config: upgradeConfig(raw.config),
    // Saved before the fixed oracle existed: such a run goes on with the oracle it began with.
    continual: validateContinual({ oracle: 'best-seen', ...(raw.continual as object) }),
    backend: raw.backend,
    theta0: raw.theta0 === null ? null : base64ToFloat32(raw.theta0),
    tasks: raw.tasks,
    done: raw.done,
    progress: raw.progress && { ...raw.progress, current: cur ? { ...cur, theta: base64ToFloat32(cur.theta), memory: cur.memory as ReplayMemoryJSON | null } : null },
  };
}

/** Whether a task record (seed, method, task) is covered by the state, i.e. will not be redone. */
export function coveredByState(s: ContinualState, seed: number, method: string, task: number): boolean {
  if (s.done.some((r) => r.seed === seed)) return true;
  const p = s.progress;
  if (!p || p.seed !== seed) return false;
  if (p.finished.some((r) => r.method === method)) return true;
  return p.current !== null && p.current.method === method && task < p.current.next;
}
