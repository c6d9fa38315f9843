/**
 * Checkpoints: one JSON file per run folder, written atomically (temporary file, fsync, rename)
 * so that a crash mid-write leaves the previous checkpoint intact.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RngState } from '../core/rng.ts';
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
