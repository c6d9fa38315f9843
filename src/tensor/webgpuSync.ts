/**
 * Synchronous GPU → host reads for tfjs's WebGPU backend in Node. The algorithm core reads
 * tensors with `dataSync()`; tfjs-backend-webgpu implements that by drawing into an
 * `OffscreenCanvas`, which Node does not have. WebGPU itself only maps buffers asynchronously.
 *
 * Dawn's Node bindings complete a `mapAsync` when they run `wgpuInstanceProcessEvents`, which
 * they schedule with the global `setImmediate` (dawn/node/binding/AsyncRunner.cpp). So a wrapper
 * around `setImmediate`, installed before the Dawn instance is created, keeps a handle on those
 * scheduled calls, and a synchronous read runs them itself until the staging buffer is mapped.
 * Every other `setImmediate` call passes straight through.
 */
import * as tf from '@tensorflow/tfjs';
import { throwIfDeviceError } from './webgpuFixes.ts';

type Callback = () => void;

/** Scheduled Dawn event-processing calls not yet run, with their Node immediates. */
const pending = new Map<Callback, NodeJS.Immediate>();
let realSetImmediate: typeof setImmediate | null = null;

/** Dawn's scheduled call is a native (N-API) function passed with no arguments. */
function isNativeCallback(f: unknown, args: unknown[]): f is Callback {
  return typeof f === 'function' && args.length === 0 && /\{\s*\[native code\]\s*\}$/.test(Function.prototype.toString.call(f));
}

/** Wraps the global `setImmediate` so Dawn's event processing can be run on demand. Idempotent. */
export function installDawnPump(): void {
  if (realSetImmediate) return;
  const real = (realSetImmediate = globalThis.setImmediate);
  const wrapped = function (this: unknown, f: (...a: unknown[]) => void, ...args: unknown[]) {
    if (!isNativeCallback(f, args)) return real(f, ...args);
    const h = real(() => {
      pending.delete(f);
      f();
    });
    pending.set(f, h);
    return h;
  };
  // Keep util.promisify(setImmediate) and friends working.
  Object.assign(wrapped, real);
  globalThis.setImmediate = wrapped as typeof setImmediate;
}

/** Puts the real `setImmediate` back (when no Dawn backend came up). Calls already seen still run. */
export function uninstallDawnPump(): void {
  if (!realSetImmediate) return;
  globalThis.setImmediate = realSetImmediate;
  realSetImmediate = null;
}

/** Runs Dawn's scheduled event processing until `done()`; throws after `timeoutMs`. */
export function pumpDawnUntil(done: () => boolean, timeoutMs = 120_000): void {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    const next = pending.entries().next();
    if (next.done) throw new Error('webgpu: no Dawn event processing is scheduled; was installDawnPump() called before the GPU was created?');
    const [f, h] = next.value;
    pending.delete(f);
    clearImmediate(h);
    f(); // reschedules itself (through the wrapper) while Dawn still has work in flight
    if (performance.now() > deadline) throw new Error(`webgpu: a GPU read did not finish within ${timeoutMs / 1000} s`);
  }
}

/** The members of tfjs's WebGPUBackend used here (they are public in its JS, not in its types). */
interface TensorData {
  values: tf.backend_util.BackendValues | null;
  dtype: tf.DataType;
  resource: unknown;
}
interface WebGpuBackendLike {
  tensorMap: { get: (id: object) => TensorData };
  bufferManager: { acquireBuffer: (size: number, usage: number) => GPUBufferLike; releaseBuffer: (b: GPUBufferLike) => void };
  commandEncoder: { copyBufferToBuffer: (s: GPUBufferLike, so: number, d: GPUBufferLike, doff: number, n: number) => void };
  ensureCommandEncoderReady: () => void;
  endComputePassEncoder: () => void;
  submitQueue: () => void;
  convertAndCacheOnCPU: (id: object, v: tf.backend_util.BackendValues) => tf.backend_util.BackendValues;
  readSync: (id: object) => tf.backend_util.BackendValues;
}
interface GPUBufferLike {
  size: number;
  mapState: string;
  mapAsync: (mode: number) => Promise<void>;
  getMappedRange: () => ArrayBuffer;
  unmap: () => void;
}

/** Copies a tensor's GPU buffer to a mappable one, waits for the map by pumping Dawn, reads it. */
function readBufferSync(backend: WebGpuBackendLike, buffer: GPUBufferLike, usage: { COPY_DST: number; MAP_READ: number }, READ: number): ArrayBuffer {
  const staging = backend.bufferManager.acquireBuffer(buffer.size, usage.COPY_DST | usage.MAP_READ);
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.commandEncoder.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
  backend.submitQueue();
  staging.mapAsync(READ).catch(() => undefined); // a failure shows as mapState back at 'unmapped'
  pumpDawnUntil(() => staging.mapState !== 'pending');
  if (staging.mapState !== 'mapped') throw new Error('webgpu: mapping a staging buffer for a synchronous read failed');
  const bytes = staging.getMappedRange().slice(0);
  staging.unmap();
  backend.bufferManager.releaseBuffer(staging);
  return bytes;
}

/**
 * Replaces WebGPUBackend.readSync (the OffscreenCanvas path) with a staging-buffer read that
 * throws if the GPU reported an error. `globals` are Dawn's (GPUBufferUsage, GPUMapMode);
 * tensors already on the host, strings, complex tensors and texture-backed tensors keep tfjs's
 * own path.
 */
export function patchReadSync(proto: WebGpuBackendLike, globals: Record<string, unknown>): void {
  const usage = globals.GPUBufferUsage as { COPY_DST: number; MAP_READ: number };
  const READ = (globals.GPUMapMode as { READ: number }).READ;
  const BufferClass = globals.GPUBuffer as abstract new () => unknown;
  const original = proto.readSync;
  proto.readSync = function (this: WebGpuBackendLike, dataId: object) {
    const td = this.tensorMap.get(dataId);
    if (td.values != null || td.dtype === 'string' || td.dtype === 'complex64' || !(td.resource instanceof BufferClass)) {
      return original.call(this, dataId);
    }
    const bytes = readBufferSync(this, td.resource as GPUBufferLike, usage, READ);
    throwIfDeviceError(); // the GPU's error events for the work just finished have been delivered
    return this.convertAndCacheOnCPU(dataId, tf.util.convertBackendValuesAndArrayBuffer(bytes, td.dtype) as tf.backend_util.BackendValues);
  };
}
