import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENV_NAMES, make, makeVector, prepareEnv } from '../envs/registry.ts';
import { CheetahDirection, CheetahVelocity } from '../envs/cheetah.ts';
import { HALF_CHEETAH_LIMBS, HALF_CHEETAH_XML } from '../envs/halfCheetahModel.ts';
import { loadMujoco, modelFromFile, modelFromXml, modelUsers, type MjModel, type Mujoco } from '../envs/mujoco.ts';
import { ConfigError, NumericError } from '../src/core/errors.ts';
import { Rng } from '../src/core/rng.ts';

// Runs first, before anything in this file has loaded the module.
it('make() of a MuJoCo env before prepareEnv says to call prepareEnv first', () => {
  expect(() => make('cheetah-velocity')).toThrow(/prepareEnv\('cheetah-velocity'\).*first/);
});

let mj: Mujoco;
/** Hooked into each describe (a top-level hook would also run before the test above). */
async function loadForTests(): Promise<void> {
  await prepareEnv('cheetah-velocity');
  mj = await loadMujoco();
}

function randomActions(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.range(-1.5, 1.5);
  return a;
}

/** Observations and rewards of `steps` steps from reset({seed}) with actions drawn from `actionSeed`. */
function trajectory(env: CheetahVelocity, seed: number, steps: number, actionSeed = 7): number[] {
  const rng = new Rng(actionSeed);
  const out = Array.from(env.reset({ seed }).obs);
  for (let t = 0; t < steps; t++) {
    const r = env.step(randomActions(rng, 6));
    out.push(...r.obs, r.reward);
  }
  return out;
}

describe('MuJoCo loader', () => {
  beforeAll(loadForTests);
  it('loads the module once per thread', async () => {
    expect(loadMujoco()).toBe(loadMujoco());
    expect(await loadMujoco()).toBe(mj);
  });

  it('a malformed MJCF string gives an Error with MuJoCo own message', () => {
    expect(() => modelFromXml(mj, '<mujoco><worldbody><geom type="bogus"/></worldbody></mujoco>')).toThrow(
      /model could not be loaded.*invalid keyword: 'bogus'/s,
    );
    expect(() => modelFromXml(mj, '<mujoco><worldbo')).toThrow(/model could not be loaded.*XML parse error/s);
  });

  it('a malformed or missing model file gives an Error naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'metarl-mjcf-'));
    const bad = join(dir, 'bad.xml');
    writeFileSync(bad, '<mujoco><worldbody><body><joint type="hinge" axis="0 0 0"/></body></worldbody></mujoco>');
    expect(() => modelFromFile(mj, bad)).toThrow(new RegExp(`model could not be loaded \\(${bad}\\): .+`));
    expect(() => modelFromFile(mj, join(dir, 'missing.xml'))).toThrow(/model could not be loaded.*ENOENT/);
  });
});

describe('half-cheetah model', () => {
  beforeAll(loadForTests);
  let model: MjModel;
  beforeAll(() => {
    model = modelFromXml(mj, HALF_CHEETAH_XML);
  });
  afterAll(() => model.delete());

  it('has 9 coordinates, 6 motors, total mass 14 and timestep 0.01', () => {
    expect([model.nq, model.nv, model.nu]).toEqual([9, 9, 6]);
    expect(mj.mj_getTotalmass(model)).toBeCloseTo(14, 6);
    const opt = model.opt;
    expect(opt.timestep).toBe(0.01);
    expect(Array.from(opt.gravity)).toEqual([0, 0, -9.81]);
    opt.delete();
  });

  it('root joints are free; leg joints have the tabled range, stiffness, damping and gear', () => {
    const range = model.jnt_range as Float64Array;
    const stiffness = model.jnt_stiffness as Float64Array;
    const damping = model.dof_damping as Float64Array;
    const armature = model.dof_armature as Float64Array;
    const gear = model.actuator_gear as Float64Array; // 6 entries per actuator
    const ctrlrange = model.actuator_ctrlrange as Float64Array;
    for (let j = 0; j < 3; j++) {
      expect([stiffness[j], damping[j], armature[j], range[2 * j], range[2 * j + 1]]).toEqual([0, 0, 0, 0, 0]);
    }
    HALF_CHEETAH_LIMBS.forEach((limb, i) => {
      const j = 3 + i;
      expect(mj.mj_id2name(model, mj.mjtObj.mjOBJ_JOINT.value, j)).toBe(limb.name);
      expect([range[2 * j], range[2 * j + 1]]).toEqual(limb.range);
      expect(stiffness[j]).toBe(limb.stiffness);
      expect(damping[j]).toBe(limb.damping);
      expect(armature[j]).toBeCloseTo(0.1, 12);
      expect(gear[6 * i]).toBe(limb.gear);
      expect([ctrlrange[2 * i], ctrlrange[2 * i + 1]]).toEqual([-1, 1]);
    });
    expect(HALF_CHEETAH_LIMBS.map((l) => [l.range, l.stiffness, l.damping, l.gear])).toEqual([
      [[-0.52, 1.05], 240, 6, 120],
      [[-0.785, 0.785], 180, 4.5, 90],
      [[-0.4, 0.785], 120, 3, 60],
      [[-1, 0.7], 180, 4.5, 120],
      [[-1.2, 0.87], 120, 3, 60],
      [[-0.5, 0.5], 60, 1.5, 30],
    ]);
  });
});

describe('cheetah envs', () => {
  beforeAll(loadForTests);
  it('are registered and built by make()', () => {
    expect(ENV_NAMES).toContain('cheetah-velocity');
    expect(ENV_NAMES).toContain('cheetah-direction');
    const env = make('cheetah-direction', { maxEpisodeSteps: 3 });
    expect(env).toBeInstanceOf(CheetahDirection);
    expect(env.maxEpisodeSteps).toBe(3);
    env.close();
  });

  it('observation is 20-D and finite; dt is 0.05; truncates at maxEpisodeSteps', () => {
    const env = new CheetahVelocity({ maxEpisodeSteps: 5 });
    expect(env.dt).toBeCloseTo(0.05, 12);
    expect(env.observationSpace.shape).toEqual([20]);
    expect(env.actionSpace.shape).toEqual([6]);
    const { obs } = env.reset({ seed: 1 });
    expect(obs).toBeInstanceOf(Float32Array);
    expect(obs.length).toBe(20);
    const rng = new Rng(2);
    for (let t = 1; t <= 5; t++) {
      const r = env.step(randomActions(rng, 6));
      expect(r.obs.length).toBe(20);
      expect(r.obs.every(Number.isFinite)).toBe(true);
      expect(r.terminated).toBe(false);
      expect(r.truncated).toBe(t === 5);
    }
    env.close();
  });

  it('reward uses v_x = torso x displacement / dt and the clipped action', () => {
    const env = new CheetahVelocity();
    env.setTask({ velocity: 1.3 });
    env.reset({ seed: 3 });
    const rng = new Rng(4);
    for (let t = 0; t < 20; t++) {
      const action = randomActions(rng, 6);
      const x0 = env.xPosition();
      const r = env.step(action);
      const x1 = env.xPosition();
      const vx = (x1 - x0) / 0.05;
      expect(r.info.xVelocity as number).toBeCloseTo(vx, 9);
      // The torso body origin sits on the root slide joint, so xpos.x (obs[17]) is qpos[0] as of
      // the start of the last physics step (mj_step computes xpos before integrating; gym's
      // get_body_com has the same lag). Semi-implicit Euler moved x by timestep × final qvel.
      expect(r.obs[17]).toBeCloseTo(x1 - 0.01 * r.obs[8], 5);
      const ctrl = Array.from(action, (a) => Math.max(-1, Math.min(1, a)));
      const ctrlCost = 0.05 * ctrl.reduce((s, a) => s + a * a, 0);
      expect(r.reward).toBeCloseTo(-Math.abs(vx - 1.3) - ctrlCost, 9);
    }
    env.close();

    const dir = new CheetahDirection();
    dir.setTask({ direction: -1 });
    dir.reset({ seed: 3 });
    const x0 = dir.xPosition();
    const r = dir.step(new Float32Array(6));
    expect(r.reward).toBeCloseTo(-(dir.xPosition() - x0) / 0.05, 9);
    dir.close();
  });

  it('actionScale 10 (pytorch-maml-rl): a sample of 7 drives ctrl 0.7 and costs 0.05·0.49 per unit; beyond ±10 it is clipped', () => {
    const scaled = new CheetahVelocity({ actionScale: 10 });
    const plain = new CheetahVelocity();
    expect([scaled.actionSpace.low[0], scaled.actionSpace.high[0]]).toEqual([-10, 10]);
    for (const env of [scaled, plain]) {
      env.setTask({ velocity: 0.7 });
      env.reset({ seed: 5 });
    }
    const rng = new Rng(6);
    for (let t = 0; t < 10; t++) {
      const u = randomActions(rng, 6); // in [-1.5, 1.5]: some beyond the motor range
      const rs = scaled.step(u.map((x) => 10 * x));
      const rp = plain.step(u);
      // Same physics as the plain env given a/10 (to rounding of the ×10 and /10), and the cost
      // on the mapped, clipped control.
      rs.obs.forEach((x, i) => expect(x).toBeCloseTo(rp.obs[i], 4));
      const ctrl = Array.from(u, (x) => Math.max(-1, Math.min(1, x)));
      expect(rs.info.ctrlCost).toBeCloseTo(0.05 * ctrl.reduce((a, c) => a + c * c, 0), 7);
      expect(rs.reward).toBeCloseTo(rp.reward, 5);
    }
    scaled.reset({ seed: 1 });
    const r = scaled.step(new Float32Array([7, 0, 0, 0, 0, 0]));
    expect(r.info.ctrlCost).toBeCloseTo(0.05 * 0.49, 12);
    scaled.close();
    plain.close();
  });

  it("dynamics 'rllab' (MAML paper): frame skip 1, velocity and position of the centre of mass after the step", () => {
    const env = new CheetahVelocity({ dynamics: 'rllab' });
    expect(env.dt).toBeCloseTo(0.01, 12);
    env.setTask({ velocity: 1 });
    env.reset({ seed: 3 });
    const rng = new Rng(4);
    const com0 = env.centreOfMass()[0];
    for (let t = 0; t < 30; t++) {
      const before = env.centreOfMass()[0];
      const r = env.step(randomActions(rng, 6));
      const after = env.centreOfMass()[0];
      // The torso subtree is the whole cheetah: its COM velocity is d(COM x)/dt to O(dt).
      expect(r.info.xVelocity as number).toBeCloseTo((after - before) / 0.01, 1);
      // The observation's last three entries are that centre of mass, for the state after the step.
      expect(r.obs[17]).toBeCloseTo(after, 5);
      expect(r.reward).toBeCloseTo(-Math.abs((r.info.xVelocity as number) - 1) - (r.info.ctrlCost as number), 9);
    }
    expect(env.centreOfMass()[0]).not.toBeCloseTo(com0, 3);
    env.close();
    // Reset noise: qpos0 + 0.01·N(0, 1) (gym's is U(±0.1)): small joint angles at reset.
    const gym = new CheetahVelocity();
    const paper = new CheetahVelocity({ dynamics: 'rllab' });
    let spreadGym = 0;
    let spreadPaper = 0;
    for (let seed = 0; seed < 50; seed++) {
      spreadGym += Math.abs(gym.reset({ seed }).obs[3]);
      spreadPaper += Math.abs(paper.reset({ seed }).obs[3]);
    }
    expect(spreadGym / 50).toBeCloseTo(0.05, 1); // E|U(±0.1)| = 0.05
    expect(spreadPaper / 50).toBeLessThan(0.015); // E|0.01·N| ≈ 0.008
    gym.close();
    paper.close();
    expect(() => new CheetahVelocity({ dynamics: 'mujoco' as never })).toThrow(/dynamics.*gym, rllab/);
  });

  it('same seed gives the same trajectory; another seed a different one', () => {
    const a = new CheetahVelocity();
    const b = new CheetahVelocity();
    const first = trajectory(a, 11, 30);
    expect(trajectory(b, 11, 30)).toEqual(first);
    expect(trajectory(a, 11, 30)).toEqual(first); // re-seeding resets the noise stream too
    expect(trajectory(b, 12, 30)).not.toEqual(first);
    a.close();
    b.close();
  });

  it('keeps working when later allocations grow the WASM heap (views are re-read)', () => {
    const reference = new CheetahVelocity();
    const expected = trajectory(reference, 21, 10);
    const env = new CheetahVelocity();
    const rng = new Rng(7);
    const got = Array.from(env.reset({ seed: 21 }).obs);
    const extra: { close(): void }[] = [];
    for (let t = 0; t < 10; t++) {
      extra.push(new CheetahVelocity(), new CheetahDirection()); // each MjData may grow the heap
      const r = env.step(randomActions(rng, 6));
      got.push(...r.obs, r.reward);
    }
    expect(got).toEqual(expected);
    for (const e of [reference, env, ...extra]) e.close();
  });

  it('a seeded vector env resets and steps reproducibly', () => {
    const run = () => {
      const venv = makeVector('cheetah-velocity', 3, { maxEpisodeSteps: 10 });
      venv.setTasks([{ velocity: 0 }, { velocity: 1 }, { velocity: 2 }]);
      const rows = [Array.from(venv.reset(5))];
      const rng = new Rng(6);
      for (let t = 0; t < 10; t++) rows.push(Array.from(venv.step(randomActions(rng, 18)).reward));
      venv.close();
      return rows;
    };
    expect(run()).toEqual(run());
  });

  it('tasks are sampled inside the distribution; others are rejected with ConfigError', () => {
    const vel = new CheetahVelocity();
    const dir = new CheetahDirection();
    const rng = new Rng(0);
    for (const t of vel.sampleTasks(50, rng)) expect(t.velocity >= 0 && t.velocity <= 2).toBe(true);
    expect(new Set(dir.sampleTasks(50, rng).map((t) => t.direction))).toEqual(new Set([-1, 1]));
    for (const bad of [-0.1, 2.5, NaN, Infinity, '1', undefined]) {
      const call = () => vel.setTask({ velocity: bad } as never);
      expect(call).toThrow(ConfigError);
      expect(call).toThrow(/task\.velocity.*\[0, 2\]/);
    }
    expect(() => vel.setTask(null as never)).toThrow(/task\.velocity/);
    for (const bad of [0, 2, 0.5, '1', undefined]) {
      const call = () => dir.setTask({ direction: bad } as never);
      expect(call).toThrow(ConfigError);
      expect(call).toThrow(/task\.direction.*-1 or 1/);
    }
    vel.close();
    dir.close();
  });

  it('a NaN or infinite action raises NumericError', () => {
    const env = new CheetahVelocity();
    env.reset({ seed: 0 });
    expect(() => env.step(new Float32Array([0, 0, NaN, 0, 0, 0]))).toThrow(NumericError);
    expect(() => env.step(new Float32Array([Infinity, 0, 0, 0, 0, 0]))).toThrow(NumericError);
    env.close();
  });

  it('copies share one model, freed when the last copy closes', () => {
    const before = modelUsers('half_cheetah');
    const a = new CheetahVelocity();
    const b = new CheetahDirection();
    expect(modelUsers('half_cheetah')).toBe(before + 2);
    a.close();
    a.close(); // idempotent
    expect(modelUsers('half_cheetah')).toBe(before + 1);
    b.close();
    expect(modelUsers('half_cheetah')).toBe(before);
    expect(() => a.step(new Float32Array(6))).toThrow(/closed/);
  });
});
