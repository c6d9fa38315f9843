/**
 * Meta-training end to end on navigation: determinism, resume continuing the same series,
 * a NaN stopping the run with the last good checkpoint intact, and a learning smoke test.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/tensor/backend.ts';
import { resolveConfig } from '../src/io/config.ts';
import { CHECKPOINT_FILE, loadCheckpoint } from '../src/io/checkpoint.ts';
import { JsonlLog } from '../src/io/jsonl.ts';
import { METRICS_FILE, train } from '../src/experiments/train.ts';
import { MetaLearner } from '../src/experiments/metaBatch.ts';
import { evaluateAdaptation } from '../src/experiments/evaluate.ts';
import { NumericError } from '../src/core/errors.ts';
import { liveWorkerCount } from '../src/streams/workerGroup.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const tiny = (out: string, extra: Record<string, unknown> = {}) =>
  resolveConfig('pytorch-maml-rl', { metaBatchSize: 4, episodesPerTask: 5, numBatches: 3, cgIters: 5, checkpointEvery: 1, out, ...extra });

/** Metrics without wall-clock fields. */
function series(runDir: string) {
  return new JsonlLog(join(runDir, METRICS_FILE)).read().map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith('time/'))));
}

describe('meta-training', () => {
  it('is deterministic for a seed and backend', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-det-'));
    const a = await train(tiny(join(out, 'a'), { numBatches: 2 }), { backend: 'wasm' });
    const b = await train(tiny(join(out, 'b'), { numBatches: 2 }), { backend: 'wasm' });
    expect(series(a.runDir)).toHaveLength(2);
    expect(series(a.runDir)).toEqual(series(b.runDir));
    expect(Array.from(a.theta)).toEqual(Array.from(b.theta));
    const c = await train(tiny(join(out, 'c'), { numBatches: 1, seed: 2 }), { backend: 'wasm' });
    expect(series(c.runDir)[0]).not.toEqual(series(a.runDir)[0]);
  });

  it('gives the same series with sampling and meta-updates in worker threads as in the main thread', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-workers-'));
    const main = await train(tiny(join(out, 'main'), { numBatches: 2 }), { backend: 'wasm' });
    // 4 tasks over 3 workers: uneven shards (2, 1, 1) for the meta-update.
    for (const workers of [2, 3]) {
      const run = await train(tiny(join(out, `workers${workers}`), { numBatches: 2, workers }), { backend: 'wasm' });
      expect(series(run.runDir)).toEqual(series(main.runDir));
      expect(Array.from(run.theta)).toEqual(Array.from(main.theta));
    }
    expect(liveWorkerCount()).toBe(0);
  });

  it('resumes from a checkpoint and continues the same series', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-resume-'));
    const full = await train(tiny(join(out, 'full')), { backend: 'wasm' });
    let calls = 0;
    const part = await train(tiny(join(out, 'part')), { backend: 'wasm', shouldStop: () => calls++ >= 2 });
    expect(part.stopped).toBe(true);
    expect(loadCheckpoint(part.runDir).batch).toBe(2);
    const resumed = await train(tiny(join(out, 'ignored')), { backend: 'wasm', resumeDir: part.runDir });
    expect(resumed.batchesDone).toBe(3);
    expect(series(resumed.runDir)).toEqual(series(full.runDir));
    expect(Array.from(resumed.theta)).toEqual(Array.from(full.theta));
  });

  it('--resume goes on to the run\'s own numBatches, not the preset\'s; a longer run only when asked', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-resume-n-'));
    const done = await train(tiny(out, { numBatches: 2 }), { backend: 'wasm' });
    const again = await train(tiny(out, { numBatches: 50 }), { backend: 'wasm', resumeDir: done.runDir });
    expect(again.batchesDone).toBe(2); // finished already: nothing to do
    expect(again.config.numBatches).toBe(2);
    const longer = await train(tiny(out), { backend: 'wasm', resumeDir: done.runDir, resume: { numBatches: 3 } });
    expect(longer.batchesDone).toBe(3);
    expect(series(longer.runDir)).toHaveLength(3);
    await expect(train(tiny(out), { backend: 'wasm', resumeDir: done.runDir, resume: { numBatches: 1 } })).rejects.toThrow(/^--num-batches: 1 is below the 3 meta-batches this run has done/);
    await expect(train(tiny(out), { backend: 'wasm', resumeDir: join(out, 'nothing-here') })).rejects.toThrow(/^--resume: .*nothing-here does not exist/);
  });

  it('stops on NaN parameters with a clear error and keeps the last good checkpoint', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-nan-'));
    const first = await train(tiny(out, { numBatches: 1 }), { backend: 'wasm' });
    const ckPath = join(first.runDir, CHECKPOINT_FILE);
    const before = readFileSync(ckPath, 'utf8');
    const spy = vi.spyOn(MetaLearner.prototype, 'step').mockImplementation(async function (this: MetaLearner, theta) {
      const bad = Float32Array.from(theta);
      bad[3] = NaN;
      return { theta: bad, metrics: { returnBefore: -1, returnAfter: -1, kl: 0, surrogateChange: 0, lsSteps: 1, accepted: true, secondsSampling: 0, secondsInner: 0, secondsOuter: 0, envSteps: 0 } };
    });
    try {
      const err = await train(tiny(out), { backend: 'wasm', resumeDir: first.runDir, resume: { numBatches: 3 } }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(NumericError);
      expect((err as Error).message).toMatch(/checkpoint of the 1 finished meta-batches written; resume with: metarl train --resume /);
    } finally {
      spy.mockRestore();
    }
    // The failure re-saved the last finished batch: same batch, parameters and generator.
    const pick = (text: string) => { const j = JSON.parse(text); return [j.batch, j.theta, j.rng]; };
    expect(pick(readFileSync(ckPath, 'utf8'))).toEqual(pick(before));
  });
});

describe('learning smoke test (navigation)', () => {
  it('meta-training raises the post-adaptation return, and one adaptation step improves on new tasks', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-smoke-'));
    const cfg = resolveConfig('quick', { numBatches: 10, out, checkpointEvery: 10 });
    const r = await train(cfg, { backend: 'wasm' });
    const s = new JsonlLog(join(r.runDir, METRICS_FILE)).read();
    const after = s.map((m) => m['charts/return_after'] as number);
    expect(after.slice(-3).reduce((a, b) => a + b) / 3).toBeGreaterThan(after.slice(0, 3).reduce((a, b) => a + b) / 3 + 10);
    const ev = await evaluateAdaptation(cfg, r.theta, { tasks: 20, steps: 1, seed: 99 });
    expect(ev.mean[1]).toBeGreaterThan(ev.mean[0] + 2 * ev.stderr[0]);
  });
});

describe('evaluation step-size schedule', () => {
  it('uses evalStepSizes in order, the last repeating, and fastLr when none are given', async () => {
    const cfg = resolveConfig('pytorch-maml-rl', { metaBatchSize: 4, episodesPerTask: 4 });
    const theta = (await import('../agents/policy.ts')).initParams({ obsDim: 2, actDim: 2, hidden: cfg.hidden, activation: cfg.activation, initStd: cfg.initStd }, new (await import('../src/core/rng.ts')).Rng(5));
    const run = (o: { stepSizes?: number[]; cfgSizes?: number[] }) =>
      evaluateAdaptation({ ...cfg, evalStepSizes: o.cfgSizes ?? [] }, theta, { tasks: 4, steps: 3, seed: 7, stepSizes: o.stepSizes });
    const byDefault = await run({});
    const explicit = await run({ stepSizes: [0.1, 0.1, 0.1] });
    const fromConfig = await run({ cfgSizes: [0.1, 0.5] });
    const flagWins = await run({ cfgSizes: [0.3], stepSizes: [0.1, 0.5, 0.5] });
    expect(byDefault.stepSizes).toEqual([0.1, 0.1, 0.1]);
    expect(byDefault.perTask).toEqual(explicit.perTask); // fastLr is 0.1
    expect(fromConfig.stepSizes).toEqual([0.1, 0.5, 0.5]);
    expect(fromConfig.perTask.slice(0, 2)).toEqual(byDefault.perTask.slice(0, 2)); // same first step
    expect(fromConfig.perTask[2]).not.toEqual(byDefault.perTask[2]); // a larger second step
    expect(flagWins.perTask).toEqual(fromConfig.perTask);
    expect(fromConfig.episodesPerTask).toBe(4);
    // An explicit task list (the paper's test goals) replaces the drawn tasks.
    const { paperTestTasks } = await import('../src/experiments/paperTasks.ts');
    const listed = await evaluateAdaptation(cfg, theta, { tasks: 99, steps: 0, seed: 7, taskList: paperTestTasks('navigation', 3) });
    expect(listed.perTask[0]).toHaveLength(3);
    // The first paper goal is (−0.083, 0.220): a return near −0.23·100 for a policy that barely moves.
    expect(listed.perTask[0][0]).toBeLessThan(-5);
  });
});

describe('train --init', () => {
  it('starts a new run from another run\'s meta-parameters, and refuses one of another size', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-init-'));
    const a = await train(tiny(out, { numBatches: 1 }), { backend: 'wasm' });
    const b = await train(tiny(out, { seed: 2 }), { backend: 'wasm', initDir: a.runDir, shouldStop: () => true });
    expect(b.batchesDone).toBe(0);
    expect(Array.from(b.theta)).toEqual(Array.from(a.theta));
    expect(Array.from(loadCheckpoint(b.runDir).theta)).toEqual(Array.from(a.theta));
    await expect(train(tiny(out, { hidden: [8] }), { backend: 'wasm', initDir: a.runDir })).rejects.toThrow(/--init: .* holds \d+ parameters/);
    await expect(train(tiny(out), { backend: 'wasm', initDir: a.runDir, resumeDir: a.runDir })).rejects.toThrow(/--init: a resumed run/);
  });
});
