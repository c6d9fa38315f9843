/**
 * RL²: the TRPO objective's gradient and KL Hessian-vector product against central finite
 * differences and nested autodiff; the trial sampler (inputs x_t, hidden state kept within a trial
 * and reset between trials, the same trials for any split into lanes, rounds or worker threads);
 * and a short meta-training run on navigation that must learn and adapt (episode 2 > episode 1).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tensor/backend.ts';
import { Rng, deriveSeed } from '../src/core/rng.ts';
import { resolveConfig } from '../src/io/config.ts';
import { make, makeVector } from '../envs/registry.ts';
import { type GruSpec, HostGru, gruInputDim, initGruParams } from '../agents/gru.ts';
import { type Rl2Arrays, Rl2Objective, subsampleTrials } from '../agents/rl2.ts';
import { type TrialBatch, sampleTrials, trialArrays } from '../src/experiments/rl2Sampler.ts';
import { Rl2Learner, evaluateRl2 } from '../src/experiments/rl2Learner.ts';
import type { AnyVectorEnv } from '../src/core/env.ts';
import { liveWorkerCount } from '../src/streams/workerGroup.ts';
import { dot } from '../src/tensor/cg.ts';
import { axpy, probeProduct, randomDirection, relErr } from './helpers.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const spec: GruSpec = { obsDim: 2, actDim: 2, hidden: 6, initStd: 1 };

/** Random trials: B = 4 of L = 10 steps, the last 3 steps of trials 1 and 3 padding. */
function randomArrays(rng: Rng): Rl2Arrays {
  const [B, L, I] = [4, 10, gruInputDim(spec)];
  const weights = new Float32Array(B * L);
  for (let b = 0; b < B; b++) weights.fill(1, b * L, b * L + (b % 2 === 1 ? L - 3 : L));
  const total = weights.reduce((a, w) => a + w, 0);
  return {
    trials: B,
    steps: L,
    inputs: Float32Array.from({ length: B * L * I }, () => rng.normal()),
    actions: Float32Array.from({ length: B * L * spec.actDim }, () => rng.normal()),
    advantages: Float32Array.from({ length: B * L }, () => rng.normal()),
    weights: weights.map((w) => w / total),
  };
}

function build(seed: number, o: { damping?: number; lineSearchKl?: 'old-new' | 'new-old' } = {}) {
  const rng = new Rng(seed);
  const theta = Float32Array.from(initGruParams(spec, rng), (x) => x + 0.2 * rng.normal());
  theta.fill(-0.3, theta.length - spec.actDim); // logStd away from 0 so that every term is exercised
  const obj = new Rl2Objective({ spec, damping: o.damping ?? 0, lineSearchKl: o.lineSearchKl }, theta, randomArrays(rng));
  return { obj, theta, rng };
}

describe('RL² surrogate gradient', () => {
  it('matches central differences of the surrogate, error falling with ε', () => {
    const { obj, theta, rng } = build(1);
    const g = obj.gradient();
    const dirs = [0, 1, 2].map(() => randomDirection(theta.length, new Rng(rng.nextU32())));
    const errs = [0.04, 0.02, 0.01].map((eps) => {
      const fd = dirs.map((u) => (obj.evaluate(axpy(theta, eps, u)).loss - obj.evaluate(axpy(theta, -eps, u)).loss) / (2 * eps));
      return relErr(dirs.map((u) => dot(g, u)), fd);
    });
    obj.dispose();
    expect(errs[2]).toBeLessThan(5e-3);
    expect(errs[1]).toBeLessThan(errs[0] / 2.5);
  });

  it('equals the gradient by tf.grads; the loss at θ_old is the line search\'s starting point', () => {
    const { obj, theta } = build(2);
    expect(relErr(obj.gradient(), obj.gradientAutodiff())).toBeLessThan(1e-4);
    const at = obj.evaluate(theta);
    expect(at.loss).toBe(obj.lossAtOld());
    expect(Math.abs(at.kl)).toBeLessThan(1e-6);
    obj.dispose();
  });
});

describe('RL² KL Hessian-vector product (Gauss–Newton)', () => {
  it('equals the nested-autodiff Hessian-vector product of KL(old ‖ new), damping included', () => {
    const { obj, theta, rng } = build(3, { damping: 0.1 });
    const v = randomDirection(theta.length, rng);
    expect(relErr(obj.fisherVectorProduct(v), obj.fisherVectorProductAutodiff(v))).toBeLessThan(1e-4);
    obj.dispose();
  });

  it.each(['old-new', 'new-old'] as const)('matches second differences uᵀHv of the line search\'s KL (%s)', (lineSearchKl) => {
    const { obj, theta, rng } = build(4, { lineSearchKl });
    const u = randomDirection(theta.length, rng);
    const v = randomDirection(theta.length, rng);
    const eps = 0.05;
    const kl = (a: number, b: number) => obj.evaluate(Float32Array.from(theta, (x, i) => x + a * u[i] + b * v[i])).kl;
    const fd = (kl(eps, eps) - kl(eps, -eps) - kl(-eps, eps) + kl(-eps, -eps)) / (4 * eps * eps);
    const an = dot(u, obj.fisherVectorProduct(v));
    obj.dispose();
    expect(Math.abs(an - fd)).toBeLessThan(0.02 * Math.abs(fd) + 1e-4);
  });

  it('on a subsample of trials (hvpSubsample) is the product of the objective built on those trials', () => {
    const rng = new Rng(7);
    const theta = initGruParams(spec, rng);
    const data = randomArrays(rng);
    const sub = subsampleTrials(data, 2, 0.5); // 2 tasks × 2 trials → each task's first trial
    expect(sub.trials).toBe(2);
    expect(Array.from(sub.inputs.subarray(0, 6))).toEqual(Array.from(data.inputs.subarray(0, 6)));
    for (const t of [0, 1]) expect(sub.weights.subarray(t * 10, (t + 1) * 10).reduce((a, w) => a + w, 0)).toBeCloseTo(0.5, 6);
    const v = randomDirection(theta.length, rng);
    const both = new Rl2Objective({ spec, damping: 0.01 }, theta, data, sub);
    const alone = new Rl2Objective({ spec, damping: 0.01 }, theta, sub);
    expect(relErr(both.fisherVectorProduct(v), alone.fisherVectorProduct(v))).toBeLessThan(1e-6);
    const full = new Rl2Objective({ spec, damping: 0 }, theta, data);
    expect(relErr(both.gradient(), full.gradient())).toBeLessThan(1e-6); // the gradient uses all trials
    [both, alone, full].forEach((o) => o.dispose());
  });

  it('is symmetric positive semi-definite', () => {
    const { obj, theta, rng } = build(5);
    const { uHv, vHu, uHu } = probeProduct((x) => obj.fisherVectorProduct(x), theta.length, rng);
    obj.dispose();
    expect(Math.abs(uHv - vHu)).toBeLessThan(1e-5 * (Math.abs(uHv) + 1e-3));
    expect(uHu).toBeGreaterThan(0);
  });
});

const navSpec: GruSpec = { obsDim: 2, actDim: 2, hidden: 8, initStd: 0.5 };
const [K, M, T, H] = [3, 2, 3, 12];

async function sampleNav(lanes: AnyVectorEnv<unknown>[], seed = 5): Promise<{ batch: TrialBatch; theta: Float32Array }> {
  const rng = new Rng(seed);
  const tasks = make('navigation').sampleTasks(T, rng);
  const theta = initGruParams(navSpec, rng);
  const batch = await sampleTrials({ lanes, spec: navSpec, trialsPerTask: M, episodesPerTrial: K }, tasks, theta, rng);
  return { batch, theta };
}

const fields = (b: TrialBatch) => [b.steps.obs, b.steps.actions, b.steps.rewards, b.steps.lengths, b.steps.terminated, b.steps.finalObs, b.inputs, b.episodeLengths].map((a) => Array.from(a)).concat([b.episodeReturns.flat()]);

describe('RL² trial sampler', () => {
  it('builds x_t = [o_t, a_{t−1}, r_{t−1}, d_{t−1}], keeps the hidden state across a trial\'s episodes and resets it between trials', async () => {
    const { batch, theta } = await sampleNav([makeVector('navigation', T * M, { maxEpisodeSteps: H })]);
    const [I, A, L] = [gruInputDim(navSpec), navSpec.actDim, K * H];
    const s = batch.steps;
    expect(s.numEpisodes).toBe(T * M);
    expect(s.horizon).toBe(L);
    // Replay every trial with the host GRU from h = 0 and the trial's own noise stream: the
    // recorded actions must come out bit for bit (the sampler draws resetSeed, then noiseSeed).
    const seeds = new Rng(5);
    make('navigation').sampleTasks(T, seeds);
    initGruParams(navSpec, seeds);
    seeds.nextU32();
    const noiseSeed = seeds.nextU32();
    const policy = new HostGru(navSpec, theta);
    for (let e = 0; e < s.numEpisodes; e++) {
      const noise = new Rng(deriveSeed(noiseSeed, e));
      let h = new Float64Array(navSpec.hidden);
      let next = new Float64Array(navSpec.hidden);
      const mean = new Float64Array(A);
      let row = 0;
      for (let k = 0; k < K; k++) {
        const len = batch.episodeLengths[e * K + k];
        expect(len).toBeGreaterThan(0);
        let ret = 0;
        for (let t = 0; t < len; t++, row++) {
          const r = e * L + row;
          const x = batch.inputs.subarray(r * I, (r + 1) * I);
          expect(Array.from(x.subarray(0, 2))).toEqual(Array.from(s.obs.subarray(r * 2, r * 2 + 2)));
          const prev = row === 0 ? [0, 0, 0] : [s.actions[(r - 1) * A], s.actions[(r - 1) * A + 1], s.rewards[r - 1]];
          expect(Array.from(x.subarray(2, 5))).toEqual(prev);
          expect(x[5]).toBe(t === 0 && k > 0 ? 1 : 0);
          policy.step(h, x, 1, next, mean);
          [h, next] = [next, h];
          for (let j = 0; j < A; j++) expect(s.actions[r * A + j]).toBe(Math.fround(mean[j] + policy.std[j] * noise.normal()));
          ret += s.rewards[r];
        }
        expect(batch.episodeReturns[e][k]).toBeCloseTo(ret, 4);
      }
      expect(s.lengths[e]).toBe(row);
    }
  });

  it('gives the same trials for any split into lanes and for rounds on fewer copies', async () => {
    const one = fields((await sampleNav([makeVector('navigation', T * M, { maxEpisodeSteps: H })])).batch);
    const split = [makeVector('navigation', 2, { maxEpisodeSteps: H }), makeVector('navigation', T * M - 2, { maxEpisodeSteps: H }, 2)];
    expect(fields((await sampleNav(split)).batch)).toEqual(one);
    // 4 copies for 6 trials: two rounds, the second with 2 filler trials dropped.
    expect(fields((await sampleNav([makeVector('navigation', 4, { maxEpisodeSteps: H })])).batch)).toEqual(one);
  });

  it('gives the same trials and the same update with 0 and 2 worker threads', async () => {
    const cfg = (workers: number) => resolveConfig('pytorch-maml-rl', { algo: 'rl2', metaBatchSize: T, episodesPerTask: M, horizon: H, rl2Hidden: 8, rl2Episodes: K, cgIters: 3, workers });
    const results = [];
    for (const workers of [0, 2]) {
      const learner = await Rl2Learner.create(cfg(workers));
      try {
        expect(learner.lanes.reduce((n, env) => n + env.num, 0)).toBe(T * M);
        const rng = new Rng(3);
        const theta = initGruParams(learner.spec, rng);
        const batch = await learner.sample(learner.taskSource.sampleTasks(T, rng), theta, rng);
        const { theta: next, metrics } = await learner.step(theta, rng);
        const { secondsSampling, secondsOuter, ...rest } = metrics;
        expect(secondsSampling + secondsOuter).toBeGreaterThan(0);
        results.push({ trials: fields(batch), theta: Array.from(next), metrics: rest });
      } finally {
        await learner.close();
      }
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[0].metrics.envSteps).toBeGreaterThan(0);
    expect(liveWorkerCount()).toBe(0);
  });

  it('trial arrays: weights sum to 1, zero on padding; advantages normalized per task', async () => {
    const { batch } = await sampleNav([makeVector('navigation', T * M, { maxEpisodeSteps: H })]);
    const cfg = resolveConfig('pytorch-maml-rl', { lossWeighting: 'step' });
    const a = trialArrays(batch, T, cfg);
    expect(a.trials).toBe(T * M);
    expect(a.weights.reduce((x, w) => x + w, 0)).toBeCloseTo(1, 5);
    const mask = batch.steps.mask();
    for (let i = 0; i < mask.length; i++) if (mask[i] === 0) expect(a.weights[i]).toBe(0);
    for (let t = 0; t < T; t++) {
      const rows = M * a.steps;
      let m = 0;
      let n = 0;
      for (let i = t * rows; i < (t + 1) * rows; i++) if (mask[i]) [m, n] = [m + a.advantages[i], n + 1];
      expect(Math.abs(m / n)).toBeLessThan(1e-5);
    }
  });
});

describe('RL² on navigation', () => {
  it('learns in 20 meta-batches, and episode 2 of a trial beats episode 1 (adaptation in the hidden state)', async () => {
    // 10 tasks × 10 trials of 2 episodes of ≤ 50 steps per batch; a larger trust region than
    // MAML's default (measured: maxKl 0.01 needs ~2× the batches to show the same adaptation).
    const cfg = resolveConfig('pytorch-maml-rl', { algo: 'rl2', metaBatchSize: 10, episodesPerTask: 10, horizon: 50, rl2Hidden: 32, maxKl: 0.05, gaeLambda: 0.95 });
    const evaluate = (theta: Float32Array) => evaluateRl2(cfg, theta, { tasks: 40, seed: 1234 });
    const learner = await Rl2Learner.create(cfg);
    const rng = new Rng(cfg.seed);
    let theta = initGruParams(learner.spec, rng);
    const before = await evaluate(theta);
    const gains: number[] = [];
    try {
      for (let b = 0; b < 20; b++) {
        const step = await learner.step(theta, rng);
        theta = step.theta;
        gains.push(step.metrics.returnAfter - step.metrics.returnBefore);
        expect(step.metrics.envSteps).toBeGreaterThan(0);
      }
    } finally {
      await learner.close();
    }
    const after = await evaluate(theta);
    expect(after.steps).toEqual([0, 1]);
    // Learning: the first episode's return (the untrained policy's about −55) at least halves.
    expect(after.mean[0]).toBeGreaterThan(before.mean[0] / 2);
    // Adaptation: per task, episode 2 beats episode 1 on average by more than twice its standard error.
    const d = after.perTask[1].map((x, j) => x - after.perTask[0][j]);
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    const se = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / (d.length - 1) / d.length);
    expect(mean).toBeGreaterThan(Math.max(0.5, 2 * se));
    // And during training: the last 10 batches' second episodes mostly beat their first.
    expect(gains.slice(-10).filter((g) => g > 0).length).toBeGreaterThanOrEqual(7);
  });
});

it('leaks no tensors', async () => {
  const before = tf.memory().numTensors;
  const { obj, theta, rng } = build(6);
  obj.gradient();
  obj.fisherVectorProduct(randomDirection(theta.length, rng));
  obj.gradientAutodiff();
  obj.fisherVectorProductAutodiff(randomDirection(theta.length, rng));
  obj.evaluate(theta);
  obj.lossAtOld();
  obj.dispose();
  const learner = await Rl2Learner.create(resolveConfig('pytorch-maml-rl', { algo: 'rl2', metaBatchSize: 2, episodesPerTask: 2, horizon: 10, rl2Hidden: 4, cgIters: 2 }));
  try {
    await learner.step(initGruParams(learner.spec, new Rng(1)), new Rng(2));
  } finally {
    await learner.close();
  }
  expect(tf.memory().numTensors).toBe(before);
});
