/**
 * Meta-SGD's derivatives (agents/metaSgd.ts through agents/maml.ts) against finite differences:
 * the meta-gradient in θ and in the learned step α, the Jacobian of the adapted parameters, and
 * the KL Hessian-vector product over φ = [θ; α].
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tensor/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { MetaObjective, adaptFlat } from '../agents/maml.ts';
import { disposeTaskData } from '../agents/taskData.ts';
import { TaskCurvature } from '../agents/curvature.ts';
import { learnedStepBackward, learnedStepForward, splitLearnedStep, withLearnedStep } from '../agents/metaSgd.ts';
import { type PolicySpec, initParams } from '../agents/policy.ts';
import { dot } from '../src/tensor/cg.ts';
import { axpy, probeProduct, randomDirection, randomTaskData, relErr } from './helpers.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const spec: PolicySpec = { obsDim: 2, actDim: 2, hidden: [8, 8], activation: 'tanh', initStd: 1 };

/** φ with logStd away from 0 and an uneven α around 0.3, so every term is exercised. */
function startPhi(rng: Rng): Float32Array {
  const theta = initParams(spec, rng);
  theta.fill(-0.3, theta.length - spec.actDim);
  const phi = withLearnedStep(theta, 0.3);
  for (let j = theta.length; j < phi.length; j++) phi[j] *= rng.range(0.5, 1.5);
  return phi;
}

function build(seed: number, steps = 1, firstOrder = false) {
  const rng = new Rng(seed);
  const phi = startPhi(rng);
  const T = 3;
  const obj = new MetaObjective({ spec, fastLr: 0.1, firstOrder, damping: 0, hvpSubsample: 1, learnedStep: true }, phi, T);
  for (let i = 0; i < steps; i++) obj.addInnerStep(randomTaskData(spec, T, 40, rng, 5));
  obj.setValidation(randomTaskData(spec, T, 40, rng, 3));
  return { obj, phi, rng };
}

/** A random direction in the θ block only, or in the α block only. */
function blockDirection(n: number, rng: Rng, block: 'theta' | 'alpha'): Float64Array {
  const u = randomDirection(n, rng);
  const D = n / 2;
  if (block === 'theta') u.fill(0, D);
  else u.fill(0, 0, D);
  return u;
}

describe('Meta-SGD meta-gradient', () => {
  it.each([
    [1, 'theta'],
    [1, 'alpha'],
    [2, 'theta'],
    [2, 'alpha'],
  ] as const)('matches central differences of the meta-loss (%i inner steps, along %s), error falling with ε', (steps, block) => {
    const { obj, phi, rng } = build(7, steps);
    const g = obj.metaGradient();
    expect(g.length).toBe(phi.length);
    const dirs = [0, 1, 2].map(() => blockDirection(phi.length, new Rng(rng.nextU32()), block));
    const errs: number[] = [];
    for (const eps of [0.04, 0.02, 0.01]) {
      const fd = dirs.map((u) => (obj.evaluate(axpy(phi, eps, u)).loss - obj.evaluate(axpy(phi, -eps, u)).loss) / (2 * eps));
      errs.push(relErr(dirs.map((u) => dot(g, u)), fd));
    }
    obj.dispose();
    expect(errs[2]).toBeLessThan(5e-3);
    // Central differences: the truncation error falls roughly as ε² (until float32 rounding dominates).
    if (errs[0] > 1e-3) expect(errs[1]).toBeLessThan(errs[0] / 2.5);
  });

  it('equals the MAML gradient in θ when α is fastLr everywhere (second- and first-order)', () => {
    for (const firstOrder of [false, true]) {
      const rng = new Rng(5);
      const theta = initParams(spec, rng);
      const data = [0, 1].map(() => randomTaskData(spec, 2, 30, new Rng(rng.nextU32()), 4));
      const grads = [false, true].map((learnedStep) => {
        const obj = new MetaObjective({ spec, fastLr: 0.2, firstOrder, damping: 0, hvpSubsample: 1, learnedStep }, learnedStep ? withLearnedStep(theta, 0.2) : theta, 2);
        obj.addInnerStep(data[0].map((d) => ({ ...d, obs: tf.clone(d.obs), actions: tf.clone(d.actions), advantages: tf.clone(d.advantages), weights: tf.clone(d.weights) })));
        obj.setValidation(data[1].map((d) => ({ ...d, obs: tf.clone(d.obs), actions: tf.clone(d.actions), advantages: tf.clone(d.advantages), weights: tf.clone(d.weights) })));
        const g = obj.metaGradient();
        obj.dispose();
        return g;
      });
      data.forEach(disposeTaskData);
      expect(relErr(grads[1].subarray(0, theta.length), grads[0])).toBeLessThan(1e-5);
      // The α block is not zero: the step sizes get a gradient.
      expect(Math.hypot(...grads[1].subarray(theta.length))).toBeGreaterThan(1e-4);
    }
  });
});

describe('Meta-SGD Jacobian of the adapted parameters', () => {
  it('forward product matches central differences of θ′(φ) over two steps; backward is its transpose', () => {
    const rng = new Rng(11);
    const phi = startPhi(rng);
    const D = phi.length / 2;
    const data = [0, 1].map(() => randomTaskData(spec, 1, 40, new Rng(rng.nextU32()), 5));
    const adapted = (p: Float32Array) => {
      const { theta, alpha } = splitLearnedStep(p, D);
      let th: ArrayLike<number> = theta;
      for (const ds of data) th = adaptFlat(spec, [th], ds, alpha)[0];
      return th;
    };
    const { theta, alpha } = splitLearnedStep(phi, D);
    const P1 = adaptFlat(spec, [theta], data[0], alpha)[0];
    const steps = [new TaskCurvature(spec, theta, data[0][0]), new TaskCurvature(spec, P1, data[1][0])];
    const v = randomDirection(2 * D, rng);
    const jv = learnedStepForward(steps, alpha, v, false);
    const eps = 0.01;
    const plus = adapted(axpy(phi, eps, v));
    const minus = adapted(axpy(phi, -eps, v));
    const fd = Array.from(plus, (x, j) => (x - minus[j]) / (2 * eps));
    expect(relErr(jv, fd)).toBeLessThan(5e-3);
    // uᵀ (J v) = (Jᵀ u)ᵀ v
    const u = randomDirection(D, rng);
    const jtu = learnedStepBackward(steps, alpha, u, false);
    expect(Math.abs(dot(u, jv) - dot(jtu, v))).toBeLessThan(1e-5 * Math.abs(dot(u, jv)) + 1e-7);
    steps.forEach((c) => c.dispose());
    data.forEach(disposeTaskData);
  });
});

describe('Meta-SGD KL Hessian-vector product over [θ; α]', () => {
  it.each([false, true])('matches second differences of the KL (uᵀHv), symmetric PSD (first-order: %s)', (firstOrder) => {
    const { obj, phi, rng } = build(5, 1, firstOrder);
    const { u, v, uHv: an, vHu, uHu } = probeProduct((x) => obj.fisherVectorProduct(x), phi.length, rng);
    const eps = 0.05;
    const kl = (a: number, b: number) => obj.evaluate(Float32Array.from(phi, (x, i) => x + a * u[i] + b * v[i])).kl;
    const fd = (kl(eps, eps) - kl(eps, -eps) - kl(-eps, eps) + kl(-eps, -eps)) / (4 * eps * eps);
    obj.dispose();
    // The first-order product drops H_i, so it only approximates the true curvature.
    if (!firstOrder) expect(Math.abs(an - fd)).toBeLessThan(0.02 * Math.abs(fd) + 1e-4);
    expect(Math.abs(an - vHu)).toBeLessThan(1e-4 * (Math.abs(an) + 1e-3));
    expect(uHu).toBeGreaterThan(0);
  });
});

it('refuses the autodiff reference (scalar steps only) and leaks no tensors', () => {
  const before = tf.memory().numTensors;
  const { obj, phi, rng } = build(21, 2);
  obj.metaGradient();
  obj.fisherVectorProduct(randomDirection(phi.length, rng));
  obj.evaluate(phi);
  expect(() => obj.metaGradientAutodiff()).toThrow(/scalar inner step/);
  expect(() => obj.klGradient(phi)).toThrow(/scalar inner step/);
  obj.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

describe('Meta-SGD training (--algo meta-sgd)', () => {
  it('learns θ and α on navigation: returns improve over the untrained start, one step helps, α is checkpointed', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { evaluate, train } = await import('../src/api.ts');
    const { loadRunCheckpoint } = await import('../src/io/checkpoint.ts');
    const { initMetaParams } = await import('../src/experiments/metaParams.ts');
    const out = mkdtempSync(join(tmpdir(), 'metarl-metasgd-'));
    const run = await train({ env: 'navigation', preset: 'quick', algo: 'meta-sgd', numBatches: 15, backend: 'wasm', out });
    expect(run.runDir).toMatch(/navigation__meta-sgd-trpo__1__/);
    const c = run.config;
    const navSpec: PolicySpec = { obsDim: 2, actDim: 2, hidden: c.hidden, activation: c.activation, initStd: c.initStd };
    const ck = loadRunCheckpoint(run.runDir, '--run');
    const D = ck.theta.length / 2;
    const { alpha } = splitLearnedStep(ck.theta, D);
    // α was learned: it left fastLr, and not by the same amount everywhere.
    expect(Math.max(...alpha.map((a) => Math.abs(a - c.fastLr)))).toBeGreaterThan(0.01);
    expect(new Set(alpha).size).toBeGreaterThan(D / 2);
    const ev = await evaluate(run.runDir, { tasks: 20, steps: 2, seed: 11 });
    const untrained = await evaluate({ config: c, theta: initMetaParams(c, navSpec, new Rng(c.seed)) }, { tasks: 20, steps: 1, seed: 11 });
    console.log(`meta-sgd on navigation, 15 meta-batches: after 0/1/2 steps ${ev.mean.map((x) => x.toFixed(1)).join(' / ')}; untrained start ${untrained.mean.map((x) => x.toFixed(1)).join(' / ')}; α mean ${ev.learnedStep!.mean.toFixed(3)} in [${ev.learnedStep!.min.toFixed(3)}, ${ev.learnedStep!.max.toFixed(3)}]`);
    expect(ev.stepSizes).toEqual([]);
    expect(ev.mean[1]).toBeGreaterThan(ev.mean[0]); // one adaptation step helps
    expect(ev.mean[0]).toBeGreaterThan(untrained.mean[0]); // and meta-training improved on the start
    expect(ev.mean[1]).toBeGreaterThan(untrained.mean[1]);
  }, 240_000);
});
