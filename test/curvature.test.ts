import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tensor/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { type Activation, type Params, type PolicySpec, klFrom, meanOf, numParams, toParams } from '../agents/policy.ts';
import type { TaskData } from '../agents/taskData.ts';
import { innerLoss } from '../agents/mamlAutodiff.ts';
import { TaskCurvature, adaptedKlHvp } from '../agents/curvature.ts';
import { relErr } from './helpers.ts';

// Observed relative errors (wasm and cpu): ~1e-7 against autodiff, ~2e-5 against central
// differences with ε = 1e-3 (float32 gradients); the tolerances leave an order of magnitude or more.
const N = 30;

function specFor(activation: Activation): PolicySpec {
  return { obsDim: 3, actDim: 2, hidden: [5, 4], activation, initStd: 1 };
}

function randomVector(rng: Rng, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

/** Random parameters with logStd around 0 and weights large enough for tanh to be nonlinear. */
function randomParams(spec: PolicySpec, rng: Rng): Float32Array {
  const p = randomVector(rng, numParams(spec), 0.7);
  for (let j = 0; j < spec.actDim; j++) p[p.length - spec.actDim + j] = 0.3 * rng.normal();
  return p;
}

function randomData(spec: PolicySpec, rng: Rng): TaskData {
  const w = Float32Array.from({ length: N }, (_, i) => (i % 7 === 6 ? 0 : rng.uniform()));
  return {
    obs: tf.tensor2d(randomVector(rng, N * spec.obsDim, 1), [N, spec.obsDim]),
    actions: tf.tensor2d(randomVector(rng, N * spec.actDim, 1), [N, spec.actDim]),
    advantages: tf.tensor1d(randomVector(rng, N, 1)),
    weights: tf.tensor1d(w),
  };
}

function flatOf(ts: tf.Tensor[]): Float64Array {
  return Float64Array.from(ts.flatMap((t) => Array.from(t.dataSync())));
}

/** ∇f at θ by tfjs autodiff. */
function autodiffGrad(spec: PolicySpec, theta: ArrayLike<number>, f: (P: Params) => tf.Tensor): Float64Array {
  const P = toParams(spec, theta);
  const g = tf.tidy(() => tf.grads((...p: tf.Tensor[]) => f(p))(P));
  const out = flatOf(g);
  tf.dispose([...P, ...g]);
  return out;
}

/** ∇²f(θ) v by nested tf.grads (double backward through the higher-order-safe ops). */
function autodiffHvp(spec: PolicySpec, theta: ArrayLike<number>, v: ArrayLike<number>, f: (P: Params) => tf.Tensor): Float64Array {
  const P = toParams(spec, theta);
  const V = toParams(spec, v);
  const hv = tf.tidy(() =>
    tf.grads((...p: tf.Tensor[]) => {
      const g = tf.grads((...q: tf.Tensor[]) => f(q))(p);
      return tf.addN(g.map((gi, i) => tf.sum(tf.mul(gi, V[i]))));
    })(P),
  );
  const out = flatOf(hv);
  tf.dispose([...P, ...V, ...hv]);
  return out;
}

/** Central difference of a gradient along v: (g(θ + εv) − g(θ − εv)) / 2ε. */
function fdHvp(theta: Float32Array, v: Float32Array, eps: number, grad: (th: Float32Array) => Float64Array): Float64Array {
  const shifted = (sign: number) => grad(theta.map((x, i) => x + sign * eps * v[i]));
  const gp = shifted(1);
  const gm = shifted(-1);
  return gp.map((x, i) => (x - gm[i]) / (2 * eps));
}

/** Σ_n w_n KL(old ‖ π_P) with old = the policy at θ_old on this data. */
function klLoss(spec: PolicySpec, thetaOld: ArrayLike<number>, d: TaskData): { f: (P: Params) => tf.Tensor; dispose: () => void } {
  const Pold = toParams(spec, thetaOld);
  const oldMean = meanOf(spec, Pold, d.obs);
  const oldLogStd = Pold[Pold.length - 1];
  return {
    f: (P) => tf.sum(tf.mul(klFrom(spec, P, d.obs, oldMean, oldLogStd), d.weights)),
    dispose: () => tf.dispose([...Pold, oldMean]),
  };
}

beforeAll(async () => {
  await initBackend(process.env.METARL_TEST_BACKEND ?? 'wasm');
});

afterAll(() => {
  tf.disposeVariables();
});

describe.each(['tanh', 'relu'] as Activation[])('TaskCurvature (%s)', (activation) => {
  const spec = specFor(activation);
  const inner = (d: TaskData) => (P: Params) => innerLoss(spec, P, d);

  it('innerGrad matches tfjs autodiff of innerLoss', () => {
    const rng = new Rng(11);
    const theta = randomParams(spec, rng);
    const d = randomData(spec, rng);
    const c = new TaskCurvature(spec, theta, d);
    expect(relErr(c.innerGrad(), autodiffGrad(spec, theta, inner(d)))).toBeLessThan(1e-5);
    c.dispose();
  });

  it('innerHvp matches nested tf.grads and finite differences of the gradient', () => {
    const rng = new Rng(12);
    for (let trial = 0; trial < 3; trial++) {
      const theta = randomParams(spec, rng);
      const v = randomVector(rng, theta.length, 1);
      const d = randomData(spec, rng);
      const c = new TaskCurvature(spec, theta, d);
      const hv = c.innerHvp(v);
      expect(relErr(hv, autodiffHvp(spec, theta, v, inner(d)))).toBeLessThan(1e-5);
      const fd = fdHvp(theta, v, 1e-3, (th) => autodiffGrad(spec, th, inner(d)));
      expect(relErr(hv, fd)).toBeLessThan(1e-3);
      // Linearity and reuse: the cached activations must not be disturbed by earlier products.
      const hv2 = c.innerHvp(v.map((x) => 2 * x));
      expect(relErr(hv2, hv.map((x) => 2 * x))).toBeLessThan(1e-6);
      c.dispose();
    }
  });

  it('innerHvp is symmetric: uᵀ H v = vᵀ H u', () => {
    const rng = new Rng(13);
    const theta = randomParams(spec, rng);
    const d = randomData(spec, rng);
    const c = new TaskCurvature(spec, theta, d);
    const u = randomVector(rng, theta.length, 1);
    const v = randomVector(rng, theta.length, 1);
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i], 0);
    const uHv = dot(u, c.innerHvp(v));
    const vHu = dot(v, c.innerHvp(u));
    expect(Math.abs(uHv - vHu)).toBeLessThan(1e-4 * (Math.abs(uHv) + 1));
    c.dispose();
  });

  it('fisherVp matches the KL Hessian at θ_old (nested tf.grads and finite differences)', () => {
    const rng = new Rng(14);
    for (let trial = 0; trial < 3; trial++) {
      const theta = randomParams(spec, rng);
      const v = randomVector(rng, theta.length, 1);
      const d = randomData(spec, rng);
      const kl = klLoss(spec, theta, d);
      const c = new TaskCurvature(spec, theta, { obs: d.obs, actions: d.actions, weights: d.weights });
      const fv = c.fisherVp(v);
      expect(relErr(fv, autodiffHvp(spec, theta, v, kl.f))).toBeLessThan(1e-5);
      const fd = fdHvp(theta, v, 1e-3, (th) => autodiffGrad(spec, th, kl.f));
      expect(relErr(fv, fd)).toBeLessThan(1e-3);
      kl.dispose();
      c.dispose();
    }
  });

  it('a Fisher-only instance refuses inner-loss products with a clear message', () => {
    const rng = new Rng(15);
    const theta = randomParams(spec, rng);
    const d = randomData(spec, rng);
    const c = new TaskCurvature(spec, theta, { obs: d.obs, actions: d.actions, weights: d.weights });
    expect(() => c.innerGrad()).toThrow(/advantages/);
    expect(() => c.fisherVp(new Float32Array(3))).toThrow(/entries/);
    c.dispose();
  });

  it('adaptedKlHvp equals the Hessian of the KL after one inner step (three nested tf.grads)', () => {
    const rng = new Rng(16);
    const alpha = 0.3;
    const theta = randomParams(spec, rng);
    const v = randomVector(rng, theta.length, 1);
    const train = randomData(spec, rng);
    const valid = randomData(spec, rng);
    // θ' = θ − α ∇L_in(θ) on the train data; the old policy is π_θ' on the validation data.
    const g = autodiffGrad(spec, theta, inner(train));
    const adapted = theta.map((x, i) => x - alpha * g[i]);
    const kl = klLoss(spec, adapted, valid);
    const throughStep = (P: Params) => {
      const gp = tf.grads((...q: tf.Tensor[]) => innerLoss(spec, q, train))(P);
      return kl.f(P.map((p, i) => tf.sub(p, tf.mul(gp[i], alpha))));
    };
    const want = autodiffHvp(spec, theta, v, throughStep);
    const step = new TaskCurvature(spec, theta, train);
    const fisher = new TaskCurvature(spec, adapted, valid);
    expect(relErr(adaptedKlHvp([step], fisher, alpha, v), want)).toBeLessThan(5e-5);
    expect(relErr(adaptedKlHvp([], fisher, alpha, v), fisher.fisherVp(v))).toBe(0);
    kl.dispose();
    step.dispose();
    fisher.dispose();
  });

  it('dispose releases every tensor it created', () => {
    const rng = new Rng(17);
    const theta = randomParams(spec, rng);
    const d = randomData(spec, rng);
    const before = tf.memory().numTensors;
    const c = new TaskCurvature(spec, theta, d);
    c.innerHvp(randomVector(rng, theta.length, 1));
    c.fisherVp(randomVector(rng, theta.length, 1));
    c.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
