/**
 * The MuJoCo WebAssembly module (`@mujoco/mujoco`, official build) and model helpers.
 *
 * The module is loaded at most once per thread: `loadMujoco()` caches its promise, and every env
 * copy in the thread shares the module (each copy owns its MjData; copies of one env share the
 * MjModel through `acquireModel`). Env constructors are synchronous, so they call
 * `requireMujoco()`, which throws if nobody awaited `loadMujoco()` (the registry's `prepareEnv`).
 *
 * Memory note: `data.qpos`, `data.ctrl`, `model.qpos0`… are Float64Array views into the WASM
 * heap. Anything that allocates on that heap (loading a model, making an MjData) may grow it,
 * which detaches every view made before. A detached view has length 0: re-read the view then.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { MainModule, MjData, MjModel } from '@mujoco/mujoco';

export type Mujoco = MainModule;
export type { MjData, MjModel };

let loading: Promise<Mujoco> | undefined;
let loaded: Mujoco | undefined;

/** Path of the .wasm file shipped inside the installed `@mujoco/mujoco` package. */
export function mujocoWasmPath(): string {
  return createRequire(import.meta.url).resolve('@mujoco/mujoco/mujoco.wasm');
}

/**
 * Loads the MuJoCo WebAssembly module for this thread (once; later calls return the same
 * promise). The .wasm is read from the installed package; nothing is downloaded. A failed load
 * is not cached, so a later call retries.
 */
export function loadMujoco(): Promise<Mujoco> {
  if (!loading) {
    loading = (async () => {
      let path = '@mujoco/mujoco/mujoco.wasm';
      try {
        path = mujocoWasmPath();
        const wasmBinary = await readFile(path);
        // Imported here, not at the top, so that pure-JS envs never load the glue code.
        const { default: loadMujocoModule } = await import('@mujoco/mujoco');
        const mj = await loadMujocoModule({ wasmBinary, locateFile: () => path });
        loaded = mj;
        return mj;
      } catch (err) {
        loading = undefined;
        throw new Error(`MuJoCo WebAssembly module could not be loaded from ${path}: ${errorText(err)}`, { cause: err });
      }
    })();
  }
  return loading;
}

/** The module if `loadMujoco()` has finished in this thread, else undefined. */
export function mujocoIfLoaded(): Mujoco | undefined {
  return loaded;
}

/** The loaded module; throws a clear Error naming `what` needs it if it is not loaded yet. */
export function requireMujoco(what: string): Mujoco {
  if (!loaded) {
    throw new Error(
      `${what} needs the MuJoCo WebAssembly module, which is not loaded in this thread: ` +
        `call prepareEnv('${what}') (or await loadMujoco()) first`,
    );
  }
  return loaded;
}

/**
 * Compiles an MJCF string. On failure throws an Error saying the model could not be loaded, with
 * MuJoCo's own message (parse error, unknown attribute, line number…). `source` names the model
 * in that message (a file path or a short label).
 */
export function modelFromXml(mj: Mujoco, xml: string, source = 'MJCF string'): MjModel {
  try {
    return mj.MjModel.from_xml_string(xml);
  } catch (err) {
    throw new Error(`MuJoCo model could not be loaded (${source}): ${errorText(err)}`, { cause: err });
  }
}

/** Reads an MJCF file, with the same "could not be loaded" error as a failed compile. */
export function readModelFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`MuJoCo model could not be loaded (${path}): ${errorText(err)}`, { cause: err });
  }
}

/** Compiles an MJCF file read from the host file system (no `<include>` of other files). */
export function modelFromFile(mj: Mujoco, path: string): MjModel {
  return modelFromXml(mj, readModelFile(path), path);
}

/** A model compiled once per thread and shared by every env copy that uses it. */
interface SharedModelEntry {
  model: MjModel;
  users: number;
}
const sharedModels = new Map<string, SharedModelEntry>();

/**
 * The thread's shared model under `key`, compiled from `xml()` on first use. Pair every call with
 * one `releaseModel(key)`; the model is freed when its last user releases it.
 */
export function acquireModel(mj: Mujoco, key: string, xml: () => string): MjModel {
  let entry = sharedModels.get(key);
  if (!entry) {
    entry = { model: modelFromXml(mj, xml(), key), users: 0 };
    sharedModels.set(key, entry);
  }
  entry.users += 1;
  return entry.model;
}

/** Releases one use of the shared model under `key` (frees it after the last). */
export function releaseModel(key: string): void {
  const entry = sharedModels.get(key);
  if (!entry) return;
  entry.users -= 1;
  if (entry.users <= 0) {
    sharedModels.delete(key);
    entry.model.delete();
  }
}

/** Number of live users of the shared model under `key` (0 when it is not compiled). */
export function modelUsers(key: string): number {
  return sharedModels.get(key)?.users ?? 0;
}

/** MuJoCo's message: its errors arrive as Error objects or, from raw aborts, as other values. */
function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.trim().replace(/^MuJoCo Error:\s*/, '');
}
