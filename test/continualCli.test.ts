/**
 * `metarl continual` and `metarl plot` as a user runs them: a small navigation drift experiment
 * writes the report, plot regenerates it from results.json, and bad input (an empty schedule, an
 * unknown method, a memory too small for one replayed item) is one line with exit code 2.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = ['--import', 'tsx', 'src/cli.ts'];
const run = (args: string[]) => spawnSync(process.execPath, [...cli, ...args], { encoding: 'utf8', timeout: 120_000 });

/** A fresh output folder with a small, fast config (navigation, horizon 20, a small memory) plus `extra` continual: lines. */
function smallSetup(prefix: string, extra = ''): { out: string; config: string } {
  const out = mkdtempSync(join(tmpdir(), prefix));
  const config = join(out, 'small.yaml');
  writeFileSync(config, `horizon: 20\nhidden: [16]\ncontinual:\n  episodesPerTask: 4\n  batchesPerTask: 2\n  replayItems: 2\n  replayRows: 400\n  minItemRows: 8\n  memoryCapacity: 2000\n${extra}`);
  return { out, config };
}

describe('metarl continual / plot', () => {
  it('runs a small drift experiment, writes the report, and plot regenerates it', () => {
    const { out, config } = smallSetup('metarl-continual-');
    const r = run(['continual', '--config', config, '--seeds', '2', '--seed-base', '7', '--tasks', '3', '--methods', 'mer,online,frozen', '--backend', 'wasm', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/continual 18\/18: seed 8 frozen task 3\/3/);
    // Two seeds: means without intervals (a bootstrap over 2 seeds is just [min, max]), per-seed rows in the report.
    for (const m of ['mer', 'online', 'frozen']) expect(r.stdout).toMatch(new RegExp(`${m}\\s+ACC -?\\d\\.\\d{3} \\(n=2, no CI\\)`));
    for (const m of ['online', 'frozen']) expect(r.stdout).toMatch(new RegExp(`mer − ${m}\\s+ACC -?\\d\\.\\d{3} \\(n=2, no CI\\)`));
    const runDir = join(out, readdirSync(out).find((f) => f.startsWith('continual__navigation__drift__'))!);
    const report = readFileSync(join(runDir, 'report.md'), 'utf8');
    expect(report).toContain('plots/returns.png');
    expect(report).toContain('- 2 seeds (7, 8)');
    expect(report).toContain('| # | task (as drawn for seed 7) |');
    expect(report).toMatch(/^\| mer \| 8 \| -?\d\.\d{3} \|/m);
    expect(readFileSync(join(runDir, 'tasks.jsonl'), 'utf8').trim().split('\n')).toHaveLength(18);
    const svg = readFileSync(join(runDir, 'plots', 'metrics.svg'), 'utf8');
    rmSync(join(runDir, 'plots'), { recursive: true });
    rmSync(join(runDir, 'report.md'));
    const p = run(['plot', runDir]);
    expect(p.status, p.stderr).toBe(0);
    expect(readFileSync(join(runDir, 'plots', 'metrics.svg'), 'utf8')).toBe(svg);
    expect(existsSync(join(runDir, 'report.md'))).toBe(true);
  }, 150_000);

  it.each([
    [['--schedule', ''], /schedule: invalid value; allowed: random, drift, blocks, cyclic/],
    [['--tasks', '0'], /tasks: must be ≥ 2, got 0/],
    [['--methods', 'mer,nope'], /--methods: unknown method 'nope'; allowed: frozen, finetune, online, replay, mer/],
    [['--tasks', '1'], /tasks: must be ≥ 2, got 1/],
    [['--seeds', '1', '--ci', '0.95'], /--ci: confidence intervals need at least 5 seeds; this run has 1/],
    [['--seeds', '5', '--ci', '1.5'], /ciLevel: must be < 1, got 1.5/],
  ])('%j exits 2 with one line naming what is allowed', (args, message) => {
    const r = run(['continual', ...args]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n').filter((l) => !/^npm warn|^backend:/.test(l))).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  }, 60_000);

  it('runs the baselines er, agem and l2 on a blocks sequence, each with its own step size', () => {
    const { out, config } = smallSetup('metarl-baselines-', '  blockSize: 2\n  methodLr: { er: 0.01, agem: 0.005 }\n  l2Weight: 0.5\n');
    const r = run(['continual', '--config', config, '--schedule', 'blocks', '--seeds', '1', '--tasks', '4', '--methods', 'er,agem,l2', '--eval-unadapted', '--backend', 'wasm', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    for (const m of ['er', 'agem', 'l2']) expect(r.stdout).toMatch(new RegExp(`^ {2}${m}\\s+ACC -?\\d\\.\\d{3} \\(n=1, no CI\\)`, 'm'));
    const runDir = join(out, readdirSync(out).find((f) => f.startsWith('continual__navigation__blocks__'))!);
    const lines = readFileSync(join(runDir, 'tasks.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.method === 'er').every((l) => l.memorySize > 0)).toBe(true);
    expect(lines.filter((l) => l.method === 'l2').every((l) => l.memorySize === 0)).toBe(true);
    expect(readFileSync(join(runDir, 'report.md'), 'utf8')).toContain('- step size η: er 0.01, agem 0.005, l2 0.002');
    expect(readFileSync(join(runDir, 'report.md'), 'utf8')).toMatch(/## Without adaptation[\s\S]*\| agem \| -?\d\.\d{3} \|/);
  }, 150_000);

  it('--tune runs each step size on held-out seeds and prints each method\'s best as a continual: section', () => {
    const { out, config } = smallSetup('metarl-tune-');
    const r = run(['continual', '--config', config, '--tune', '0.001,0.01', '--seeds', '1', '--tasks', '3', '--methods', 'frozen,online,er', '--backend', 'wasm', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/tuning: every method at step size 0\.001 \(seeds 101…101\)/);
    expect(r.stderr).toMatch(/^ {2}online +final return at 0\.001: -?\d+\.\d{2}, 0\.01: -?\d+\.\d{2} → 0\.0?01$/m);
    expect(r.stdout).toMatch(/^continual:\n {2}methodLr:\n {4}online: 0\.0?01\n {4}er: 0\.0?01\n$/);
    // One run per step size and tunable method (a divergence then costs that pair alone): 2 × 2.
    expect(readdirSync(out).filter((f) => f.startsWith('continual__navigation__'))).toHaveLength(4);
    const bad = run(['continual', '--tune', '0.01', '--out', out]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--tune: give at least two step sizes/);
  }, 150_000);

  it('--init takes the run\'s own env and policy settings; the file and flags still win', () => {
    const r = run(['continual', '--init', 'pretrained/navigation', '--print-config']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^activation: relu$/m);
    expect(r.stdout).toMatch(/^hidden:\n {2}- 100\n {2}- 100$/m);
    expect(r.stdout).toMatch(/^ {2}init: pretrained\/navigation$/m);
    const own = run(['continual', '--init', 'pretrained/navigation', '--env', 'navigation', '--preset', 'paper', '--print-config']);
    expect(own.stdout).toMatch(/^activation: relu$/m);
  }, 60_000);

  it('a memory too small for one replayed item exits 2 naming memoryCapacity', () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-continual-bad-'));
    const config = join(out, 'bad.yaml');
    writeFileSync(config, 'continual:\n  memoryCapacity: 10\n');
    const r = run(['continual', '--config', config, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/memoryCapacity: 10 transitions cannot hold one replayed item/);
  }, 60_000);
});
