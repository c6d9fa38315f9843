/**
 * Benchmark of the MER replay memory (agents/merMemory.ts) on the wasm backend: fills a memory of
 * 100,000 transitions at half-cheetah sizes (obsDim 20, actDim 6) in offers of 4,000 rows, then
 * times `sample(6400, rng)`, which includes drawing the indices and building the five sampled
 * tensors. Prints the median and p90 over the timed samples (after a warm-up), the time per offer
 * and the bytes per transition as text, then one JSON line `{"bench":"memory",...}`.
 *
 *     npx tsx scripts/bench-memory.ts [--samples 400] [--capacity 100000] [--k 6400] [--backend wasm] [--compare]
 *
 * `--compare` also times, round-robin on the same indices so that the machine's load hits them
 * alike, the sample designs considered: per-field storage with one `gather` or one `gatherND` per
 * field, a host mirror gathered in JS then uploaded, and one packed [C, 29] tensor gathered once
 * then sliced into fields.
 *
 * Wall-clock timings on a shared machine are noisy (preemption): the load average is printed
 * alongside, and so is the process CPU time per sample (process.cpuUsage), which preemption by
 * other processes does not inflate (it does include Node's GC threads).
 */
import * as tf from '@tensorflow/tfjs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { ReplayMemory, type TransitionBatch } from '../agents/merMemory.ts';
import { Rng } from '../src/core/rng.ts';
import { initBackend } from '../src/tensor/backend.ts';

const { values: args } = parseArgs({
  options: {
    samples: { type: 'string', default: '400' },
    warmup: { type: 'string', default: '50' },
    capacity: { type: 'string', default: '100000' },
    k: { type: 'string', default: '6400' },
    backend: { type: 'string', default: 'wasm' },
    // Also time alternative sample designs on raw tensors of the same sizes, interleaved.
    compare: { type: 'boolean', default: false },
  },
});
const samples = Number(args.samples);
const warmup = Number(args.warmup);
const capacity = Number(args.capacity);
const k = Number(args.k);
const obsDim = 20;
const actDim = 6;
const offerRows = 4000;

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (pos - lo);
}

function randomBatch(rows: number, taskId: number, rng: Rng): TransitionBatch {
  const fill = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  return { obs: fill(rows * obsDim), actions: fill(rows * actDim), advantages: fill(rows), logProbs: fill(rows), taskIds: taskId };
}

async function main(): Promise<void> {
  const backend = await initBackend(args.backend);
  const rng = new Rng(1);
  const memory = new ReplayMemory({ capacity, obsDim, actDim });

  // Fill to 1.5 × capacity so that the replacement path of the reservoir is exercised too.
  const offerMs: number[] = [];
  const batches = Math.ceil((1.5 * capacity) / offerRows);
  for (let t = 0; t < batches; t++) {
    const batch = randomBatch(offerRows, t, rng);
    const t0 = performance.now();
    memory.offer(batch, rng);
    offerMs.push(performance.now() - t0);
  }

  const tensorsBefore = tf.memory().numTensors;
  const sampleMs: number[] = [];
  const sampleCpuMs: number[] = [];
  for (let i = 0; i < warmup + samples; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const s = memory.sample(k, rng);
    const dt = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (i >= warmup) {
      sampleMs.push(dt);
      sampleCpuMs.push((c.user + c.system) / 1000);
    }
    tf.dispose([s.obs, s.actions, s.advantages, s.logProbs, s.taskIds]);
  }
  if (tf.memory().numTensors !== tensorsBefore) throw new Error('bench-memory: sample() leaked tensors');

  sampleMs.sort((a, b) => a - b);
  sampleCpuMs.sort((a, b) => a - b);
  offerMs.sort((a, b) => a - b);
  const result = {
    bench: 'memory',
    backend,
    capacity,
    obsDim,
    actDim,
    k,
    samples,
    size: memory.size,
    age: memory.age,
    sample_p10_ms: +quantile(sampleMs, 0.1).toFixed(4),
    sample_median_ms: +quantile(sampleMs, 0.5).toFixed(4),
    sample_p90_ms: +quantile(sampleMs, 0.9).toFixed(4),
    sample_cpu_median_ms: +quantile(sampleCpuMs, 0.5).toFixed(4),
    sample_cpu_p90_ms: +quantile(sampleCpuMs, 0.9).toFixed(4),
    offer_rows: offerRows,
    offer_median_ms: +quantile(offerMs, 0.5).toFixed(3),
    bytes_per_transition: memory.bytesPerTransition,
    memory_mb: +((memory.bytesPerTransition * capacity) / 2 ** 20).toFixed(2),
    loadavg_1m: +loadavg()[0].toFixed(2),
  };
  memory.dispose();

  console.log(`replay memory on ${backend}: capacity ${capacity}, obsDim ${obsDim}, actDim ${actDim}, size ${result.size}, age ${result.age}`);
  console.log(`sample(${k}): median ${result.sample_median_ms} ms, p90 ${result.sample_p90_ms} ms (p10 ${result.sample_p10_ms} ms) over ${samples} samples (after ${warmup} warm-up)`);
  console.log(`  process CPU time per sample (less sensitive to the machine's load): median ${result.sample_cpu_median_ms} ms, p90 ${result.sample_cpu_p90_ms} ms`);
  console.log(`offer(${offerRows} rows): median ${result.offer_median_ms} ms`);
  console.log(`bytes per transition: ${result.bytes_per_transition} (${result.memory_mb} MiB at capacity)`);
  console.log(`load average (1 min): ${result.loadavg_1m}; timings on a shared machine are noisy`);
  console.log(JSON.stringify(result));
}

/** Median wall and CPU ms per design, each run on the same fresh indices in turn. */
function compareDesigns(rng: Rng): Record<string, { wall: number; cpu: number }> {
  const C = capacity;
  const W = obsDim + actDim + 3;
  const host = Float32Array.from({ length: C * W }, () => rng.normal());
  const hostIds = Int32Array.from({ length: C }, (_, i) => i % 40);
  const field = (from: number, width: number) => {
    const out = new Float32Array(C * width);
    for (let r = 0; r < C; r++) out.set(host.subarray(r * W + from, r * W + from + width), r * width);
    return out;
  };
  const obsT = tf.tensor2d(field(0, obsDim), [C, obsDim]);
  const actT = tf.tensor2d(field(obsDim, actDim), [C, actDim]);
  const advT = tf.tensor1d(field(obsDim + actDim, 1));
  const lpT = tf.tensor1d(field(obsDim + actDim + 1, 1));
  const idT = tf.tensor1d(hostIds, 'int32');
  const packed = tf.tensor2d(host, [C, W]);
  const designs: Record<string, (idx: Int32Array) => tf.Tensor[]> = {
    'fields + gather': (idx) => tf.tidy(() => { const i = tf.tensor1d(idx, 'int32'); return [obsT, actT, advT, lpT, idT].map((t) => tf.gather(t, i)); }),
    'fields + gatherND (chosen)': (idx) => tf.tidy(() => { const i = tf.tensor2d(idx, [k, 1], 'int32'); return [obsT, actT, advT, lpT, idT].map((t) => tf.gatherND(t, i)); }),
    'host mirror + upload': (idx) => {
      const o = new Float32Array(k * obsDim), a = new Float32Array(k * actDim), ad = new Float32Array(k), lp = new Float32Array(k), id = new Int32Array(k);
      for (let i = 0; i < k; i++) {
        const r = idx[i] * W;
        for (let c = 0; c < obsDim; c++) o[i * obsDim + c] = host[r + c];
        for (let c = 0; c < actDim; c++) a[i * actDim + c] = host[r + obsDim + c];
        ad[i] = host[r + obsDim + actDim];
        lp[i] = host[r + obsDim + actDim + 1];
        id[i] = hostIds[idx[i]];
      }
      return [tf.tensor2d(o, [k, obsDim]), tf.tensor2d(a, [k, actDim]), tf.tensor1d(ad), tf.tensor1d(lp), tf.tensor1d(id, 'int32')];
    },
    'packed + gatherND + slices': (idx) => tf.tidy(() => {
      const g = tf.gatherND(packed, tf.tensor2d(idx, [k, 1], 'int32')) as tf.Tensor2D;
      const col = (c: number) => g.slice([0, c], [k, 1]).reshape([k]);
      return [g.slice([0, 0], [k, obsDim]), g.slice([0, obsDim], [k, actDim]), col(W - 3), col(W - 2), col(W - 1).cast('int32')];
    }),
  };
  const wall: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  for (const name of Object.keys(designs)) [wall[name], cpu[name]] = [[], []];
  const rounds = Math.max(60, Math.floor(samples / 2));
  for (let round = 0; round < warmup + rounds; round++) {
    const idx = Int32Array.from({ length: k }, () => rng.int(C)); // duplicates do not matter for timing
    for (const [name, run] of Object.entries(designs)) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const out = run(idx);
      const dt = performance.now() - t0;
      const c = process.cpuUsage(c0);
      tf.dispose(out);
      if (round >= warmup) {
        wall[name].push(dt);
        cpu[name].push((c.user + c.system) / 1000);
      }
    }
  }
  tf.dispose([obsT, actT, advT, lpT, idT, packed]);
  const median = (xs: number[]) => +quantile(xs.sort((a, b) => a - b), 0.5).toFixed(3);
  return Object.fromEntries(Object.keys(designs).map((name) => [name, { wall: median(wall[name]), cpu: median(cpu[name]) }]));
}

await main();
if (args.compare) {
  const table = compareDesigns(new Rng(2));
  console.log(`\ndesigns compared on the same indices (k = ${k}, capacity ${capacity}; gathers only, indices drawn outside the timing):`);
  for (const [name, t] of Object.entries(table)) console.log(`  ${name.padEnd(28)} median wall ${t.wall} ms, CPU ${t.cpu} ms`);
  console.log(JSON.stringify({ bench: 'memory-designs', loadavg_1m: +loadavg()[0].toFixed(2), ...table }));
}
