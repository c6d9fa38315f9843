/**
 * The RL² GRU policy: the host step and the tfjs unroll compute the same means; the hidden state
 * carries information across steps (and episodes) and starts from zero in every sequence; the
 * forward- and reverse-mode products of agents/gruDerivatives.ts against float64 finite
 * differences and each other; the safe sigmoid's second derivative.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tensor/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { type GruSpec, HostGru, gruInputDim, gruMeans, gruShapes, initGruParams, numGruParams, stepInputs, toGruParams } from '../agents/gru.ts';
import { sigmoid } from '../src/tensor/ops.ts';
import { GruLinearization } from '../agents/gruDerivatives.ts';
import { dot } from '../src/tensor/cg.ts';
import { randomDirection, relErr } from './helpers.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const spec: GruSpec = { obsDim: 2, actDim: 2, hidden: 5, initStd: 0.5 };
const I = gruInputDim(spec);

/** θ from initGruParams with every entry (biases too) moved, so that every term is exercised. */
function randomTheta(seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from(initGruParams(spec, rng), (x) => x + 0.3 * rng.normal());
}

function randomInputs(B: number, L: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: B * L * I }, () => rng.normal());
}

/** Means [B, L, A] by the host step, each sequence from h = 0, in float64. */
function hostMeans(theta: ArrayLike<number>, x: Float32Array, B: number, L: number): Float64Array {
  const g = new HostGru(spec, theta);
  const U = spec.hidden;
  const A = spec.actDim;
  const out = new Float64Array(B * L * A);
  for (let b = 0; b < B; b++) {
    let h = new Float64Array(U);
    let next = new Float64Array(U);
    const mean = new Float64Array(A);
    for (let t = 0; t < L; t++) {
      g.step(h, x.subarray((b * L + t) * I, (b * L + t + 1) * I), 1, next, mean);
      out.set(mean, (b * L + t) * A);
      [h, next] = [next, h];
    }
  }
  return out;
}

function tfMeans(theta: ArrayLike<number>, x: Float32Array, B: number, L: number): Float32Array {
  const steps = stepInputs(spec, x, B, L);
  const P = toGruParams(spec, theta);
  const mu = tf.tidy(() => gruMeans(spec, P, steps));
  const out = mu.dataSync() as Float32Array;
  tf.dispose([mu, ...steps, ...Object.values(P)]);
  return out;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe('GRU policy', () => {
  it('has the documented layout and initialization', () => {
    const U = spec.hidden;
    expect(numGruParams(spec)).toBe(3 * U * (I + U + 1) + (U + 2) * spec.actDim);
    expect(gruShapes(spec).wx).toEqual([I, 3 * U]);
    const theta = initGruParams(spec, new Rng(1));
    const A = spec.actDim;
    expect(Array.from(theta.subarray(theta.length - A))).toEqual(Array(A).fill(Math.fround(Math.log(0.5))));
    // Recurrent blocks are orthogonal: U_z Uᵀ_z = I (rows of U_zr's first U columns).
    const off = I * 3 * U;
    for (let i = 0; i < U; i++) {
      for (let j = 0; j < U; j++) {
        let s = 0;
        for (let k = 0; k < U; k++) s += theta[off + i * 2 * U + k] * theta[off + j * 2 * U + k];
        expect(s).toBeCloseTo(i === j ? 1 : 0, 5);
      }
    }
    const biasOff = off + 2 * U * U + U * U;
    expect(Array.from(theta.subarray(biasOff, biasOff + 3 * U)).every((b) => b === 0)).toBe(true);
  });

  it('host step (float64) and tfjs unroll give the same means', () => {
    const [B, L] = [3, 9];
    const theta = randomTheta(2);
    const x = randomInputs(B, L, 3);
    expect(maxAbsDiff(tfMeans(theta, x, B, L), hostMeans(theta, x, B, L))).toBeLessThan(1e-5);
    // The linearization's own forward pass too.
    const steps = stepInputs(spec, x, B, L);
    const lin = new GruLinearization(spec, theta, steps);
    const host = hostMeans(theta, x, B, L);
    lin.means.forEach((m, t) => {
      const v = m.dataSync();
      for (let b = 0; b < B; b++) for (let a = 0; a < 2; a++) expect(Math.abs(v[b * 2 + a] - host[(b * L + t) * 2 + a])).toBeLessThan(1e-5);
    });
    lin.dispose();
    tf.dispose(steps);
  });

  it('carries the past in its hidden state: a later step depends on an earlier reward; every sequence starts from zero', () => {
    const [B, L] = [2, 8];
    const theta = randomTheta(4);
    const x = randomInputs(B, L, 5);
    const base = tfMeans(theta, x, B, L);
    // Change sequence 0's reward input at step 2 (as if episode 1 had paid differently).
    const changed = Float32Array.from(x);
    changed[(0 * L + 2) * I + spec.obsDim + spec.actDim] += 1;
    const after = tfMeans(theta, changed, B, L);
    const A = spec.actDim;
    const diffAt = (b: number, t: number) => maxAbsDiff(base.subarray((b * L + t) * A, (b * L + t + 1) * A), after.subarray((b * L + t) * A, (b * L + t + 1) * A));
    expect(diffAt(0, 1)).toBe(0); // the past does not see the future
    expect(diffAt(0, 2)).toBeGreaterThan(1e-3);
    expect(diffAt(0, 7)).toBeGreaterThan(1e-4); // six steps later
    expect(diffAt(1, 7)).toBe(0); // other sequences are untouched
    // Sequence 1's first step is one step from h = 0, whatever came before it in the batch.
    const alone = hostMeans(theta, x.subarray(L * I, (L + 1) * I), 1, 1);
    expect(maxAbsDiff(base.subarray(L * A, L * A + A), alone)).toBeLessThan(1e-5);
  });
});

describe('GRU derivatives', () => {
  const [B, L] = [3, 7];
  const theta = randomTheta(6);
  const x = randomInputs(B, L, 7);

  it('jvp matches central differences of the float64 host means', () => {
    const steps = stepInputs(spec, x, B, L);
    const lin = new GruLinearization(spec, theta, steps);
    const rng = new Rng(8);
    for (let trial = 0; trial < 3; trial++) {
      const v = randomDirection(theta.length, rng);
      const J = lin.jvp(v);
      const an = new Float64Array(B * L * 2);
      J.forEach((j, t) => {
        const d = j.dataSync();
        for (let b = 0; b < B; b++) for (let a = 0; a < 2; a++) an[(b * L + t) * 2 + a] = d[b * 2 + a];
      });
      tf.dispose(J);
      const eps = 1e-4;
      const plus = hostMeans(Float64Array.from(theta, (th, i) => th + eps * v[i]), x, B, L);
      const minus = hostMeans(Float64Array.from(theta, (th, i) => th - eps * v[i]), x, B, L);
      expect(relErr(an, plus.map((p, i) => (p - minus[i]) / (2 * eps)))).toBeLessThan(1e-4);
    }
    lin.dispose();
    tf.dispose(steps);
  });

  it('vjp is the adjoint of jvp: ⟨c, J v⟩ = ⟨Jᵀ c, v⟩', () => {
    const steps = stepInputs(spec, x, B, L);
    const lin = new GruLinearization(spec, theta, steps);
    const rng = new Rng(9);
    const v = randomDirection(theta.length, rng);
    const cs = Array.from({ length: L }, () => tf.tensor2d(Float32Array.from({ length: B * 2 }, () => rng.normal()), [B, 2]));
    const J = lin.jvp(v);
    const lhs = cs.reduce((s, c, t) => s + dot(c.dataSync(), J[t].dataSync()), 0);
    const jtc = lin.vjp(cs);
    expect(Array.from(jtc.subarray(jtc.length - 2))).toEqual([0, 0]); // logStd does not move the means
    expect(Math.abs(lhs - dot(jtc, v))).toBeLessThan(1e-5 * Math.abs(lhs) + 1e-6);
    tf.dispose([...cs, ...J]);
    lin.dispose();
    tf.dispose(steps);
  });
});

describe('safe sigmoid', () => {
  it('has the right second derivative, where tfjs\'s sigmoid (gradient from its output) cannot give one', () => {
    const xs = [-1.5, 0.3, 2];
    const x = tf.tensor1d(xs);
    const second = (f: (x: tf.Tensor) => tf.Tensor) => tf.grad((y: tf.Tensor) => tf.sum(tf.grad((z: tf.Tensor) => tf.sum(f(z)))(y)))(x);
    const got = second(sigmoid);
    const expected = xs.map((v) => {
      const s = 1 / (1 + Math.exp(-v));
      return s * (1 - s) * (1 - 2 * s);
    });
    expect(maxAbsDiff(got.dataSync(), expected)).toBeLessThan(1e-6);
    expect(() => second(tf.sigmoid)).toThrow(/Cannot compute gradient/);
    tf.dispose([x, got]);
  });
});

it('leaks no tensors', () => {
  const before = tf.memory().numTensors;
  const [B, L] = [2, 4];
  const theta = randomTheta(10);
  const x = randomInputs(B, L, 11);
  tfMeans(theta, x, B, L);
  const steps = stepInputs(spec, x, B, L);
  const lin = new GruLinearization(spec, theta, steps);
  const J = lin.jvp(randomDirection(theta.length, new Rng(1)));
  lin.vjp(J);
  tf.dispose(J);
  lin.dispose();
  tf.dispose(steps);
  expect(tf.memory().numTensors).toBe(before);
});
