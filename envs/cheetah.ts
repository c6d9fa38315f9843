/**
 * Half-cheetah tasks on MuJoCo (MAML paper §5.3): run at a target velocity, or forward/backward.
 *   observation (20): qpos[1:] (rootz, rooty, six joint angles), qvel (9), torso body xpos (3)
 *   action (6): motor controls, clipped to [-1, 1]; each env step is 5 physics steps (dt 0.05)
 *   reward: velocity  −|v_x − v*| − 0.05·‖a‖²      direction  d·v_x − 0.05·‖a‖²
 *           with v_x = (x_after − x_before) / dt of the root x coordinate, a the clipped action
 *           (the MAML paper's rllab env); `ctrlCostOn: 'sampled'` charges the policy's unclipped
 *           sample instead, as pytorch-maml-rl's gym env does
 *   no termination; truncated after `maxEpisodeSteps` (default 200)
 *   task: v* ~ U[0, 2]  |  d ∈ {−1, +1}
 *
 * Like gym's `get_body_com`, the torso position is MuJoCo's `xpos` after the last `mj_step`, which
 * is computed before that step integrates: it trails qpos by one physics step (0.01 s).
 *
 * Needs the MuJoCo module loaded in this thread first (`prepareEnv` / `loadMujoco`).
 */
import { Box } from '../src/core/spaces.ts';
import type { ResetResult, StepResult, TaskEnv } from '../src/core/env.ts';
import { Rng } from '../src/core/rng.ts';
import { ConfigError, NumericError, assertOneOf } from '../src/core/errors.ts';
import { HALF_CHEETAH_XML } from './halfCheetahModel.ts';
import { acquireModel, readModelFile, releaseModel, requireMujoco, type MjData, type MjModel, type Mujoco } from './mujoco.ts';

export interface CheetahOptions {
  /** Time limit in steps (the MAML paper uses 200). */
  maxEpisodeSteps?: number;
  /** Seed of the internal generator used by resets that are not given a seed. */
  seed?: number;
  /** An MJCF file to use instead of the built-in half-cheetah (same joints and motors). */
  modelFile?: string;
  /**
   * Which action the control cost is charged on: 'clipped' (default; the MAML paper's env) or
   * 'sampled', the policy's unclipped sample (pytorch-maml-rl's gym env; MuJoCo still clamps the
   * control). 'sampled' penalizes a wide policy much more and so drives its std down faster.
   */
  ctrlCostOn?: CtrlCostOn;
}

export const CTRL_COST_ON = ['clipped', 'sampled'] as const;
export type CtrlCostOn = (typeof CTRL_COST_ON)[number];

export interface CheetahVelocityTask {
  velocity: number;
}

export interface CheetahDirectionTask {
  direction: -1 | 1;
}

const MODEL_KEY = 'half_cheetah';
const FRAME_SKIP = 5;
const CTRL_COST_WEIGHT = 0.05;
const RESET_QPOS_NOISE = 0.1;
const RESET_QVEL_NOISE = 0.1;
const OBS_DIM = 20;
const ACT_DIM = 6;
/** Target velocities are drawn from [0, MAX_VELOCITY]. */
export const MAX_VELOCITY = 2;

/** Live views into this copy's MjData; re-read when a heap growth detached them. */
interface DataViews {
  qpos: Float64Array;
  qvel: Float64Array;
  ctrl: Float64Array;
  xpos: Float64Array;
}

/** Physics, observation and bookkeeping shared by both tasks; subclasses add the task reward. */
abstract class CheetahEnv<T> implements TaskEnv<T> {
  readonly observationSpace = new Box(-Infinity, Infinity, [OBS_DIM]);
  readonly actionSpace = new Box(-1, 1, [ACT_DIM]);
  readonly maxEpisodeSteps: number;
  /** Seconds per env step: model timestep × frame skip. */
  readonly dt: number;
  protected task: T;
  private readonly mj: Mujoco;
  private readonly model: MjModel;
  private readonly modelKey: string;
  private modelHeld = false;
  private data: MjData | undefined;
  private views: DataViews;
  private readonly torsoXpos: number; // index of the torso's x in data.xpos
  private rng: Rng;
  private t = 0;
  private readonly costOnSample: boolean;

  constructor(name: string, defaultTask: T, options: CheetahOptions) {
    this.maxEpisodeSteps = options.maxEpisodeSteps ?? 200;
    this.costOnSample = assertOneOf('ctrlCostOn', options.ctrlCostOn ?? 'clipped', CTRL_COST_ON) === 'sampled';
    if (!(Number.isInteger(this.maxEpisodeSteps) && this.maxEpisodeSteps > 0)) {
      throw new ConfigError('maxEpisodeSteps', `must be a positive integer, got ${options.maxEpisodeSteps}`);
    }
    this.task = defaultTask;
    this.rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 32));
    this.mj = requireMujoco(name);
    const file = options.modelFile;
    this.modelKey = file ?? MODEL_KEY;
    this.model = acquireModel(this.mj, this.modelKey, () => (file ? readModelFile(file) : HALF_CHEETAH_XML));
    this.modelHeld = true;
    try {
      if (this.model.nq !== 9 || this.model.nv !== 9 || this.model.nu !== 6) {
        throw new Error(`MuJoCo model ${this.modelKey} is not a half-cheetah: expected nq 9, nv 9, nu 6, got nq ${this.model.nq}, nv ${this.model.nv}, nu ${this.model.nu}`);
      }
      this.data = new this.mj.MjData(this.model);
      const torso = this.mj.mj_name2id(this.model, this.mj.mjtObj.mjOBJ_BODY.value, 'torso');
      this.torsoXpos = 3 * torso;
      const opt = this.model.opt;
      this.dt = opt.timestep * FRAME_SKIP;
      opt.delete(); // frees the JS wrapper only (the model keeps its options)
      this.views = this.readViews(this.data);
      this.reset();
    } catch (err) {
      this.close();
      throw err;
    }
  }

  abstract sampleTasks(n: number, rng: Rng): T[];
  abstract setTask(task: T): void;
  /** Task part of the reward for forward velocity `vx`. */
  protected abstract taskReward(vx: number): number;

  getTask(): T {
    return this.task;
  }

  reset(options: { seed?: number } = {}): ResetResult {
    const data = this.liveData();
    if (options.seed !== undefined) this.rng = new Rng(options.seed);
    this.mj.mj_resetData(this.model, data);
    const { qpos, qvel } = this.liveViews();
    const qpos0 = this.model.qpos0;
    for (let i = 0; i < qpos.length; i++) qpos[i] = qpos0[i] + this.rng.range(-RESET_QPOS_NOISE, RESET_QPOS_NOISE);
    for (let i = 0; i < qvel.length; i++) qvel[i] = RESET_QVEL_NOISE * this.rng.normal();
    this.mj.mj_forward(this.model, data);
    this.t = 0;
    return { obs: this.observe(), info: { task: this.task } };
  }

  step(action: Float32Array): StepResult {
    const data = this.liveData();
    if (action.length !== ACT_DIM) {
      throw new Error(`cheetah: expected an action of ${ACT_DIM} entries, got ${action.length}`);
    }
    const v = this.liveViews();
    let ctrlCost = 0;
    for (let i = 0; i < ACT_DIM; i++) {
      const a = action[i];
      // Check before clipping: clipping would turn ±Infinity into ±1 and hide a diverged policy.
      if (!Number.isFinite(a)) throw new NumericError(`cheetah: action contains ${a} at index ${i}`);
      const c = a < -1 ? -1 : a > 1 ? 1 : a;
      v.ctrl[i] = c;
      ctrlCost += this.costOnSample ? a * a : c * c;
    }
    ctrlCost *= CTRL_COST_WEIGHT;
    const xBefore = v.qpos[0];
    for (let k = 0; k < FRAME_SKIP; k++) this.mj.mj_step(this.model, data);
    // mj_step allocates nothing on the WASM heap, so the views are still attached.
    const xVelocity = (v.qpos[0] - xBefore) / this.dt;
    const taskReward = this.taskReward(xVelocity);
    this.t += 1;
    const obs = this.observe();
    return {
      obs,
      reward: taskReward - ctrlCost,
      terminated: false,
      truncated: this.t >= this.maxEpisodeSteps,
      info: { xVelocity, taskReward, ctrlCost },
    };
  }

  /** Root x position (qpos[0]), which the observation leaves out. */
  xPosition(): number {
    this.liveData();
    return this.liveViews().qpos[0];
  }

  close(): void {
    if (this.data) {
      this.data.delete();
      this.data = undefined;
    }
    if (this.modelHeld) {
      this.modelHeld = false;
      releaseModel(this.modelKey);
    }
  }

  private observe(): Float32Array {
    const { qpos, qvel, xpos } = this.liveViews();
    const obs = new Float32Array(OBS_DIM);
    for (let i = 1; i < 9; i++) obs[i - 1] = qpos[i];
    for (let i = 0; i < 9; i++) obs[8 + i] = qvel[i];
    const j = this.torsoXpos;
    obs[17] = xpos[j];
    obs[18] = xpos[j + 1];
    obs[19] = xpos[j + 2];
    for (let i = 0; i < OBS_DIM; i++) {
      if (!Number.isFinite(obs[i])) {
        throw new NumericError(`cheetah: the simulation diverged (observation ${i} is ${obs[i]}); reset the env`);
      }
    }
    return obs;
  }

  private liveData(): MjData {
    if (!this.data) throw new Error('cheetah: the env was closed');
    return this.data;
  }

  /** The cached views, re-read if a growth of the WASM heap detached them (length 0). */
  private liveViews(): DataViews {
    if (this.views.qpos.length === 0) this.views = this.readViews(this.liveData());
    return this.views;
  }

  private readViews(data: MjData): DataViews {
    return { qpos: data.qpos, qvel: data.qvel, ctrl: data.ctrl, xpos: data.xpos };
  }
}

/** Run at a target forward velocity v* ∈ [0, 2]. */
export class CheetahVelocity extends CheetahEnv<CheetahVelocityTask> {
  constructor(options: CheetahOptions = {}) {
    super('cheetah-velocity', { velocity: 1 }, options);
  }

  sampleTasks(n: number, rng: Rng): CheetahVelocityTask[] {
    return Array.from({ length: n }, () => ({ velocity: rng.range(0, MAX_VELOCITY) }));
  }

  setTask(task: CheetahVelocityTask): void {
    const v = task?.velocity;
    if (typeof v !== 'number' || !(v >= 0 && v <= MAX_VELOCITY)) {
      throw new ConfigError('task.velocity', `must be a number in [0, ${MAX_VELOCITY}], got ${JSON.stringify(v)}`);
    }
    this.task = { velocity: v };
  }

  protected taskReward(vx: number): number {
    return -Math.abs(vx - this.task.velocity);
  }
}

/** Run forward (direction 1) or backward (direction −1) as fast as possible. */
export class CheetahDirection extends CheetahEnv<CheetahDirectionTask> {
  constructor(options: CheetahOptions = {}) {
    super('cheetah-direction', { direction: 1 }, options);
  }

  sampleTasks(n: number, rng: Rng): CheetahDirectionTask[] {
    return Array.from({ length: n }, () => ({ direction: rng.uniform() < 0.5 ? -1 : 1 }));
  }

  setTask(task: CheetahDirectionTask): void {
    const d = task?.direction;
    if (d !== -1 && d !== 1) {
      throw new ConfigError('task.direction', `must be -1 or 1, got ${JSON.stringify(d)}`);
    }
    this.task = { direction: d };
  }

  protected taskReward(vx: number): number {
    return this.task.direction * vx;
  }
}
