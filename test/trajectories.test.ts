/** The MAML Fig. 2 figure: paths of the mean policy of the shipped navigation run, before and after adaptation. */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/tensor/backend.ts';
import { loadRunCheckpoint } from '../src/io/checkpoint.ts';
import { navigationTrajectories, trajectoryChart } from '../src/experiments/trajectories.ts';
import { renderSvg } from '../src/io/plots.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('navigation trajectories', () => {
  it('start at the origin; after adaptation the path ends nearer its goal than θ\'s own', async () => {
    const ck = loadRunCheckpoint('pretrained/navigation', 'run');
    const goals = [[0.3, 0.4], [-0.4, -0.2]];
    const points = await navigationTrajectories(ck, goals, 2, 7);
    for (const [g, goal] of goals.entries()) {
      const label = `goal (${goal[0].toFixed(2)}, ${goal[1].toFixed(2)})`;
      const end = (step: string) => points.filter((p) => p.goal === label && p.step === step).at(-1)!;
      const first = points.find((p) => p.goal === label)!;
      expect([first.x, first.y]).toEqual([0, 0]);
      const dist = (p: { x: number; y: number }) => Math.hypot(p.x - goal[0], p.y - goal[1]);
      expect(dist(end('after 2 steps')), `goal ${g}`).toBeLessThan(dist(end('θ (no adaptation)')));
      expect(dist(end('after 2 steps')), `goal ${g}`).toBeLessThan(0.15);
    }
    const svg = await renderSvg(trajectoryChart(points, goals, 'test'));
    expect(svg).toContain('goal (0.30, 0.40)');
  }, 60_000);
});
