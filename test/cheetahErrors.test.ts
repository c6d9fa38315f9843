/** Bad input to the cheetah envs behind worker threads: a clear error, never a hung worker. */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom } from 'rxjs';
import { WorkerVectorEnv, liveWorkerCount } from '../src/streams/workerPool.ts';
import { rollout$ } from '../src/streams/rollout.ts';
import { ConfigError, NumericError } from '../src/core/errors.ts';
import { make, prepareEnv } from '../envs/registry.ts';
import { HALF_CHEETAH_XML } from '../envs/halfCheetahModel.ts';

afterEach(() => {
  expect(liveWorkerCount()).toBe(0);
});

const dir = mkdtempSync(join(tmpdir(), 'metarl-mjcf-'));

describe('cheetah bad input', () => {
  it('a malformed model file fails worker start-up with MuJoCo\'s message, and no worker is left', async () => {
    const bad = join(dir, 'bad.xml');
    writeFileSync(bad, HALF_CHEETAH_XML.replace('<worldbody>', '<worldbody><bogus/>'));
    await expect(WorkerVectorEnv.create({ name: 'cheetah-velocity', num: 4, workers: 2, options: { modelFile: bad } })).rejects.toThrow(
      /MuJoCo model could not be loaded .*bad\.xml.*bogus/s,
    );
  });

  it('a model file that is not a half-cheetah is refused', async () => {
    const other = join(dir, 'pendulum.xml');
    writeFileSync(other, '<mujoco><worldbody><body><joint type="hinge"/><geom size="0.1"/></body></worldbody></mujoco>');
    await prepareEnv('cheetah-velocity');
    expect(() => make('cheetah-velocity', { modelFile: other })).toThrow(/not a half-cheetah: expected nq 9, nv 9, nu 6/);
    expect(() => make('cheetah-velocity', { modelFile: join(dir, 'missing.xml') })).toThrow(/could not be loaded .*missing\.xml/);
  });

  it('a task outside the distribution errors the rollout with a ConfigError; workers shut down', async () => {
    const env = await WorkerVectorEnv.create({ name: 'cheetah-velocity', num: 4, workers: 2, options: { maxEpisodeSteps: 5 } });
    try {
      void env.setTasks([{ velocity: 1 }, { velocity: 1 }, { velocity: 3 }, { velocity: 1 }]);
      await expect(lastValueFrom(rollout$(env, () => new Float32Array(24), { seed: 1 }))).rejects.toThrow(ConfigError);
    } finally {
      await env.close();
    }
  });

  it('a NaN action errors the rollout with a NumericError; workers shut down', async () => {
    const env = await WorkerVectorEnv.create({ name: 'cheetah-direction', num: 4, workers: 2, options: { maxEpisodeSteps: 5 } });
    try {
      await env.setTasks([{ direction: 1 }, { direction: -1 }, { direction: 1 }, { direction: -1 }]);
      const act = (_o: Float32Array, t: number) => new Float32Array(24).fill(t === 2 ? NaN : 0.1);
      await expect(lastValueFrom(rollout$(env, act, { seed: 1 }))).rejects.toThrow(NumericError);
    } finally {
      await env.close();
    }
  });
});
