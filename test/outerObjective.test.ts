/**
 * The meta-update spread over worker threads (MetaWorkerPool) against the in-process objective:
 * bit-identical gradients, products and line-search values for any number of workers, and the
 * failure policy (errors come back with their message; no thread is left behind).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/tensor/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { type MetaObjectiveOptions } from '../agents/maml.ts';
import { type PolicySpec, initParams } from '../agents/policy.ts';
import { withLearnedStep } from '../agents/metaSgd.ts';
import { LocalObjective, MetaWorkerPool, type OuterObjective } from '../src/experiments/outerObjective.ts';
import { liveWorkerCount } from '../src/streams/workerGroup.ts';
import { axpy, randomDirection, randomTaskArrays } from './helpers.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const spec: PolicySpec = { obsDim: 3, actDim: 2, hidden: [8, 8], activation: 'tanh', initStd: 1 };
const T = 5;

/** Every value the TRPO step asks for, from one objective fed the same seeded data. */
async function values(obj: OuterObjective, options: MetaObjectiveOptions, theta: Float32Array, steps: number) {
  const rng = new Rng(3);
  const adapted: number[][] = [];
  for (let i = 0; i < steps; i++) adapted.push(...(await obj.addInnerStep(randomTaskArrays(options.spec, T, 30, rng, 4))).map((a) => Array.from(a)));
  await obj.setValidation(randomTaskArrays(options.spec, T, 30, rng, 2));
  const v = randomDirection(theta.length, rng);
  const out = {
    adapted,
    gradient: Array.from(await obj.metaGradient()),
    lossAtOld: await obj.lossAtOld(),
    fvp: Array.from(await obj.fisherVectorProduct(v)),
    evaluate: await obj.evaluate(axpy(theta, 0.05, v)),
  };
  await obj.dispose();
  return out;
}

describe('MetaWorkerPool', () => {
  it.each([
    [2, 1, 1, false],
    [3, 2, 0.5, false],
    [7, 1, 1, false], // more workers than tasks: two stay idle
    [2, 2, 0.5, true], // Meta-SGD: φ = [θ; α]
  ])('%i workers, %i inner step(s), hvpSubsample %f, learned step %s: bit-identical to the in-process objective', async (workers, steps, hvpSubsample, learnedStep) => {
    const options: MetaObjectiveOptions = { spec, fastLr: 0.3, firstOrder: false, damping: 1e-3, hvpSubsample, learnedStep };
    const start = (seed: number) => (learnedStep ? withLearnedStep(initParams(spec, new Rng(seed)), 0.3) : initParams(spec, new Rng(seed)));
    const theta = start(1);
    const local = await values(new LocalObjective(options, theta, T), options, theta, steps);
    const pool = await MetaWorkerPool.create(options, { workers, backend: 'wasm' });
    try {
      expect(pool.workerCount).toBe(workers);
      const sharded = await values(await pool.begin(theta, T), options, theta, steps);
      expect(sharded).toEqual(local);
      // A second meta-batch on the same pool starts clean.
      const theta2 = start(2);
      expect(await values(await pool.begin(theta2, T), options, theta2, steps)).toEqual(await values(new LocalObjective(options, theta2, T), options, theta2, steps));
    } finally {
      await pool.close();
    }
    expect(liveWorkerCount()).toBe(0);
  });

  it('a worker error rejects with its message, fails the pool and leaves no thread', async () => {
    const options: MetaObjectiveOptions = { spec, fastLr: 0.3, firstOrder: false, damping: 0, hvpSubsample: 1 };
    const pool = await MetaWorkerPool.create(options, { workers: 2, backend: 'wasm' });
    const obj = await pool.begin(initParams(spec, new Rng(1)), T);
    // The product needs validation data first: the workers' MetaObjective throws.
    await expect(obj.fisherVectorProduct(new Float64Array(10))).rejects.toThrow(/setValidation\(\) has not been called/);
    expect(pool.liveWorkers).toBe(0);
    await expect(obj.metaGradient()).rejects.toThrow(/setValidation\(\) has not been called/);
    await obj.dispose(); // harmless after the failure
    await pool.close();
    expect(liveWorkerCount()).toBe(0);
  });

  it('refuses a backend that is not spread over threads', async () => {
    const options: MetaObjectiveOptions = { spec, fastLr: 0.3, firstOrder: false, damping: 0, hvpSubsample: 1 };
    await expect(MetaWorkerPool.create(options, { workers: 2, backend: 'tensorflow' })).rejects.toThrow(/cannot be spread/);
    expect(liveWorkerCount()).toBe(0);
  });
});
