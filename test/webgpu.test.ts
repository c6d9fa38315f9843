/**
 * The WebGPU backend (src/tensor/webgpu.ts): the MAML meta-gradient and the KL Hessian-vector
 * product against central finite differences on it, and against the cpu backend. Skipped, with
 * the reason printed, where no WebGPU adapter exists; METARL_REQUIRE_WEBGPU=1 (set by CI, which
 * installs Mesa's EGL) turns the skip into a failure. On a machine without a GPU the adapter is
 * Mesa's llvmpipe through Dawn's OpenGL-ES backend.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, initBackend } from '../src/tensor/backend.ts';
import { describeAdapterInfo, webGpuAdapter } from '../src/tensor/webgpu.ts';
import { chunkedAddN } from '../src/tensor/webgpuFixes.ts';
import { Rng } from '../src/core/rng.ts';
import { MetaObjective } from '../agents/maml.ts';
import { type PolicySpec, initParams } from '../agents/policy.ts';
import { dot } from '../src/tensor/cg.ts';
import { axpy, randomDirection, randomTaskData, relErr } from './helpers.ts';

/** Null when the webgpu backend came up, else why not. */
async function bringUp(): Promise<string | null> {
  try {
    await initBackend('webgpu');
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

const unavailable = await bringUp();
const required = process.env.METARL_REQUIRE_WEBGPU === '1';
if (unavailable) console.log(`webgpu tests skipped: ${unavailable}`);
else console.log(`webgpu tests on: ${describeBackend('webgpu')}`);

interface GPUDeviceLike {
  limits: { maxStorageBuffersPerShaderStage: number };
  createBuffer: (d: { size: number; usage: number }) => unknown;
}

const spec: PolicySpec = { obsDim: 2, actDim: 2, hidden: [8, 8], activation: 'tanh', initStd: 1 };

/** A second-order MAML objective with `steps` inner steps on random data, as in maml.test.ts. */
function build(seed: number, steps = 1) {
  const rng = new Rng(seed);
  const theta = initParams(spec, rng);
  theta.fill(-0.3, theta.length - spec.actDim); // logStd away from 0: every term is exercised
  const T = 3;
  const obj = new MetaObjective({ spec, fastLr: 0.5, firstOrder: false, damping: 0, hvpSubsample: 1 }, theta, T);
  for (let i = 0; i < steps; i++) obj.addInnerStep(randomTaskData(spec, T, 40, rng, 5));
  obj.setValidation(randomTaskData(spec, T, 40, rng, 3));
  return { obj, theta, rng };
}

/** Meta-gradient and one KL Hessian-vector product, computed on `backend` from seed 23. */
async function derivativesOn(backend: string): Promise<{ g: Float64Array; hv: Float64Array }> {
  await tf.setBackend(backend);
  const { obj, theta, rng } = build(23, 2);
  const out = { g: obj.metaGradient(), hv: obj.fisherVectorProduct(randomDirection(theta.length, rng)) };
  obj.dispose();
  return out;
}

describe('adapter description', () => {
  it('calls llvmpipe, SwiftShader and fallback adapters software renderers, real GPUs not', () => {
    const mesa = describeAdapterInfo({ device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'OpenGL version OpenGL ES 3.2 Mesa 22.3.6' }, 'opengles');
    expect(mesa).toEqual({ name: 'llvmpipe-llvm-15-0-6-256-bits-, OpenGL version OpenGL ES 3.2 Mesa 22.3.6', software: true, via: 'opengles' });
    expect(describeAdapterInfo({ vendor: 'google', description: 'SwiftShader Device (Subzero)' }, 'default').software).toBe(true);
    expect(describeAdapterInfo({ vendor: 'nvidia', device: 'NVIDIA H200', isFallbackAdapter: true }, 'default').software).toBe(true);
    expect(describeAdapterInfo({ vendor: 'nvidia', device: 'NVIDIA H200', description: 'Vulkan driver 550' }, 'default').software).toBe(false);
    expect(describeAdapterInfo(undefined, 'default').name).toBe('unnamed adapter');
  });
});

describe('chunked AddN', () => {
  it('sums any number of inputs with no call taking more than the limit, and frees the partial sums', () => {
    const values = new Map<object, number>();
    const disposed: object[] = [];
    const calls: number[] = [];
    const info = (v: number) => {
      const dataId = {};
      values.set(dataId, v);
      return { dataId };
    };
    const addN = ({ inputs }: { inputs: { dataId: object }[] }) => {
      calls.push(inputs.length);
      return info(inputs.reduce((s, t) => s + values.get(t.dataId)!, 0));
    };
    const backend = { device: { limits: { maxStorageBuffersPerShaderStage: 4 } }, disposeData: (id: object) => disposed.push(id) };
    for (const n of [2, 3, 4, 7, 22]) {
      calls.length = 0;
      disposed.length = 0;
      const inputs = Array.from({ length: n }, (_, i) => info(i + 1));
      const out = chunkedAddN(addN, { inputs, backend }, 3);
      expect(values.get(out.dataId)).toBe((n * (n + 1)) / 2);
      expect(Math.max(...calls)).toBeLessThanOrEqual(3);
      expect(disposed).toHaveLength(calls.length - 1); // every partial sum, never an input or the result
      expect(disposed.some((id) => inputs.some((t) => t.dataId === id) || id === out.dataId)).toBe(false);
    }
  });
});

it.runIf(required)('finds a WebGPU adapter (METARL_REQUIRE_WEBGPU=1)', () => {
  expect(unavailable).toBeNull();
});

describe.skipIf(unavailable !== null)('webgpu backend', () => {
  it('is active, and the CLI line names its adapter', () => {
    expect(tf.getBackend()).toBe('webgpu');
    const a = webGpuAdapter();
    expect(a).not.toBeNull();
    expect(describeBackend('webgpu')).toContain(a!.name);
    if (a!.software) expect(describeBackend('webgpu')).toMatch(/software renderer/);
  });

  it('reads tensors synchronously (dataSync) in every dtype and beyond one 256×256 block', () => {
    const n = 300_000;
    const x = tf.range(0, n, 1, 'float32');
    const y = tf.mul(x, 2);
    const v = y.dataSync();
    expect(v.length).toBe(n);
    expect([v[0], v[1], v[n - 1]]).toEqual([0, 2, 2 * (n - 1)]);
    const i = tf.cast(tf.sub(x, 5), 'int32');
    expect(Array.from(i.dataSync().subarray(0, 3))).toEqual([-5, -4, -3]);
    const b = tf.greater(x, n - 3);
    expect(Array.from(b.dataSync().subarray(n - 4))).toEqual([0, 0, 1, 1]);
    tf.dispose([x, y, i, b]);
  });

  it('adds more tensors than a shader may bind (tf.addN of 30)', () => {
    const limit = (tf.backend() as unknown as { device: GPUDeviceLike }).device.limits.maxStorageBuffersPerShaderStage;
    const xs = Array.from({ length: 30 }, (_, i) => tf.fill([5], i + 1));
    const sum = tf.addN(xs);
    expect(limit).toBeLessThan(31);
    expect(Array.from(sum.dataSync())).toEqual(new Array(5).fill(465));
    tf.dispose([...xs, sum]);
  });

  it('turns a GPU validation error into an exception at the next read, once', () => {
    const device = (tf.backend() as unknown as { device: GPUDeviceLike }).device;
    const { GPUBufferUsage } = globalThis as unknown as { GPUBufferUsage: { MAP_READ: number; STORAGE: number } };
    device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE }); // invalid combination
    // 5000 entries: tfjs computes small tensors on the host (WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD).
    const x = tf.mul(tf.range(0, 5000), 3);
    expect(() => x.dataSync()).toThrow(/GPU rejected work/);
    const y = tf.mul(tf.range(0, 5000), 3);
    expect(y.dataSync()[4999]).toBe(14997);
    tf.dispose([x, y]);
  });

  it('second-order meta-gradient matches central differences of the meta-loss, error falling with ε', async () => {
    await tf.setBackend('webgpu');
    const { obj, theta, rng } = build(7, 2);
    const g = obj.metaGradient();
    const dirs = [0, 1, 2].map(() => randomDirection(theta.length, new Rng(rng.nextU32())));
    const errs = [0.04, 0.02, 0.01].map((eps) => {
      const fd = dirs.map((u) => (obj.evaluate(axpy(theta, eps, u)).loss - obj.evaluate(axpy(theta, -eps, u)).loss) / (2 * eps));
      return relErr(dirs.map((u) => dot(g, u)), fd);
    });
    obj.dispose();
    expect(errs[2]).toBeLessThan(5e-3);
    expect(errs[1]).toBeLessThan(errs[0] / 2.5); // truncation error ~ ε²
  });

  it('KL Hessian-vector product through the inner step matches central differences of the KL gradient', async () => {
    await tf.setBackend('webgpu');
    const { obj, theta, rng } = build(3);
    const v = randomDirection(theta.length, rng);
    const hv = obj.fisherVectorProduct(v);
    const errs = [0.2, 0.1, 0.05].map((eps) => {
      const gp = obj.klGradient(axpy(theta, eps, v));
      const gm = obj.klGradient(axpy(theta, -eps, v));
      return relErr(hv, gp.map((x, i) => (x - gm[i]) / (2 * eps)));
    });
    obj.dispose();
    expect(errs[2]).toBeLessThan(5e-3);
    expect(errs[1]).toBeLessThan(errs[0] / 2.5);
  });

  it('gives the cpu backend\'s meta-gradient and KL Hessian-vector product (float32, 1e-4 relative)', async () => {
    const cpu = await derivativesOn('cpu');
    const gpu = await derivativesOn('webgpu');
    expect(relErr(gpu.g, cpu.g)).toBeLessThan(1e-4);
    expect(relErr(gpu.hv, cpu.hv)).toBeLessThan(1e-4);
  });

  it('leaks no tensors', async () => {
    await tf.setBackend('webgpu');
    const before = tf.memory().numTensors;
    const { obj, theta, rng } = build(21);
    obj.metaGradient();
    obj.fisherVectorProduct(randomDirection(theta.length, rng));
    obj.evaluate(theta);
    obj.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
