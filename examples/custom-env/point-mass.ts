/**
 * A custom environment for metarl: a point mass on a line, pushed by a bounded force, that should
 * come to rest at its task's target. Import this module (or pass it to `--env-module`) and the
 * env is available as `point-mass`.
 *
 *   state    position x, velocity v (both start at 0)
 *   action   force f, clipped to [-1, 1] by the agent
 *   dynamics v ← 0.9 v + 0.1 f,  x ← x + 0.1 v          (damped double integrator)
 *   reward   −|x − target| − 0.01 f²
 *   task     { target }, uniform in [−1, 1]
 *
 * `step` returns a promise here to show that an env may wait for something (a simulator, a
 * device); a plain return value works as well.
 */
import { Box, type EnvOptions, type ResetResult, type StepResult, type UserEnv, register } from 'metarl';

export interface PointMassTask {
  target: number;
}

export class PointMass implements UserEnv<PointMassTask> {
  readonly observationSpace = new Box(-Infinity, Infinity, [3]);
  readonly actionSpace = new Box(-1, 1, [1]);
  readonly maxEpisodeSteps: number;
  private x = 0;
  private v = 0;
  private target = 0;

  constructor(options: EnvOptions) {
    this.maxEpisodeSteps = options.maxEpisodeSteps ?? 50;
  }

  setTask(task: PointMassTask): void {
    this.target = task.target;
  }

  reset(): ResetResult {
    this.x = 0;
    this.v = 0;
    return { obs: this.observe(), info: {} };
  }

  async step(action: Float32Array): Promise<StepResult> {
    const f = action[0];
    this.v = 0.9 * this.v + 0.1 * f;
    this.x += 0.1 * this.v;
    const reward = -Math.abs(this.x - this.target) - 0.01 * f * f;
    return { obs: this.observe(), reward, terminated: false, truncated: false, info: {} };
  }

  /** The observation does not include the target: the agent must find it from the rewards. */
  private observe(): Float32Array {
    return Float32Array.of(this.x, this.v, 1);
  }
}

register('point-mass', (options) => new PointMass(options), {
  taskSpace: { target: { low: -1, high: 1 } },
  module: import.meta.url, // lets sampling worker threads register it too
});
