/**
 * Continual meta-updates: the off-policy item meta-gradient equals MAML's meta-gradient on
 * on-policy data, importance weights and clipping behave as specified, and the MER update
 * reduces to sequential SGD (β = γ = 1) and interpolates as Reptile does.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tensor/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { MetaObjective } from '../agents/maml.ts';
import type { TaskData } from '../agents/taskData.ts';
import { type PolicySpec, initParams, logProbFromMean, logStdTensor, meanOf, toFlat, toParams } from '../agents/policy.ts';
import { type ReplayItem, itemMetaGradient, merUpdate } from '../agents/continualUpdate.ts';
import { randomTaskData, relErr } from './helpers.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const spec: PolicySpec = { obsDim: 3, actDim: 2, hidden: [8, 8], activation: 'tanh', initStd: 1 };
const fastLr = 0.3;

function logpOf(theta: ArrayLike<number>, d: TaskData): tf.Tensor {
  const P = toParams(spec, theta);
  const out = tf.tidy(() => logProbFromMean(spec, meanOf(spec, P, d.obs), logStdTensor(P), d.actions));
  tf.dispose(P);
  return out;
}

describe('itemMetaGradient', () => {
  it.each([false, true])('equals the MAML meta-gradient on on-policy data (firstOrder %s)', (firstOrder) => {
    const rng = new Rng(5);
    const theta = initParams(spec, rng);
    const [pre] = randomTaskData(spec, 1, 40, rng, 3);
    const [post] = randomTaskData(spec, 1, 40, rng, 2);
    const obj = new MetaObjective({ spec, fastLr, firstOrder, damping: 0, hvpSubsample: 1 }, theta, 1);
    // The objective owns (and disposes) what it is given: hand it copies.
    const copy = (d: TaskData): TaskData => ({ obs: d.obs.clone(), actions: d.actions.clone(), advantages: d.advantages.clone(), weights: d.weights.clone() });
    obj.addInnerStep([copy(pre)]);
    const adapted = toFlat(obj.adapted()[0]);
    obj.setValidation([copy(post)]);
    const reference = obj.metaGradient();
    obj.dispose();
    const item: ReplayItem = { pre: { ...pre, behaviourLogp: logpOf(theta, pre) }, post: { ...post, behaviourLogp: logpOf(adapted, post) } };
    const g = itemMetaGradient(spec, theta, item, { fastLr, firstOrder, clip: 0.2, maxImportance: 2 });
    expect(relErr(g, reference)).toBeLessThan(1e-5);
  });

  it('is zero when every post row is clipped away, and scales with truncated importance weights', () => {
    const rng = new Rng(6);
    const theta = initParams(spec, rng);
    const [pre] = randomTaskData(spec, 1, 30, rng);
    const [post] = randomTaskData(spec, 1, 30, rng);
    const preLogp = logpOf(theta, pre);
    // Behaviour log-probabilities far below the current ones: r ≫ 1 + ε for A > 0 rows → clipped;
    // A ≤ 0 rows with r ≫ 1 keep their gradient, so make every advantage positive.
    const positive = { ...post, advantages: tf.abs(post.advantages) };
    const farBelow = tf.sub(logpOf(theta, positive), 50);
    const g = itemMetaGradient(spec, theta, { pre: { ...pre, behaviourLogp: preLogp }, post: { ...positive, behaviourLogp: farBelow } }, { fastLr: 0, firstOrder: true, clip: 0.2, maxImportance: 2 });
    expect(Math.max(...Array.from(g, Math.abs))).toBe(0);
  });
});

describe('merUpdate', () => {
  // Gradient of ½‖θ − c_item‖²: each item pulls θ towards its own centre.
  const centres = [Float32Array.from([1, 0]), Float32Array.from([0, 2]), Float32Array.from([-1, -1])];
  const items = centres.map((c) => ({ c }) as unknown as ReplayItem);
  const grad = (theta: Float32Array, item: ReplayItem) => Float64Array.from(theta, (x, j) => x - (item as unknown as { c: Float32Array }).c[j]);

  it('is sequential SGD over the items when β = γ = 1', () => {
    let expected = Float32Array.from([0.5, 0.5]);
    const theta = expected;
    for (const c of centres) expected = Float32Array.from(expected, (x, j) => x - 0.1 * (x - c[j]));
    const got = merUpdate(theta, [items], grad, { lr: 0.1, beta: 1, gamma: 1 });
    expect(Array.from(got)).toEqual(Array.from(expected));
  });

  it('interpolates within batches (β) and across them (γ) as Reptile does', () => {
    const theta = Float32Array.from([0.5, 0.5]);
    expect(Array.from(merUpdate(theta, [items, items], grad, { lr: 0.1, beta: 0, gamma: 1 }))).toEqual([0.5, 0.5]);
    const full = merUpdate(theta, [items], grad, { lr: 0.1, beta: 1, gamma: 1 });
    const half = merUpdate(theta, [items], grad, { lr: 0.1, beta: 0.5, gamma: 1 });
    const quarter = merUpdate(theta, [items], grad, { lr: 0.1, beta: 0.5, gamma: 0.5 });
    for (let j = 0; j < 2; j++) {
      expect(half[j]).toBeCloseTo(theta[j] + 0.5 * (full[j] - theta[j]), 6);
      expect(quarter[j]).toBeCloseTo(theta[j] + 0.25 * (full[j] - theta[j]), 6);
    }
  });
});
