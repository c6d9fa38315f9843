/**
 * The meta-learners behind one command line (`--algo`): each trains, checkpoints, resumes and
 * evaluates through the same paths; flags of another learner are refused with one line.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate, train } from '../src/api.ts';
import { loadRunCheckpoint } from '../src/io/checkpoint.ts';
import { numGruParams } from '../agents/gru.ts';

const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
const lastError = (r: ReturnType<typeof cli>) => r.stderr.trim().split('\n').at(-1);

/** A few seconds of navigation. */
const tiny = { env: 'navigation', metaBatchSize: 3, episodesPerTask: 2, horizon: 20, backend: 'wasm' as const, workers: 0 };

describe('rl2 through train, resume and eval', () => {
  it('checkpoints the GRU, resumes to the same parameters as an uninterrupted run, and evaluates per episode', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-rl2-'));
    const whole = await train({ ...tiny, algo: 'rl2', rl2Hidden: 8, numBatches: 2, out });
    expect(whole.runDir).toMatch(/navigation__rl2-trpo__1__/);
    const ck = loadRunCheckpoint(whole.runDir, 'run');
    expect(ck.theta.length).toBe(numGruParams({ obsDim: 2, actDim: 2, hidden: 8, initStd: 1 }));
    const half = await train({ ...tiny, algo: 'rl2', rl2Hidden: 8, numBatches: 1, out: join(out, 'b') });
    const resumed = await train({ resume: half.runDir, numBatches: 2 });
    expect(Array.from(resumed.theta)).toEqual(Array.from(whole.theta));
    const ev = await evaluate(whole.runDir, { tasks: 3, steps: 2, seed: 5 });
    expect(ev.adaptation).toBe('episodes');
    expect(ev.steps).toEqual([0, 1, 2]); // episodes 1, 2, 3 of a trial
    expect(ev.stepSizes).toEqual([]);
    expect(ev.mean.every(Number.isFinite)).toBe(true);
  }, 120_000);
});

describe('--algo on the command line', () => {
  it.each([
    [['--algo', 'rl2', '--first-order'], 'error: --algo: --first-order applies to --algo maml or meta-sgd, not rl2 (allowed --algo: maml, reptile, meta-sgd, rl2)'],
    [['--rl2-hidden', '32'], 'error: --algo: --rl2-hidden applies to --algo rl2, not maml (allowed --algo: maml, reptile, meta-sgd, rl2)'],
    [['--algo', 'meta-sgd', '--reptile-step-size', '0.3'], 'error: --algo: --reptile-step-size applies to --algo reptile, not meta-sgd (allowed --algo: maml, reptile, meta-sgd, rl2)'],
  ])('%j exits 2 with one line naming where the flag applies', (args, message) => {
    const r = cli('train', ...args, '--print-config');
    expect(r.status).toBe(2);
    expect(lastError(r)).toBe(message);
  });

  it('accepts each learner with its own flags', () => {
    const rl2 = cli('train', '--algo', 'rl2', '--rl2-hidden', '32', '--rl2-episodes', '3', '--hvp-subsample', '0.5', '--print-config');
    expect(rl2.status, rl2.stderr).toBe(0);
    expect(rl2.stdout).toMatch(/rl2Hidden: 32/);
    expect(rl2.stdout).toMatch(/rl2Episodes: 3/);
    const msgd = cli('train', '--algo', 'meta-sgd', '--first-order', '--print-config');
    expect(msgd.status, msgd.stderr).toBe(0);
    expect(msgd.stdout).toMatch(/algo: meta-sgd/);
  });
});
