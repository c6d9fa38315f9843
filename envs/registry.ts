/**
 * The built-in simulators by name: `await prepareEnv(name)` once per thread, then
 * `make(name, options)` as often as needed (synchronously).
 */
import type { TaskEnv } from '../src/core/env.ts';
import { assertOneOf } from '../src/core/errors.ts';
import { Navigation, type NavigationOptions } from './navigation.ts';
import { CheetahDirection, CheetahVelocity, type CheetahOptions } from './cheetah.ts';
import { loadMujoco } from './mujoco.ts';
import { SyncVectorEnv } from './vector.ts';

export const ENV_NAMES = ['navigation', 'cheetah-velocity', 'cheetah-direction'] as const;
export type EnvName = (typeof ENV_NAMES)[number];

/** Envs that run on MuJoCo (their module must be loaded in the thread before `make`). */
const MUJOCO_ENVS: readonly EnvName[] = ['cheetah-velocity', 'cheetah-direction'];

export interface EnvOptions extends NavigationOptions, CheetahOptions {}

/**
 * Loads what the named env needs before `make` can build it (for MuJoCo envs: the WebAssembly
 * module, once per thread). Resolves at once for pure-JS envs.
 */
export async function prepareEnv(name: string): Promise<void> {
  const env = assertOneOf('env', name, ENV_NAMES);
  if (MUJOCO_ENVS.includes(env)) await loadMujoco();
}

/**
 * One copy of the named env. Throws a ConfigError naming the allowed envs for an unknown name, and
 * an Error saying to call `prepareEnv` first for a MuJoCo env whose module is not loaded yet.
 */
export function make(name: string, options: EnvOptions = {}): TaskEnv<unknown> {
  const env = assertOneOf('env', name, ENV_NAMES);
  switch (env) {
    case 'navigation':
      return new Navigation(options) as TaskEnv<unknown>;
    case 'cheetah-velocity':
      return new CheetahVelocity(options) as TaskEnv<unknown>;
    case 'cheetah-direction':
      return new CheetahDirection(options) as TaskEnv<unknown>;
  }
}

/** n copies of the named env stepped together. */
export function makeVector(name: string, num: number, options: EnvOptions = {}, indexOffset = 0): SyncVectorEnv<unknown> {
  return new SyncVectorEnv(Array.from({ length: num }, () => make(name, options)), indexOffset);
}
