/**
 * Hostile-peer soak of metarl-bridge/1 (run by hand, not in CI): an AgentServer and a listening
 * nav-sim, each in its own child process, take > 10,000 malformed or out-of-place messages each
 * (random bytes, cut JSON, wrong types, huge numbers, unknown types and ids, bad frames, bad
 * proofs) before the hello, during authentication and after it, and the resource attacks of issue
 * 12: hellos announcing absurd sizes, oversized messages, connect/leave cycles, idle connections,
 * and an agent that never reads its replies. Then each server's RSS before and after (after a
 * forced GC, and its peak) and whether it still serves an honest peer.
 *
 *   npx tsx scripts/hostile-bridge.ts [--cycles 2000] [--idle 500] [--messages 4000]
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { Rng } from '../src/core/rng.ts';
import { AgentServer } from '../src/bridge/agentServer.ts';
import { RemoteVectorEnv } from '../src/bridge/remoteEnv.ts';
import { dialAgent } from '../src/bridge/simServer.ts';
import { authProof, newNonce } from '../src/bridge/auth.ts';
import { encodeStepFrame, encodeStepResultFrame } from '../src/bridge/protocol.ts';
import { navSimOptions, startNavSim } from './nav-sim.ts';

/** One random token for this run, handed to the child processes. */
const TOKEN = process.env.HOSTILE_BRIDGE_TOKEN ?? `soak-${newNonce().slice(0, 16)}`;
const NUM = 400; // the simulator's copies: a reset answer is a 3.2 kB frame
type Msg = string | Uint8Array;
type Report = { rss: number; maxRss: number; heap: number; connections: number; stats: Record<string, number | string> };

// ── child: one server, measured and probed on request ─────────────────────────────────────────
async function child(kind: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const agent = kind === 'agent' ? await AgentServer.listen({ token: TOKEN, handshakeTimeoutMs: 2_000, closeTimeoutMs: 300 }) : null;
  const sim = kind === 'sim' ? await startNavSim({ num: NUM, token: TOKEN, welcomeTimeoutMs: 2_000 }) : null;
  const server = (agent ?? sim)!;
  process.send!({ url: server.url });
  process.on('message', async (m: { cmd: string }) => {
    if (m.cmd === 'measure') {
      gc();
      gc();
      const u = process.memoryUsage();
      const report: Report = { rss: u.rss, maxRss: process.resourceUsage().maxRSS * 1024, heap: u.heapUsed + u.arrayBuffers, connections: server.connectionCount, stats: { ...server.stats } };
      process.send!(report);
    } else if (m.cmd === 'accept' && agent) {
      const env = await agent.accept(10_000).catch(() => null);
      const obs = await env?.reset(1).catch(() => null);
      await env?.close();
      process.send!({ ok: obs?.length === 4 });
    } else if (m.cmd === 'exit') {
      await server.close();
      process.exit(0);
    }
  });
}

// ── hostile traffic ─────────────────────────────────────────────────────────────────────────────
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];
const HOSTILE_VALUES: unknown[] = [null, true, {}, [], 'x', -1, 0, 1.5, '1', [null], 2 ** 53, 'inf', 'é'.repeat(50), '\u001b[2J'];
const hello = (extra: Record<string, unknown> = {}, obs = 2) => ({
  type: 'hello', protocol: 'metarl-bridge', version: 1, num: 2, observationSpace: { low: new Array(obs).fill(-1), high: new Array(obs).fill(1), shape: [obs] },
  actionSpace: { low: [-0.1, -0.1], high: [0.1, 0.1], shape: [2] }, maxEpisodeSteps: 100, tasks: { goal: { low: [-0.5, -0.5], high: [0.5, 0.5] } }, binary: true, ...extra,
});
const TEMPLATES: Record<string, unknown>[] = [
  hello(), { type: 'welcome', protocol: 'metarl-bridge', version: 1, binary: true }, { type: 'auth', proof: 'ab'.repeat(32) }, { type: 'ok', id: 3 },
  { type: 'step', id: 4, actions: [0, 0, 0, 0] }, { type: 'set_tasks', id: 2, tasks: [{}] }, { type: 'reset', id: 5, seed: 1 }, { type: 'error', id: 6, code: 'x', message: 'y' },
  { type: 'step_result', id: 7, obs: [0, 0, 0, 0], reward: [0, 0], terminated: [false, false], truncated: [false, false] }, { type: 'refused', code: 'x', message: 'y' },
];

/** One message nobody should accept where it arrives (or a valid one out of place: unknown id, wrong proof). */
function hostile(rng: Rng): Msg {
  const t = pick(rng, TEMPLATES);
  switch (rng.int(9)) {
    case 0:
      return Uint8Array.from({ length: rng.int(80) }, () => rng.int(256));
    case 1:
      return Array.from({ length: 1 + rng.int(60) }, () => pick(rng, [...'{}[]":,0123456789.eE-+ nulltrue\\\u00e9\u0000\u001b'])).join('');
    case 2: {
      const text = JSON.stringify(t);
      return text.slice(0, rng.int(text.length));
    }
    case 3: {
      const m = { ...t };
      m[pick(rng, Object.keys(m))] = pick(rng, HOSTILE_VALUES);
      return JSON.stringify(m);
    }
    case 4:
      return pick(rng, ['{"type":"step","id":1e400,"actions":[0]}', '{"type":"obs","id":3,"obs":[NaN]}', '{"type":"reset","id":9,"seed":1e999}', `{"type":"ok","id":${2 ** 40}}`, '[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]']);
    case 5:
      return JSON.stringify({ type: pick(rng, ['', 'HELLO', '__proto__', 'constructor', 'x'.repeat(500), '\u001b]0;pwned\u0007']), id: 1 + rng.int(100) });
    case 6:
      return JSON.stringify({ ...t, id: 1 + rng.int(1e6) }); // valid shape, unknown or out-of-order id
    case 7:
      return JSON.stringify({ type: 'auth', proof: newNonce() }); // a proof nobody asked for, or a wrong one
    default: {
      const f = rng.int(2) ? encodeStepFrame(1 + rng.int(1e6), new Float32Array(4), 2, 2)
        : encodeStepResultFrame(1 + rng.int(1e6), { obs: new Float32Array(4), reward: new Float32Array(2), terminated: new Uint8Array(2), truncated: new Uint8Array(2) }, 2, 2);
      const g = f.slice(0, Math.max(0, f.length - rng.int(3)));
      if (g.length > 5) g[rng.int(6)] ^= rng.int(256);
      return g;
    }
  }
}

// ── raw peers ───────────────────────────────────────────────────────────────────────────────────
interface Peer { ws: WebSocket; next: () => Promise<Record<string, unknown>>; closed: Promise<number> }
async function open(url: string): Promise<Peer> {
  const ws = new WebSocket(url, { maxPayload: 64 << 20 });
  const texts: string[] = [];
  let read = 0;
  let wake = () => {};
  ws.on('error', () => {});
  ws.on('message', (d, isBinary) => {
    if (!isBinary) texts.push(d.toString());
    wake();
  });
  const closed = new Promise<number>((res) => ws.once('close', (code) => res(code)));
  await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)));
  const next = async () => {
    for (const t0 = Date.now(); texts.length === read && Date.now() - t0 < 3_000;) await Promise.race([new Promise<void>((res) => (wake = res)), closed]);
    return texts.length > read ? JSON.parse(texts[read++]) : {};
  };
  return { ws, next, closed };
}
function sendAll(ws: WebSocket, msgs: Msg[]): Promise<void> {
  return new Promise((res) => (msgs.length === 0 ? res() : msgs.forEach((m, i) => ws.send(m, i === msgs.length - 1 ? () => res() : undefined))));
}
/** The message's JSON type, if it has one. */
function typeOf(m: Msg): unknown {
  try {
    return typeof m === 'string' ? (JSON.parse(m) as { type?: unknown } | null)?.type : undefined;
  } catch {
    return undefined;
  }
}
/** n hostile messages, none of the `ending` types (a refusal would end the connection and waste the rest). */
function hostileBatch(rng: Rng, n: number, ending: string[]): Msg[] {
  const out: Msg[] = [];
  while (out.length < n) {
    const m = hostile(rng);
    if (!ending.includes(typeOf(m) as string)) out.push(m);
  }
  return out;
}
const bye = async (p: Peer) => (p.ws.terminate(), await p.closed);

/** As a simulator dialling the agent: hello, welcome, our proof, its proof. */
async function simThrough(url: string, token: string, helloExtra: Record<string, unknown> = {}, obs = 2): Promise<Peer> {
  const p = await open(url);
  const nonce = newNonce();
  p.ws.send(JSON.stringify(hello({ nonce, ...helloExtra }, obs)));
  const w = await p.next();
  if (typeof w.nonce === 'string') p.ws.send(JSON.stringify({ type: 'auth', proof: authProof(token, 'simulator', nonce, w.nonce) }));
  await p.next();
  return p;
}
/** As an agent dialling the simulator: its hello, our welcome and proof, its proof. */
async function agentThrough(url: string, token: string): Promise<Peer> {
  const p = await open(url);
  const h = await p.next();
  const nonce = newNonce();
  p.ws.send(JSON.stringify({ ...TEMPLATES[1], nonce }));
  p.ws.send(JSON.stringify({ type: 'auth', proof: authProof(token, 'agent', h.nonce as string, nonce) }));
  await p.next();
  return p;
}

// ── the soak ────────────────────────────────────────────────────────────────────────────────────
async function attack(kind: 'agent' | 'sim', o: { cycles: number; idle: number; messages: number }): Promise<void> {
  const proc = fork(fileURLToPath(import.meta.url), ['--child', kind], { execArgv: ['--import', 'tsx', '--expose-gc'], env: { ...process.env, HOSTILE_BRIDGE_TOKEN: TOKEN } });
  const ask = <R>(cmd: string) => new Promise<R>((res) => (proc.once('message', (m) => res(m as R)), proc.send({ cmd })));
  const { url } = await new Promise<{ url: string }>((res) => proc.once('message', (m) => res(m as { url: string })));
  const before = await ask<Report>('measure');
  const rng = new Rng(kind === 'agent' ? 1 : 2);
  let sent = 0;
  const t0 = performance.now();
  // Hostile messages: before the hello / welcome, during authentication, and after it; each batch
  // leaves out what would (rightly) end its connection, and the connection must still be open after it.
  const flood = async (q: Peer, ending: string[]) => {
    await sendAll(q.ws, hostileBatch(rng, o.messages, ending));
    await new Promise((r) => setTimeout(r, 200));
    if (q.ws.readyState !== WebSocket.OPEN) console.log(`  (${kind}: a connection closed during its hostile batch)`);
    sent += o.messages;
    await bye(q);
  };
  let p = await open(url);
  if (kind === 'sim') await p.next();
  await flood(p, kind === 'agent' ? ['hello'] : ['welcome', 'refused', 'close']);
  p = await open(url);
  if (kind === 'agent') p.ws.send(JSON.stringify(hello({ nonce: newNonce() })));
  else (await p.next(), p.ws.send(JSON.stringify({ ...TEMPLATES[1], nonce: newNonce() })));
  await flood(p, kind === 'agent' ? ['error', 'auth'] : ['auth', 'refused', 'close']);
  p = kind === 'agent' ? await simThrough(url, TOKEN) : await agentThrough(url, TOKEN);
  await flood(p, kind === 'agent' ? [] : ['refused', 'close']);
  // Oversized messages, other versions, absurd sizes, wrong tokens: each on its own connection.
  const shots: Msg[] = [new Uint8Array((1 << 20) + 1), JSON.stringify(hello({ version: 2 })), JSON.stringify(hello({ num: 400, maxEpisodeSteps: 1e7 })),
    JSON.stringify(hello({ num: 4096, maxEpisodeSteps: 1e9 }, 16)), JSON.stringify(hello({ token: TOKEN })), JSON.stringify({ ...TEMPLATES[1], token: TOKEN })];
  for (let i = 0; i < 10 * shots.length; i++) {
    const q = await open(url);
    q.ws.send(shots[i % shots.length]);
    sent++;
    await Promise.race([q.closed, new Promise((r) => setTimeout(r, 100))]);
    await bye(q);
  }
  // Connect / leave cycles: authenticated with large spaces then gone, mid-handshake, wrong token.
  for (let i = 0; i < o.cycles; i++) {
    const wrong = i % 3 === 2 ? 'guess' : TOKEN;
    if (i % 3 === 1) await bye(await open(url));
    else await bye(kind === 'agent' ? await simThrough(url, wrong, {}, i % 2 ? 20_000 : 2) : await agentThrough(url, wrong));
  }
  // Idle connections held open together, then dropped.
  const idle = await Promise.all(Array.from({ length: o.idle }, () => open(url).catch(() => null)));
  await new Promise((r) => setTimeout(r, 1_000));
  await Promise.all(idle.map((q) => q && bye(q)));
  // An agent that never reads what it asked for.
  if (kind === 'sim') {
    const q = await agentThrough(url, TOKEN);
    q.ws.pause();
    for (let i = 1; i <= 5_000; i++) q.ws.send(JSON.stringify({ type: 'reset', id: i, seed: i }));
    await Promise.race([q.closed, new Promise((r) => setTimeout(r, 5_000))]);
    q.ws.terminate();
  }
  await new Promise((r) => setTimeout(r, 2_500)); // handshake timers of the last connections run out
  const after = await ask<Report>('measure');
  // Still serving an honest peer?
  let answering = false;
  if (kind === 'agent') {
    const session = dialAgent(url, navSimOptions({ num: 2, token: TOKEN })).catch(() => null);
    answering = (await ask<{ ok: boolean }>('accept')).ok;
    await session;
  } else {
    const env = await RemoteVectorEnv.connect(url, { token: TOKEN }).catch(() => null);
    answering = env !== null && (await env.reset(1).then((obs) => obs.length === NUM * 2, () => false));
    await env?.close();
  }
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  console.log(`${kind === 'agent' ? 'AgentServer' : `nav-sim ×${NUM}`} at ${url}: ${sent} hostile messages, ${o.cycles} connect/leave cycles, ${o.idle} idle connections${kind === 'sim' ? ', 1 non-reading agent' : ''} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`  rss ${mb(before.rss)} → ${mb(after.rss)} (peak ${mb(after.maxRss)}); heap + array buffers after gc ${mb(before.heap)} → ${mb(after.heap)}; open connections ${after.connections}`);
  console.log(`  stats ${JSON.stringify(after.stats)}`);
  console.log(`  still answering an honest ${kind === 'agent' ? 'simulator' : 'agent'}: ${answering ? 'yes' : 'NO'}`);
  proc.send({ cmd: 'exit' });
  await new Promise((r) => proc.once('exit', r));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { child: { type: 'string' }, cycles: { type: 'string', default: '2000' }, idle: { type: 'string', default: '500' }, messages: { type: 'string', default: '4000' } } });
  if (values.child) return child(values.child);
  const o = { cycles: Number(values.cycles), idle: Number(values.idle), messages: Number(values.messages) };
  await attack('agent', o);
  await attack('sim', o);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
