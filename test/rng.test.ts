import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';

function draws(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextU32());
}

describe('Rng', () => {
  it('gives the same stream for the same seed', () => {
    expect(draws(new Rng(42), 50)).toEqual(draws(new Rng(42), 50));
  });

  it('gives different streams for different (even adjacent) seeds', () => {
    const a = draws(new Rng(1), 20);
    const b = draws(new Rng(2), 20);
    expect(a).not.toEqual(b);
    // Not just shifted copies: no common values at all in a short window.
    expect(a.filter((v) => b.includes(v))).toEqual([]);
  });

  it('restores from getState() and continues exactly, normals included', () => {
    const rng = new Rng(7);
    draws(rng, 13);
    rng.normal(); // leaves a cached spare deviate behind; getState must not depend on it
    const state = rng.getState();
    const expected = [rng.uniform(), rng.normal(), rng.normal(), rng.int(1000), rng.nextU32()];
    const restored = new Rng(state);
    const got = [restored.uniform(), restored.normal(), restored.normal(), restored.int(1000), restored.nextU32()];
    expect(got).toEqual(expected);
  });

  it('does not share state with the array it was restored from', () => {
    const state = new Rng(3).getState();
    const copy = [...state];
    const rng = new Rng(state);
    draws(rng, 5);
    expect(state).toEqual(copy);
  });

  it('draws uniforms in [0, 1) with mean about 0.5', () => {
    const rng = new Rng(123);
    const n = 100_000;
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      sum += u;
      min = Math.min(min, u);
      max = Math.max(max, u);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    // Standard error of the mean is 1/sqrt(12n) ≈ 0.0009; allow ~10 of them.
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
    // Spread out over the interval, not stuck in a corner.
    expect(min).toBeLessThan(0.001);
    expect(max).toBeGreaterThan(0.999);
  });

  it('draws normals with mean about 0 and variance about 1', () => {
    const rng = new Rng(99);
    const n = 100_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const z = rng.normal();
      s += z;
      s2 += z * z;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
  });

  it('fills arrays with normals from the same stream as normal()', () => {
    const out = new Float64Array(5);
    new Rng(11).fillNormal(out);
    const ref = new Rng(11);
    expect(Array.from(out)).toEqual(Array.from({ length: 5 }, () => ref.normal()));
  });

  it('draws int(n) as integers in [0, n) that cover the range', () => {
    const rng = new Rng(5);
    const n = 7;
    const seen = new Set<number>();
    for (let i = 0; i < 5000; i++) {
      const k = rng.int(n);
      expect(Number.isInteger(k)).toBe(true);
      expect(k).toBeGreaterThanOrEqual(0);
      expect(k).toBeLessThan(n);
      seen.add(k);
    }
    expect(seen.size).toBe(n);
  });

  it('draws range(lo, hi) within its bounds', () => {
    const rng = new Rng(8);
    for (let i = 0; i < 2000; i++) {
      const v = rng.range(-0.5, 0.25);
      expect(v).toBeGreaterThanOrEqual(-0.5);
      expect(v).toBeLessThan(0.25);
    }
  });

  it('forks a child whose stream differs from the parent continuation', () => {
    const parent = new Rng(21);
    const child = parent.fork();
    expect(draws(child, 10)).not.toEqual(draws(parent, 10));
    // Forking is itself deterministic.
    const again = new Rng(21).fork();
    expect(draws(again, 10)).toEqual(draws(new Rng(21).fork(), 10));
  });
});
