/**
 * Chooses the tfjs backend. `auto` tries the native TensorFlow bindings (GPU, then CPU) when their
 * optional packages are installed, then the WebAssembly backend (SIMD, shipped inside the npm
 * package), then tfjs's pure-JS cpu backend.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { ConfigError, assertOneOf } from '../core/errors.ts';

export const BACKENDS = ['auto', 'wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

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

/** Activates the requested backend and returns the name of the one in use. */
export async function initBackend(requested: string = 'auto'): Promise<string> {
  const name = assertOneOf('--backend', requested, BACKENDS);
  const attempts: Record<Exclude<BackendName, 'auto'>, () => Promise<boolean>> = {
    'tensorflow-gpu': () => tryNative('@tensorflow/tfjs-node-gpu'),
    tensorflow: () => tryNative('@tensorflow/tfjs-node'),
    wasm: useWasm,
    cpu: () => tf.setBackend('cpu'),
  };
  const order: Exclude<BackendName, 'auto'>[] = name === 'auto' ? ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] : [name];
  for (const b of order) {
    if (await attempts[b]()) {
      await tf.ready();
      return b === 'tensorflow-gpu' || b === 'tensorflow' ? `${b} (${tf.getBackend()})` : tf.getBackend();
    }
  }
  throw new ConfigError('--backend', `backend '${name}' is not available here (is its optional package installed?); allowed: ${BACKENDS.join(', ')}`);
}
