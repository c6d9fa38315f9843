/**
 * Checkpoints: one JSON file per run folder — the meta-batches done, θ, the generator state and the
 * config — written atomically with a checksum and read against a schema (checkedJson.ts), so that
 * a crash mid-write leaves the previous checkpoint intact and a damaged or edited one is refused.
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { join } from 'node:path';
import type { RngState } from '../core/rng.ts';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import { RngStateSchema, count, finiteArray, readChecked, writeChecked } from './checkedJson.ts';
export { writeFileAtomic } from './atomic.ts';
import { type Config, upgradeConfig } from './config.ts';
import { withoutSecrets } from './secrets.ts';

export const CHECKPOINT_FILE = 'checkpoint.json';
const VERSION = 2;

/** Version 1 (before checksums): the same fields, read without a checksum. */
const fields = {
  batch: count,
  backend: z.string().max(64),
  rng: RngStateSchema,
  config: z.record(z.string(), z.unknown()),
  theta: finiteArray.min(1, 'no parameters'),
};
const V1Schema = z.object({ version: z.literal(1), ...fields }).strict();
const CheckpointSchema = z.object({ version: z.literal(VERSION), ...fields }).strict();
type Body = z.infer<typeof CheckpointSchema> | z.infer<typeof V1Schema>;

export interface Checkpoint {
  /** Meta-batches completed (the next batch to run). */
  batch: number;
  /** Meta-parameters, flat. */
  theta: Float32Array;
  rng: RngState;
  config: Config;
  backend: string;
}

export function saveCheckpoint(runDir: string, c: Checkpoint): void {
  const body = {
    version: VERSION,
    batch: c.batch,
    backend: c.backend,
    rng: c.rng,
    config: withoutSecrets(c.config),
    // Float32 values are exactly representable as JSON numbers, so this round-trips bit for bit.
    theta: Array.from(c.theta),
  };
  writeChecked(join(runDir, CHECKPOINT_FILE), body);
}

export function hasCheckpoint(runDir: string): boolean {
  return existsSync(join(runDir, CHECKPOINT_FILE));
}

/** Reads and checks a run folder's checkpoint; every problem is a ConfigError on `field`. */
export function loadCheckpoint(runDir: string, field = '--resume'): Checkpoint {
  const path = join(runDir, CHECKPOINT_FILE);
  const version = (() => {
    try {
      return (JSON.parse(readFileSync(path, 'utf8')) as { version?: unknown })?.version;
    } catch {
      return undefined; // readChecked names the problem
    }
  })();
  if (version !== undefined && version !== 1 && version !== VERSION) throw new ConfigError(field, `${path} has version ${String(version)}; this metarl reads versions 1 and ${VERSION}`);
  const raw = readChecked<Body>(path, CheckpointSchema, field, { version: 1, schema: V1Schema });
  return { batch: raw.batch, theta: Float32Array.from(raw.theta), rng: raw.rng, config: upgradeConfig(raw.config), backend: raw.backend };
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
    ck = loadCheckpoint(runDir, field);
  } catch (e) {
    throw e instanceof ConfigError && e.field === field ? e : new ConfigError(field, (e as Error).message);
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
