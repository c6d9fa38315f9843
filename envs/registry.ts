/**
 * Environments by name: the built-in simulators and the user's own, added with `register()`.
 * `await prepareEnv(name)` once per thread, then `make(name, options)` as often as needed
 * (synchronously).
 *
 *   register('my-env', (o) => new MyEnv(o), { taskSpace: { goal: { low: [-1, -1], high: [1, 1] } } });
 *
 * Worker threads start with an empty registry: an env registered from a module file is registered
 * there again by importing that module (`module`, set by `--env-module` or given to `register`);
 * one registered only in this thread's code can sample in this thread (`workers: 0`).
 */
import type { TaskEnv, VectorEnv, AnyVectorEnv } from '../src/core/env.ts';
import { ConfigError } from '../src/core/errors.ts';
import { type TaskSpace, parseTaskSpace } from '../src/bridge/taskSpace.ts';
import { Navigation, type NavigationOptions } from './navigation.ts';
import { CheetahDirection, CheetahVelocity, type CheetahOptions } from './cheetah.ts';
import { loadMujoco } from './mujoco.ts';
import { SyncVectorEnv } from './vector.ts';
import { type AnyTaskEnv, AsyncVectorEnv, type UserEnv, adaptUserEnv } from './userEnv.ts';

export const ENV_NAMES = ['navigation', 'cheetah-velocity', 'cheetah-direction'] as const;
export type EnvName = (typeof ENV_NAMES)[number];

/** Names the config gives other meanings (bridge and robot sources). */
const RESERVED = ['serve', 'ros'];

export interface EnvOptions extends NavigationOptions, CheetahOptions {}

/** Builds one copy of a registered env from the run's options (`maxEpisodeSteps` = horizon, …). */
export type EnvFactory<T = unknown> = (options: EnvOptions) => UserEnv<T>;

export interface RegisterOptions {
  /** The task distribution as JSON (src/bridge/taskSpace.ts); else the env's own `sampleTasks`. */
  taskSpace?: TaskSpace;
  /** Work to finish once per thread before the first `make` (load a model, open a file). */
  prepare?: () => Promise<void>;
  /**
   * URL or path of the module whose import registers this env (usually `import.meta.url`), so
   * that sampling worker threads can register it too.
   */
  module?: string | URL;
}

interface Entry {
  factory: EnvFactory;
  taskSpace?: TaskSpace;
  prepare?: () => Promise<void>;
  module?: string;
}

/**
 * One registry per process thread, even when the package is loaded twice (from its sources and
 * compiled, or two installed copies): a user module importing `metarl` registers where the CLI
 * looks.
 */
const REGISTRY = Symbol.for('metarl.envRegistry');
const userEnvs: Map<string, Entry> = ((globalThis as Record<symbol, unknown>)[REGISTRY] as Map<string, Entry> | undefined) ?? new Map();
(globalThis as Record<symbol, unknown>)[REGISTRY] = userEnvs;

const NAME = /^[a-z][a-z0-9._-]{0,63}$/;

/**
 * Adds an env under `name` for this thread. Names are lower-case words (`my-robot`, `pendulum.v2`);
 * a built-in name or one of `serve`, `ros` is refused, and so is registering a name twice with a
 * different factory (registering the same module again is harmless).
 */
export function register<T>(name: string, factory: EnvFactory<T>, options: RegisterOptions = {}): void {
  if (!NAME.test(name)) throw new ConfigError('register', `env name '${name}' must be lower-case letters, digits, '.', '_' or '-' (starting with a letter, at most 64)`);
  if ((ENV_NAMES as readonly string[]).includes(name) || RESERVED.includes(name)) throw new ConfigError('register', `'${name}' is a built-in env or source name; choose another`);
  if (typeof factory !== 'function') throw new ConfigError('register', `the factory of '${name}' must be a function (options) => env`);
  const taskSpace = options.taskSpace === undefined ? undefined : parseTaskSpace(options.taskSpace, `register ${name}: taskSpace`);
  const module = options.module === undefined ? undefined : String(options.module);
  const known = userEnvs.get(name);
  if (known && known.factory !== factory && (known.module === undefined || known.module !== module)) {
    throw new ConfigError('register', `env '${name}' is registered already (by ${known.module ?? 'code in this thread'})`);
  }
  userEnvs.set(name, { factory: factory as EnvFactory, taskSpace, prepare: options.prepare, module });
}

/** Tags a registered env with the module that registered it, unless it names one already. */
export function claimModule(name: string, module: string): void {
  const e = userEnvs.get(name);
  if (e !== undefined && e.module === undefined) e.module = module;
}

/** Removes a registered env (tests; a long-lived process replacing an env). */
export function unregister(name: string): boolean {
  return userEnvs.delete(name);
}

/** The built-in names, then the registered ones. */
export function envNames(): string[] {
  return [...ENV_NAMES, ...userEnvs.keys()];
}

export function isBuiltinEnv(name: string): name is EnvName {
  return (ENV_NAMES as readonly string[]).includes(name);
}

/** Whether `name` is a built-in or registered env. */
export function isKnownEnv(name: string): boolean {
  return isBuiltinEnv(name) || userEnvs.has(name);
}

/** The module that registers `name` (for worker threads), if it was registered from one. */
export function envModuleOf(name: string): string | undefined {
  return userEnvs.get(name)?.module;
}

function entryOf(name: string): Entry {
  const e = userEnvs.get(name);
  if (e === undefined) throw new ConfigError('env', `unknown env '${name}'; allowed: ${envNames().join(', ')} (or register your own: docs/custom-envs.md)`);
  return e;
}

/**
 * Loads what the named env needs before `make` can build it (MuJoCo envs: the WebAssembly
 * module, once per thread; registered envs: their `prepare`).
 */
export async function prepareEnv(name: string): Promise<void> {
  if (name === 'cheetah-velocity' || name === 'cheetah-direction') await loadMujoco();
  else if (name !== 'navigation') await entryOf(name).prepare?.();
}

/**
 * One copy of the named env. Throws a ConfigError naming the allowed envs for an unknown name, and
 * an Error saying to call `prepareEnv` first for a MuJoCo env whose module is not loaded yet.
 */
export function make(name: EnvName, options?: EnvOptions): TaskEnv<unknown>;
export function make(name: string, options?: EnvOptions): AnyTaskEnv<unknown>;
export function make(name: string, options: EnvOptions = {}): AnyTaskEnv<unknown> {
  switch (name) {
    case 'navigation':
      return new Navigation(options) as TaskEnv<unknown>;
    case 'cheetah-velocity':
      return new CheetahVelocity(options) as TaskEnv<unknown>;
    case 'cheetah-direction':
      return new CheetahDirection(options) as TaskEnv<unknown>;
    default: {
      const e = entryOf(name);
      return adaptUserEnv(name, e.factory(options), e.taskSpace);
    }
  }
}

/** n copies of the named env stepped together (a registered env's calls return promises). */
export function makeVector(name: EnvName, num: number, options?: EnvOptions, indexOffset?: number): VectorEnv<unknown>;
export function makeVector(name: string, num: number, options?: EnvOptions, indexOffset?: number): AnyVectorEnv<unknown>;
export function makeVector(name: string, num: number, options: EnvOptions = {}, indexOffset = 0): AnyVectorEnv<unknown> {
  if (isBuiltinEnv(name)) return new SyncVectorEnv(Array.from({ length: num }, () => make(name, options)), indexOffset);
  return new AsyncVectorEnv(name, Array.from({ length: num }, () => make(name, options)), indexOffset);
}
