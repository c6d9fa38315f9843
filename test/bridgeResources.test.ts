/**
 * Resource attacks on metarl-bridge/1 over real loopback sockets (issue 12): a hello announcing
 * sizes beyond the memory budget or the message limit is refused before anything is allocated, in
 * both directions; simulators that connect and leave, queued, refused or mid-handshake, leave
 * nothing behind in the agent server (process hooks, queue, sockets, memory); a listening
 * simulator builds no env for connections that did not complete the handshake, and drops an agent
 * that does not read its replies.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteVectorEnv } from '../src/bridge/remoteEnv.ts';
import { AgentServer } from '../src/bridge/agentServer.ts';
import { serveSimulator } from '../src/bridge/simServer.ts';
import { navSimOptions, startNavSim } from '../scripts/nav-sim.ts';
import { authProof, newNonce } from '../src/bridge/auth.ts';

const T = { timeout: 30_000 };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (() => void) | undefined;
/** JS heap and array buffers (typed arrays live outside the heap), after forced GCs where possible. */
function memoryInUse(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: () => boolean, ms = 5_000): Promise<void> {
  for (const t0 = performance.now(); !what() && performance.now() - t0 < ms;) await sleep(10);
}

/** A hello with `obs` observation and `act` action entries, as JSON text. */
function hello(num: number, extra: Record<string, unknown> = {}, obs = 2, act = 2): string {
  const box = (k: number, b: number) => ({ low: new Array(k).fill(-b), high: new Array(k).fill(b), shape: [k] });
  return JSON.stringify({
    type: 'hello', protocol: 'metarl-bridge', version: 1, num, observationSpace: box(obs, 1), actionSpace: box(act, 0.1),
    maxEpisodeSteps: 100, tasks: { goal: { low: [-0.5, -0.5], high: [0.5, 0.5] } }, binary: true, ...extra,
  });
}

/** A raw peer: dials `url`, records every text message; `closed` resolves to the close code. */
async function rawPeer(url: string) {
  const ws = new WebSocket(url);
  const texts: string[] = [];
  ws.on('error', () => {});
  ws.on('message', (d, isBinary) => !isBinary && texts.push(d.toString()));
  const closed = new Promise<number>((res) => ws.once('close', (code) => res(code)));
  await new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  });
  return { ws, texts, closed };
}

/** A raw simulator server: sends `text` as its hello to each agent; records what agents send. */
async function helloServer(text: string) {
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((res) => wss.once('listening', res));
  const got: { texts: string[]; code: number }[] = [];
  wss.on('connection', (ws) => {
    const rec = { texts: [] as string[], code: 0 };
    got.push(rec);
    ws.on('error', () => {});
    ws.on('message', (d) => rec.texts.push(d.toString()));
    ws.on('close', (code) => (rec.code = code));
    ws.send(text);
  });
  cleanups.push(() => new Promise<void>((res) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => res());
  }));
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, got };
}

describe('announced sizes are checked against a budget before anything is allocated', () => {
  const huge = hello(400, { maxEpisodeSteps: 1e7 }, 16, 2);
  const line = 'hello: num 400 × maxEpisodeSteps 10000000 × 26 floats needs 416 GB of episode buffers; allowed 2 GiB (maxEpisodeBufferBytes)';

  it('agent dials: connect rejects with one clear line, and the simulator gets `refused` (too_large, 4003)', T, async () => {
    const sim = await helloServer(huge);
    await expect(RemoteVectorEnv.connect(sim.url)).rejects.toThrow(line);
    await until(() => sim.got[0]?.code !== 0);
    expect(JSON.parse(sim.got[0].texts[0])).toEqual({ type: 'refused', code: 'too_large', message: expect.stringContaining(line) });
    expect(sim.got[0].code).toBe(4003);
  });

  it('simulator dials: the agent server refuses it, queues nothing and keeps listening', T, async () => {
    const server = await AgentServer.listen();
    cleanups.push(() => server.close());
    const peer = await rawPeer(server.url);
    peer.ws.send(huge);
    expect(await peer.closed).toBe(4003);
    expect(JSON.parse(peer.texts[0])).toMatchObject({ type: 'refused', code: 'too_large', message: expect.stringContaining(line) });
    expect(server.stats.refused).toBe(1);
    expect(server.stats.lastRefusal).toContain(line);
    expect(server.queuedCount).toBe(0);
    // The budget is an option; per-message sizes are held to maxMessageBytes the same way.
    const small = await AgentServer.listen({ maxEpisodeBufferBytes: 1_000 });
    cleanups.push(() => small.close());
    const nav = await rawPeer(small.url);
    nav.ws.send(hello(2));
    expect(await nav.closed).toBe(4003);
    expect(small.stats.lastRefusal).toMatch(/num 2 × maxEpisodeSteps 100 × 12 floats needs 9.6 kB of episode buffers; allowed 1 kB \(maxEpisodeBufferBytes\)/);
    const wide = await rawPeer(server.url);
    wide.ws.send(hello(4096, { maxEpisodeSteps: 1 }, 100, 1));
    expect(await wide.closed).toBe(4003);
    expect(server.stats.lastRefusal).toMatch(/a step_result for num 4096 × 100 observation entries takes 1.66 MB as a binary frame; messages are limited to 1 MiB \(maxMessageBytes\)/);
    // A hello that fits is still accepted.
    const ok = await rawPeer(server.url);
    ok.ws.send(hello(2));
    const env = await server.accept(5_000);
    expect(env.num).toBe(2);
    ok.ws.terminate();
  });
});

describe('the agent server releases what a simulator held when it leaves', () => {
  it('connect / leave cycles (queued, refused, mid-handshake) keep hooks, queue, sockets and memory flat', T, async () => {
    const server = await AgentServer.listen({ closeTimeoutMs: 200 });
    cleanups.push(() => server.close());
    const events = ['exit', 'SIGINT', 'SIGTERM', 'uncaughtExceptionMonitor'] as const;
    const hooks = () => events.map((e) => process.listenerCount(e));
    // Large spaces: each queued env holds num × 30,000 observation entries, its Boxes and its hello.
    const big = hello(8, {}, 30_000, 1);
    const cycle = async (i: number) => {
      const peer = await rawPeer(server.url);
      if (i % 3 === 0) peer.ws.send(big); // handshake completes: queued, then the simulator leaves
      else if (i % 3 === 1) peer.ws.send(hello(2, { version: 9 })); // refused
      // else: leaves in the middle of its handshake, before any hello
      if (i % 3 !== 2) await until(() => peer.texts.length > 0, 2_000);
      peer.ws.terminate();
      await peer.closed;
    };
    for (let i = 0; i < 30; i++) await cycle(i); // warm-up: lazy module state, ws pools
    await until(() => server.connectionCount === 0);
    const hooksBefore = hooks();
    const memBefore = memoryInUse();
    const cycles = 240;
    for (let i = 0; i < cycles; i++) await cycle(i);
    await until(() => server.connectionCount === 0);
    await sleep(50);
    const grown = memoryInUse() - memBefore;
    console.log(`agent server: ${cycles} connect/leave cycles, memory ${(grown / 1e6).toFixed(1)} MB (${gc ? 'after gc' : 'no gc'}), process hooks ${hooksBefore} → ${hooks()}`);
    expect(hooks()).toEqual(hooksBefore);
    expect(server.queuedCount).toBe(0);
    expect(server.connectionCount).toBe(0);
    expect(server.stats.connections).toBe(30 + cycles);
    // 80 queued envs of ~1.5 MB each would be 120 MB if kept.
    expect(grown).toBeLessThan((gc ? 24 : 96) * 1024 * 1024);
  });
});

describe('the simulator side builds envs only for authenticated agents and bounds what it buffers', () => {
  it('idle, token-less and wrong-token connections build no env; one honest agent builds one', T, async () => {
    let built = 0;
    const opts = navSimOptions({ num: 20, token: 'tok', welcomeTimeoutMs: 500 });
    const sim = await serveSimulator({ ...opts, makeEnv: () => (built++, opts.makeEnv()) });
    cleanups.push(() => sim.close());
    const builtAtListen = built; // what the hello announces is read once
    expect(builtAtListen).toBeLessThanOrEqual(1);
    const peers = await Promise.all(Array.from({ length: 60 }, () => rawPeer(sim.url)));
    for (const [i, p] of peers.entries()) {
      if (i % 3 === 0) continue; // idle: never answers the hello
      await until(() => p.texts.length > 0, 2_000);
      const h = JSON.parse(p.texts[0]);
      expect(h.token).toBeUndefined();
      const welcome = { type: 'welcome', protocol: 'metarl-bridge', version: 1, binary: true };
      if (i % 3 === 1) p.ws.send(JSON.stringify(welcome)); // no token
      else {
        const nonce = newNonce();
        p.ws.send(JSON.stringify({ ...welcome, nonce }));
        p.ws.send(JSON.stringify({ type: 'auth', proof: authProof('guess', 'agent', h.nonce, nonce) }));
      }
    }
    const codes = await Promise.all(peers.map((p) => p.closed));
    expect(codes.filter((c) => c === 4001)).toHaveLength(40);
    expect(codes.filter((c) => c === 4003)).toHaveLength(20); // the idle ones, at the welcome timeout
    expect(built).toBe(builtAtListen);
    expect(sim.stats.envsBuilt).toBe(0);
    const env = await RemoteVectorEnv.connect(sim.url, { token: 'tok' });
    expect(await env.reset(1)).toHaveLength(40);
    await env.close();
    expect(built).toBe(builtAtListen + 1);
  });

  it('drops an agent that does not read its replies once they pass maxBufferedBytes', T, async () => {
    const sim = await startNavSim({ num: 4000, maxBufferedBytes: 2 * 1024 * 1024 });
    cleanups.push(() => sim.close());
    const rssBefore = process.memoryUsage().rss;
    const peer = await rawPeer(sim.url);
    await until(() => peer.texts.length > 0);
    peer.ws.send(JSON.stringify({ type: 'welcome', protocol: 'metarl-bridge', version: 1, binary: true }));
    peer.ws.pause(); // reads nothing from now on
    // Each reset is answered with a 32 kB obs frame: 2,000 of them are 64 MB nobody reads.
    for (let i = 1; i <= 2_000; i++) peer.ws.send(JSON.stringify({ type: 'reset', id: i, seed: i }));
    await until(() => sim.stats.slowReaders > 0 || sim.connectionCount === 0);
    await until(() => sim.connectionCount === 0);
    const grown = process.memoryUsage().rss - rssBefore;
    console.log(`simulator: non-reading agent dropped after ${sim.stats.requests} replies; rss +${(grown / 1e6).toFixed(1)} MB`);
    expect(sim.stats.slowReaders).toBe(1);
    expect(sim.connectionCount).toBe(0);
    expect(sim.stats.requests).toBeLessThan(2_000);
    peer.ws.terminate();
  });
});
