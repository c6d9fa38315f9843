/**
 * Chooses the tfjs backend. `auto` tries the native TensorFlow bindings (GPU, then CPU) when their
 * optional packages are installed, then WebGPU on a hardware adapter (optional packages `webgpu`
 * and `@tensorflow/tfjs-backend-webgpu`), then the WebAssembly backend (SIMD, shipped inside the
 * npm package), then tfjs's pure-JS cpu backend. A software WebGPU adapter (Mesa's llvmpipe) is
 * used only when asked for with `webgpu`: it checks correctness and is ~20× slower than wasm.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { ConfigError, assertOneOf } from '../core/errors.ts';
import { adapterLine, useWebGpu, webGpuAdapter } from './webgpu.ts';

import { BACKENDS, type BackendName } from './backendNames.ts';

export { BACKENDS, type BackendName };

const require = createRequire(import.meta.url);

async function tryNative(pkg: string): Promise<boolean> {
  try {
    // The native packages register the `tensorflow` backend as a side effect of loading.
    await import(/* @vite-ignore */ pkg);
    return tf.findBackend('tensorflow') !== null || (await tf.setBackend('tensorflow'));
  } catch {
    return false;
  }
}

async function useWasm(): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // Point the loader at the .wasm files inside the installed package (nothing is downloaded).
    const dir = require.resolve('@tensorflow/tfjs-backend-wasm/package.json').replace(/package\.json$/, 'dist/');
    wasm.setWasmPaths(dir);
    return await tf.setBackend('wasm');
  } catch {
    return false;
  }
}

/**
 * Whether Dawn could reach a native GPU API: on Linux, Vulkan's loader must be installed (without it
 * `auto` would only print Dawn's "Couldn't load Vulkan" warning on every run). Other systems: yes.
 */
function mayHaveGpuApi(): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  if (dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')))) return true;
  try {
    return readFileSync('/etc/ld.so.cache').includes('libvulkan.so.1');
  } catch {
    return false;
  }
}

let webGpuReason = '';

/** `webgpu` on request accepts any adapter; under `auto` only a hardware one (see the header). */
async function tryWebGpu(auto: boolean): Promise<boolean> {
  if (auto && !mayHaveGpuApi()) return false;
  const r = await useWebGpu({ hardwareOnly: auto });
  webGpuReason = r.ok ? '' : r.reason;
  return r.ok;
}

/**
 * The `backend:` line the CLI prints: the name `initBackend` returned, plus the adapter behind
 * `webgpu` (name, software or not).
 */
export function describeBackend(name: string): string {
  const a = webGpuAdapter();
  return a ? `${name} (${adapterLine(a)})` : name;
}

/** Activates the requested backend and returns the name of the one in use. */
export async function initBackend(requested: string = 'auto'): Promise<string> {
  const name = assertOneOf('--backend', requested, BACKENDS);
  const attempts: Record<Exclude<BackendName, 'auto'>, () => Promise<boolean>> = {
    'tensorflow-gpu': () => tryNative('@tensorflow/tfjs-node-gpu'),
    tensorflow: () => tryNative('@tensorflow/tfjs-node'),
    webgpu: () => tryWebGpu(name === 'auto'),
    wasm: useWasm,
    cpu: () => tf.setBackend('cpu'),
  };
  const order: Exclude<BackendName, 'auto'>[] = name === 'auto' ? ['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'] : [name];
  for (const b of order) {
    if (await attempts[b]()) {
      await tf.ready();
      return b === 'tensorflow-gpu' || b === 'tensorflow' ? `${b} (${tf.getBackend()})` : tf.getBackend();
    }
  }
  if (name === 'webgpu') throw new ConfigError('--backend', `backend 'webgpu' is not available here: ${webGpuReason}`);
  throw new ConfigError('--backend', `backend '${name}' is not available here (is its optional package installed?); allowed: ${BACKENDS.join(', ')}`);
}
