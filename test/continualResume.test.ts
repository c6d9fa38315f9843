/**
 * Resuming continual runs. In process: the state saved after any task (written to disk and read
 * back) lets runSeed go on to exactly the runs of an uninterrupted seed, MER memory and both
 * generators included; lanes sized for one task give the same episodes as the full lanes. As a
 * user runs it: `metarl continual` killed with SIGKILL mid-run, then `--resume`, ends with the
 * same results.json as a run never stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/tensor/backend.ts';
import { resolveConfig } from '../src/io/config.ts';
import { CONTINUAL_DEFAULTS, type ContinualConfig } from '../src/continual/config.ts';
import { openEnvSource } from '../src/experiments/envSource.ts';
import { makeSamplerLanes, policySpecOf } from '../src/experiments/metaBatch.ts';
import { runSeed } from '../src/continual/run.ts';
import { type ContinualState, type SeedProgressState, coveredByState, loadState, saveState } from '../src/continual/state.ts';

const dirs: string[] = [];
const tempDir = (tag: string) => {
  const d = mkdtempSync(join(tmpdir(), `metarl-${tag}-`));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const c: ContinualConfig = { ...CONTINUAL_DEFAULTS, tasks: 4, seeds: 1, methods: ['mer', 'online', 'replay'], episodesPerTask: 4, batchesPerTask: 2, replayItems: 2, replayRows: 400, minItemRows: 8, memoryCapacity: 2000 };
const cfg = resolveConfig('pytorch-maml-rl', { horizon: 20, episodesPerTask: c.episodesPerTask, hidden: [16] });

describe('continual resume (in process)', () => {
  it('goes on from the state saved after any task to the runs of an uninterrupted seed', async () => {
    const source = await openEnvSource(cfg, c.tasks);
    try {
      const spec = policySpecOf(cfg, source.taskSource);
      const dir = tempDir('state');
      const saved: ContinualState[] = [];
      const base: ContinualState = { config: cfg, continual: c, backend: 'wasm', theta0: null, tasks: [], done: [], progress: null };
      const full = await runSeed(cfg, c, source, spec, 3, null, {
        checkpoint: (p: SeedProgressState) => {
          // Through the file, as a killed process would leave it.
          saveState(dir, { ...base, progress: p });
          saved.push(loadState(dir));
        },
      });
      expect(saved).toHaveLength(c.methods.length * c.tasks);
      // Mid-mer with a non-empty memory, the last mer task, mid-online, mid-replay.
      for (const k of [1, 3, 5, 9]) {
        const st = saved[k];
        if (k === 1) expect(st.progress!.current!.memory!.size).toBeGreaterThan(0);
        const resumed = await runSeed(cfg, c, source, spec, 3, null, {}, st.progress);
        expect(resumed.runs, `resumed after checkpoint ${k}`).toEqual(full.runs);
      }
    } finally {
      await source.close();
    }
  }, 240_000);

  it('measures one task on one-task lanes with the same episodes as on the full lanes', async () => {
    const source = await openEnvSource(cfg, c.tasks);
    const single = await makeSamplerLanes(cfg, 1);
    try {
      const spec = policySpecOf(cfg, source.taskSource);
      const cc = { ...c, tasks: 3 };
      const a = await runSeed(cfg, cc, source, spec, 4, null);
      const b = await runSeed(cfg, cc, { ...source, single }, spec, 4, null);
      expect(b.runs).toEqual(a.runs);
    } finally {
      await Promise.all(single.map((e) => e.close()));
      await source.close();
    }
  }, 240_000);

  it('counts a task line as covered only when the state will not redo it', () => {
    const run = { method: 'mer', seed: 1, R: [], b: [], random: [], oracle: [], returnsBefore: [], returnsAfter: [] };
    const st: ContinualState = {
      config: cfg,
      continual: c,
      backend: 'wasm',
      theta0: null,
      tasks: [],
      done: [{ ...run, seed: 1 }],
      progress: { seed: 2, refs: { b: [], random: [] }, finished: [{ ...run, seed: 2, method: 'mer' }], current: { method: 'online', next: 2, theta: new Float32Array(1), rng: [1, 2, 3, 4], memoryRng: [1, 2, 3, 4], memory: null, run } },
    };
    expect(coveredByState(st, 1, 'replay', 3)).toBe(true);
    expect(coveredByState(st, 2, 'mer', 3)).toBe(true);
    expect(coveredByState(st, 2, 'online', 1)).toBe(true);
    expect(coveredByState(st, 2, 'online', 2)).toBe(false);
    expect(coveredByState(st, 2, 'replay', 0)).toBe(false);
    expect(coveredByState(st, 3, 'mer', 0)).toBe(false);
  });
});

const cli = ['--import', 'tsx', 'src/cli.ts'];
const runCli = (args: string[]) => spawnSync(process.execPath, [...cli, ...args], { encoding: 'utf8', timeout: 120_000 });
const runFolder = (out: string) => join(out, readdirSync(out).find((f) => f.startsWith('continual__'))!);
const lineCount = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').length : 0);

describe('metarl continual --resume', () => {
  const yaml = 'horizon: 20\nhidden: [16]\ncontinual:\n  episodesPerTask: 4\n  batchesPerTask: 2\n  replayItems: 2\n  replayRows: 400\n  minItemRows: 8\n  memoryCapacity: 2000\n';
  const args = (config: string, out: string) => ['continual', '--config', config, '--seeds', '2', '--tasks', '3', '--methods', 'mer,online', '--backend', 'wasm', '--out', out];

  it('after kill -9 mid-run, ends with the results of an uninterrupted run', async () => {
    const work = tempDir('resume');
    const config = join(work, 'small.yaml');
    writeFileSync(config, yaml);
    const refOut = join(work, 'ref');
    const ref = runCli(args(config, refOut));
    expect(ref.status, ref.stderr).toBe(0);

    const out = join(work, 'killed');
    const child = spawn(process.execPath, [...cli, ...args(config, out)], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    // Kill once seed 1 is part-way through its second method (mer's memory is in the state by then).
    const deadline = Date.now() + 100_000;
    let killedAt = 0;
    while (Date.now() < deadline) {
      const dir = existsSync(out) && readdirSync(out).length > 0 ? runFolder(out) : null;
      if (dir && (killedAt = lineCount(join(dir, 'tasks.jsonl'))) >= 4) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(killedAt).toBeGreaterThanOrEqual(4);
    const dir = runFolder(out);
    expect(existsSync(join(dir, 'results.json'))).toBe(false);

    const clash = runCli(['continual', '--resume', dir, '--seeds', '3']);
    expect(clash.status).toBe(2);
    expect(clash.stderr).toMatch(/--resume: takes every setting from the run folder; drop --seeds/);

    const res = runCli(['continual', '--resume', dir]);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/resuming .* at seed \d/);
    const want = JSON.parse(readFileSync(join(runFolder(refOut), 'results.json'), 'utf8'));
    const got = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    expect(got.runs).toEqual(want.runs);
    expect(got.summary).toEqual(want.summary);
    // Every task logged once: 2 seeds × 2 methods × 3 tasks.
    const keys = readFileSync(join(dir, 'tasks.jsonl'), 'utf8').trim().split('\n').map((l) => { const r = JSON.parse(l); return `${r.seed}/${r.method}/${r.task}`; });
    expect(new Set(keys).size).toBe(12);
    expect(keys).toHaveLength(12);
  }, 240_000);

  it('--tasks 1 is refused before anything runs (exit 2), and a missing run folder exits 2', () => {
    const out = tempDir('one-task');
    const one = runCli(['continual', '--tasks', '1', '--out', out]);
    expect(one.status).toBe(2);
    expect(one.stderr.trim().split('\n').at(-1)).toMatch(/^error: tasks: .*2/);
    expect(readdirSync(out)).toEqual([]); // nothing was created
    const missing = runCli(['continual', '--resume', join(out, 'nope')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^error: --resume: /m);
  });

  it('a folder without state exits 2 naming --resume', () => {
    const r = runCli(['continual', '--resume', tempDir('empty')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--resume: .* holds no state\.json/);
  }, 60_000);
});
