/**
 * The Python adapter (examples/python/metarl_bridge.py) serving the pure-Python point env
 * (examples/python/point_env.py) to the agent over metarl-bridge/1, on real loopback sockets:
 * meta-training improves the returns (and gives the in-process navigation series, since the
 * point env reproduces navigation bit for bit), lock-step results in JSON and binary frames,
 * per-copy seeds, tokens in both directions, and the protocol's answers to malformed or
 * out-of-order messages.
 *
 * Needs a python3 that imports `websockets` (METARL_PYTHON, else python3, else /usr/bin/python3,
 * where Debian's python3-websockets lands). Without one the tests are skipped with the reason
 * printed; METARL_REQUIRE_PYTHON=1 (set by .ci/run when it has one) turns the skip into a failure.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, deriveSeed } from '../src/core/rng.ts';
import type { VectorStepResult } from '../src/core/env.ts';
import { make, makeVector } from '../envs/registry.ts';
import { RemoteVectorEnv } from '../src/bridge/remoteEnv.ts';
import { AgentServer } from '../src/bridge/agentServer.ts';
import { encodeStepFrame } from '../src/bridge/protocol.ts';
import { initBackend } from '../src/tensor/backend.ts';
import { resolveConfig } from '../src/io/config.ts';
import { JsonlLog } from '../src/io/jsonl.ts';
import { METRICS_FILE, train } from '../src/experiments/train.ts';

const EXAMPLES = fileURLToPath(new URL('../examples/python/', import.meta.url));
const ADAPTER = join(EXAMPLES, 'metarl_bridge.py');

/** The first python that imports websockets, or why there is none. */
function findPython(): { python: string } | { why: string } {
  const candidates = [process.env.METARL_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', 'import websockets'], { timeout: 15_000, stdio: 'ignore' });
    if (r.status === 0) return { python: c };
  }
  return { why: `no python3 that imports websockets (tried ${candidates.join(', ')}); apt-get install python3-websockets` };
}

const found = findPython();
const python = 'python' in found ? found.python : null;
const required = process.env.METARL_REQUIRE_PYTHON === '1';
if (python === null) console.log(`python adapter tests skipped: ${(found as { why: string }).why}`);

it.runIf(required && python === null)('finds a python3 with websockets (METARL_REQUIRE_PYTHON=1)', () => {
  throw new Error((found as { why: string }).why);
});

const T = { timeout: 30_000 };
const running = new Set<ChildProcess>();

/** SIGTERM, then SIGKILL after `ms`: bounded either way. */
async function stop(proc: ChildProcess, ms = 3_000): Promise<void> {
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  if (!exited()) {
    const gone = new Promise<void>((res) => proc.once('exit', () => res()));
    proc.kill('SIGTERM');
    const timer = (t: number) => new Promise<void>((res) => setTimeout(res, t).unref());
    await Promise.race([gone, timer(ms)]);
    if (!exited()) {
      proc.kill('SIGKILL');
      await Promise.race([gone, timer(2_000)]);
    }
  }
  running.delete(proc);
}

afterAll(async () => {
  await Promise.all([...running].map((p) => stop(p)));
});

interface Adapter {
  proc: ChildProcess;
  /** Exit code once it exited. */
  exit: Promise<number | null>;
  stderr: () => string;
}

/** Runs the adapter on the point env (`args` pick the mode); no METARL_TOKEN unless `token`. */
function runAdapter(args: string[], token = ''): Adapter {
  const proc = spawn(python!, [ADAPTER, '--module', 'point_env:make_env', ...args], {
    cwd: EXAMPLES,
    env: { ...process.env, METARL_TOKEN: token, PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  return { proc, exit, stderr: () => err };
}

/** Starts a listening adapter on a free port; resolves with the URL it prints on stdout. */
async function listenAdapter(num: number, extra: string[] = [], token = ''): Promise<Adapter & { url: string }> {
  const a = runAdapter(['--port', '0', '--num', String(num), ...extra], token);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`adapter printed no URL within 15 s: ${a.stderr()}`)), 15_000);
    a.proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = /^(ws:\/\/\S+)\n/.exec(out)?.[1];
      if (line) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    void a.exit.then((code) => reject(new Error(`adapter exited (${code}) before listening: ${a.stderr()}`)));
  });
  return { ...a, url };
}

/** Heads for the goal with noise (so some copies terminate early, others run to the limit). */
function policy(goals: [number, number][], rng: Rng) {
  return (obs: Float32Array) => Float32Array.from({ length: obs.length }, (_, k) => 0.6 * (goals[k >> 1][k & 1] - obs[k]) + 0.15 * rng.normal());
}

function same(a: VectorStepResult, b: VectorStepResult): boolean {
  const eq = (x: ArrayLike<number>, y: ArrayLike<number>) => x.length === y.length && Array.from(x).every((v, i) => Object.is(v, y[i]));
  return eq(a.obs, b.obs) && eq(a.reward, b.reward) && eq(a.terminated, b.terminated) && eq(a.truncated, b.truncated);
}

/** A run's metrics without timings and bridge counters. */
function series(runDir: string) {
  return new JsonlLog(join(runDir, METRICS_FILE)).read().map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith('time/') && !k.startsWith('env/'))));
}

describe.skipIf(python === null)('the Python adapter', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('meta-trains the agent on the Python point env: returns improve, as in-process navigation', { timeout: 90_000 }, async () => {
    // 4 tasks × 5 episodes = 20 copies: one round per sampling phase.
    const sim = await listenAdapter(20);
    const out = mkdtempSync(join(tmpdir(), 'metarl-python-'));
    const cfg = (dir: string, extra: Record<string, unknown> = {}) =>
      resolveConfig('pytorch-maml-rl', { metaBatchSize: 4, episodesPerTask: 5, numBatches: 10, cgIters: 5, out: join(out, dir), ...extra });
    const started = Date.now();
    const remote = await train(cfg('python', { env: sim.url }), { backend: 'wasm' });
    const seconds = (Date.now() - started) / 1000;
    const rows = series(remote.runDir);
    const before = rows.map((r) => r['charts/return_before'] as number);
    const after = rows.map((r) => r['charts/return_after'] as number);
    console.log(`python adapter: 10 meta-batches in ${seconds.toFixed(1)} s; return before/after ${before.map((b, i) => `${b.toFixed(1)}/${after[i].toFixed(1)}`).join(' ')}`);
    expect(rows).toHaveLength(10);
    // Learning: the adapted policy of the last three meta-batches beats the first meta-batch's
    // unadapted one by a wide margin, and one gradient step on a task helps on average.
    const lastAfter = after.slice(-3).reduce((a, b) => a + b, 0) / 3;
    expect(lastAfter).toBeGreaterThan(before[0] + 10);
    const meanGain = after.reduce((a, b, i) => a + b - before[i], 0) / after.length;
    expect(meanGain).toBeGreaterThan(0);
    // Same numbers as training on the built-in env: the Python env is navigation, bit for bit.
    const local = await train(cfg('local'), { backend: 'wasm' });
    expect(rows).toEqual(series(local.runDir));
    await stop(sim.proc);
  });

  describe('one adapter of 5 copies', () => {
    let sim: Adapter & { url: string };
    beforeAll(async () => {
      sim = await listenAdapter(5);
    });

    it.each([false, true])('binary %s: lock-step results bit for bit as the in-process navigation env', T, async (binary) => {
      const remote = await RemoteVectorEnv.connect(sim.url, { binary });
      try {
        expect([remote.num, remote.binary, remote.maxEpisodeSteps, remote.name]).toEqual([5, binary, 100, 'PointEnv×5']);
        expect(remote.sampleTasks(5, new Rng(2))).toEqual(make('navigation').sampleTasks(5, new Rng(2)));
        const local = makeVector('navigation', 5);
        let terminated = 0;
        for (const episode of [0, 1]) {
          const tasks = remote.sampleTasks(5, new Rng(10 + episode)) as { goal: [number, number] }[];
          void remote.setTasks(tasks); // requests go out in order
          local.setTasks(tasks);
          expect(Array.from(await remote.reset(99 + episode))).toEqual(Array.from(local.reset(99 + episode)));
          const [actR, actL] = [policy(tasks.map((t) => t.goal), new Rng(episode)), policy(tasks.map((t) => t.goal), new Rng(episode))];
          let [obsR, obsL]: Float32Array[] = [new Float32Array(10), new Float32Array(10)];
          for (let t = 0; t < 100; t++) {
            const r = await remote.step(actR(obsR));
            const l = local.step(actL(obsL));
            if (!same(r, l)) throw new Error(`episode ${episode} step ${t} differs`);
            terminated += l.terminated.reduce((a, b) => a + b, 0);
            [obsR, obsL] = [r.obs, l.obs];
          }
        }
        expect(terminated).toBeGreaterThan(0); // ended copies held still (the kept-rows path)
        expect(remote.stats.clippedActions).toBeGreaterThan(0);
        expect(remote.stats.rejected).toBe(0);
      } finally {
        await remote.close();
      }
    });

    it('seeds copy i with deriveSeed(seed, i), as the agent does', T, () => {
      const cases = [[0, 0], [1234, 3], [-7, 1], [2 ** 40 + 5, 19], [0xffffffff, 4095]];
      const code = `import json, metarl_bridge as m; print(json.dumps([m.derive_seed(s, i) for s, i in ${JSON.stringify(cases)}]))`;
      const r = spawnSync(python!, ['-c', code], { cwd: EXAMPLES, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }, timeout: 15_000 });
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual(cases.map(([s, i]) => deriveSeed(s, i)));
    });

    it('answers malformed and out-of-order messages with errors by id, drops the rest, and keeps serving', T, async () => {
      const ws = new WebSocket(sim.url);
      const inbox: (string | Buffer)[] = [];
      const waiters: (() => void)[] = [];
      ws.on('message', (data: Buffer, isBinary) => {
        inbox.push(isBinary ? data : data.toString());
        waiters.shift()?.();
      });
      const closed = new Promise<number>((res) => ws.once('close', (code) => res(code)));
      const next = async (): Promise<Record<string, unknown>> => {
        if (inbox.length === 0) await new Promise<void>((res, rej) => {
          waiters.push(res);
          setTimeout(() => rej(new Error('no message within 5 s')), 5_000).unref();
        });
        const m = inbox.shift()!;
        return typeof m === 'string' ? JSON.parse(m) : { frame: m };
      };
      await new Promise((res) => ws.once('open', res));
      const send = (m: unknown) => ws.send(typeof m === 'string' ? m : JSON.stringify(m));
      const expectError = async (id: number, code: string, text?: RegExp) => {
        const m = await next();
        expect(m).toMatchObject({ type: 'error', id, code });
        if (text) expect(m.message).toMatch(text);
      };

      const hello = await next();
      expect(hello).toMatchObject({
        type: 'hello', protocol: 'metarl-bridge', version: 1, num: 5, maxEpisodeSteps: 100, binary: true,
        observationSpace: { low: ['-inf', '-inf'], high: ['inf', 'inf'], shape: [2] }, actionSpace: { low: [-0.1, -0.1], high: [0.1, 0.1], shape: [2] },
        tasks: { goal: { low: [-0.5, -0.5], high: [0.5, 0.5] } },
      });
      expect(hello.nonce).toBeUndefined();
      send({ type: 'reset', id: 1 });
      await expectError(1, 'bad_state', /before the handshake/);
      send('not json {');
      send({ type: 'welcome', protocol: 'metarl-bridge', version: 1, binary: false });
      send({ type: 'bogus', id: 2 });
      await expectError(2, 'unknown_type');
      const zeros = Array(10).fill(0);
      send({ type: 'step', id: 3, actions: zeros });
      await expectError(3, 'bad_state', /step before the first reset/);
      send({ type: 'step', id: 4, actions: 'x' });
      await expectError(4, 'bad_message', /^step\.actions: /);
      send({ type: 'set_tasks', id: 5, tasks: [{ goal: [0.9, 0] }, ...Array(4).fill({ goal: [0, 0] })] });
      await expectError(5, 'bad_request', /not in the announced task space/);
      send({ type: 'set_tasks', id: 6, tasks: [{ goal: [0.1, 0] }] });
      await expectError(6, 'bad_request', /got 1 tasks for 5 copies/);
      ws.send(encodeStepFrame(7, new Float32Array(10), 5, 2));
      await expectError(7, 'bad_state', /binary/);
      send({ type: 'set_tasks', id: 8, tasks: Array(5).fill({ goal: [0.2, -0.1] }) });
      expect(await next()).toEqual({ type: 'ok', id: 8 });
      send({ type: 'reset', id: 9, seed: 3 });
      expect(await next()).toEqual({ type: 'obs', id: 9, obs: zeros });
      send(`{"type":"step","id":10,"actions":[1e39${',0'.repeat(9)}]}`);
      await expectError(10, 'numeric', /inf/);
      send({ type: 'step', id: 11, actions: [3, 0, ...zeros.slice(2)] });
      expect(await next()).toMatchObject({ type: 'step_result', id: 11, terminated: Array(5).fill(false), truncated: Array(5).fill(false) });
      send({ type: 'welcome', protocol: 'metarl-bridge', version: 1, binary: false }); // no id: dropped
      send({ type: 'stop', id: 12 });
      expect(await next()).toEqual({ type: 'ok', id: 12 });
      send({ type: 'close' });
      expect(await closed).toBe(1000);
      expect(inbox).toEqual([]);
      expect(sim.proc.exitCode).toBeNull(); // still serving
    });

    afterAll(async () => {
      await stop(sim.proc);
      expect(sim.stderr()).not.toMatch(/Traceback/);
    });
  });

  describe('tokens (proved by HMAC, never sent)', () => {
    it('the agent dials: the right token is served, a wrong one refused', T, async () => {
      const sim = await listenAdapter(2, [], 'sesame');
      try {
        const env = await RemoteVectorEnv.connect(sim.url, { token: 'sesame' });
        expect(Array.from(await env.reset(1))).toEqual([0, 0, 0, 0]);
        await env.close();
        await expect(RemoteVectorEnv.connect(sim.url, { token: 'wrong' })).rejects.toThrow(/refused this agent: \[unauthorized\] agent presented a wrong token/);
        // No token: the agent's handshake is done at its welcome; the adapter hangs up (4001).
        const bare = await RemoteVectorEnv.connect(sim.url);
        await expect(bare.reset(1)).rejects.toThrow(/code 4001: agent presented no token/);
        await bare.close();
      } finally {
        await stop(sim.proc);
      }
    });

    it('the adapter dials an agent that listens (metarl serve), and exits when it is done', T, async () => {
      const server = await AgentServer.listen({ token: 'sesame' });
      try {
        const sim = runAdapter(['--connect', server.url, '--num', '3'], 'sesame');
        const env = await server.accept(15_000);
        expect([env.num, env.name]).toEqual([3, 'PointEnv×3']);
        await env.setTasks(Array(3).fill({ goal: [0.3, 0.3] }));
        await env.reset(5);
        const r = await env.step(new Float32Array(6).fill(0.1));
        expect(Array.from(r.obs)).toEqual(Array(6).fill(Math.fround(0.1)));
        await env.close();
        expect(await sim.exit).toBe(0);
        expect(sim.stderr()).toMatch(/done; 1 connections, 4 requests, 0 rejected/);

        const wrong = runAdapter(['--connect', server.url], 'wrong');
        expect(await wrong.exit).toBe(1);
        expect(wrong.stderr()).toMatch(/refused this simulator: \[unauthorized\]/);
      } finally {
        await server.close();
      }
    });
  });
});
