/**
 * Run folders: `{out}/{name}__{time}` (CleanRL's layout), created *exclusively* — two runs started
 * in the same second get `…__{time}`, `…__{time}-2`, … rather than one folder with interleaved
 * metrics — and the run's config.yaml, written so that it is valid `--config` input again.
 */
import { accessSync, constants, mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { stringify as toYaml } from 'yaml';
import { writeFileAtomic } from './atomic.ts';
import { withoutSecrets } from './secrets.ts';

/**
 * Makes sure `out` is a folder runs can be created in, creating it one level at a time: fast
 * failure with one line naming `--out` (a file on the way, no permission, a pseudo file system
 * such as /proc, where Node's recursive mkdir loops forever).
 */
export function prepareOut(out: string): void {
  const full = resolve(out);
  const parts = full.split(sep).filter(Boolean);
  let path = full.startsWith(sep) ? sep : '';
  for (const part of parts) {
    path = join(path, part);
    let st;
    try {
      st = statSync(path);
    } catch {
      st = null;
    }
    if (st && !st.isDirectory()) throw new ConfigError('--out', `${path} is not a folder (out: ${out})`);
    if (st) continue;
    try {
      mkdirSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError('--out', `cannot create ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (out: ${out})`);
    }
  }
  try {
    accessSync(full, constants.W_OK);
  } catch (e) {
    throw new ConfigError('--out', `cannot write in ${full}: ${(e as NodeJS.ErrnoException).code}`);
  }
}

/** A name part from an env: a ws:// URL becomes `ws-host-port`, other characters `-`. */
export function envSlug(env: string): string {
  return env.replace(/^wss?:\/\//, 'ws-').replace(/[^A-Za-z0-9._-]+/g, '-');
}

/** The algorithm part of a training run folder's name: maml-trpo, reptile, meta-sgd-trpo or rl2-trpo. */
export function experimentName(cfg: { algo?: string }): string {
  return cfg.algo === 'reptile' ? 'reptile' : cfg.algo === 'meta-sgd' ? 'meta-sgd-trpo' : cfg.algo === 'rl2' ? 'rl2-trpo' : 'maml-trpo';
}

/** YYYYMMDDTHHMMSS in UTC. */
export function timeStamp(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
}

/**
 * Creates `{out}/{name}__{time}` (or with a `-2`, `-3`… suffix if it exists) and returns its path.
 * mkdir without `recursive` fails on an existing folder, so two processes cannot both get one.
 */
export function createRunDir(out: string, name: string, now = new Date()): string {
  prepareOut(out);
  const base = join(out, `${name}__${timeStamp(now)}`);
  for (let k = 1; k < 10_000; k++) {
    const dir = k === 1 ? base : `${base}-${k}`;
    try {
      mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new Error(`cannot create a run folder under ${out}: ${base} and 9,999 variants exist`);
}

/**
 * Writes a run's config.yaml: the settings as `--config` takes them (no fields of its own), with
 * what is not a setting — the backend in use, a redacted secret — as YAML comments.
 */
export function writeRunConfig(runDir: string, config: Record<string, unknown>, notes: string[]): void {
  const safe = withoutSecrets(config);
  const secret = safe !== config ? ['bridge.token: not saved (a secret); give it again with --token-file FILE or METARL_TOKEN'] : [];
  const header = [...notes, ...secret].map((n) => `# ${n}\n`).join('');
  writeFileAtomic(join(runDir, 'config.yaml'), header + toYaml(safe));
}

/**
 * Removes temporary files a killed writer left behind (`*.tmp-<pid>`, see writeFileAtomic) in a
 * run folder, except those of live processes. Returns how many went.
 */
export function removeStaleTemporaries(dir: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = /\.tmp-(\d+)$/.exec(name);
    if (!m || isAlive(Number(m[1]))) continue;
    try {
      if (statSync(join(dir, name)).isFile()) {
        unlinkSync(join(dir, name));
        removed++;
      }
    } catch {
      // gone already
    }
  }
  return removed;
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
