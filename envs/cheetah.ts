/**
 * Half-cheetah tasks on MuJoCo (MAML paper §5.3): run at a target velocity, or forward/backward.
 *   observation (20): qpos[1:] (rootz, rooty, six joint angles), qvel (9), torso position (3)
 *   action (6): the policy acts in [−s, s]⁶ (`actionScale`, default 1), clipped and mapped onto the
 *           motor range [−1, 1] (envs/actionScale.ts)
 *   reward: velocity  −|v_x − v*| − 0.05·‖ctrl‖²      direction  d·v_x − 0.05·‖ctrl‖²
 *           with ctrl the mapped, clipped control
 *   no termination; truncated after `maxEpisodeSteps` (default 200)
 *   task: v* ~ U[0, 2]  |  d ∈ {−1, +1}
 *
 * Two env semantics (`dynamics`), one per reference (REFERENCE §1):
 *   'gym'   (pytorch-maml-rl; gym's HalfCheetah): frame skip 5 (dt 0.05); v_x = Δx_root / dt; the
 *           torso position is MuJoCo's `xpos` after the last `mj_step`, computed before that step
 *           integrates (it trails qpos by one physics step, as gym's `get_body_com` does);
 *           reset qpos + U(±0.1), qvel + 0.1·N(0, 1).
 *   'rllab' (the MAML paper's code, cbfinn/maml_rl): frame skip 1 (dt 0.01, so 200 steps are 2 s);
 *           v_x is the torso subtree's centre-of-mass velocity (`get_body_comvel`, i.e. MuJoCo's
 *           `subtree_linvel`); the torso position is the subtree centre of mass (`com_subtree`);
 *           both are recomputed for the state after the step (rllab calls `forward()` after
 *           stepping; here mj_step2 + mj_step1, the same computations); reset qpos + 0.01·N(0, 1),
 *           qvel + 0.1·N(0, 1).
 *
 * Needs the MuJoCo module loaded in this thread first (`prepareEnv` / `loadMujoco`).
 */
import { Box } from '../src/core/spaces.ts';
import type { ResetResult, StepResult, TaskEnv } from '../src/core/env.ts';
import { Rng } from '../src/core/rng.ts';
import { ConfigError, NumericError, assertOneOf } from '../src/core/errors.ts';
import { type ActionMap, actionMap, mapAction } from './actionScale.ts';
import { HALF_CHEETAH_XML } from './halfCheetahModel.ts';
import { acquireModel, readModelFile, releaseModel, requireMujoco, type MjData, type MjModel, type Mujoco } from './mujoco.ts';

export interface CheetahOptions {
  /** Time limit in steps (the MAML paper uses 200). */
  maxEpisodeSteps?: number;
  /** Seed of the internal generator used by resets that are not given a seed. */
  seed?: number;
  /** An MJCF file to use instead of the built-in half-cheetah (same joints and motors). */
  modelFile?: string;
  /** Half-width s of the policy's action box, mapped onto the motor range (default 1: a clip). */
  actionScale?: number;
  /** Env semantics: 'gym' (pytorch-maml-rl, the default) or 'rllab' (the MAML paper's code). */
  dynamics?: CheetahDynamics;
}

export const CHEETAH_DYNAMICS = ['gym', 'rllab'] as const;
export type CheetahDynamics = (typeof CHEETAH_DYNAMICS)[number];

interface Semantics {
  frameSkip: number;
  /** Reset: qpos0 + U(±qposUniform) or + qposNormal·N(0, 1); qvel + qvelNormal·N(0, 1). */
  qposUniform: number;
  qposNormal: number;
  qvelNormal: number;
  /** Velocity and torso position of the subtree's centre of mass, after the step (rllab). */
  subtreeCom: boolean;
}

const SEMANTICS: Record<CheetahDynamics, Semantics> = {
  gym: { frameSkip: 5, qposUniform: 0.1, qposNormal: 0, qvelNormal: 0.1, subtreeCom: false },
  rllab: { frameSkip: 1, qposUniform: 0, qposNormal: 0.01, qvelNormal: 0.1, subtreeCom: true },
};

export interface CheetahVelocityTask {
  velocity: number;
}

export interface CheetahDirectionTask {
  direction: -1 | 1;
}

const MODEL_KEY = 'half_cheetah';
const CTRL_COST_WEIGHT = 0.05;
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
  subtreeCom: Float64Array;
  subtreeLinvel: Float64Array;
}

/** Physics, observation and bookkeeping shared by both tasks; subclasses add the task reward. */
abstract class CheetahEnv<T> implements TaskEnv<T> {
  readonly observationSpace = new Box(-Infinity, Infinity, [OBS_DIM]);
  readonly actionSpace: Box;
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
  private readonly torsoXpos: number; // index of the torso's x in data.xpos (and subtree arrays)
  private rng: Rng;
  private t = 0;
  private readonly sem: Semantics;
  private readonly map: ActionMap;

  constructor(name: string, defaultTask: T, options: CheetahOptions) {
    this.maxEpisodeSteps = options.maxEpisodeSteps ?? 200;
    this.sem = SEMANTICS[assertOneOf('dynamics', options.dynamics ?? 'gym', CHEETAH_DYNAMICS)];
    this.map = actionMap(options.actionScale, -1, 1);
    this.actionSpace = new Box(-this.map.scale, this.map.scale, [ACT_DIM]);
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
      this.dt = opt.timestep * this.sem.frameSkip;
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
    const { qposUniform, qposNormal, qvelNormal } = this.sem;
    for (let i = 0; i < qpos.length; i++) qpos[i] = qpos0[i] + (qposNormal > 0 ? qposNormal * this.rng.normal() : this.rng.range(-qposUniform, qposUniform));
    for (let i = 0; i < qvel.length; i++) qvel[i] = qvelNormal * this.rng.normal();
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
    const ctrlCost = CTRL_COST_WEIGHT * mapAction(this.map, action, v.ctrl, 'cheetah');
    const xBefore = v.qpos[0];
    // mj_step*, mj_subtreeVel allocate nothing on the WASM heap, so the views stay attached.
    if (this.sem.subtreeCom) {
      // After mj_forward (reset) or mj_step1, mj_step2 finishes the step with this ctrl and
      // mj_step1 computes positions and velocities of the new state: mj_step + mj_forward.
      for (let k = 0; k < this.sem.frameSkip; k++) {
        this.mj.mj_step2(this.model, data);
        this.mj.mj_step1(this.model, data);
      }
      this.mj.mj_subtreeVel(this.model, data);
    } else {
      for (let k = 0; k < this.sem.frameSkip; k++) this.mj.mj_step(this.model, data);
    }
    const xVelocity = this.sem.subtreeCom ? v.subtreeLinvel[this.torsoXpos] : (v.qpos[0] - xBefore) / this.dt;
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

  /**
   * Centre of mass of the whole cheetah, Σ mᵢ·xiposᵢ / Σ mᵢ over its bodies, as of MuJoCo's last
   * position pass (for 'rllab' the state after the step; for 'gym' one physics step earlier).
   */
  centreOfMass(): [number, number, number] {
    const data = this.liveData();
    const xipos = data.xipos as Float64Array;
    const mass = this.model.body_mass as Float64Array;
    const c: [number, number, number] = [0, 0, 0];
    let total = 0;
    for (let b = 1; b < mass.length; b++) {
      total += mass[b];
      for (let k = 0; k < 3; k++) c[k] += mass[b] * xipos[3 * b + k];
    }
    return [c[0] / total, c[1] / total, c[2] / total];
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
    const { qpos, qvel, xpos, subtreeCom } = this.liveViews();
    const torso = this.sem.subtreeCom ? subtreeCom : xpos;
    const obs = new Float32Array(OBS_DIM);
    for (let i = 1; i < 9; i++) obs[i - 1] = qpos[i];
    for (let i = 0; i < 9; i++) obs[8 + i] = qvel[i];
    const j = this.torsoXpos;
    obs[17] = torso[j];
    obs[18] = torso[j + 1];
    obs[19] = torso[j + 2];
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
    return { qpos: data.qpos, qvel: data.qvel, ctrl: data.ctrl, xpos: data.xpos, subtreeCom: data.subtree_com, subtreeLinvel: data.subtree_linvel };
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
