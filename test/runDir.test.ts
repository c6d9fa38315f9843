/** Run folders are created exclusively; their config.yaml is valid --config input; stale temporaries go. */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createRunDir, removeStaleTemporaries, writeRunConfig } from '../src/io/runDir.ts';
import { readConfigFile, resolveConfig } from '../src/io/config.ts';
import { train } from '../src/experiments/train.ts';

describe('run folders', () => {
  it('two runs in the same second get two folders (…, …-2, …-3)', () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-rundir-'));
    const now = new Date('2026-11-30T12:00:00Z');
    const dirs = [1, 2, 3].map(() => createRunDir(out, 'navigation__maml-trpo__1', now));
    expect(dirs.map((d) => d.slice(out.length + 1))).toEqual(['navigation__maml-trpo__1__20261130T120000', 'navigation__maml-trpo__1__20261130T120000-2', 'navigation__maml-trpo__1__20261130T120000-3']);
  });

  it('two trainings started together write into separate folders', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-rundir2-'));
    const cfg = resolveConfig('quick', { numBatches: 1, metaBatchSize: 2, episodesPerTask: 2, horizon: 10, out });
    const [a, b] = await Promise.all([train(cfg, { backend: 'wasm' }), train(cfg, { backend: 'wasm' })]);
    expect(a.runDir).not.toBe(b.runDir);
    expect(readdirSync(out)).toHaveLength(2);
  }, 30_000);

  it('config.yaml holds only settings: it resolves back to the same config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'metarl-cfg-'));
    const cfg = resolveConfig('paper', { env: 'cheetah-direction', seed: 7 });
    writeRunConfig(dir, cfg, ['backend in use: wasm']);
    expect(resolveConfig('pytorch-maml-rl', readConfigFile(join(dir, 'config.yaml')))).toEqual(cfg);
  });

  it('removes temporary files of dead writers, keeps those of live ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'metarl-tmp-'));
    // A pid that is surely gone: a child that has exited.
    const child = spawn(process.execPath, ['-e', '0']);
    const dead = await new Promise<number>((r) => child.on('exit', () => r(child.pid!)));
    writeFileSync(join(dir, `checkpoint.json.tmp-${dead}`), '{');
    writeFileSync(join(dir, `checkpoint.json.tmp-${process.pid}`), '{');
    writeFileSync(join(dir, 'checkpoint.json'), '{}');
    expect(removeStaleTemporaries(dir)).toBe(1);
    expect(existsSync(join(dir, `checkpoint.json.tmp-${dead}`))).toBe(false);
    expect(existsSync(join(dir, `checkpoint.json.tmp-${process.pid}`))).toBe(true);
    expect(existsSync(join(dir, 'checkpoint.json'))).toBe(true);
  });
});

describe('--out', () => {
  it('a folder that cannot hold runs fails at once with one line naming --out', async () => {
    const { prepareOut } = await import('../src/io/runDir.ts');
    const dir = mkdtempSync(join(tmpdir(), 'metarl-out-'));
    writeFileSync(join(dir, 'file'), 'x');
    const t0 = performance.now();
    expect(() => prepareOut('/proc/self/x')).toThrow(/^--out: cannot create \/proc\/self\/x: ENOENT/); // Node's recursive mkdir loops here
    expect(() => prepareOut(join(dir, 'file', 'runs'))).toThrow(/^--out: .*file is not a folder/);
    expect(performance.now() - t0).toBeLessThan(1000);
    prepareOut(join(dir, 'a', 'b', 'c'));
    expect(existsSync(join(dir, 'a', 'b', 'c'))).toBe(true);
  });
});
