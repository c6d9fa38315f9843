/**
 * The MAML paper's Fig. 2 for a navigation run: for a few goals, the path of the mean policy
 * (no exploration noise) from the start, with θ and after 1 … K adaptation steps. Adaptation is
 * the evaluation's (evaluate.ts: episodes sampled with noise, a policy-gradient step of the run's
 * eval step sizes); the paths then follow the mean action, so each line is what the adapted policy
 * intends.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { ConfigError } from '../core/errors.ts';
import type { Checkpoint } from '../io/checkpoint.ts';
import { HostPolicy } from '../../agents/hostPolicy.ts';
import { policySpecOf } from './metaBatch.ts';
import { evaluateAdaptation } from './evaluate.ts';
import { make } from '../../envs/registry.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { BASE_CONFIG, renderSvg, svgToPng, type TopLevelSpec } from '../io/plots.ts';

export interface TrajectoryPoint {
  goal: string;
  step: string;
  t: number;
  x: number;
  y: number;
}

/** The mean policy's path on one goal: positions after reset and after every step. */
function meanPath(ck: Checkpoint, theta: Float32Array, goal: number[]): [number, number][] {
  const env = make('navigation', { maxEpisodeSteps: ck.config.horizon, actionScale: ck.config.actionScale });
  const policy = new HostPolicy(policySpecOf(ck.config, env), theta);
  env.setTask({ goal });
  let obs = env.reset({ seed: 0 }).obs;
  const path: [number, number][] = [[obs[0], obs[1]]];
  const action = new Float32Array(env.actionSpace.size);
  for (let t = 0; t < env.maxEpisodeSteps; t++) {
    policy.mean(obs, 1, action);
    const r = env.step(action);
    obs = r.obs;
    path.push([obs[0], obs[1]]);
    if (r.terminated || r.truncated) break;
  }
  env.close();
  return path;
}

/** Paths for `goals` after 0 … steps adaptation steps (same adaptation as `metarl eval`). */
export async function navigationTrajectories(ck: Checkpoint, goals: number[][], steps: number, seed: number): Promise<TrajectoryPoint[]> {
  if (ck.config.env !== 'navigation') throw new ConfigError('--trajectories', `draws navigation runs; this run is ${ck.config.env}`);
  if (goals.length > ck.config.metaBatchSize) throw new ConfigError('--trajectories', `at most ${ck.config.metaBatchSize} goals (the run's metaBatchSize)`);
  const thetas: Float32Array[][] = [];
  await evaluateAdaptation(ck.config, ck.theta, { tasks: goals.length, taskList: goals.map((goal) => ({ goal })), steps, seed, onParams: (s, _tasks, params) => (thetas[s] = params) });
  return goals.flatMap((goal, g) =>
    thetas.flatMap((params, s) =>
      meanPath(ck, params[g], goal).map(([x, y], t) => ({ goal: `goal (${goal[0].toFixed(2)}, ${goal[1].toFixed(2)})`, step: s === 0 ? 'θ (no adaptation)' : `after ${s} step${s === 1 ? '' : 's'}`, t, x, y })),
    ),
  );
}

/** One panel per goal: a line per adaptation step, the goal as a star. */
export function trajectoryChart(points: TrajectoryPoint[], goals: number[][], title: string): TopLevelSpec {
  const goalMarks = goals.map((goal) => ({ goal: `goal (${goal[0].toFixed(2)}, ${goal[1].toFixed(2)})`, x: goal[0], y: goal[1] }));
  const steps = [...new Set(points.map((p) => p.step))];
  const axis = { scale: { domain: [-0.6, 0.6] }, axis: { tickCount: 5 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: 'path of the mean action from the start (0, 0), before and after adaptation steps' },
    config: BASE_CONFIG,
    facet: { field: 'goal', type: 'nominal', title: null, sort: goalMarks.map((g) => g.goal) },
    columns: Math.min(goals.length, 4),
    data: { values: [...points, ...goalMarks.map((g) => ({ ...g, step: 'goal', t: 0 }))] },
    spec: {
      width: 200,
      height: 200,
      layer: [
        {
          transform: [{ filter: "datum.step !== 'goal'" }],
          mark: { type: 'line', strokeWidth: 2 },
          encoding: {
            x: { field: 'x', type: 'quantitative', title: 'x', ...axis },
            y: { field: 'y', type: 'quantitative', title: 'y', ...axis },
            order: { field: 't', type: 'quantitative' },
            color: { field: 'step', type: 'nominal', sort: steps, title: null, scale: { scheme: 'viridis' } },
          },
        },
        {
          transform: [{ filter: "datum.step === 'goal'" }],
          mark: { type: 'point', shape: 'diamond', size: 140, filled: true, color: '#D55E00' },
          encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
        },
      ],
    },
  } as TopLevelSpec;
}

/** Writes trajectories.svg and .png into `outDir`; returns their paths. */
export async function plotTrajectories(ck: Checkpoint, outDir: string, o: { goals?: number[][]; steps?: number; seed?: number } = {}): Promise<string[]> {
  const goals = o.goals ?? [[0.3, 0.4], [-0.4, 0.2], [-0.25, -0.35], [0.45, -0.15]];
  const points = await navigationTrajectories(ck, goals, o.steps ?? 3, o.seed ?? 1_000_003);
  const svg = await renderSvg(trajectoryChart(points, goals, `Adapting to a goal: ${ck.config.env}, after ${ck.batch} meta-batches`));
  mkdirSync(outDir, { recursive: true });
  const files = [join(outDir, 'trajectories.svg'), join(outDir, 'trajectories.png')];
  writeFileAtomic(files[0], svg);
  writeFileAtomic(files[1], svgToPng(svg));
  return files;
}
