/**
 * metarl-bridge/1 token authentication and peer text over real loopback sockets (issue 12): a
 * secret never reaches an unauthenticated peer in either direction (hello and welcome carry
 * nonces, proofs are HMAC-SHA256 as docs/bridge-protocol.md §2 specifies, and the listening side
 * proves only after the dialling side did); peers that still send tokens in clear text are refused
 * saying why; names, error texts and refusal reasons from a peer are sanitized before they reach
 * error messages.
 */
import { createHmac } from 'node:crypto';
import WebSocket, { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteVectorEnv } from '../src/bridge/remoteEnv.ts';
import { AgentServer } from '../src/bridge/agentServer.ts';
import { dialAgent } from '../src/bridge/simServer.ts';
import { navSimOptions, startNavSim } from '../scripts/nav-sim.ts';

const T = { timeout: 20_000 };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ESC = '\u001b';

/** The proof exactly as the protocol document writes it, computed independently of src/bridge/auth.ts. */
const hmac = (token: string, role: string, helloNonce: string, welcomeNonce: string) =>
  createHmac('sha256', token).update(`metarl-bridge/1 auth ${role} ${helloNonce} ${welcomeNonce}`).digest('hex');
const NONCE = 'ab'.repeat(32);
const WELCOME = { type: 'welcome', protocol: 'metarl-bridge', version: 1, binary: false };

function navHello(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    type: 'hello', protocol: 'metarl-bridge', version: 1, num: 1, observationSpace: { low: ['-inf', '-inf'], high: ['inf', 'inf'], shape: [2] },
    actionSpace: { low: [-0.1, -0.1], high: [0.1, 0.1], shape: [2] }, maxEpisodeSteps: 100, tasks: { goal: { low: [-0.5, -0.5], high: [0.5, 0.5] } }, ...extra,
  });
}

/** A raw peer dialling `url`: every text it receives, in order; `next()` reads the next one (waiting for it). */
async function rawPeer(url: string) {
  const ws = new WebSocket(url);
  const texts: string[] = [];
  let wake = () => {};
  ws.on('error', () => {});
  ws.on('message', (d) => {
    texts.push(d.toString());
    wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((res) => ws.once('close', (code, r) => res({ code, reason: r.toString() })));
  await new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  });
  let read = 0;
  const next = async (): Promise<Record<string, unknown>> => {
    while (texts.length === read) await new Promise<void>((res) => (wake = res));
    return JSON.parse(texts[read++]);
  };
  return { ws, texts, closed, next };
}

/** A raw simulator server running `script` on each agent connection. */
async function rawSim(script: (ws: WebSocket) => void): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((res) => wss.once('listening', res));
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    script(ws);
  });
  cleanups.push(() => new Promise<void>((res) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => res());
  }));
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
}

describe('the token never reaches an unauthenticated peer', () => {
  it('a listening simulator sends a nonce, not its token, and proves itself only to an agent that proved first', T, async () => {
    const sim = await startNavSim({ num: 1, token: 's3cret' });
    cleanups.push(() => sim.close());
    // A stranger learns nothing derived from the token: its bogus proof is refused, and no proof comes back.
    const stranger = await rawPeer(sim.url);
    const hello = await stranger.next();
    expect(hello).toMatchObject({ type: 'hello', nonce: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(hello.token).toBeUndefined();
    stranger.ws.send(JSON.stringify({ ...WELCOME, nonce: NONCE }));
    stranger.ws.send(JSON.stringify({ type: 'auth', proof: hmac('guess', 'agent', hello.nonce as string, NONCE) }));
    expect(await stranger.closed).toMatchObject({ code: 4001 });
    expect(stranger.texts.map((t) => JSON.parse(t).type)).toEqual(['hello', 'error']);
    expect(stranger.texts.join('')).not.toContain('s3cret');
    // An agent that knows the token, following the document: proof first, then the simulator's proof, then requests.
    const agent = await rawPeer(sim.url);
    const h = await agent.next();
    agent.ws.send(JSON.stringify({ ...WELCOME, nonce: NONCE }));
    agent.ws.send(JSON.stringify({ type: 'auth', proof: hmac('s3cret', 'agent', h.nonce as string, NONCE) }));
    expect(await agent.next()).toEqual({ type: 'auth', proof: hmac('s3cret', 'simulator', h.nonce as string, NONCE) });
    agent.ws.send(JSON.stringify({ type: 'reset', id: 1, seed: 0 }));
    expect(await agent.next()).toEqual({ type: 'obs', id: 1, obs: [0, 0] });
    agent.ws.close();
  });

  it('a listening agent sends a nonce, not its token, and proves itself only to a simulator that proved first', T, async () => {
    const server = await AgentServer.listen({ token: 'Qx7-secret', closeTimeoutMs: 200 });
    cleanups.push(() => server.close());
    const stranger = await rawPeer(server.url);
    stranger.ws.send(navHello({ nonce: NONCE }));
    const welcome = await stranger.next();
    expect(welcome).toMatchObject({ type: 'welcome', nonce: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(welcome.token).toBeUndefined();
    await sleep(100);
    expect(stranger.texts).toHaveLength(1); // no proof of the agent's before the simulator's
    stranger.ws.send(JSON.stringify({ type: 'auth', proof: hmac('guess', 'simulator', NONCE, welcome.nonce as string) }));
    expect(await stranger.next()).toMatchObject({ type: 'refused', code: 'unauthorized', message: expect.stringMatching(/presented a wrong token/) });
    expect((await stranger.closed).code).toBe(4001);
    expect(stranger.texts.join('')).not.toContain('Qx7-secret');
    // A simulator with the token: its proof, then the agent's, then requests.
    const sim = await rawPeer(server.url);
    sim.ws.send(navHello({ nonce: NONCE }));
    const w = await sim.next();
    const accepted = server.accept(5_000);
    sim.ws.send(JSON.stringify({ type: 'auth', proof: hmac('Qx7-secret', 'simulator', NONCE, w.nonce as string) }));
    expect(await sim.next()).toEqual({ type: 'auth', proof: hmac('Qx7-secret', 'agent', NONCE, w.nonce as string) });
    const env = await accepted;
    void env.reset(3).catch(() => {});
    expect(await sim.next()).toEqual({ type: 'reset', id: 1, seed: 3 });
    expect(server.stats.refused).toBe(1);
  });

  it('peers that send a token in clear text (the old handshake) are refused, saying why', T, async () => {
    const server = await AgentServer.listen({ token: 'tok' });
    cleanups.push(() => server.close());
    const old = await rawPeer(server.url);
    old.ws.send(navHello({ token: 'tok' }));
    expect(await old.next()).toMatchObject({ type: 'refused', code: 'unauthorized', message: expect.stringMatching(/sent its token in clear text/) });
    const sim = await startNavSim({ num: 1, token: 'tok' });
    cleanups.push(() => sim.close());
    const oldAgent = await rawPeer(sim.url);
    await oldAgent.next();
    oldAgent.ws.send(JSON.stringify({ ...WELCOME, token: 'tok' }));
    expect(await oldAgent.next()).toMatchObject({ type: 'error', code: 'unauthorized', message: expect.stringMatching(/agent sent its token in clear text/) });
  });

  it('the reference implementations authenticate each other in both directions, and refuse a wrong token', T, async () => {
    const sim = await startNavSim({ num: 1, token: 'k' });
    cleanups.push(() => sim.close());
    const env = await RemoteVectorEnv.connect(sim.url, { token: 'k' });
    expect(await env.reset(0)).toHaveLength(2);
    await env.close();
    await expect(RemoteVectorEnv.connect(sim.url, { token: 'j' })).rejects.toThrow(/refused this agent: \[unauthorized\] agent presented a wrong token/);
    const server = await AgentServer.listen({ token: 'k' });
    cleanups.push(() => server.close());
    void dialAgent(server.url, navSimOptions({ num: 1, token: 'k' })).catch(() => {});
    const served = await server.accept(5_000);
    expect(await served.reset(0)).toHaveLength(2);
    await expect(dialAgent(server.url, navSimOptions({ num: 1, token: 'j' }))).rejects.toThrow(/refused this simulator: \[unauthorized\] .*presented a wrong token/);
  });
});

describe('text from a peer is sanitized before it reaches an error message', () => {
  it("a simulator's name, error replies, error without id and close reason", T, async () => {
    const url = await rawSim((ws) => {
      ws.send(navHello({ name: `sim${ESC}[2J${ESC}]0;pwned\u0007\rdone` }));
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString());
        if (m.type === 'reset') ws.send(JSON.stringify({ type: 'error', id: m.id, code: `x${ESC}[31m`, message: `failed\r${ESC}[1Aall good\u202e` }));
        if (m.type === 'set_tasks') {
          ws.send(JSON.stringify({ type: 'error', code: 'sim_error', message: `${ESC}c` }));
          ws.close(1011, `bye${ESC}[2J\n`);
        }
      });
    });
    const env = await RemoteVectorEnv.connect(url, { closeTimeoutMs: 200, stopOnShutdown: false });
    cleanups.push(() => env.close());
    expect(env.name).toBe('sim\\x1b[2J\\x1b]0;pwned\\x07\\x0ddone');
    const err = await env.reset(0).then(() => null, (e: Error) => e.message);
    expect(err).toMatch(/answered error \[x\\x1b\[31m\]: failed\\x0d\\x1b\[1Aall good\\u202e/);
    await env.setTasks([{ goal: [0, 0] }]).catch(() => {});
    await sleep(100);
    expect(env.lastRemoteError).toEqual({ code: 'sim_error', message: '\\x1bc' });
    const closed = await env.reset(0).then(() => '', (e: Error) => e.message);
    expect(closed).toMatch(/closed \(code 1011: bye\\x1b\[2J\\x0a\)/);
    for (const text of [env.name, err!, closed, env.lastRemoteError!.message]) expect(text).not.toMatch(/[\u0000-\u001f\u202e]/);
  });

  it("an agent's refusal reason, and a foreign protocol name, reach the other side escaped", T, async () => {
    const agent = await (async () => {
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      await new Promise((res) => wss.once('listening', res));
      wss.on('connection', (ws) => {
        ws.on('error', () => {});
        ws.once('message', () => ws.send(JSON.stringify({ type: 'refused', code: 'version', message: `no\r${ESC}[32mOK: training done` })));
      });
      cleanups.push(() => new Promise<void>((res) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => res());
      }));
      return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    })();
    const refusal = await dialAgent(agent, navSimOptions({ num: 1 })).then(() => '', (e: Error) => e.message);
    expect(refusal).toMatch(/refused this simulator: \[version\] no\\x0d\\x1b\[32mOK: training done/);
    const server = await AgentServer.listen();
    cleanups.push(() => server.close());
    const foreign = await rawPeer(server.url);
    foreign.ws.send(JSON.stringify({ type: 'hello', protocol: `evil${ESC}[2J`, version: 1 }));
    expect((await foreign.closed).code).toBe(4002);
    expect(server.stats.lastRefusal).toMatch(/speaks evil\\x1b\[2J\/1/);
  });
});
