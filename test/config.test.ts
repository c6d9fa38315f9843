import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { ConfigError } from '../src/core/errors.ts';
import { PRESETS, readConfigFile, resolveConfig, upgradeConfig, validateConfig } from '../src/io/config.ts';
import { fileURLToPath } from 'node:url';
import { Box } from '../src/core/spaces.ts';
import { Rng } from '../src/core/rng.ts';
import { initParams } from '../agents/policy.ts';
import { policySpecOf } from '../src/experiments/metaBatch.ts';

describe('config', () => {
  it('resolves preset ← file ← flags in that order', () => {
    const cfg = resolveConfig('paper', { fastLr: 0.05, seed: 4 }, { seed: 9, out: undefined });
    expect(cfg.hidden).toEqual([100, 100]);
    expect(cfg.activation).toBe('relu');
    expect(cfg.fastLr).toBe(0.05);
    expect(cfg.seed).toBe(9);
    expect(cfg.out).toBe(PRESETS.paper.out);
  });

  it('puts built-in envs on one worker thread per core, or METARL_WORKERS; robots and other envs in the main thread', () => {
    const saved = process.env.METARL_WORKERS;
    try {
      delete process.env.METARL_WORKERS;
      expect(resolveConfig('pytorch-maml-rl', {}, { env: 'navigation' }).workers).toBe(availableParallelism());
      expect(resolveConfig('paper', {}, { env: 'cheetah-direction' }).workers).toBe(availableParallelism());
      expect(resolveConfig('robot', {}, { env: 'navigation' }).workers).toBe(0);
      expect(resolveConfig('pytorch-maml-rl', {}, { env: 'ws://127.0.0.1:8765' }).workers).toBe(0);
      process.env.METARL_WORKERS = '3';
      expect(resolveConfig('quick', {}, { env: 'navigation' }).workers).toBe(3);
      process.env.METARL_WORKERS = 'many';
      expect(() => resolveConfig('quick', {})).toThrow(/^METARL_WORKERS: expected a whole number ≥ 0, got 'many'$/);
    } finally {
      if (saved === undefined) delete process.env.METARL_WORKERS;
      else process.env.METARL_WORKERS = saved;
    }
  });

  it('adapts presets to the half-cheetah tasks (40 tasks; horizon 200 in the paper, 100 in pytorch-maml-rl; worker sampling)', () => {
    const paper = resolveConfig('paper', {}, { env: 'cheetah-velocity' });
    expect([paper.metaBatchSize, paper.horizon, paper.hidden, paper.activation]).toEqual([40, 200, [100, 100], 'relu']);
    expect(paper.workers).toBe(0); // METARL_WORKERS=0 in the test suite (vitest.config.ts)
    const pmr = resolveConfig('pytorch-maml-rl', { env: 'cheetah-direction' });
    expect([pmr.metaBatchSize, pmr.horizon, pmr.hidden]).toEqual([40, 100, [64, 64]]);
    // Each preset wraps the env as its source does (REFERENCE §1–2).
    expect([paper.actionScale, pmr.actionScale]).toEqual([1, 10]);
    expect([paper.cheetahDynamics, pmr.cheetahDynamics]).toEqual(['rllab', 'gym']);
    expect([paper.bootstrapTruncated, pmr.bootstrapTruncated]).toEqual([false, false]);
    expect([paper.baselineObsClip, pmr.baselineObsClip]).toEqual([10, 0]);
    expect([paper.lineSearchKl, pmr.lineSearchKl]).toEqual(['old-new', 'new-old']);
    expect([paper.evalStepSizes, pmr.evalStepSizes]).toEqual([[0.1, 0.05], []]);
    expect([paper.episodesPerTask, paper.evalEpisodesPerTask, paper.numBatches]).toEqual([10, 20, 475]);
    const paperDir = resolveConfig('paper', {}, { env: 'cheetah-direction' });
    expect([paperDir.maxKl, paperDir.episodesPerTask, paperDir.numBatches]).toEqual([0.02, 20, 100]);
    const paperNav = resolveConfig('paper', {}, { env: 'navigation' });
    expect([paperNav.actionScale, paperNav.fastLr, paperNav.evalStepSizes, paperNav.metaBatchSize]).toEqual([1, 0.1, [0.1, 0.05], 20]);
    expect(resolveConfig('pytorch-maml-rl').actionScale).toBeUndefined(); // navigation's own [-0.1, 0.1]
    expect(resolveConfig('pytorch-maml-rl', { env: 'cheetah-velocity', actionScale: 1 }).actionScale).toBe(1);
    expect(resolveConfig('pytorch-maml-rl', {}, { env: 'cheetah-velocity', workers: 1 }).workers).toBe(1);
    expect(resolveConfig('pytorch-maml-rl').workers).toBe(0);
  });

  it('takes a bare robot file as the robot section with --env ros, and a robot section next to training fields', () => {
    const robot = { url: 'ws://localhost:9090', mode: 'lockstep' };
    expect(resolveConfig('pytorch-maml-rl', robot, { env: 'ros' }).robot).toEqual(robot);
    const mixed = resolveConfig('pytorch-maml-rl', { env: 'ros', metaBatchSize: 2, robot });
    expect([mixed.metaBatchSize, mixed.robot]).toEqual([2, robot]);
    expect(() => resolveConfig('pytorch-maml-rl', robot)).toThrow(/url/); // not env ros: an unknown field
  });

  it('robot preset: a small meta-batch and exploration noise relative to each action\'s bounds', () => {
    const robot = readConfigFile(fileURLToPath(new URL('../examples/diff-drive.yaml', import.meta.url)));
    const cfg = resolveConfig('robot', robot, { env: 'ros' });
    expect([cfg.metaBatchSize, cfg.episodesPerTask, cfg.checkpointEvery, cfg.initStdRelative]).toEqual([4, 2, 1, true]);
    // ±0.3 m/s and ±1.5 rad/s: std 0.3 × half-range per dimension.
    const spec = policySpecOf(cfg, { observationSpace: new Box(-Infinity, Infinity, [5]), actionSpace: new Box([-0.3, -1.5], [0.3, 1.5], [2]), sampleTasks: () => [] });
    expect((spec.initStd as number[]).map((x) => Number(x.toFixed(6)))).toEqual([0.09, 0.45]);
    const theta = initParams(spec, new Rng(1));
    expect(Array.from(theta.slice(-2)).map((x) => Math.exp(x))).toEqual([expect.closeTo(0.09, 6), expect.closeTo(0.45, 6)]);
    expect(() => policySpecOf(cfg, { observationSpace: new Box(-Infinity, Infinity, [5]), actionSpace: new Box(-Infinity, Infinity, [2]), sampleTasks: () => [] })).toThrow(/^initStdRelative: action dimension 0 has no finite range/);
  });

  it('a bridge flag given alone keeps the other defaults (serve --port P, --token, --host)', () => {
    for (const flags of [{ port: 9000 }, { token: 's3' }, { host: '0.0.0.0' }]) {
      const c = resolveConfig('pytorch-maml-rl', {}, { env: 'serve', bridge: { host: undefined, port: undefined, token: undefined, ...flags } });
      expect(c.bridge).toMatchObject({ host: '127.0.0.1', port: 8765, ...flags });
    }
  });

  it('merges the bridge section field by field and accepts ws:// URLs and serve as env', () => {
    const c = resolveConfig('pytorch-maml-rl', { env: 'ws://127.0.0.1:9000', bridge: { token: 's3' } }, { bridge: { port: 0 } });
    expect([c.env, c.bridge.token, c.bridge.port, c.bridge.host]).toEqual(['ws://127.0.0.1:9000', 's3', 0, '127.0.0.1']);
    expect(resolveConfig('pytorch-maml-rl', {}, { env: 'serve' }).env).toBe('serve');
    expect(() => resolveConfig('pytorch-maml-rl', { bridge: { port: 70000 } })).toThrow(/bridge\.port/);
  });

  it.each([
    [{ activation: 'sigmoid' }, 'activation', 'tanh, relu'],
    [{ cheetahDynamics: 'raw' }, 'cheetahDynamics', 'gym, rllab'],
    [{ lineSearchKl: 'kl' }, 'lineSearchKl', 'old-new, new-old'],
    [{ actionScale: 0 }, 'actionScale', ''],
    [{ evalStepSizes: [0.1, -1] }, 'evalStepSizes.1', ''],
    [{ ctrlCostOn: 'sampled' }, 'ctrlCostOn', 'unknown field; allowed: env, envModule, seed'],
    [{ backend: 'tpu' }, 'backend', 'wasm'],
    [{ env: 'cartpole' }, 'env', 'navigation'],
    [{ fastLr: -1 }, 'fastLr', ''],
    [{ lsBacktrack: 1.5 }, 'lsBacktrack', ''],
    [{ hidden: [64, 0] }, 'hidden.1', ''],
    [{ numBatchez: 3 }, 'numBatchez', 'numBatches'],
  ])('rejects %j naming the field and what it allows', (patch, field, allowed) => {
    let err: unknown;
    try {
      validateConfig({ ...PRESETS['pytorch-maml-rl'], ...patch });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe(field);
    expect((err as ConfigError).message).toContain(allowed);
    expect((err as ConfigError).message).not.toContain('\n');
  });

  it('rejects an unknown preset and unreadable or malformed files', () => {
    expect(() => resolveConfig('fast')).toThrow(/--preset.*allowed: pytorch-maml-rl, paper, robot, quick/);
    const dir = mkdtempSync(join(tmpdir(), 'metarl-cfg-'));
    expect(() => readConfigFile(join(dir, 'missing.yaml'))).toThrow(ConfigError);
    writeFileSync(join(dir, 'bad.yaml'), 'a: [1, 2\n');
    expect(() => readConfigFile(join(dir, 'bad.yaml'))).toThrow(/not valid YAML/);
    writeFileSync(join(dir, 'list.yaml'), '- 1\n- 2\n');
    expect(() => readConfigFile(join(dir, 'list.yaml'))).toThrow(/mapping/);
  });
});

describe('CLI bad input', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8', timeout: 60_000 });

  it.each([
    [['train', '--backend', 'tpu'], 'auto, wasm, cpu, tensorflow, tensorflow-gpu'],
    [['train', '--env', 'cartpole'], 'navigation'],
    [['train', '--preset', 'fast'], 'pytorch-maml-rl'],
    [['train', '--seed', 'abc'], '--seed'],
  ])('%j exits 2 with one line naming the allowed values', (args, allowed) => {
    const r = run(...args);
    expect(r.status).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('error'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(allowed);
  });

  it('an invalid config file value exits 2 naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'metarl-cli-'));
    const f = join(dir, 'c.yaml');
    writeFileSync(f, 'maxKl: 0\n');
    const r = run('train', '--config', f, '--out', dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/error: maxKl: /);
  });
});

describe('configs saved by earlier versions', () => {
  it('load with the semantics their runs had, and a retired ctrlCostOn: sampled is refused', () => {
    const { lineSearchKl, lossWeighting, bootstrapTruncated, baselineObsClip, cheetahDynamics, evalStepSizes, evalEpisodesPerTask, evalTasks, actionScale, ...old } = resolveConfig('pytorch-maml-rl', { env: 'cheetah-velocity' });
    void [lineSearchKl, lossWeighting, bootstrapTruncated, baselineObsClip, cheetahDynamics, evalStepSizes, evalEpisodesPerTask, evalTasks, actionScale];
    const up = upgradeConfig({ ...old, ctrlCostOn: 'clipped' });
    expect([up.actionScale, up.bootstrapTruncated, up.baselineObsClip, up.lineSearchKl, up.lossWeighting, up.cheetahDynamics]).toEqual([undefined, true, 10, 'old-new', 'step', 'gym']);
    expect(() => upgradeConfig({ ...old, ctrlCostOn: 'sampled' })).toThrow(/ctrlCostOn: .*retired/);
    // A config of today round-trips unchanged.
    const now = resolveConfig('paper', {}, { env: 'cheetah-direction' });
    expect(upgradeConfig({ ...now })).toEqual(now);
  });
});

describe('per-algorithm settings (PER_ALGO)', () => {
  it('layer over the preset and under the file and flags', () => {
    expect(resolveConfig('paper', {}, { env: 'navigation', algo: 'reptile' })).toMatchObject({ numSteps: 3, reptileStepSize: 0.5, hidden: [100, 100] });
    expect(resolveConfig('paper', { algo: 'reptile', numSteps: 2 }, { env: 'navigation' }).numSteps).toBe(2);
    expect(resolveConfig('paper', {}, { env: 'navigation', algo: 'reptile', reptileStepSize: 0.2 }).reptileStepSize).toBe(0.2);
    expect(resolveConfig('paper', {}, { env: 'navigation', algo: 'rl2' })).toMatchObject({ rl2Hidden: 64, rl2Episodes: 2, maxKl: 0.05 });
    expect(resolveConfig('paper', {}, { env: 'navigation', algo: 'maml' }).numSteps).toBe(1);
  });
});
