/**
 * Two fixes that make tfjs-backend-webgpu 4.22 safe for this project's math under Dawn:
 *
 * - AddN with many inputs: tfjs binds every input as a storage buffer of one shader, but a WebGPU
 *   device has only `maxStorageBuffersPerShaderStage` of them (8 unless more are requested, at
 *   either feature level), and the nested gradients of agents/maml.ts sum 20+ tensors. tfjs would
 *   build an invalid pipeline and return garbage; here the sum is done in chunks that fit.
 * - GPU errors: WebGPU reports invalid work as an "uncaptured error" event, not an exception, so
 *   a wrong result would come back silently. The first such error is kept and thrown at the next
 *   read of a tensor.
 */
import * as tf from '@tensorflow/tfjs';

interface TensorInfoLike {
  dataId: object;
}
interface KernelArgs {
  inputs: TensorInfoLike[];
  backend: { device: { limits: { maxStorageBuffersPerShaderStage: number } }; disposeData: (id: object) => void };
  attrs?: unknown;
}
type KernelFunc = (args: KernelArgs) => TensorInfoLike;

/** Sums `inputs` with `addN` in chunks of at most `max` inputs (the running sum counts as one). */
export function chunkedAddN(addN: KernelFunc, args: KernelArgs, max: number): TensorInfoLike {
  const { inputs, backend } = args;
  if (max < 2) throw new Error(`webgpu AddN: a shader must take at least 2 inputs, the device allows ${max}`);
  if (inputs.length <= max) return addN(args);
  let acc = addN({ ...args, inputs: inputs.slice(0, max) });
  for (let i = max; i < inputs.length; i += max - 1) {
    const next = addN({ ...args, inputs: [acc, ...inputs.slice(i, i + max - 1)] });
    backend.disposeData(acc.dataId);
    acc = next;
  }
  return acc;
}

/** Re-registers the webgpu AddN kernel so that no shader binds more storage buffers than allowed. */
export function fixAddN(): void {
  const config = tf.getKernel('AddN', 'webgpu');
  if (!config || (config as { chunked?: boolean }).chunked) return;
  const addN = config.kernelFunc as unknown as KernelFunc;
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({
    ...config,
    chunked: true,
    // One storage buffer is the output.
    kernelFunc: ((args: KernelArgs) => chunkedAddN(addN, args, args.backend.device.limits.maxStorageBuffersPerShaderStage - 1)) as unknown as tf.KernelFunc,
  } as tf.KernelConfig);
}

interface EventTargetLike {
  addEventListener: (type: string, f: (ev: { error?: { message?: string } }) => void) => void;
}

let firstError: string | null = null;

/** Keeps the first uncaptured error the device reports. */
export function watchDeviceErrors(device: EventTargetLike): void {
  device.addEventListener('uncapturederror', (ev) => {
    firstError ??= (ev.error?.message ?? 'unknown GPU error').split('\n')[0];
  });
}

/** Throws (once) if the GPU reported an error since the last call: results read now may be wrong. */
export function throwIfDeviceError(): void {
  if (firstError === null) return;
  const message = firstError;
  firstError = null;
  throw new Error(`webgpu: the GPU rejected work, so tensor values may be wrong: ${message}`);
}
