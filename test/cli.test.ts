/** The `metarl` command as a user runs it: Ctrl-C checkpoints and exits cleanly; eval reads the run. */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint.ts';
import { resolveConfig } from '../src/io/config.ts';
import { numParams } from '../agents/policy.ts';
import { Rng } from '../src/core/rng.ts';

const cli = ['--import', 'tsx', 'src/cli.ts'];

describe('metarl train / eval', () => {
  it('Ctrl-C writes a checkpoint and exits 130; eval then reports returns per step', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-sigint-'));
    const child = spawn(process.execPath, [...cli, 'train', '--preset', 'quick', '--num-batches', '40', '--backend', 'wasm', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`timed out; stderr so far:\n${stderr}`));
      }, 90_000);
      child.stderr.on('data', (d) => {
        stderr += d;
        if (/meta-training 1\/40/.test(stderr) && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code).toBe(130);
    expect(stderr).toMatch(/stopping: a simulator finishes this meta-batch/);
    const runDir = join(out, readdirSync(out)[0]);
    const ck = loadCheckpoint(runDir);
    expect(ck.batch).toBeGreaterThanOrEqual(1);
    expect(ck.batch).toBeLessThan(40);
    const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(ck.batch);

    const ev = spawnSync(process.execPath, [...cli, 'eval', '--run', runDir, '--tasks', '10', '--steps', '1'], { encoding: 'utf8', timeout: 90_000 });
    expect(ev.status).toBe(0);
    expect(ev.stdout).toMatch(/after 0 steps: -?\d+\.\d+ ± \d+\.\d+/);
    expect(ev.stdout).toMatch(/after 1 step : -?\d+\.\d+ ± \d+\.\d+/);
    expect(existsSync(join(runDir, 'eval.json'))).toBe(true);
    const saved = JSON.parse(readFileSync(join(runDir, 'eval.json'), 'utf8'));
    expect(saved.mean).toHaveLength(2);
    expect(saved.perTask[0]).toHaveLength(10);
    // Each setting keeps its own file; eval.json is the latest.
    expect(readFileSync(join(runDir, 'eval-10t-1s-seed1000003.json'), 'utf8')).toBe(readFileSync(join(runDir, 'eval.json'), 'utf8'));
    const ev2 = spawnSync(process.execPath, [...cli, 'eval', '--run', runDir, '--tasks', '4', '--steps', '0', '--episodes', '2'], { encoding: 'utf8', timeout: 90_000 });
    expect(ev2.status).toBe(0);
    expect(existsSync(join(runDir, 'eval-4t-0s-seed1000003-2ep.json'))).toBe(true);
    expect(existsSync(join(runDir, 'eval-10t-1s-seed1000003.json'))).toBe(true);

    // --resume takes the run's own settings: a flag that would change them is refused (exit 2) …
    const clash = spawnSync(process.execPath, [...cli, 'train', '--resume', runDir, '--seed', '3', '--hvp-subsample', '0.5'], { encoding: 'utf8', timeout: 60_000 });
    expect(clash.status).toBe(2);
    expect(clash.stderr.trim().split('\n').at(-1)).toMatch(/^error: --resume: continues the run with its own settings; drop --seed, --hvp-subsample/);
    // … it goes on to the run's own numBatches (40), or as far as --num-batches says.
    const more = spawnSync(process.execPath, [...cli, 'train', '--resume', runDir, '--num-batches', String(ck.batch + 1)], { encoding: 'utf8', timeout: 90_000 });
    expect(more.status).toBe(0);
    expect(loadCheckpoint(runDir).batch).toBe(ck.batch + 1);
    // The run's config.yaml is valid --config input and gives the same settings.
    const again = spawnSync(process.execPath, [...cli, 'train', '--config', join(runDir, 'config.yaml'), '--num-batches', '1', '--out', join(out, 'again')], { encoding: 'utf8', timeout: 90_000 });
    expect(again.status).toBe(0);
    const [second] = readdirSync(join(out, 'again'));
    const { numBatches: _a, out: _o, ...first } = loadCheckpoint(runDir).config;
    const { numBatches: _b, out: _p, ...copy } = loadCheckpoint(join(out, 'again', second)).config;
    expect(copy).toEqual(first);
  });

  it('eval of a folder without a checkpoint, or of a checkpoint from another env, exits 2 with one line', () => {
    const evalOf = (...args: string[]) => spawnSync(process.execPath, [...cli, 'eval', ...args], { encoding: 'utf8', timeout: 60_000 });
    const expectOneLine = (r: ReturnType<typeof evalOf>, pattern: RegExp) => {
      expect(r.status).toBe(2);
      const errors = r.stderr.trim().split('\n').filter((l) => l.startsWith('error'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(pattern);
    };
    const empty = mkdtempSync(join(tmpdir(), 'metarl-empty-'));
    expectOneLine(evalOf('--run', empty), /^error: --run: .* holds no checkpoint\.json/);
    expectOneLine(evalOf('--run', join(empty, 'missing')), /^error: --run: .* does not exist/);

    // A navigation policy dropped into a folder whose config.yaml says cheetah-velocity.
    const nav = resolveConfig('pytorch-maml-rl');
    const theta = new Float32Array(numParams({ obsDim: 2, actDim: 2, hidden: nav.hidden, activation: nav.activation, initStd: 1 }));
    const mixed = mkdtempSync(join(tmpdir(), 'metarl-mixed-'));
    saveCheckpoint(mixed, { batch: 1, theta, rng: new Rng(1).getState(), config: nav, backend: 'wasm' });
    writeFileSync(join(mixed, 'config.yaml'), 'env: cheetah-velocity\n');
    expectOneLine(evalOf('--run', mixed), /^error: --run: .*config\.yaml is for env cheetah-velocity but checkpoint\.json holds a policy for navigation/);
    const navOnly = mkdtempSync(join(tmpdir(), 'metarl-nav-'));
    saveCheckpoint(navOnly, { batch: 1, theta, rng: new Rng(1).getState(), config: nav, backend: 'wasm' });
    expectOneLine(evalOf('--run', navOnly, '--env', 'cheetah-direction'), /^error: --run: .* holds a policy for env navigation, not cheetah-direction/);
    // A checkpoint whose parameters do not fit its env's policy (another env's, or damaged).
    const wrongSize = mkdtempSync(join(tmpdir(), 'metarl-size-'));
    saveCheckpoint(wrongSize, { batch: 1, theta: new Float32Array(theta.length + 6), rng: new Rng(1).getState(), config: nav, backend: 'wasm' });
    expectOneLine(evalOf('--run', wrongSize, '--tasks', '2', '--steps', '1'), /^error: theta: .* parameters given; .* has \d+ \(a checkpoint from another env, policy or algorithm\?\)/);
    expectOneLine(evalOf('--run', navOnly, '--step-sizes', '0.1,-2'), /^error: --step-sizes: expected positive numbers/);
  }, 300_000);
});
