/**
 * The dashboard from the command line:
 *   metarl dashboard [RUN…] [--host H] [--port P] [--token-file F]   prints its URL on stdout,
 *     logs on stderr, serves until Ctrl-C. Without RUN: the run folders under ./runs.
 *   metarl train --dashboard [--dashboard-port P]   a loopback dashboard beside the run, with a
 *     stop button for it; it ends with the run.
 * The token (needed when --host is not loopback) comes from --token-file or METARL_TOKEN, never
 * from the command line (the process list is public).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { envSlug } from '../io/runDir.ts';
import { readToken } from '../io/secrets.ts';
import { isLoopback } from './auth.ts';
import { RunSet } from './runs.ts';
import { type Dashboard, startDashboard } from './server.ts';

export interface DashboardFlags {
  host?: string;
  port?: number;
  tokenFile?: string;
}

const RUN_FILES = ['metrics.jsonl', 'tasks.jsonl', 'checkpoint.json', 'state.json'];
const isRun = (dir: string) => RUN_FILES.some((f) => existsSync(join(dir, f)));
const subfolders = (dir: string) => readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name)).sort();

/** Run folders under `root`: its subfolders that are runs, and those one level down (seed groups). */
export function findRuns(root: string, limit = 500): string[] {
  if (!existsSync(root) || !statSync(root).isDirectory()) return [];
  const found: string[] = [];
  for (const dir of subfolders(root)) {
    if (isRun(dir)) found.push(dir);
    else found.push(...subfolders(dir).filter(isRun));
  }
  return found.slice(0, limit);
}

/** `metarl dashboard`: serves until SIGINT / SIGTERM. */
export async function dashboardCommand(runDirs: string[], flags: DashboardFlags): Promise<void> {
  const dirs = runDirs.length > 0 ? runDirs : findRuns('runs');
  if (dirs.length === 0) throw new ConfigError('runs', 'no run folders given and none under ./runs: metarl dashboard RUN [RUN…]');
  const runs = new RunSet();
  for (const dir of dirs) runs.add(dir);
  const host = flags.host ?? '127.0.0.1';
  const token = readToken({ tokenFile: flags.tokenFile });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const dash = await startDashboard({ runs, host, port: flags.port, token: isLoopback(host) ? undefined : token, log });
  process.stdout.write(`${dash.url}\n`);
  log(`dashboard: ${runs.list().length} run(s) on ${dash.url}${isLoopback(host) ? '' : ' — reachable from other machines; open it with #token=TOKEN appended (the page keeps it out of the address bar)'}; Ctrl-C stops`);
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
  await dash.close();
  log('dashboard: stopped');
}

/** A signal that fires when any of `signals` does. */
export function eitherSignal(...signals: AbortSignal[]): AbortSignal {
  const c = new AbortController();
  for (const s of signals) {
    if (s.aborted) c.abort(s.reason);
    else s.addEventListener('abort', () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}

/**
 * The folder a new run of `env` and `seed` creates under `out` (train.ts names it
 * `{env}__{algorithm}__{seed}__{time}`, e.g. maml-trpo or reptile): the first such folder not
 * among `before`.
 */
export function newRunFolder(out: string, env: string, seed: number, before: ReadonlySet<string>): string | null {
  if (!existsSync(out)) return null;
  const prefix = `${envSlug(env)}__`;
  const rest = new RegExp(`^[a-z][a-z0-9-]*__${seed}__`);
  const fresh = readdirSync(out).filter((name) => name.startsWith(prefix) && rest.test(name.slice(prefix.length)) && !before.has(name)).sort();
  return fresh.length > 0 ? join(out, fresh[0]) : null;
}

export interface TrainDashboard {
  url: string;
  /** Called when the user presses the stop button. */
  stopSignal: AbortSignal;
  close(): Promise<void>;
}

/**
 * `metarl train --dashboard`: a loopback dashboard on the run folder — `runDir` when resuming,
 * else the folder the run creates under `out` (found by polling, as train.ts names it only once
 * its env is up). Adaptation is off here (it would share this process's tfjs engine and CPU with
 * the training): `metarl dashboard RUN` in another process adapts the latest checkpoint.
 */
export async function startTrainDashboard(o: { out: string; env: string; seed: number; runDir?: string; port?: number; log: (line: string) => void }): Promise<TrainDashboard> {
  const stopper = new AbortController();
  const stop = () => stopper.abort(new Error('stop requested from the dashboard'));
  const runs = new RunSet();
  let timer: NodeJS.Timeout | undefined;
  if (o.runDir !== undefined) runs.add(o.runDir, { stop });
  else {
    const before = new Set(existsSync(o.out) ? readdirSync(o.out) : []);
    timer = setInterval(() => {
      const dir = newRunFolder(o.out, o.env, o.seed, before);
      if (dir === null) return;
      clearInterval(timer);
      runs.add(dir, { stop });
    }, 200);
    timer.unref();
  }
  let dash: Dashboard;
  try {
    dash = await startDashboard({ runs, host: '127.0.0.1', port: o.port ?? 0, adapter: null, log: o.log });
  } catch (e) {
    clearInterval(timer);
    throw e;
  }
  o.log(`dashboard: ${dash.url} (ends with this run; afterwards: metarl dashboard RUN)`);
  return {
    url: dash.url,
    stopSignal: stopper.signal,
    close: async () => {
      clearInterval(timer);
      await dash.close();
    },
  };
}
