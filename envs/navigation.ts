/**
 * 2-D point navigation (MAML paper §5.3). The agent starts at the origin and moves by its
 * (clipped) velocity; reward is minus the distance to the goal after the move.
 *   observation: position (x, y)        action: velocity in [-0.1, 0.1]²: the policy acts in
 *     [−s, s]² (`actionScale`; default 0.1, a plain clip as in pytorch-maml-rl; the MAML paper's
 *     rllab `normalize` is s = 1, i.e. velocity = clip(a, −1, 1)/10), see envs/actionScale.ts
 *   terminated: |x - gx| < 0.01 and |y - gy| < 0.01      truncated: after 100 steps
 *   task: goal ~ U[-0.5, 0.5]²
 */
import { Box } from '../src/core/spaces.ts';
import type { ResetResult, StepResult, TaskEnv } from '../src/core/env.ts';
import type { Rng } from '../src/core/rng.ts';
import { ConfigError } from '../src/core/errors.ts';
import { type ActionMap, actionMap, mapAction } from './actionScale.ts';

export interface NavigationTask {
  goal: [number, number];
}

export interface NavigationOptions {
  /** Time limit in steps. */
  maxEpisodeSteps?: number;
  /** Half-width of the square the goals are drawn from. */
  goalRange?: number;
  /** Half-width s of the policy's action box, mapped onto [-0.1, 0.1] (default 0.1: a clip). */
  actionScale?: number;
}

const ACTION_LIMIT = 0.1;
const SUCCESS_TOLERANCE = 0.01;

export class Navigation implements TaskEnv<NavigationTask> {
  readonly observationSpace = new Box(-Infinity, Infinity, [2]);
  readonly actionSpace: Box;
  readonly maxEpisodeSteps: number;
  readonly goalRange: number;
  private readonly map: ActionMap;
  private readonly velocity = new Float64Array(2);
  private task: NavigationTask = { goal: [0, 0] };
  private x = 0;
  private y = 0;
  private t = 0;

  constructor(options: NavigationOptions = {}) {
    this.maxEpisodeSteps = options.maxEpisodeSteps ?? 100;
    this.goalRange = options.goalRange ?? 0.5;
    this.map = actionMap(options.actionScale, -ACTION_LIMIT, ACTION_LIMIT);
    this.actionSpace = new Box(-this.map.scale, this.map.scale, [2]);
    if (!(Number.isInteger(this.maxEpisodeSteps) && this.maxEpisodeSteps > 0)) {
      throw new ConfigError('maxEpisodeSteps', `must be a positive integer, got ${options.maxEpisodeSteps}`);
    }
  }

  sampleTasks(n: number, rng: Rng): NavigationTask[] {
    const r = this.goalRange;
    return Array.from({ length: n }, () => ({ goal: [rng.range(-r, r), rng.range(-r, r)] as [number, number] }));
  }

  setTask(task: NavigationTask): void {
    const g = task?.goal;
    if (!Array.isArray(g) || g.length !== 2 || !g.every((v) => Number.isFinite(v) && Math.abs(v) <= this.goalRange)) {
      throw new ConfigError('task.goal', `must be two finite numbers in [-${this.goalRange}, ${this.goalRange}], got ${JSON.stringify(g)}`);
    }
    this.task = { goal: [g[0], g[1]] };
  }

  getTask(): NavigationTask {
    return this.task;
  }

  reset(): ResetResult {
    this.x = 0;
    this.y = 0;
    this.t = 0;
    return { obs: new Float32Array([0, 0]), info: { goal: this.task.goal } };
  }

  step(action: Float32Array): StepResult {
    mapAction(this.map, action, this.velocity, 'navigation');
    const [ax, ay] = this.velocity;
    this.x += ax;
    this.y += ay;
    this.t += 1;
    const dx = this.x - this.task.goal[0];
    const dy = this.y - this.task.goal[1];
    const reward = -Math.sqrt(dx * dx + dy * dy);
    const terminated = Math.abs(dx) < SUCCESS_TOLERANCE && Math.abs(dy) < SUCCESS_TOLERANCE;
    const truncated = !terminated && this.t >= this.maxEpisodeSteps;
    return { obs: new Float32Array([this.x, this.y]), reward, terminated, truncated, info: {} };
  }

  close(): void {}
}

