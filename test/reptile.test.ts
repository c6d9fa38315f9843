/** Reptile (agents/reptile.ts): the update rule, learning on navigation, and the command line. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reptileUpdate } from '../agents/reptile.ts';
import { evaluate, train } from '../src/api.ts';
import { initParams } from '../agents/policy.ts';
import { Rng } from '../src/core/rng.ts';

const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
const lastError = (r: ReturnType<typeof cli>) => r.stderr.trim().split('\n').at(-1);

describe('reptile', () => {
  it('moves θ by ε times the mean of (θ′_t − θ)', () => {
    const theta = Float32Array.of(1, -2, 0.5);
    const adapted = [Float32Array.of(2, -2, 0.5), Float32Array.of(1, 0, 1.5)]; // mean θ′ − θ = (0.5, 1, 0.5)
    expect(Array.from(reptileUpdate(theta, adapted, 0.5))).toEqual([1.25, -1.5, 0.75]);
    expect(Array.from(reptileUpdate(theta, adapted, 1))).toEqual([1.5, -1, 1]);
    expect(() => reptileUpdate(theta, [Float32Array.of(1)], 0.5)).toThrow(/1 adapted parameters for 3/);
  });

  it('learns to adapt on navigation: returns improve over the untrained start, and one step helps', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-reptile-'));
    const run = await train({ env: 'navigation', preset: 'quick', algo: 'reptile', reptileStepSize: 0.5, numSteps: 3, numBatches: 25, backend: 'wasm', out });
    expect(run.runDir).toMatch(/navigation__reptile__1__/);
    const ev = await evaluate(run.runDir, { tasks: 20, steps: 2, seed: 11 });
    // The run's own starting point: train draws θ_0 with Rng(seed) for this spec.
    const c = run.config;
    const theta0 = initParams({ obsDim: 2, actDim: 2, hidden: c.hidden, activation: c.activation, initStd: c.initStd }, new Rng(c.seed));
    const untrained = await evaluate({ config: c, theta: theta0 }, { tasks: 20, steps: 1, seed: 11 });
    console.log(`reptile on navigation, 25 meta-batches (${run.config.numSteps} inner steps, ε ${run.config.reptileStepSize}): after 0/1/2 steps ${ev.mean.map((x) => x.toFixed(1)).join(' / ')}; untrained start ${untrained.mean.map((x) => x.toFixed(1)).join(' / ')}`);
    expect(ev.mean[1]).toBeGreaterThan(ev.mean[0]); // one adaptation step helps
    expect(ev.mean[2]).toBeGreaterThan(ev.mean[0]);
    expect(ev.mean[0]).toBeGreaterThan(untrained.mean[0]); // and meta-training improved on the start
    expect(ev.mean[1]).toBeGreaterThan(untrained.mean[1]);
  }, 180_000);

  it('refuses an unknown --algo and flags of the other algorithm (exit 2, one line)', () => {
    const unknown = cli('train', '--algo', 'protonet', '--print-config');
    expect(unknown.status).toBe(2);
    expect(lastError(unknown)).toMatch(/--algo.*protonet.*maml, reptile, meta-sgd, rl2/);
    const mixed = cli('train', '--algo', 'reptile', '--hvp-subsample', '0.5', '--print-config');
    expect(mixed.status).toBe(2);
    expect(lastError(mixed)).toBe('error: --algo: --hvp-subsample applies to --algo maml or meta-sgd or rl2, not reptile (allowed --algo: maml, reptile, meta-sgd, rl2)');
    const other = cli('train', '--reptile-step-size', '0.5', '--print-config');
    expect(lastError(other)).toBe('error: --algo: --reptile-step-size applies to --algo reptile, not maml (allowed --algo: maml, reptile, meta-sgd, rl2)');
  });
});
