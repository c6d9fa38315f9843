/**
 * Checkpoints: one JSON file per run folder, written atomically (temporary file, fsync, rename)
 * so that a crash mid-write leaves the previous checkpoint intact.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RngState } from '../core/rng.ts';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import { type Config, upgradeConfig } from './config.ts';

export const CHECKPOINT_FILE = 'checkpoint.json';
const VERSION = 1;

export interface Checkpoint {
  /** Meta-batches completed (the next batch to run). */
  batch: number;
  /** Meta-parameters, flat. */
  theta: Float32Array;
  rng: RngState;
  config: Config;
  backend: string;
}

/** Writes `text` to `path` atomically. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeFileSync(fd, data); // unlike writeSync, loops until every byte is written
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function saveCheckpoint(runDir: string, c: Checkpoint): void {
  const body = {
    version: VERSION,
    batch: c.batch,
    backend: c.backend,
    rng: c.rng,
    config: c.config,
    // Float32 values are exactly representable as JSON numbers, so this round-trips bit for bit.
    theta: Array.from(c.theta),
  };
  writeFileAtomic(join(runDir, CHECKPOINT_FILE), JSON.stringify(body));
}

export function hasCheckpoint(runDir: string): boolean {
  return existsSync(join(runDir, CHECKPOINT_FILE));
}

export function loadCheckpoint(runDir: string): Checkpoint {
  const path = join(runDir, CHECKPOINT_FILE);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read checkpoint ${path}: ${(e as Error).message}`);
  }
  if (raw.version !== VERSION) throw new Error(`checkpoint ${path} has version ${raw.version}; this metarl reads version ${VERSION}`);
  const theta = Float32Array.from(raw.theta as number[]);
  if (!theta.every(Number.isFinite)) throw new Error(`checkpoint ${path} holds non-finite parameters`);
  return { batch: raw.batch as number, theta, rng: raw.rng as RngState, config: upgradeConfig(raw.config as Record<string, unknown>), backend: raw.backend as string };
}

/**
 * The checkpoint of a run folder given on the command line as `field` (`--run`, `--init`…), with
 * every problem a ConfigError naming that field: no folder, no or unreadable checkpoint, a
 * checkpoint whose env differs from the folder's config.yaml or from `expectEnv`.
 */
export function loadRunCheckpoint(runDir: string, field: string, expectEnv?: string): Checkpoint {
  if (!existsSync(runDir)) throw new ConfigError(field, `${runDir} does not exist`);
  if (!hasCheckpoint(runDir)) throw new ConfigError(field, `${runDir} holds no ${CHECKPOINT_FILE} (give a run folder written by metarl train, or pretrained/<env>)`);
  let ck: Checkpoint;
  try {
    ck = loadCheckpoint(runDir);
  } catch (e) {
    throw new ConfigError(field, (e as Error).message);
  }
  const env = ck.config.env;
  const cfgPath = join(runDir, 'config.yaml');
  if (existsSync(cfgPath)) {
    let saved: unknown;
    try {
      saved = parseYaml(readFileSync(cfgPath, 'utf8'));
    } catch {
      saved = undefined; // the checkpoint carries its own config; config.yaml is for people
    }
    const named = (saved as { env?: unknown } | undefined)?.env;
    if (typeof named === 'string' && named !== env) {
      throw new ConfigError(field, `${runDir}: config.yaml is for env ${named} but ${CHECKPOINT_FILE} holds a policy for ${env}`);
    }
  }
  if (expectEnv !== undefined && expectEnv !== env) throw new ConfigError(field, `${runDir} holds a policy for env ${env}, not ${expectEnv}`);
  return ck;
}
