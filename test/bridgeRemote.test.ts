/**
 * metarl-bridge/1 over real loopback sockets: handshakes in both directions, lock-step results
 * bit-identical to the in-process navigation vector env (JSON and binary, n = 1 and 20), tokens,
 * versions, timeouts, disconnects, NaN from the simulator, local action checks, clean closing.
 */
import { lastValueFrom } from 'rxjs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { networkInterfaces } from 'node:os';
import WebSocket, { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { NumericError } from '../src/core/errors.ts';
import type { VectorStepResult } from '../src/core/env.ts';
import { make, makeVector } from '../envs/registry.ts';
import { rollout$, toEpisodes } from '../src/streams/rollout.ts';
import { RemoteVectorEnv } from '../src/bridge/remoteEnv.ts';
import { AgentServer } from '../src/bridge/agentServer.ts';
import { dialAgent, type SimulatorServer } from '../src/bridge/simServer.ts';
import { decodeFrame, encodeMessage, encodeStepResultFrame } from '../src/bridge/protocol.ts';
import { navSimOptions, startNavSim } from '../scripts/nav-sim.ts';

const T = { timeout: 20_000 };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function navSim(config: Parameters<typeof startNavSim>[0] = {}): Promise<SimulatorServer> {
  const sim = await startNavSim(config);
  cleanups.push(() => sim.close());
  return sim;
}

/** A scripted simulator: a raw WebSocket server that runs `onConnection` for each agent. */
async function fakeSim(onConnection: (ws: WebSocket) => void): Promise<{ url: string; wss: WebSocketServer }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((res) => wss.once('listening', res));
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    onConnection(ws);
  });
  cleanups.push(() => new Promise<void>((res) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => res());
  }));
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, wss };
}

/** The hello of a navigation simulator with `num` copies, as plain JSON. */
function navHello(num: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    type: 'hello', protocol: 'metarl-bridge', version: 1, num, observationSpace: { low: ['-inf', '-inf'], high: ['inf', 'inf'], shape: [2] },
    actionSpace: { low: [-0.1, -0.1], high: [0.1, 0.1], shape: [2] }, maxEpisodeSteps: 100, tasks: { goal: { low: [-0.5, -0.5], high: [0.5, 0.5] } }, ...extra,
  });
}

/** Heads for the goal with noise (so some copies terminate early and others run to the limit). */
function policy(goals: [number, number][], rng: Rng) {
  return (obs: Float32Array) => Float32Array.from({ length: obs.length }, (_, k) => {
    const i = k >> 1;
    return 0.6 * (goals[i][k & 1] - obs[k]) + 0.15 * rng.normal();
  });
}

function sameResult(a: VectorStepResult, b: VectorStepResult): boolean {
  const eq = (x: ArrayLike<number>, y: ArrayLike<number>) => x.length === y.length && Array.from(x).every((v, i) => Object.is(v, y[i]));
  return eq(a.obs, b.obs) && eq(a.reward, b.reward) && eq(a.terminated, b.terminated) && eq(a.truncated, b.truncated);
}

/** An IPv4 address of this machine other than loopback, if it has one. */
function externalIPv4(): string | undefined {
  return Object.values(networkInterfaces()).flat().find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
}

function socketCount(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

describe('handshake', () => {
  it('agent dials the simulator: spaces (±Infinity bounds), time limit, tasks and name arrive', T, async () => {
    const sim = await navSim({ num: 3 });
    expect(sim.host).toBe('127.0.0.1');
    const env = await RemoteVectorEnv.connect(sim.url);
    cleanups.push(() => env.close());
    expect(env.num).toBe(3);
    expect([...env.observationSpace.low, ...env.observationSpace.high]).toEqual([-Infinity, -Infinity, Infinity, Infinity]);
    expect([...env.actionSpace.high]).toEqual([0.1, 0.1]);
    expect(env.maxEpisodeSteps).toBe(100);
    const external = externalIPv4(); // the simulator binds 127.0.0.1 only as well
    if (external) await expect(RemoteVectorEnv.connect(`ws://${external}:${sim.port}`, { handshakeTimeoutMs: 2_000 })).rejects.toThrow(/cannot connect/);
    expect(env.name).toBe('navigation×3');
    expect(env.binary).toBe(true);
    expect(env.sampleTasks(5, new Rng(2))).toEqual(make('navigation').sampleTasks(5, new Rng(2)));
  });

  it('simulator dials the agent server (which binds 127.0.0.1 only)', T, async () => {
    const server = await AgentServer.listen();
    cleanups.push(() => server.close());
    expect(server.host).toBe('127.0.0.1');
    const session = dialAgent(server.url, navSimOptions({ num: 2 }));
    const env = await server.accept(5_000);
    expect(env.num).toBe(2);
    expect(await env.reset(1)).toEqual(new Float32Array(4));
    await env.close();
    expect((await session).code).toBe(1000);
    // Not reachable on another interface of this machine, where there is one.
    const external = externalIPv4();
    if (external) await expect(RemoteVectorEnv.connect(`ws://${external}:${server.port}`, { handshakeTimeoutMs: 2_000 })).rejects.toThrow(/cannot connect/);
  });

  it('names the URL when the connection is refused', T, async () => {
    const probe = await AgentServer.listen();
    const url = probe.url;
    await probe.close(); // nothing listens there now
    await expect(RemoteVectorEnv.connect(url)).rejects.toThrow(new RegExp(`cannot connect to ${url}.*ECONNREFUSED`));
  });

  it('times out a simulator that never says hello', T, async () => {
    const { url } = await fakeSim(() => {});
    const t0 = performance.now();
    await expect(RemoteVectorEnv.connect(url, { handshakeTimeoutMs: 300 })).rejects.toThrow(/handshake timeout: no valid hello from .* within 300 ms/);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it('refuses another protocol version, naming both, with close code 4002', T, async () => {
    let closeCode = 0;
    const { url } = await fakeSim((ws) => {
      ws.on('close', (code) => (closeCode = code));
      ws.send(navHello(1, { version: 2 }));
    });
    await expect(RemoteVectorEnv.connect(url)).rejects.toThrow(/version mismatch: .* speaks metarl-bridge\/2, this agent speaks metarl-bridge\/1/);
    const server = await AgentServer.listen();
    cleanups.push(() => server.close());
    const ws = new WebSocket(server.url);
    const refused = new Promise<{ msg: string; code: number }>((res) => {
      let msg = '';
      ws.on('message', (d) => (msg = d.toString()));
      ws.on('close', (code) => res({ msg, code }));
    });
    ws.on('open', () => ws.send(navHello(1, { version: 7 })));
    const r = await refused;
    expect(r.code).toBe(4002);
    expect(JSON.parse(r.msg)).toMatchObject({ type: 'refused', code: 'version', message: expect.stringMatching(/metarl-bridge\/7.*metarl-bridge\/1/) });
    expect(closeCode === 4002 || closeCode === 1006).toBe(true);
    expect(server.stats.refused).toBe(1);
  });

  it('accepts the right token and refuses a missing or wrong one, in both directions', T, async () => {
    const sim = await navSim({ num: 1, token: 's3cret' });
    const ok = await RemoteVectorEnv.connect(sim.url, { token: 's3cret' });
    expect(await ok.reset(0)).toHaveLength(2);
    await ok.close();
    // A hello without a nonce (a simulator without a token) is refused at once by an agent with one.
    const open = await navSim({ num: 1 });
    await expect(RemoteVectorEnv.connect(open.url, { token: 's3cret' })).rejects.toThrow(/presented no token/);
    // The simulator checks the dialling agent's proof and refuses a wrong one before proving itself.
    await expect(RemoteVectorEnv.connect(sim.url, { token: 'guess' })).rejects.toThrow(/presented a wrong token/);
    // An agent without a token has nothing to prove: the simulator hangs up with 4001, and the first call says why.
    const tokenless = await RemoteVectorEnv.connect(sim.url, { closeTimeoutMs: 300 });
    await expect(tokenless.reset(0)).rejects.toThrow(/code 4001: agent presented no token|not open/);
    await tokenless.close();
    expect(sim.stats.refused).toBe(2); // refusing the 'guess' agent and the token-less one

    const server = await AgentServer.listen({ token: 'tok' });
    cleanups.push(() => server.close());
    await expect(dialAgent(server.url, navSimOptions({ num: 1, token: 'nope' }))).rejects.toThrow(/refused this simulator: \[unauthorized\] .*wrong token/);
    await expect(dialAgent(server.url, navSimOptions({ num: 1 }))).rejects.toThrow(/presented no token/);
    expect(server.stats.refused).toBe(2);
    void dialAgent(server.url, navSimOptions({ num: 1, token: 'tok' })).catch(() => {});
    const env = await server.accept(5_000);
    expect(await env.reset(0)).toHaveLength(2);
  });
});

describe('scripts/nav-sim.ts as a process', () => {
  /** Runs the script with `args`; resolves with its exit code and stderr. */
  function runNavSim(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const script = fileURLToPath(new URL('../scripts/nav-sim.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    cleanups.push(() => child.exitCode === null && child.kill());
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((res) => child.once('exit', (code) => res({ code, stderr })));
  }

  it('--connect dials an agent server (token checked), serves it and exits 0 when the agent closes', T, async () => {
    const server = await AgentServer.listen({ token: 'tok' });
    cleanups.push(() => server.close());
    const refused = await runNavSim(['--connect', server.url, '--num', '2', '--token', 'bad']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused this simulator: \[unauthorized\]/);
    const run = runNavSim(['--connect', server.url, '--num', '2', '--token', 'tok']);
    const env = await server.accept(15_000);
    expect(env.num).toBe(2);
    expect(await env.reset(4)).toEqual(new Float32Array(4));
    await env.close();
    expect((await run).code).toBe(0);
  });
});

describe('lock-step results equal the in-process env', () => {
  it.each([
    [1, false, 'dial'], [1, true, 'dial'], [20, false, 'dial'], [20, true, 'dial'], [20, true, 'serve'], [20, false, 'serve'],
  ] as const)('n = %i, binary %s, agent %s: obs, rewards, terminated and truncated bit for bit', T, async (n, binary, direction) => {
    let remote: RemoteVectorEnv;
    if (direction === 'dial') {
      remote = await RemoteVectorEnv.connect((await navSim({ num: n })).url, { binary });
    } else {
      const server = await AgentServer.listen({ binary });
      cleanups.push(() => server.close());
      void dialAgent(server.url, navSimOptions({ num: n })).catch(() => {});
      remote = await server.accept(5_000);
    }
    cleanups.push(() => remote.close());
    expect(remote.binary).toBe(binary);
    const local = makeVector('navigation', n);
    let terminatedSeen = 0;
    for (const episode of [0, 1]) {
      const tasks = remote.sampleTasks(n, new Rng(10 + episode)) as { goal: [number, number] }[];
      void remote.setTasks(tasks); // not awaited on purpose: requests are queued in order
      local.setTasks(tasks);
      const seed = 1234 + episode;
      expect(Array.from(await remote.reset(seed))).toEqual(Array.from(local.reset(seed)));
      const actRemote = policy(tasks.map((t) => t.goal), new Rng(episode));
      const actLocal = policy(tasks.map((t) => t.goal), new Rng(episode));
      let obsR: Float32Array = new Float32Array(2 * n);
      let obsL: Float32Array = new Float32Array(2 * n);
      for (let t = 0; t < 100; t++) {
        const r = await remote.step(actRemote(obsR));
        const l = local.step(actLocal(obsL));
        if (!sameResult(r, l)) throw new Error(`episode ${episode} step ${t} differs`);
        terminatedSeen += l.terminated.reduce((a, b) => a + b, 0);
        obsR = r.obs;
        obsL = l.obs;
      }
    }
    if (n === 20) expect(terminatedSeen).toBeGreaterThan(0); // the kept-rows path was exercised
    expect(remote.stats.clippedActions).toBeGreaterThan(0);
    expect(remote.stats.rejected).toBe(0);
  });

  it('rollout$ / toEpisodes give the same EpisodeBatch remotely and in-process', T, async () => {
    const n = 20;
    const remote = await RemoteVectorEnv.connect((await navSim({ num: n })).url);
    cleanups.push(() => remote.close());
    const local = makeVector('navigation', n);
    const tasks = remote.sampleTasks(n, new Rng(5)) as { goal: [number, number] }[];
    await remote.setTasks(tasks);
    local.setTasks(tasks);
    const goals = tasks.map((t) => t.goal);
    const collect = (env: typeof local | RemoteVectorEnv) =>
      lastValueFrom(rollout$(env, policy(goals, new Rng(9)), { seed: 77 }).pipe(toEpisodes(n, 100, 2, 2)));
    const [a, b] = [await collect(remote), await collect(local)];
    expect(Array.from(a.obs)).toEqual(Array.from(b.obs));
    expect(Array.from(a.actions)).toEqual(Array.from(b.actions));
    expect(Array.from(a.rewards)).toEqual(Array.from(b.rewards));
    expect(Array.from(a.lengths)).toEqual(Array.from(b.lengths));
    expect(Array.from(a.terminated)).toEqual(Array.from(b.terminated));
    expect(Array.from(a.finalObs)).toEqual(Array.from(b.finalObs));
  });
});

describe('failures', () => {
  it('a silent simulator makes a call reject within its timeout, and the env stays failed', T, async () => {
    const { url } = await fakeSim((ws) => ws.send(navHello(2)));
    const env = await RemoteVectorEnv.connect(url, { callTimeoutMs: 300, closeTimeoutMs: 200 });
    cleanups.push(() => env.close());
    const t0 = performance.now();
    await expect(env.reset(1)).rejects.toThrow(/reset #1: no reply from ws:\/\/127\.0\.0\.1:\d+ within 300 ms/);
    expect(performance.now() - t0).toBeLessThan(1_500);
    await expect(env.reset(1)).rejects.toThrow(/no reply/);
  });

  it('a disconnect mid-episode rejects the pending calls with a clear error', T, async () => {
    const { url } = await fakeSim((ws) => {
      ws.send(navHello(2));
      let steps = 0;
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString());
        if (m.type === 'reset') ws.send(encodeMessage({ type: 'obs', id: m.id, obs: [0, 0, 0, 0] }));
        if (m.type === 'step' && ++steps === 3) ws.terminate();
        else if (m.type === 'step') ws.send(encodeMessage({ type: 'step_result', id: m.id, obs: [0, 0, 0, 0], reward: [0, 0], terminated: [false, false], truncated: [false, false] }));
      });
    });
    const env = await RemoteVectorEnv.connect(url, { binary: false, closeTimeoutMs: 200 });
    cleanups.push(() => env.close());
    await env.reset(0);
    await env.step(new Float32Array(4));
    await env.step(new Float32Array(4));
    await expect(env.step(new Float32Array(4))).rejects.toThrow(/step #4: connection to ws:\/\/127\.0\.0\.1:\d+ closed \(code 1006\)/);
    expect(env.stats.interruptedEpisodes).toBe(1);
    await expect(env.reset(0)).rejects.toThrow(/closed/);
  });

  it('NaN from the simulator is a NumericError for that call (JSON null and binary NaN)', T, async () => {
    const { url } = await fakeSim((ws) => {
      ws.send(navHello(1, { binary: true }));
      ws.on('message', (data, isBinary) => {
        if (isBinary) {
          const f = decodeFrame(data as Buffer);
          if (f.ok) ws.send(encodeStepResultFrame(f.frame.id, { obs: new Float32Array(2), reward: new Float32Array([NaN]), terminated: new Uint8Array(1), truncated: new Uint8Array(1) }, 1, 2));
          return;
        }
        const m = JSON.parse(data.toString());
        if (m.type === 'reset') ws.send(`{"type":"obs","id":${m.id},"obs":[${m.seed === 1 ? 'null' : '0'},0]}`);
        if (m.type === 'step') ws.send(`{"type":"step_result","id":${m.id},"obs":[0,0],"reward":[null],"terminated":[false],"truncated":[false]}`);
      });
    });
    for (const binary of [false, true]) {
      const env = await RemoteVectorEnv.connect(url, { binary, closeTimeoutMs: 200 });
      cleanups.push(() => env.close());
      expect(env.binary).toBe(binary);
      await expect(env.reset(1)).rejects.toThrow(NumericError);
      await env.reset(2); // only that call failed
      const step = env.step(new Float32Array(2));
      await expect(step).rejects.toThrow(NumericError);
      await expect(step).rejects.toThrow(/reward from .* contains NaN/);
    }
  });

  it('refuses bad actions locally, clips the rest, and reports an unawaited failed setTasks', T, async () => {
    const sim = await navSim({ num: 2 });
    const env = await RemoteVectorEnv.connect(sim.url);
    cleanups.push(() => env.close());
    await expect(env.step(new Float32Array(4))).rejects.toThrow(/call reset\(\) before the first step/);
    await env.reset(0);
    const before = sim.stats.requests;
    await expect(env.step(new Float32Array(3))).rejects.toThrow(/expected 4 action entries \(2 × 2\), got 3/);
    await expect(env.step(new Float32Array([0, NaN, 0, 0]))).rejects.toThrow(NumericError);
    await expect(env.step(new Float32Array([0, 0, Infinity, 0]))).rejects.toThrow(/action entry 2 \(copy 1\) is Infinity/);
    expect(sim.stats.requests).toBe(before); // nothing was sent
    await env.step(new Float32Array([5, -5, 0.05, 0]));
    expect(env.stats.clippedActions).toBe(2);
    void env.setTasks([{ goal: [9, 9] }, { goal: [0, 0] }]); // out of range: the simulator refuses it
    await expect(env.reset(0)).rejects.toThrow(/set_tasks #\d+: .*answered error \[bad_request\].*task\.goal/);
    await expect(env.setTasks([{ goal: [0.1, 0.1] }])).rejects.toThrow(/got 1 tasks for 2 envs/);
    await env.setTasks([{ goal: [0.1, 0.1] }, { goal: [0.2, 0.2] }]);
    expect(await env.reset(0)).toHaveLength(4);
  });

  it('refuses locally a request over the size limit, and the env stays usable', T, async () => {
    const sim = await navSim({ num: 20 });
    const env = await RemoteVectorEnv.connect(sim.url, { binary: false, maxMessageBytes: 600 });
    cleanups.push(() => env.close());
    await env.reset(0);
    const big = Float32Array.from({ length: 40 }, (_, i) => 0.0123456789 * ((i % 7) - 3));
    await expect(env.step(big)).rejects.toThrow(/step #\d+: message of \d+ bytes exceeds the limit of 600/);
    const r = await env.step(new Float32Array(40));
    expect(Array.from(r.obs)).toEqual(new Array(40).fill(0));
  });

  it('close() sends stop and leaves no open sockets; server.close() closes accepted envs', T, async () => {
    const baseline = socketCount();
    const sim = await navSim({ num: 2 });
    const env = await RemoteVectorEnv.connect(sim.url);
    await env.reset(0);
    await env.close();
    await env.close(); // twice is fine
    expect(env.stats.stops).toBe(1);
    expect(sim.stats.stops).toBe(1);
    await expect(env.reset(0)).rejects.toThrow(/closed/);
    const server = await AgentServer.listen();
    void dialAgent(server.url, navSimOptions({ num: 1 })).catch(() => {});
    const accepted = await server.accept(5_000);
    await accepted.reset(3);
    await server.close();
    await sim.close();
    await expect(accepted.reset(3)).rejects.toThrow(/closed/);
    for (let i = 0; i < 50 && socketCount() > baseline; i++) await new Promise((r) => setTimeout(r, 20));
    expect(socketCount()).toBe(baseline);
    expect(sim.connectionCount).toBe(0);
    expect(server.connectionCount).toBe(0);
  });
});
