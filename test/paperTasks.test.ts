/**
 * NumPy's legacy generator and the MAML paper's test tasks. The expected numbers were printed by
 * NumPy 1.24 (python3-numpy on Debian 12): `np.random.seed(1); np.random.uniform(0, 2, 5)` etc.
 */
import { describe, expect, it } from 'vitest';
import { NumpyLegacyRandom } from '../src/core/numpyRandom.ts';
import { paperTestTasks } from '../src/experiments/paperTasks.ts';

describe('NumpyLegacyRandom', () => {
  it('gives NumPy\'s raw 32-bit outputs and uniform draws after seed(1)', () => {
    // np.random.seed(1); np.random.randint(0, 2**32, size=3, dtype=np.uint64)
    const r = new NumpyLegacyRandom(1);
    expect([r.next32(), r.next32(), r.next32()]).toEqual([1791095845, 4282876139, 3093770124]);
    expect(new NumpyLegacyRandom(1).uniform(0, 2, 5)).toEqual([0.834044009405148, 1.4406489868843162, 0.00022874963468977327, 0.6046651452636795, 0.2935117816342261]);
  });

  it('rejects a seed NumPy would reject', () => {
    expect(() => new NumpyLegacyRandom(-1)).toThrow(/seed/);
    expect(() => new NumpyLegacyRandom(2 ** 32)).toThrow(/seed/);
  });
});

describe('paperTestTasks', () => {
  it('draws the evaluation scripts\' goals: velocities, directions, navigation goals row by row', () => {
    const v = paperTestTasks('cheetah-velocity', 40) as { velocity: number }[];
    expect(v[0].velocity).toBe(0.834044009405148);
    expect(v.reduce((s, t) => s + t.velocity, 0) / 40).toBeCloseTo(0.918544841151635, 12);
    const d = paperTestTasks('cheetah-direction', 40) as { direction: number }[];
    expect(d.filter((t) => t.direction === -1)).toHaveLength(22); // 22 of the 40 draws are below 1
    expect(d[1].direction).toBe(1);
    const g = paperTestTasks('navigation', 40) as { goal: number[] }[];
    expect(g[0].goal).toEqual([-0.082977995297426, 0.2203244934421581]);
    expect(g[1].goal).toEqual([-0.4998856251826551, -0.19766742736816023]);
    expect(g[6].goal).toEqual([-0.29554775026848257, 0.3781174363909454]);
    expect(() => paperTestTasks('ros', 3)).toThrow(/--paper-tasks/);
  });
});
