/** Bring your own env: register(), the vector env over user envs, --env-module, and the library's train(). */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, NumericError } from '../src/core/errors.ts';
import { Box } from '../src/core/spaces.ts';
import { envNames, make, makeVector, register, unregister } from '../envs/registry.ts';
import type { StepResult } from '../src/core/env.ts';
import { train } from '../src/api.ts';

// tsx's loader by path: the commands also run from other folders (eval and resume from /tmp).
const TSX = pathToFileURL(resolve('node_modules/tsx/dist/loader.mjs')).href;
const cli = (args: string[], env: Record<string, string> = {}, cwd = process.cwd()) =>
  spawnSync(process.execPath, ['--import', TSX, resolve('src/cli.ts'), ...args], { encoding: 'utf8', timeout: 120_000, cwd, env: { ...process.env, ...env } });
const lastLine = (text: string) => text.trim().split('\n').at(-1);
const FIXTURE = resolve('test/fixtures/stepEnv.ts');

/** A 1-D env whose step is sync or async, recording the actions it was given. */
function lineEnv(o: { maxEpisodeSteps?: number }, asyncStep: boolean, seen: number[] = []) {
  let x = 0;
  const result = (): StepResult => ({ obs: Float32Array.of(x), reward: -Math.abs(x), terminated: false, truncated: false, info: {} });
  return {
    observationSpace: new Box(-Infinity, Infinity, [1]),
    actionSpace: new Box(-0.5, 0.5, [1]),
    maxEpisodeSteps: o.maxEpisodeSteps ?? 3,
    setTask: () => {},
    sampleTasks: (n: number) => Array.from({ length: n }, () => ({})),
    reset: () => {
      x = 0;
      return { obs: Float32Array.of(x), info: {} };
    },
    step: (a: Float32Array) => {
      seen.push(a[0]);
      x += a[0];
      return asyncStep ? new Promise<StepResult>((r) => setTimeout(() => r(result()), 1)) : result();
    },
  };
}

afterAll(() => {
  for (const name of ['t-sync', 't-async', 't-bad', 't-notasks', 't-twice', 't-lib']) unregister(name);
});

describe('register()', () => {
  it('refuses bad names, built-in and reserved names, and a second factory under one name', () => {
    const f = (o: { maxEpisodeSteps?: number }) => lineEnv(o, false);
    expect(() => register('My Env', f)).toThrow(ConfigError);
    expect(() => register('navigation', f)).toThrow(/built-in env or source name/);
    expect(() => register('serve', f)).toThrow(/built-in env or source name/);
    expect(() => register('t-twice', f, { taskSpace: { goal: { low: 1, high: 0 } } })).toThrow(/register t-twice: taskSpace\.goal: needs low ≤ high/);
    register('t-twice', f);
    register('t-twice', f); // the same factory again (a module imported twice) is harmless
    expect(() => register('t-twice', (o) => lineEnv(o, true))).toThrow(/registered already/);
    expect(envNames()).toContain('t-twice');
  });

  it('an env with neither a taskSpace nor sampleTasks is refused when made; an unknown name lists the registered ones', () => {
    register('t-notasks', (o) => ({ ...lineEnv(o, false), sampleTasks: undefined }));
    expect(() => make('t-notasks')).toThrow(/give register\(\) a taskSpace or the env a sampleTasks/);
    expect(() => make('no-such-env')).toThrow(/unknown env 'no-such-env'; allowed: navigation, cheetah-velocity, cheetah-direction, .*t-notasks/);
  });
});

describe('vector env over a user env', () => {
  it.each([
    ['sync', false],
    ['async', true],
  ])('%s step: actions clipped into the action space, episodes truncated at the time limit', async (name, asyncStep) => {
    const seen: number[] = [];
    register(`t-${name}`, (o) => lineEnv(o, asyncStep, seen));
    const env = makeVector(`t-${name}`, 2, { maxEpisodeSteps: 3 });
    expect(Array.from(await env.reset(1))).toEqual([0, 0]);
    const steps = [];
    for (let t = 0; t < 3; t++) steps.push(await env.step(Float32Array.of(2, -0.25)));
    expect(seen.slice(0, 2)).toEqual([0.5, -0.25]); // 2 clipped to the bound 0.5
    expect(Array.from(steps[2].obs)).toEqual([1.5, -0.75]);
    expect(steps.map((s) => Array.from(s.truncated))).toEqual([[0, 0], [0, 0], [1, 1]]);
    const after = await env.step(Float32Array.of(0.5, 0.5)); // both episodes over: not stepped
    expect(seen).toHaveLength(6);
    expect(Array.from(after.reward)).toEqual([0, 0]);
  });

  it('an observation of the wrong size or a non-finite reward fails with a message naming the env', async () => {
    let reward = 0;
    register('t-bad', (o) => ({ ...lineEnv(o, false), step: () => ({ obs: Float32Array.of(0), reward, terminated: false, truncated: false, info: {} }) }));
    const env = makeVector('t-bad', 1);
    await env.reset(1);
    reward = NaN;
    await expect(Promise.resolve(env.step(Float32Array.of(0)))).rejects.toThrow(NumericError);
    await expect(Promise.resolve(env.step(Float32Array.of(0)))).rejects.toThrow(/env t-bad: step\(\) returned reward NaN/);
  });
});

describe('--env-module', () => {
  it('trains a registered env from the command line, identically on 0 and 2 workers; eval and resume find the env from another folder', () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-envmod-'));
    const base = ['train', '--env-module', FIXTURE, '--env', 'step-1d', '--preset', 'quick', '--num-batches', '2', '--set', 'metaBatchSize=4', '--set', 'episodesPerTask=4', '--set', 'horizon=20', '--backend', 'wasm', '--out', out];
    const runs = [0, 2].map((w) => {
      const r = cli([...base, '--workers', String(w)]);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim();
    });
    const thetas = runs.map((dir) => JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')).theta);
    expect(thetas[1]).toEqual(thetas[0]);
    expect(readFileSync(join(runs[0], 'config.yaml'), 'utf8')).toContain(`envModule: ${FIXTURE}`);
    const ev = cli(['eval', '--run', runs[0], '--tasks', '3', '--steps', '1', '--backend', 'wasm'], {}, tmpdir());
    expect(ev.status, ev.stderr).toBe(0);
    expect(ev.stdout).toMatch(/after 1 step/);
    expect(ev.stderr).toMatch(/^ {2}evaluated 3\/3 tasks$/m);
    expect(ev.stderr).not.toContain('\r');
    const re = cli(['train', '--resume', runs[0], '--num-batches', '3', '--backend', 'wasm'], {}, tmpdir());
    expect(re.status, re.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(runs[0], 'checkpoint.json'), 'utf8')).batch).toBe(3);
  });

  it('a module that does not exist or fails to load, or an env it does not register: one plain line, exit 2', () => {
    const missing = cli(['train', '--env-module', 'no/such/file.ts', '--env', 'step-1d', '--print-config']);
    expect(missing.status).toBe(2);
    expect(lastLine(missing.stderr)).toMatch(/^error: envModule: no such file: .*no\/such\/file\.ts$/);
    const broken = cli(['train', '--env-module', resolve('test/fixtures/faultyWorker.ts'), '--env', 'step-1d', '--print-config']);
    expect(broken.status).toBe(2);
    expect(lastLine(broken.stderr)).toMatch(/^error: (envModule: .*faultyWorker\.ts failed to load|env: unknown env 'step-1d')/);
    const unregistered = cli(['train', '--env', 'step-1d', '--print-config']);
    expect(unregistered.status).toBe(2);
    expect(lastLine(unregistered.stderr)).toMatch(/^error: env: unknown env.*an env registered by --env-module/);
  });

  it('an env whose observations do not fit its space stops the run (exit 3) with a message naming it', () => {
    const r = cli(['train', '--env-module', FIXTURE, '--env', 'step-1d', '--preset', 'quick', '--num-batches', '1', '--backend', 'wasm', '--out', mkdtempSync(join(tmpdir(), 'metarl-badobs-'))], { METARL_TEST_BAD_OBS: '1' });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/env step-1d: reset\(\) returned an observation of 3 entries; its observationSpace has 2/);
  });
});

describe('library train()', () => {
  it('trains an env registered in this thread; worker threads need the module that registers it', async () => {
    register('t-lib', (o) => lineEnv(o, false));
    const out = mkdtempSync(join(tmpdir(), 'metarl-api-'));
    await expect(train({ env: 't-lib', preset: 'quick', workers: 2, out })).rejects.toThrow(/workers: env 't-lib' was registered by code in this thread only/);
    const r = await train({ env: 't-lib', preset: 'quick', numBatches: 2, metaBatchSize: 2, episodesPerTask: 2, horizon: 3, backend: 'wasm', out });
    expect(r.batchesDone).toBe(2);
    expect(r.theta.every(Number.isFinite)).toBe(true);
  });
});
