/**
 * The run folders a dashboard shows, and the only files it ever opens in them. A URL names a run
 * by its number in this set (`/api/runs/0/…`), never by a path, and a file is opened only when its
 * real path (symlinks resolved) lies inside the run folder's real path: nothing outside the
 * folders given on the command line can be read through the dashboard.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, join, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../core/errors.ts';

/** Files the dashboard reads in a run folder. */
export type RunFile = 'metrics.jsonl' | 'tasks.jsonl' | 'checkpoint.json' | 'config.yaml' | 'state.json';

/** A training run (metrics.jsonl), a continual run (tasks.jsonl), or a folder not yet written. */
export type RunKind = 'training' | 'continual' | 'pending';

export interface RunEntry {
  id: number;
  /** Real path of the run folder. */
  dir: string;
  name: string;
  /** Stops the run; only for a run this process trains (`metarl train --dashboard`). */
  stop?: () => void;
}

/** What /api/runs says about a run. */
export interface RunInfo {
  id: number;
  name: string;
  kind: RunKind;
  env: string | null;
  /** A navigation run with a checkpoint and a dashboard that adapts. */
  adaptable: boolean;
  stoppable: boolean;
}

/** config.yaml larger than this is not read (it is a few hundred bytes). */
const MAX_CONFIG_BYTES = 256 * 1024;

/** The path of `file` in the run, or null when it is missing or resolves outside the run folder. */
export function runFilePath(run: RunEntry, file: RunFile): string | null {
  const path = join(run.dir, file);
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return null;
  }
  return real.startsWith(run.dir + sep) && statSync(real).isFile() ? real : null;
}

/** A continual run has tasks.jsonl or state.json; a training run metrics.jsonl or a checkpoint. */
export function runKind(run: RunEntry): RunKind {
  if (runFilePath(run, 'tasks.jsonl') || runFilePath(run, 'state.json')) return 'continual';
  if (runFilePath(run, 'metrics.jsonl') || runFilePath(run, 'checkpoint.json')) return 'training';
  return 'pending';
}

/** The env named in the run's config.yaml, if it can be read. */
export function runEnv(run: RunEntry): string | null {
  const path = runFilePath(run, 'config.yaml');
  if (path === null || statSync(path).size > MAX_CONFIG_BYTES) return null;
  try {
    const env = (parseYaml(readFileSync(path, 'utf8')) as { env?: unknown } | null)?.env;
    return typeof env === 'string' ? env : null;
  } catch {
    return null;
  }
}

export function describeRun(run: RunEntry, canAdapt: boolean): RunInfo {
  const kind = runKind(run);
  const env = runEnv(run);
  return {
    id: run.id,
    name: run.name,
    kind,
    env,
    adaptable: canAdapt && kind === 'training' && env === 'navigation' && runFilePath(run, 'checkpoint.json') !== null,
    stoppable: run.stop !== undefined,
  };
}

/** The runs of one dashboard; a run may be added while it serves (train --dashboard). */
export class RunSet {
  private readonly runs: RunEntry[] = [];

  /** Adds a run folder (it must exist); returns its entry. */
  add(dir: string, o: { stop?: () => void } = {}): RunEntry {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError('runs', `${dir} is not a run folder (give folders written by metarl train or metarl continual)`);
    const real = realpathSync(dir);
    const known = this.runs.find((r) => r.dir === real);
    if (known) return known;
    const entry: RunEntry = { id: this.runs.length, dir: real, name: basename(real), stop: o.stop };
    this.runs.push(entry);
    return entry;
  }

  /** The run numbered `id` in a URL segment (digits only), or undefined. */
  get(idText: string): RunEntry | undefined {
    if (!/^\d{1,6}$/.test(idText)) return undefined;
    return this.runs[Number(idText)];
  }

  list(): readonly RunEntry[] {
    return this.runs;
  }
}
