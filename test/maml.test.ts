/**
 * The MAML-TRPO derivatives against central finite differences: the second-order meta-gradient
 * and the KL Hessian-vector product through the inner step; the first-order meta-gradient
 * against its closed form for a linear-Gaussian policy.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tensor/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { MetaObjective } from '../agents/maml.ts';
import type { TaskData } from '../agents/taskData.ts';
import { type PolicySpec, initParams, numParams, toFlat } from '../agents/policy.ts';
import { dot } from '../src/tensor/cg.ts';
import { axpy, probeProduct, randomDirection, randomTaskData, relErr } from './helpers.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

function build(spec: PolicySpec, firstOrder: boolean, seed: number, fastLr = 0.5, steps = 1) {
  const rng = new Rng(seed);
  const theta = initParams(spec, rng);
  // Move logStd away from 0 so every term is exercised.
  theta.fill(-0.3, theta.length - spec.actDim);
  const T = 3;
  const obj = new MetaObjective({ spec, fastLr, firstOrder, damping: 0, hvpSubsample: 1 }, theta, T);
  for (let i = 0; i < steps; i++) obj.addInnerStep(randomTaskData(spec, T, 40, rng, 5));
  obj.setValidation(randomTaskData(spec, T, 40, rng, 3));
  return { obj, theta, rng };
}

const tanhSpec: PolicySpec = { obsDim: 2, actDim: 2, hidden: [8, 8], activation: 'tanh', initStd: 1 };

describe('second-order meta-gradient', () => {
  it.each([1, 2])('matches central differences of the meta-loss (%i inner steps), error falling with ε', (steps) => {
    const { obj, theta, rng } = build(tanhSpec, false, 7, 0.5, steps);
    const g = obj.metaGradient();
    const errs: number[] = [];
    const dirs = [0, 1, 2].map(() => randomDirection(theta.length, new Rng(rng.nextU32())));
    for (const eps of [0.04, 0.02, 0.01]) {
      const fd = dirs.map((u) => (obj.evaluate(axpy(theta, eps, u)).loss - obj.evaluate(axpy(theta, -eps, u)).loss) / (2 * eps));
      const an = dirs.map((u) => dot(g, u));
      errs.push(relErr(an, fd));
    }
    obj.dispose();
    expect(errs[2]).toBeLessThan(5e-3);
    // Central differences: the truncation error falls roughly as ε².
    expect(errs[1]).toBeLessThan(errs[0] / 2.5);
  });

  it.each([false, true])('analytic gradient equals the nested-autodiff gradient (first-order: %s)', (firstOrder) => {
    const { obj } = build(tanhSpec, firstOrder, 19, 0.5, 2);
    const err = relErr(obj.metaGradient(), obj.metaGradientAutodiff());
    obj.dispose();
    expect(err).toBeLessThan(1e-4);
  });

  it('differs from the first-order gradient (the second-order term is not negligible here)', () => {
    const a = build(tanhSpec, false, 11);
    const b = build(tanhSpec, true, 11);
    expect(relErr(a.obj.metaGradient(), b.obj.metaGradient())).toBeGreaterThan(0.05);
    a.obj.dispose();
    b.obj.dispose();
  });
});

describe('KL Hessian-vector product through the inner step', () => {
  it('matches central differences of the KL gradient, error falling with ε', () => {
    const { obj, theta, rng } = build(tanhSpec, false, 3);
    const v = randomDirection(theta.length, rng);
    const hv = obj.fisherVectorProduct(v);
    const errs: number[] = [];
    for (const eps of [0.2, 0.1, 0.05]) {
      const gp = obj.klGradient(axpy(theta, eps, v));
      const gm = obj.klGradient(axpy(theta, -eps, v));
      errs.push(relErr(hv, gp.map((x, i) => (x - gm[i]) / (2 * eps))));
    }
    obj.dispose();
    expect(errs[2]).toBeLessThan(5e-3);
    expect(errs[1]).toBeLessThan(errs[0] / 2.5);
  });

  it('matches second differences of the KL value itself (uᵀHv)', () => {
    const { obj, theta, rng } = build(tanhSpec, false, 5);
    const u = randomDirection(theta.length, rng);
    const v = randomDirection(theta.length, rng);
    const eps = 0.05;
    const kl = (a: number, b: number) => {
      const th = Float32Array.from(theta, (x, i) => x + a * u[i] + b * v[i]);
      return obj.evaluate(th).kl;
    };
    const fd = (kl(eps, eps) - kl(eps, -eps) - kl(-eps, eps) + kl(-eps, -eps)) / (4 * eps * eps);
    const an = dot(u, obj.fisherVectorProduct(v));
    obj.dispose();
    expect(Math.abs(an - fd)).toBeLessThan(0.02 * Math.abs(fd) + 1e-4);
  });

  it.each([false, true])('analytic product equals the nested-autodiff product (first-order: %s)', (firstOrder) => {
    const { obj, theta, rng } = build(tanhSpec, firstOrder, 17, 0.5, 2);
    const v = randomDirection(theta.length, rng);
    const err = relErr(obj.fisherVectorProduct(v), obj.fisherVectorProductAutodiff(v));
    obj.dispose();
    expect(err).toBeLessThan(1e-4);
  });

  it('is symmetric positive semi-definite', () => {
    const { obj, theta, rng } = build(tanhSpec, false, 9);
    const { uHv, vHu, uHu } = probeProduct((x) => obj.fisherVectorProduct(x), theta.length, rng);
    obj.dispose();
    expect(Math.abs(uHv - vHu)).toBeLessThan(1e-4 * (Math.abs(uHv) + 1e-3));
    expect(uHu).toBeGreaterThan(0);
  });
});

describe('first-order MAML', () => {
  it('equals the closed-form policy gradient at the adapted parameters (linear-Gaussian policy)', () => {
    const spec: PolicySpec = { obsDim: 3, actDim: 2, hidden: [], activation: 'tanh', initStd: 1 };
    const { obj } = build(spec, true, 13);
    const g = obj.metaGradient();
    // Closed form: ∇L_t = −Σ_n w_n A_n ∇log π(a_n|s_n) at θ'_t (ratio = 1 at the old policy),
    // ∇_W log π = sᵀ (a − μ) e^{−2σ}, ∇_b = (a − μ) e^{−2σ}, ∇_σ = (a − μ)² e^{−2σ} − 1.
    const valid = (obj as unknown as { valid: TaskData[] }).valid;
    const adapted = obj.adapted().map((P) => toFlat(P));
    const D = numParams(spec);
    const expected = new Float64Array(D);
    adapted.forEach((th, t) => {
      const d = valid[t];
      const S = d.obs.dataSync();
      const A = d.actions.dataSync();
      const adv = d.advantages.dataSync();
      const w = d.weights.dataSync();
      const [ni, no] = [spec.obsDim, spec.actDim];
      const bOff = ni * no;
      const sOff = bOff + no;
      for (let n = 0; n < w.length; n++) {
        for (let j = 0; j < no; j++) {
          let mu = th[bOff + j];
          for (let i = 0; i < ni; i++) mu += S[n * ni + i] * th[i * no + j];
          const iv = Math.exp(-2 * th[sOff + j]);
          const r = A[n * no + j] - mu;
          const c = (-w[n] * adv[n]) / adapted.length;
          for (let i = 0; i < ni; i++) expected[i * no + j] += c * S[n * ni + i] * r * iv;
          expected[bOff + j] += c * r * iv;
          expected[sOff + j] += c * (r * r * iv - 1);
        }
      }
    });
    obj.dispose();
    expect(relErr(g, expected)).toBeLessThan(1e-4);
  });
});

describe('line-search KL direction', () => {
  it('is KL(old ‖ new) by default and KL(new ‖ old) with lineSearchKl new-old (closed form for a change of log-std)', () => {
    const rng = new Rng(3);
    const theta = initParams(tanhSpec, rng);
    const data = randomTaskData(tanhSpec, 2, 30, rng, 4);
    const delta = 0.3;
    const moved = Float32Array.from(theta);
    for (let j = moved.length - tanhSpec.actDim; j < moved.length; j++) moved[j] += delta;
    const kls = (['old-new', 'new-old'] as const).map((lineSearchKl) => {
      // No inner step: the adapted policy is θ itself, so only the std changes (by e^δ).
      const obj = new MetaObjective({ spec: tanhSpec, fastLr: 0.1, firstOrder: false, damping: 0, hvpSubsample: 1, lineSearchKl }, theta, 2);
      obj.setValidation(data.map((d) => ({ ...d, obs: tf.clone(d.obs), actions: tf.clone(d.actions), advantages: tf.clone(d.advantages), weights: tf.clone(d.weights) })));
      const kl = obj.evaluate(moved).kl;
      obj.dispose();
      return kl;
    });
    const A = tanhSpec.actDim;
    expect(kls[0]).toBeCloseTo(A * (delta + Math.exp(-2 * delta) / 2 - 0.5), 5);
    expect(kls[1]).toBeCloseTo(A * (-delta + Math.exp(2 * delta) / 2 - 0.5), 5);
    tf.dispose(data.flatMap((d) => [d.obs, d.actions, d.advantages, d.weights]));
  });
});

it('leaks no tensors', () => {
  const before = tf.memory().numTensors;
  const { obj, theta, rng } = build(tanhSpec, false, 21);
  obj.metaGradient();
  obj.fisherVectorProduct(randomDirection(theta.length, rng));
  obj.evaluate(theta);
  obj.klGradient(theta);
  obj.dispose();
  expect(tf.memory().numTensors).toBe(before);
});
