/**
 * `metarl plot` for meta-training runs and adaptation evaluations: the learning-curve rows (mean
 * and Student-t band over runs, only batches every run reached, cumulative env steps), the MAML
 * paper's Fig. 5 points per env, and the command end to end on synthetic run folders, including
 * the inputs it must refuse with exit code 2.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../src/core/errors.ts';
import { PAPER_LABEL, type TrainingRecord, type TrainingRun, adaptationRows, afterLabel, commonBatches, cumulativeEnvSteps, horizonNote, learningCurveRows, paperPoints, readMetrics, trainingCharts } from '../src/experiments/trainingFigures.ts';

const records = (before: number[], envSteps = 100, after = before.map((x) => x + 10)): TrainingRecord[] => before.map((b, i) => ({ batch: i, before: b, after: after[i], envSteps }));

describe('learning-curve rows', () => {
  it('one run: plain values at every batch, no band', () => {
    const rows = learningCurveRows([records([-50, -40, -30])], 'batch', 'after 1 step');
    expect(rows).toEqual([
      { series: 'before adaptation', x: 0, mean: -50 },
      { series: 'after 1 step', x: 0, mean: -40 },
      { series: 'before adaptation', x: 1, mean: -40 },
      { series: 'after 1 step', x: 1, mean: -30 },
      { series: 'before adaptation', x: 2, mean: -30 },
      { series: 'after 1 step', x: 2, mean: -20 },
    ]);
  });

  it('several runs: mean and 95 % t-interval, only over the batches all of them reached', () => {
    const runs = [records([-10, -20, -30, -40, -50]), records([-20, -30, -40, -50]), records([-30, -40, -50, -60, -70, -80])];
    expect(commonBatches(runs)).toEqual([0, 1, 2, 3]);
    const rows = learningCurveRows(runs, 'batch', 'after 1 step');
    expect(rows.map((r) => r.x)).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    // Batch 2, before: values -30, -40, -50 → mean -40, sd 10, half-width t(0.975, 2) · 10/√3.
    const half = (4.303 * 10) / Math.sqrt(3);
    const before2 = rows.find((r) => r.x === 2 && r.series === 'before adaptation')!;
    expect(before2.mean).toBeCloseTo(-40, 10);
    expect(before2.lo).toBeCloseTo(-40 - half, 10);
    expect(before2.hi).toBeCloseTo(-40 + half, 10);
    const after2 = rows.find((r) => r.x === 2 && r.series === 'after 1 step')!;
    expect([after2.lo, after2.mean, after2.hi].map((v) => +v!.toFixed(6))).toEqual([-30 - half, -30, -30 + half].map((v) => +v.toFixed(6)));
  });

  it('common batches are the intersection, whatever the gaps', () => {
    const a = [0, 2, 3, 5].map((batch) => ({ batch, before: 0, after: 0, envSteps: 1 }));
    const b = [0, 1, 2, 5, 6].map((batch) => ({ batch, before: 0, after: 0, envSteps: 1 }));
    expect(commonBatches([a, b])).toEqual([0, 2, 5]);
  });

  it('the env-steps axis is the running sum of charts/env_steps (mean over runs)', () => {
    const one = [100, 200, 300].map((envSteps, batch) => ({ batch, before: batch, after: batch, envSteps }));
    expect([...cumulativeEnvSteps(one)]).toEqual([[0, 100], [1, 300], [2, 600]]);
    const single = learningCurveRows([one], 'envSteps', 'after 1 step');
    expect(single.filter((r) => r.series === 'before adaptation').map((r) => r.x)).toEqual([100, 300, 600]);
    const other = [300, 300].map((envSteps, batch) => ({ batch, before: batch, after: batch, envSteps }));
    const two = learningCurveRows([one, other], 'envSteps', 'after 1 step');
    // Batches 0 and 1 only: (100 + 300) / 2, (300 + 600) / 2.
    expect(two.filter((r) => r.series === 'after 1 step').map((r) => r.x)).toEqual([200, 450]);
  });

  it('names the inner steps in the legend', () => {
    expect(afterLabel(1)).toBe('after 1 step');
    expect(afterLabel(3)).toBe('after 3 steps');
  });
});

describe('the MAML paper points', () => {
  it('are chosen per env at 0, 1 and 3 steps, and absent for envs the paper did not run', () => {
    expect(paperPoints('cheetah-velocity').map((p) => [p.x, p.mean])).toEqual([[0, -129.5], [1, -78.6], [3, -60.8]]);
    expect(paperPoints('cheetah-direction').map((p) => p.mean)).toEqual([-50.7, 293.2, 315.7]);
    expect(paperPoints('navigation').map((p) => p.mean)).toEqual([-40.4, -11.7, -3.2]);
    expect(paperPoints('navigation').every((p) => p.series === PAPER_LABEL && p.lo === undefined)).toBe(true);
    expect(paperPoints('ros')).toEqual([]);
  });

  it('say when the paper\'s cheetah horizon (200) is not the run\'s', () => {
    expect(horizonNote('cheetah-velocity', [100])).toBe('paper: horizon 200; this run: 100');
    expect(horizonNote('cheetah-direction', [100, 200, 100])).toBe('paper: horizon 200; these runs: 100, 200');
    expect(horizonNote('cheetah-velocity', [100, 100])).toBe('paper: horizon 200; these runs: 100');
    expect(horizonNote('cheetah-velocity', [200])).toBeUndefined();
    expect(horizonNote('navigation', [100])).toBeUndefined();
  });

  it('sit beside each run\'s mean ± standard error', () => {
    const rows = adaptationRows([{ name: 'seed1', evaluation: { steps: [0, 1], mean: [-40, -12], stderr: [2, 1] } }], 'navigation');
    expect(rows.slice(0, 2)).toEqual([
      { series: 'seed1', x: 0, mean: -40, lo: -42, hi: -38 },
      { series: 'seed1', x: 1, mean: -12, lo: -13, hi: -11 },
    ]);
    expect(rows.slice(2).map((r) => r.series)).toEqual([PAPER_LABEL, PAPER_LABEL, PAPER_LABEL]);
  });
});

describe('reading and checking runs', () => {
  const run = (over: Partial<TrainingRun>): TrainingRun => ({ dir: 'r', name: 'r', env: 'navigation', horizon: 100, numSteps: 1, records: records([-40, -30]), evaluation: null, ...over });

  it('labels the curves with the config\'s numSteps and refuses to average different settings', () => {
    const spec = JSON.stringify(trainingCharts([run({ numSteps: 3 })]).get('training-returns'));
    expect(spec).toContain('after 3 steps');
    expect(() => trainingCharts([run({}), run({ dir: 'b', horizon: 200 })])).toThrow(ConfigError);
    expect(() => trainingCharts([run({}), run({ dir: 'b', env: 'cheetah-velocity' })])).toThrow(/plot runs of one env together/);
    const evaluation = { steps: [0], mean: [1], stderr: [0] };
    expect([...trainingCharts([run({ records: null, evaluation })]).keys()]).toEqual(['adaptation']);
    // Two folders of one name (a/run, b/run) stay two series, named by path.
    const twins = JSON.stringify(trainingCharts([run({ dir: 'a/run', name: 'run', evaluation }), run({ dir: 'b/run', name: 'run', evaluation })]).get('adaptation'));
    expect(twins).toContain('"a/run"');
    expect(twins).toContain('"b/run"');
  });

  it('reads metrics.jsonl by batch (a batch logged again: the later line) and names a bad record', () => {
    const dir = mkdtempSync(join(tmpdir(), 'metarl-metrics-'));
    try {
      const line = (batch: number, r: number) => JSON.stringify({ batch, 'charts/return_before': r, 'charts/return_after': r + 1, 'charts/env_steps': 10 });
      writeFileSync(join(dir, 'metrics.jsonl'), [line(1, -5), line(0, -9), line(1, -4)].join('\n') + '\n');
      expect(readMetrics(dir).map((r) => [r.batch, r.before])).toEqual([[0, -9], [1, -4]]);
      writeFileSync(join(dir, 'metrics.jsonl'), `${line(0, -9)}\n{"batch":1}\n`);
      expect(() => readMetrics(dir)).toThrow(/metrics\.jsonl: record 2 lacks a number/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The command, end to end

const cli = ['--import', 'tsx', 'src/cli.ts'];
const plot = (args: string[]) => spawnSync(process.execPath, [...cli, 'plot', ...args], { encoding: 'utf8', timeout: 120_000 });
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A run folder as metarl train + metarl eval write it (the fields the figures read, and a few more). */
function makeRun(root: string, name: string, o: { env?: string; horizon?: number; numSteps?: number; batches?: number; offset?: number; evalSteps?: number } = {}): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const { env = 'cheetah-velocity', horizon = 100, numSteps = 1, batches = 12, offset = 0, evalSteps } = o;
  writeFileSync(join(dir, 'config.yaml'), `env: ${env}\nseed: 1\nhorizon: ${horizon}\nnumSteps: ${numSteps}\nfastLr: 0.1\nbackendInUse: wasm\n`);
  const lines = Array.from({ length: batches }, (_, b) => JSON.stringify({ batch: b, 'charts/return_before': -120 + 4 * b + offset, 'charts/return_after': -115 + 6 * b + offset, 'losses/kl': 0.01, 'charts/env_steps': 2 * 20 * 20 * horizon }));
  writeFileSync(join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
  if (evalSteps !== undefined) {
    const steps = Array.from({ length: evalSteps + 1 }, (_, s) => s);
    const mean = steps.map((s) => -70 + 20 * Math.log1p(s) + offset);
    writeFileSync(join(dir, 'eval.json'), JSON.stringify({ env, tasks: 40, seed: 1000003, batch: batches, backend: 'wasm', steps, stepSizes: steps.slice(1).map(() => 0.1), episodesPerTask: 20, mean, stderr: steps.map(() => 2.5), perTask: steps.map(() => [mean[0]]) }));
  }
  return dir;
}

const nonEmpty = (path: string) => existsSync(path) && statSync(path).size > 0;

describe('metarl plot on training runs', () => {
  const root = mkdtempSync(join(tmpdir(), 'metarl-plot-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('one run: learning curves and the adaptation figure in RUN/plots, SVG and PNG', () => {
    const dir = makeRun(root, 'cheetah-velocity__maml-trpo__1__x', { evalSteps: 3 });
    const r = plot([dir]);
    expect(r.status, r.stderr).toBe(0);
    for (const name of ['training-returns', 'training-returns-steps', 'adaptation']) {
      for (const ext of ['svg', 'png']) {
        const path = join(dir, 'plots', `${name}.${ext}`);
        expect(nonEmpty(path), path).toBe(true);
        expect(r.stdout).toContain(path);
      }
      expect(readFileSync(join(dir, 'plots', `${name}.png`)).subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    }
    const curves = readFileSync(join(dir, 'plots', 'training-returns.svg'), 'utf8');
    for (const text of ['before adaptation', 'after 1 step', 'meta-batch']) expect(curves).toContain(text);
    expect(readFileSync(join(dir, 'plots', 'training-returns-steps.svg'), 'utf8')).toContain('environment steps (cumulative)');
    const adaptation = readFileSync(join(dir, 'plots', 'adaptation.svg'), 'utf8');
    for (const text of ['MAML paper (Fig. 5)', 'paper: horizon 200; this run: 100', 'adaptation steps']) expect(adaptation).toContain(text);
  }, 60_000);

  it('several seeds: one figure with a band, written to --out; an eval.json without env takes config.yaml\'s', () => {
    const dirs = [0, -8, 6].map((offset, i) => makeRun(root, `navigation__maml-trpo__${i + 1}__x`, { env: 'navigation', numSteps: 2, batches: 10 + i, offset, evalSteps: i === 0 ? 2 : undefined }));
    const evalPath = join(dirs[0], 'eval.json');
    const { env: _env, ...old } = JSON.parse(readFileSync(evalPath, 'utf8'));
    writeFileSync(evalPath, JSON.stringify(old));
    const out = join(root, 'seeds');
    const r = plot([...dirs, '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    for (const name of ['training-returns', 'training-returns-steps', 'adaptation']) expect(nonEmpty(join(out, `${name}.png`))).toBe(true);
    const curves = readFileSync(join(out, 'training-returns.svg'), 'utf8');
    expect(curves).toContain('after 2 steps');
    expect(curves).toContain('mean over 3 runs with a 95 % Student-t band, 10 batches all reached');
    const adaptation = readFileSync(join(out, 'adaptation.svg'), 'utf8');
    expect(adaptation).toContain('Adaptation to new navigation tasks');
    expect(adaptation).toContain('MAML paper (Fig. 5)');
    expect(adaptation).not.toContain('horizon 200');
    // Several runs without --out would overwrite one run's own figures: refused.
    expect(plot(dirs).status).toBe(2);
  }, 60_000);

  const bad = (name: string, files: Record<string, string>): string => {
    const dir = join(root, 'bad', name);
    mkdirSync(dir, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
    return dir;
  };
  const config = 'env: navigation\nhorizon: 100\nnumSteps: 1\n';

  it.each([
    ['a missing folder', () => [join(root, 'nope')], /nope: no such folder; expected a run folder of metarl train/],
    ['a folder of neither kind', () => [bad('empty', { 'notes.txt': 'hi' })], /empty: holds none of results\.json, metrics\.jsonl, eval\.json/],
    ['an unparsable metrics.jsonl', () => [bad('garbage', { 'config.yaml': config, 'metrics.jsonl': 'not json\n{oops\n' })], /garbage\/metrics\.jsonl: holds no meta-batch record/],
    ['an unparsable eval.json', () => [bad('badeval', { 'config.yaml': config, 'eval.json': '{"steps": [0, 1], "mean": [1' })], /badeval\/eval\.json: cannot be read as JSON/],
    ['an eval.json of the wrong shape', () => [bad('shorteval', { 'config.yaml': config, 'eval.json': '{"steps": [0, 1], "mean": [1], "stderr": [1, 1]}' })], /shorteval\/eval\.json: expected steps/],
    ['a continual folder with a training folder', () => [bad('continual', { 'results.json': '{}' }), makeRun(root, 'mixed')], /continual: is a continual run \(results\.json\); plot it on its own/],
  ])('%s: exit 2 with one line naming the argument', (_what, args, message) => {
    const r = plot(args());
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  }, 60_000);
});
