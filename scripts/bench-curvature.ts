/**
 * Timings of the analytic curvature products (agents/curvature.ts) at navigation sizes:
 * 20 tasks × 2000 rows, obs 2, act 2, 2×64 tanh, at full data and at subsample fractions.
 *
 *   npx tsx scripts/bench-curvature.ts [backend=wasm] [reps=20]
 *
 * Prints a table and one JSON line (`{"bench":"curvature",…}`). "metaProduct" is one MAML-TRPO KL
 * Hessian-vector product over the whole meta-batch with one inner step: per task 2 innerHvp +
 * 1 fisherVp. "autodiffMetaProduct" is the same with nested tf.grads (as agents/maml.ts does), for
 * reference, timed on a few tasks and scaled to the meta-batch.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tensor/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { type Params, type PolicySpec, initParams, klFrom, meanOf, toParams } from '../agents/policy.ts';
import type { TaskData } from '../agents/taskData.ts';
import { innerLoss } from '../agents/mamlAutodiff.ts';
import { TaskCurvature, adaptedKlHvp } from '../agents/curvature.ts';

const backend = await initBackend(process.argv[2] ?? 'wasm');
const reps = Number(process.argv[3] ?? 20);
const T = 20;
const ROWS = 2000;
const ALPHA = 0.1;
const spec: PolicySpec = { obsDim: 2, actDim: 2, hidden: [64, 64], activation: 'tanh', initStd: 1 };
const rng = new Rng(3);

function randomData(n: number): TaskData {
  const r = (k: number, s = 1) => Float32Array.from({ length: k }, () => s * rng.normal());
  return {
    obs: tf.tensor2d(r(n * 2), [n, 2]),
    actions: tf.tensor2d(r(n * 2), [n, 2]),
    advantages: tf.tensor1d(r(n)),
    weights: tf.fill([n], 1 / n) as tf.Tensor1D,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median ms of `f` over `n` runs after one warm-up. */
function timeMs(n: number, f: () => void): number {
  f();
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** One task's (I − αH) F (I − αH) v by nested tf.grads, the way agents/maml.ts computes it. */
function autodiffProduct(theta: Float32Array, adapted: Float32Array, train: TaskData, valid: TaskData, v: Float32Array): void {
  tf.tidy(() => {
    const hvp = (at: Float32Array, w: Params, f: (P: Params) => tf.Tensor) => {
      const P = toParams(spec, at);
      return tf.grads((...p: tf.Tensor[]) => {
        const g = tf.grads((...q: tf.Tensor[]) => f(q))(p);
        return tf.addN(g.map((gi, i) => tf.sum(tf.mul(gi, w[i]))));
      })(P);
    };
    const inner = (P: Params) => innerLoss(spec, P, train);
    const Pold = toParams(spec, adapted);
    const oldMean = meanOf(spec, Pold, valid.obs);
    const kl = (P: Params) => tf.sum(tf.mul(klFrom(spec, P, valid.obs, oldMean, Pold[Pold.length - 1]), valid.weights));
    const V = toParams(spec, v);
    const U = hvp(theta, V, inner).map((h, i) => tf.sub(V[i], tf.mul(h, ALPHA)));
    const FU = hvp(adapted, U, kl);
    const out = hvp(theta, FU, inner).map((h, i) => tf.sub(FU[i], tf.mul(h, ALPHA)));
    for (const o of out) o.dataSync();
  });
}

const theta = initParams(spec, rng);
const v = Float32Array.from({ length: theta.length }, () => rng.normal());
const results: Record<string, Record<string, number>> = {};
console.log(`backend ${backend}, ${T} tasks, 2×64 tanh, obs 2, act 2, median of ${reps} (ms)`);
console.log('subsample  rows  construct(fisher)  construct(inner)  innerHvp  fisherVp  metaProduct  autodiffMetaProduct');
for (const fraction of [1, 0.2, 0.1]) {
  const n = Math.ceil(fraction * ROWS);
  const train = Array.from({ length: T }, () => randomData(n));
  const valid = Array.from({ length: T }, () => randomData(n));
  // Adapted parameters differ per task; their values do not matter for timing.
  const adapted = train.map(() => theta.map((x) => x + 0.01 * rng.normal()));
  const constructFisher = timeMs(reps, () => new TaskCurvature(spec, adapted[0], valid[0]).dispose());
  const constructInner = timeMs(reps, () => {
    const c = new TaskCurvature(spec, theta, train[0]);
    c.innerGrad();
    c.dispose();
  });
  const steps = train.map((d) => new TaskCurvature(spec, theta, d));
  const fishers = valid.map((d, t) => new TaskCurvature(spec, adapted[t], d));
  const innerHvp = timeMs(reps * 5, () => steps[0].innerHvp(v));
  const fisherVp = timeMs(reps * 5, () => fishers[0].fisherVp(v));
  const metaProduct = timeMs(reps, () => {
    for (let t = 0; t < T; t++) adaptedKlHvp([steps[t]], fishers[t], ALPHA, v);
  });
  const sampleTasks = 2;
  const autodiffMetaProduct =
    (timeMs(2, () => {
      for (let t = 0; t < sampleTasks; t++) autodiffProduct(theta, adapted[t], train[t], valid[t], v);
    }) *
      T) /
    sampleTasks;
  results[String(fraction)] = { rows: n, constructFisher, constructInner, innerHvp, fisherVp, metaProduct, autodiffMetaProduct };
  const f = (x: number, w: number) => x.toFixed(2).padStart(w);
  console.log(`${String(fraction).padStart(9)} ${String(n).padStart(5)} ${f(constructFisher, 18)} ${f(constructInner, 17)} ${f(innerHvp, 9)} ${f(fisherVp, 9)} ${f(metaProduct, 12)} ${f(autodiffMetaProduct, 20)}`);
  for (const c of [...steps, ...fishers]) c.dispose();
  for (const d of [...train, ...valid]) tf.dispose([d.obs, d.actions, d.advantages, d.weights]);
}
console.log(JSON.stringify({ bench: 'curvature', backend, tasks: T, hidden: spec.hidden, reps, ms: results }));
