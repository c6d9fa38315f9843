/** The `metarl` command as a user runs it: Ctrl-C checkpoints and exits cleanly; eval reads the run. */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../src/io/checkpoint.ts';

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
    expect(stderr).toMatch(/stopping after this meta-batch/);
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
  });

  it('eval of a folder without a checkpoint fails with a clear message', () => {
    const dir = mkdtempSync(join(tmpdir(), 'metarl-empty-'));
    const r = spawnSync(process.execPath, [...cli, 'eval', '--run', dir], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/cannot read checkpoint/);
  });
});
