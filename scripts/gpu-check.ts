/**
 * The device check (issue 13): on each backend asked for (default: webgpu, then wasm),
 *   - the adapter (webgpu: name, software or hardware) or why there is none;
 *   - launch latency: median ms of one small op read back (a = b + 1 on 4,096 numbers: large
 *     enough that tfjs-webgpu does not forward it to the CPU, small enough to cost nothing);
 *   - one batched 40-task MAML meta-gradient and one KL Hessian-vector product at the `paper`
 *     cheetah sizes (obs 20, act 6, 2×100 ReLU, 4000 rows per task), median ms;
 *   - one replay-memory sample (6,400 of 100,000 transitions at cheetah sizes), median ms.
 * Prints a line per figure, then one JSON line `{"bench":"gpu-check",…}`.
 *   npx tsx scripts/gpu-check.ts [--backends webgpu,wasm] [--reps 5] [--tasks 40] [--rows 4000]
 * `scripts/gpu-check.sh` runs it in one command (under 8 minutes on a 2-core machine).
 */
import * as tf from '@tensorflow/tfjs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { describeBackend, initBackend } from '../src/tensor/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { LocalObjective } from '../src/experiments/outerObjective.ts';
import { type PolicySpec, initParams } from '../agents/policy.ts';
import type { TaskArrays } from '../agents/taskData.ts';
import { ReplayMemory } from '../agents/merMemory.ts';

const { values } = parseArgs({ options: { backends: { type: 'string', default: 'webgpu,wasm' }, reps: { type: 'string', default: '5' }, tasks: { type: 'string', default: '40' }, rows: { type: 'string', default: '4000' } } });
const reps = Number(values.reps);
const T = Number(values.tasks);
const N = Number(values.rows);
const spec: PolicySpec = { obsDim: 20, actDim: 6, hidden: [100, 100], activation: 'relu', initStd: 1 };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function taskArrays(rng: Rng): TaskArrays[] {
  return Array.from({ length: T }, () => ({
    rows: N,
    obs: Float32Array.from({ length: N * spec.obsDim }, () => rng.range(-1, 1)),
    actions: Float32Array.from({ length: N * spec.actDim }, () => rng.normal()),
    advantages: Float32Array.from({ length: N }, () => rng.normal()),
    weights: new Float32Array(N).fill(1 / N),
  }));
}

async function timed(f: () => unknown | Promise<unknown>, n = reps): Promise<number> {
  await f(); // warm-up: shader compilation, kernel caches
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

async function check(requested: string): Promise<Record<string, unknown>> {
  let backend: string;
  try {
    backend = await initBackend(requested);
  } catch (e) {
    console.log(`${requested}: not available (${(e as Error).message})`);
    return { backend: requested, available: false, reason: (e as Error).message };
  }
  const row: Record<string, unknown> = { backend, available: true, description: describeBackend(backend) };
  console.log(`${requested}: ${describeBackend(backend)}`);
  const small = tf.ones([4096]);
  row.launchMs = await timed(() => {
    const y = small.add(1);
    y.dataSync();
    y.dispose();
  }, 50);
  small.dispose();
  const rng = new Rng(1);
  const theta = initParams(spec, rng);
  const obj = new LocalObjective({ spec, fastLr: 0.1, firstOrder: false, damping: 1e-5, hvpSubsample: 1, lineSearchKl: 'old-new' }, theta, T);
  try {
    await obj.addInnerStep(taskArrays(rng));
    await obj.setValidation(taskArrays(rng));
    row.metaGradientMs = await timed(() => obj.metaGradient());
    const v = Float64Array.from({ length: theta.length }, () => rng.normal());
    row.hvpMs = await timed(() => obj.fisherVectorProduct(v));
  } finally {
    await obj.dispose();
  }
  const memory = new ReplayMemory({ capacity: 100_000, obsDim: 20, actDim: 6 });
  const fill = (k: number) => Float32Array.from({ length: k }, () => rng.normal());
  for (let t = 0; t < 25; t++) memory.offer({ obs: fill(4000 * 20), actions: fill(4000 * 6), advantages: fill(4000), logProbs: fill(4000), taskIds: t }, rng);
  row.replaySampleMs = await timed(() => {
    const s = memory.sample(6400, rng);
    Object.values(s).forEach((x) => (x as tf.Tensor | undefined)?.dispose?.());
  }, 30);
  memory.dispose();
  console.log(`  launch ${(row.launchMs as number).toFixed(2)} ms; ${T}-task meta-gradient ${(row.metaGradientMs as number).toFixed(0)} ms, HVP ${(row.hvpMs as number).toFixed(0)} ms; replay sample ${(row.replaySampleMs as number).toFixed(2)} ms`);
  return row;
}

const rows: Record<string, unknown>[] = [];
for (const b of values.backends!.split(',')) rows.push(await check(b.trim()));
console.log(JSON.stringify({ bench: 'gpu-check', tasks: T, rowsPerTask: N, hidden: spec.hidden, reps, loadavg1: +loadavg()[0].toFixed(2), rows }));
