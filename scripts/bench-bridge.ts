/**
 * Protocol overhead of the WebSocket bridge on loopback: the reference simulator
 * (scripts/nav-sim.ts) runs in a child process, the agent steps a RemoteVectorEnv with uniform
 * random actions, and every vector step's round trip is timed. Reports p50 / p99 round trip (ms)
 * and vector steps/s for n = 1 and n = 20 copies, with JSON and with binary frames, next to the
 * in-process SyncVectorEnv. Prints text, then one JSON line ({"bench":"bridge",...}).
 *   npx tsx scripts/bench-bridge.ts [--seconds 2] [--copies 1,20]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { AnyVectorEnv } from '../src/core/env.ts';
import { Rng } from '../src/core/rng.ts';
import { makeVector } from '../envs/registry.ts';
import { RemoteVectorEnv } from '../src/bridge/remoteEnv.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' }, copies: { type: 'string', default: '1,20' } } });
const seconds = Number(values.seconds);
const copies = values.copies.split(',').map(Number);

interface Row { n: number; transport: string; p50Ms: number; p99Ms: number; vectorStepsPerSec: number; envStepsPerSec: number }

/** Starts nav-sim on a free port in a child process; resolves with the URL it prints. */
function startSimProcess(n: number): Promise<{ child: ChildProcess; url: string }> {
  const script = fileURLToPath(new URL('./nav-sim.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, '--port', '0', '--num', String(n)], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving .* on (ws:\/\/\S+)/.exec(err);
      if (m) resolve({ child, url: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`nav-sim exited (${code}): ${err}`)));
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Steps 100-step episodes for `ms` (after a warm-up); times every vector step. */
async function measure(env: AnyVectorEnv, ms: number): Promise<{ times: number[]; elapsed: number }> {
  const rng = new Rng(0);
  const { low, high, size } = env.actionSpace;
  const actions = new Float32Array(env.num * size);
  const tasks = Array.from({ length: env.num }, () => ({ goal: [rng.range(-0.5, 0.5), rng.range(-0.5, 0.5)] }));
  await env.setTasks(tasks);
  const run = async (budget: number) => {
    const times: number[] = [];
    const t0 = performance.now();
    for (let episode = 0; performance.now() - t0 < budget; episode++) {
      await env.reset(episode);
      for (let t = 0; t < env.maxEpisodeSteps; t++) {
        for (let i = 0; i < actions.length; i++) actions[i] = rng.range(low[i % size], high[i % size]);
        const s = performance.now();
        await env.step(actions);
        times.push(performance.now() - s);
      }
    }
    return { times, elapsed: performance.now() - t0 };
  };
  await run(Math.min(500, ms / 4)); // JIT and socket warm-up
  return run(ms);
}

function row(n: number, transport: string, r: { times: number[]; elapsed: number }): Row {
  const sorted = [...r.times].sort((a, b) => a - b);
  const perSec = r.times.length / (r.elapsed / 1000);
  return { n, transport, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), vectorStepsPerSec: perSec, envStepsPerSec: perSec * n };
}

const rows: Row[] = [];
for (const n of copies) {
  rows.push(row(n, 'in-process', await measure(makeVector('navigation', n), seconds * 1000)));
  const { child, url } = await startSimProcess(n);
  try {
    for (const binary of [false, true]) {
      const env = await RemoteVectorEnv.connect(url, { binary });
      rows.push(row(n, binary ? 'ws binary' : 'ws json', await measure(env, seconds * 1000)));
      await env.close();
    }
  } finally {
    child.kill('SIGTERM'); // the child we started, by its handle
  }
}

const fmt = (x: number, d = 3) => x.toFixed(d).padStart(10);
console.log(`bridge protocol overhead on loopback (navigation, ${seconds} s per row, ${availableParallelism()} cores, load ${loadavg()[0].toFixed(2)})`);
console.log('   n  transport        p50 ms     p99 ms   vec steps/s   env steps/s');
for (const r of rows) console.log(`${String(r.n).padStart(4)}  ${r.transport.padEnd(11)}${fmt(r.p50Ms)} ${fmt(r.p99Ms)}  ${fmt(r.vectorStepsPerSec, 0).padStart(12)}  ${fmt(r.envStepsPerSec, 0).padStart(12)}`);
const round = (x: number, d: number) => Number(x.toFixed(d));
console.log(JSON.stringify({
  bench: 'bridge', seconds, cores: availableParallelism(), load1: round(loadavg()[0], 2),
  rows: rows.map((r) => ({ ...r, p50Ms: round(r.p50Ms, 4), p99Ms: round(r.p99Ms, 4), vectorStepsPerSec: round(r.vectorStepsPerSec, 1), envStepsPerSec: round(r.envStepsPerSec, 1) })),
}));
