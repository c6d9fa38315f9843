/**
 * The MER replay memory (agents/merMemory.ts): the reservoir rule exactly and statistically,
 * sampling without replacement, bit-exact checkpoints, sizes, errors and tensor bookkeeping.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplayMemory, type SampledTransitions, type TransitionBatch } from '../agents/merMemory.ts';
import { base64ToFloat32, base64ToInt32 } from '../agents/merMemoryCodec.ts';
import { ConfigError, NumericError } from '../src/core/errors.ts';
import { Rng } from '../src/core/rng.ts';
import { initBackend } from '../src/tensor/backend.ts';

beforeAll(async () => {
  await initBackend(process.env.METARL_TEST_BACKEND ?? 'wasm');
});

let tensorsAtStart = 0;
beforeAll(() => {
  tensorsAtStart = tf.memory().numTensors;
});
afterAll(() => {
  // Every test disposes what it made: nothing is left on the backend at the end of the file.
  expect(tf.memory().numTensors).toBe(tensorsAtStart);
});

/** Rows whose every field is a function of the item number, so alignment across fields is checkable. */
function items(from: number, n: number, obsDim = 2, actDim = 1): TransitionBatch {
  const id = (r: number) => from + r;
  return {
    obs: Float32Array.from({ length: n * obsDim }, (_, i) => id(Math.floor(i / obsDim)) * 10 + (i % obsDim)),
    actions: Float32Array.from({ length: n * actDim }, (_, i) => -id(Math.floor(i / actDim))),
    advantages: Float32Array.from({ length: n }, (_, r) => id(r) + 0.5),
    logProbs: Float32Array.from({ length: n }, (_, r) => -id(r) / 4),
    taskIds: Int32Array.from({ length: n }, (_, r) => id(r)),
  };
}

function heldIds(m: ReplayMemory): number[] {
  return Array.from(base64ToInt32(m.toJSON().taskIds));
}

function read(s: SampledTransitions): { obs: number[]; actions: number[]; advantages: number[]; logProbs: number[]; taskIds: number[] } {
  const out = {
    obs: Array.from(s.obs.dataSync()),
    actions: Array.from(s.actions.dataSync()),
    advantages: Array.from(s.advantages.dataSync()),
    logProbs: Array.from(s.logProbs.dataSync()),
    taskIds: Array.from(s.taskIds.dataSync()),
  };
  tf.dispose([s.obs, s.actions, s.advantages, s.logProbs, s.taskIds]);
  return out;
}

/** Algorithm R written out plainly, as REFERENCE §4 states it: the expected slot contents. */
function referenceReservoir(capacity: number, total: number, rng: Rng): number[] {
  const slots: number[] = [];
  for (let age = 0; age < total; age++) {
    if (age < capacity) slots.push(age);
    else {
      const p = rng.int(age + 1);
      if (p < capacity) slots[p] = age;
    }
  }
  return slots;
}

describe('ReplayMemory: reservoir rule', () => {
  it('appends while there is room, then follows Algorithm R exactly, row by row across offers', () => {
    const m = new ReplayMemory({ capacity: 7, obsDim: 2, actDim: 1 });
    const rng = new Rng(11);
    m.offer(items(0, 3), rng);
    expect([m.size, m.age]).toEqual([3, 3]);
    expect(heldIds(m)).toEqual([0, 1, 2]);
    // Offers of uneven sizes, including an empty one, must equal one long stream of rows.
    for (const [from, n] of [[3, 9], [12, 0], [12, 1], [13, 40], [53, 6]] as const) m.offer(items(from, n), rng);
    expect([m.size, m.age]).toEqual([7, 59]);
    expect(heldIds(m)).toEqual(referenceReservoir(7, 59, new Rng(11)));
    m.dispose();
  });

  it('keeps every field of a row together when slots are replaced (twice within one offer, too)', () => {
    const m = new ReplayMemory({ capacity: 3, obsDim: 2, actDim: 1 });
    m.offer(items(0, 500), new Rng(5));
    const json = m.toJSON();
    const ids = Array.from(base64ToInt32(json.taskIds));
    expect(Array.from(base64ToFloat32(json.obs))).toEqual(ids.flatMap((id) => [id * 10, id * 10 + 1]));
    expect(Array.from(base64ToFloat32(json.actions))).toEqual(ids.map((id) => -id));
    expect(Array.from(base64ToFloat32(json.advantages))).toEqual(ids.map((id) => id + 0.5));
    expect(Array.from(base64ToFloat32(json.logProbs))).toEqual(ids.map((id) => -id / 4));
    m.dispose();
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const run = (seed: number) => {
      const m = new ReplayMemory({ capacity: 20, obsDim: 2, actDim: 1 });
      const rng = new Rng(seed);
      for (let t = 0; t < 10; t++) m.offer(items(t * 30, 30), rng);
      const json = JSON.stringify(m.toJSON());
      m.dispose();
      return json;
    };
    expect(run(3)).toBe(run(3));
    expect(run(3)).not.toBe(run(4));
  });

  it('holds each of 10,000 offered items with frequency capacity/age = 0.01 over 1,000 seeds', () => {
    const capacity = 100;
    const total = 10_000;
    const runs = 1000;
    const p = capacity / total;
    const counts = new Float64Array(total);
    const batch = items(0, total, 1, 1);
    for (let seed = 0; seed < runs; seed++) {
      const m = new ReplayMemory({ capacity, obsDim: 1, actDim: 1 });
      m.offer(batch, new Rng(1000 + seed));
      for (const id of heldIds(m)) counts[id]++;
      m.dispose();
    }
    // Algorithm R leaves a uniform random 100-subset, so across independent seeds each item's
    // count is Binomial(runs, p): mean 10, variance runs·p·(1−p) = 9.9.
    const variance = runs * p * (1 - p);
    // (1) Global: Σ (count − mean)² / variance has mean `total` and sd ≈ √(2·total) ≈ 141
    //     (chi-square); 5 sd catches items held too rarely or too often (e.g. never replaced).
    const chi2 = counts.reduce((s, c) => s + (c - runs * p) ** 2 / variance, 0);
    expect(Math.abs(chi2 - total)).toBeLessThan(5 * Math.sqrt(2 * total));
    // (2) By age: the count of a group of g consecutive items has mean runs·g·p and variance at
    //     most runs·capacity·(g/total)·(1 − g/total) (a sum of hypergeometrics, each below the
    //     binomial variance); a 5-sd bound (false alarm ≈ 6e-7 per group) catches a bias of ~5 %
    //     between early and late items (deciles) or a mistreated first/last 100.
    const groups: [number, number][] = [[0, 100], [total - 100, total], ...Array.from({ length: 10 }, (_, d) => [d * 1000, (d + 1) * 1000] as [number, number])];
    for (const [lo, hi] of groups) {
      const g = hi - lo;
      const sum = counts.slice(lo, hi).reduce((a, b) => a + b, 0);
      const sd = Math.sqrt(runs * capacity * (g / total) * (1 - g / total));
      expect(Math.abs(sum - runs * g * p), `items [${lo}, ${hi})`).toBeLessThan(5 * sd);
    }
  });
});

describe('ReplayMemory: sample', () => {
  const filled = (capacity: number, n: number) => {
    const m = new ReplayMemory({ capacity, obsDim: 2, actDim: 1 });
    m.offer(items(0, n), new Rng(1));
    return m;
  };

  it('returns k distinct rows with their fields aligned, in the documented shapes and dtypes', () => {
    const m = filled(40, 40);
    for (const k of [40, 25, 10, 3]) {
      // k = 40, 25 take the Fisher–Yates path (4k > size), k = 10, 3 the rejection path.
      const s = m.sample(k, new Rng(k));
      expect([s.obs.shape, s.actions.shape, s.advantages.shape, s.logProbs.shape, s.taskIds.shape]).toEqual([[k, 2], [k, 1], [k], [k], [k]]);
      expect([s.obs.dtype, s.taskIds.dtype]).toEqual(['float32', 'int32']);
      const r = read(s);
      expect(new Set(r.taskIds).size).toBe(k);
      expect(r.obs).toEqual(r.taskIds.flatMap((id) => [id * 10, id * 10 + 1]));
      expect(r.actions).toEqual(r.taskIds.map((id) => -id));
      expect(r.advantages).toEqual(r.taskIds.map((id) => id + 0.5));
      expect(r.logProbs).toEqual(r.taskIds.map((id) => -id / 4));
      if (k === 40) expect([...r.taskIds].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    }
    m.dispose();
  });

  it('draws only held rows, uniformly, on both paths', () => {
    const m = filled(50, 20); // rows 20…49 are unused preallocated storage and must never appear
    const reps = 2000;
    for (const k of [5, 12]) {
      const rng = new Rng(100 + k);
      const counts = new Array(20).fill(0);
      for (let r = 0; r < reps; r++) for (const id of read(m.sample(k, rng)).taskIds) counts[id]++;
      expect(counts.reduce((a, b) => a + b, 0)).toBe(reps * k);
      // Each row is in a sample with probability k/20: Binomial(reps, k/20); 5 sd (20 rows).
      const mean = (reps * k) / 20;
      const sd = Math.sqrt(mean * (1 - k / 20));
      for (const c of counts) expect(Math.abs(c - mean)).toBeLessThan(5 * sd);
    }
    m.dispose();
  });

  it('is deterministic for a seed; k = 0 gives empty tensors; k > size names both numbers', () => {
    const m = filled(30, 30);
    expect(read(m.sample(8, new Rng(9)))).toEqual(read(m.sample(8, new Rng(9))));
    expect(read(m.sample(8, new Rng(9))).taskIds).not.toEqual(read(m.sample(8, new Rng(10))).taskIds);
    const empty = m.sample(0, new Rng(1));
    expect(empty.obs.shape).toEqual([0, 2]);
    read(empty);
    expect(() => m.sample(31, new Rng(1))).toThrow(/k = 31.*size = 30/);
    expect(() => m.sample(2.5, new Rng(1))).toThrow(/integer/);
    m.dispose();
    const fresh = new ReplayMemory({ capacity: 4, obsDim: 1, actDim: 1 });
    expect(() => fresh.sample(1, new Rng(1))).toThrow(/k = 1.*size = 0/);
    fresh.dispose();
  });
});

describe('ReplayMemory: checkpoints', () => {
  it('round-trips through JSON text bit for bit (−0, subnormals, extremes) and continues identically', () => {
    const m = new ReplayMemory({ capacity: 6, obsDim: 3, actDim: 2 });
    const odd = [-0, 1.401298464324817e-45, -3.4028234663852886e38, 0.1, 1 / 3, -1e-30];
    const rng = new Rng(21);
    m.offer({ obs: Float32Array.from({ length: 12 }, (_, i) => (i < 6 ? odd[i] : -odd[i - 6])), actions: Float32Array.from({ length: 8 }, (_, i) => odd[(i + 2) % 6]), advantages: Float32Array.from([-0, 2, 3, 4]), logProbs: Float32Array.from(odd.slice(0, 4)), taskIds: Int32Array.from([-7, 0, 2147483647, -2147483648]) }, rng);
    m.offer(items(100, 9, 3, 2), rng);
    const text = JSON.stringify(m.toJSON());
    const back = ReplayMemory.fromJSON(JSON.parse(text));
    expect(JSON.stringify(back.toJSON())).toBe(text);
    expect([back.capacity, back.obsDim, back.actDim, back.size, back.age]).toEqual([6, 3, 2, 6, 13]);
    const bytes = (x: ReplayMemory) => Object.values(x.toJSON());
    expect(bytes(back)).toEqual(bytes(m));

    // Same Rng state on both sides: the restored memory behaves exactly like the original.
    const [r1, r2] = [new Rng(rng.getState()), new Rng(rng.getState())];
    m.offer(items(200, 30, 3, 2), r1);
    back.offer(items(200, 30, 3, 2), r2);
    expect(read(back.sample(4, r2))).toEqual(read(m.sample(4, r1)));
    expect(JSON.stringify(back.toJSON())).toBe(JSON.stringify(m.toJSON()));
    m.dispose();
    back.dispose();
  });

  it('keeps the sign of −0 (which plain JSON numbers would lose)', () => {
    const m = new ReplayMemory({ capacity: 2, obsDim: 1, actDim: 1 });
    m.offer({ obs: Float32Array.from([-0]), actions: Float32Array.from([0]), advantages: Float32Array.from([-0]), logProbs: Float32Array.from([0]), taskIds: 3 }, new Rng(1));
    const back = ReplayMemory.fromJSON(JSON.parse(JSON.stringify(m.toJSON())));
    const r = read(back.sample(1, new Rng(1)));
    expect(Object.is(r.obs[0], -0) && Object.is(r.advantages[0], -0) && Object.is(r.actions[0], 0)).toBe(true);
    expect(r.taskIds).toEqual([3]);
    m.dispose();
    back.dispose();
  });

  it('rejects inconsistent checkpoints with a message naming the problem', () => {
    const m = new ReplayMemory({ capacity: 4, obsDim: 2, actDim: 1 });
    m.offer(items(0, 3), new Rng(1));
    const json = m.toJSON();
    m.dispose();
    const before = tf.memory().numTensors;
    expect(() => ReplayMemory.fromJSON({ ...json, version: 2 as 1 })).toThrow(/version/);
    expect(() => ReplayMemory.fromJSON({ ...json, size: 4 })).toThrow(/min\(age, capacity\)/);
    expect(() => ReplayMemory.fromJSON({ ...json, obs: json.actions })).toThrow(/obs holds 3 values; expected 6/);
    expect(() => ReplayMemory.fromJSON({ ...json, capacity: 0 })).toThrow(ConfigError);
    expect(tf.memory().numTensors).toBe(before); // failed restores free what they allocated
  });
});

describe('ReplayMemory: sizes, errors and tensor bookkeeping', () => {
  it('reports size, age and bytes per transition', () => {
    const m = new ReplayMemory({ capacity: 10, obsDim: 20, actDim: 6 });
    expect([m.size, m.age, m.bytesPerTransition]).toEqual([0, 0, 4 * 28 + 4 + 1]);
    m.offer(items(0, 4, 20, 6), new Rng(1));
    m.offer(items(4, 25, 20, 6), new Rng(2));
    expect([m.size, m.age]).toEqual([10, 29]);
    m.dispose();
  });

  it('rejects bad construction and bad batches clearly, leaving the memory unchanged', () => {
    for (const capacity of [0, -3, 2.5, Number.NaN]) {
      expect(() => new ReplayMemory({ capacity, obsDim: 2, actDim: 1 })).toThrow(ConfigError);
      expect(() => new ReplayMemory({ capacity, obsDim: 2, actDim: 1 })).toThrow(/memory\.capacity/);
    }
    expect(() => new ReplayMemory({ capacity: 5, obsDim: 0, actDim: 1 })).toThrow(/memory\.obsDim/);
    const m = new ReplayMemory({ capacity: 5, obsDim: 2, actDim: 1 });
    const rng = new Rng(1);
    const good = items(0, 3);
    expect(() => m.offer({ ...good, obs: good.obs.subarray(1) }, rng)).toThrow(/obs has 5 values; expected n × obsDim = 3 × 2 = 6/);
    expect(() => m.offer({ ...good, actions: new Float32Array(4) }, rng)).toThrow(/actions has 4 values/);
    expect(() => m.offer({ ...good, logProbs: new Float32Array(2) }, rng)).toThrow(/logProbs has 2 values/);
    expect(() => m.offer({ ...good, taskIds: new Int32Array(1) }, rng)).toThrow(/taskIds has 1 values/);
    expect(() => m.offer({ ...good, taskIds: 1.5 }, rng)).toThrow(/int32/);
    const nan = Float32Array.from(good.advantages);
    nan[1] = Number.NaN;
    expect(() => m.offer({ ...good, advantages: nan }, rng)).toThrow(NumericError);
    const inf = Float32Array.from(good.obs);
    inf[4] = Number.POSITIVE_INFINITY;
    expect(() => m.offer({ ...good, obs: inf }, rng)).toThrow(/obs contains Infinity at index 4/);
    expect([m.size, m.age]).toEqual([0, 0]);
    m.dispose();
    expect(() => m.offer(good, rng)).toThrow(/after dispose/);
    expect(() => m.sample(0, rng)).toThrow(/after dispose/);
    m.dispose(); // a second dispose is harmless
  });

  it('holds exactly five tensors, survives a caller tf.tidy, and frees everything on dispose', () => {
    const before = tf.memory().numTensors;
    const m = new ReplayMemory({ capacity: 8, obsDim: 2, actDim: 1 });
    expect(tf.memory().numTensors).toBe(before + 5);
    const rng = new Rng(4);
    tf.tidy(() => {
      for (let t = 0; t < 5; t++) m.offer(items(t * 7, 7), rng);
    });
    expect(tf.memory().numTensors).toBe(before + 5);
    read(m.sample(8, rng)); // storage made inside the tidy is still alive and readable
    tf.tidy(() => {
      m.sample(3, rng); // a sample inside the caller's tidy is freed by it
    });
    expect(tf.memory().numTensors).toBe(before + 5);
    const back = ReplayMemory.fromJSON(m.toJSON());
    expect(tf.memory().numTensors).toBe(before + 10);
    back.dispose();
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
