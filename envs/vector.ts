/** Steps n single environments in lock-step as one `VectorEnv` (one episode per copy per reset). */
import type { TaskEnv, VectorEnv, VectorStepResult } from '../src/core/env.ts';
import type { Box } from '../src/core/spaces.ts';
import { deriveSeed } from '../src/core/rng.ts';

export class SyncVectorEnv<T> implements VectorEnv<T> {
  readonly num: number;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  readonly maxEpisodeSteps: number;
  private readonly envs: TaskEnv<T>[];
  private readonly done: Uint8Array;
  private readonly obsBuf: Float32Array;

  constructor(
    envs: TaskEnv<T>[],
    /** Global index of copy 0 when this is one slice of a larger vector env. */
    readonly indexOffset = 0,
  ) {
    if (envs.length === 0) throw new Error('SyncVectorEnv: needs at least one env');
    this.envs = envs;
    this.num = envs.length;
    this.observationSpace = envs[0].observationSpace;
    this.actionSpace = envs[0].actionSpace;
    this.maxEpisodeSteps = envs[0].maxEpisodeSteps;
    this.done = new Uint8Array(this.num);
    this.obsBuf = new Float32Array(this.num * this.observationSpace.size);
  }

  setTasks(tasks: T[]): void {
    if (tasks.length !== this.num) throw new Error(`setTasks: got ${tasks.length} tasks for ${this.num} envs`);
    tasks.forEach((t, i) => this.envs[i].setTask(t));
  }

  /**
   * Resets every copy. Copy i is seeded with deriveSeed(seed, indexOffset + i), so a slice of a
   * larger vector env (one per worker) resets exactly as the same copies of the whole would.
   */
  reset(seed?: number): Float32Array {
    const d = this.observationSpace.size;
    this.done.fill(0);
    this.envs.forEach((env, i) => {
      const s = seed === undefined ? undefined : deriveSeed(seed, this.indexOffset + i);
      this.obsBuf.set(env.reset({ seed: s }).obs, i * d);
    });
    return this.obsBuf.slice();
  }

  step(actions: Float32Array): VectorStepResult {
    const d = this.observationSpace.size;
    const a = this.actionSpace.size;
    if (actions.length !== this.num * a) {
      throw new Error(`step: expected ${this.num * a} action entries (${this.num} × ${a}), got ${actions.length}`);
    }
    const reward = new Float32Array(this.num);
    const terminated = new Uint8Array(this.num);
    const truncated = new Uint8Array(this.num);
    for (let i = 0; i < this.num; i++) {
      if (this.done[i]) continue;
      const r = this.envs[i].step(actions.subarray(i * a, (i + 1) * a));
      this.obsBuf.set(r.obs, i * d);
      reward[i] = r.reward;
      terminated[i] = r.terminated ? 1 : 0;
      truncated[i] = r.truncated ? 1 : 0;
      if (r.terminated || r.truncated) this.done[i] = 1;
    }
    return { obs: this.obsBuf.slice(), reward, terminated, truncated };
  }

  close(): void {
    for (const e of this.envs) e.close();
  }
}
