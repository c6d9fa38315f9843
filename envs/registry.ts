/** The built-in simulators by name: `make('navigation', options)`. */
import type { TaskEnv } from '../src/core/env.ts';
import { assertOneOf } from '../src/core/errors.ts';
import { Navigation, type NavigationOptions } from './navigation.ts';
import { SyncVectorEnv } from './vector.ts';

export const ENV_NAMES = ['navigation'] as const;
export type EnvName = (typeof ENV_NAMES)[number];

export interface EnvOptions extends NavigationOptions {}

/**
 * Loads what the named env needs before `make` can build it (for MuJoCo envs: the WebAssembly
 * module, once per thread). Resolves at once for pure-JS envs.
 */
export async function prepareEnv(name: string): Promise<void> {
  assertOneOf('env', name, ENV_NAMES);
}

/** One copy of the named env. Throws a ConfigError naming the allowed envs for an unknown name. */
export function make(name: string, options: EnvOptions = {}): TaskEnv<unknown> {
  const env = assertOneOf('env', name, ENV_NAMES);
  switch (env) {
    case 'navigation':
      return new Navigation(options) as TaskEnv<unknown>;
  }
}

/** n copies of the named env stepped together. */
export function makeVector(name: string, num: number, options: EnvOptions = {}, indexOffset = 0): SyncVectorEnv<unknown> {
  return new SyncVectorEnv(Array.from({ length: num }, () => make(name, options)), indexOffset);
}
