/**
 * Hostile peers: 10,000+ malformed or out-of-place messages each at the agent server
 * (`AgentServer`, as a rogue simulator) and at the reference simulator's server (as a rogue
 * agent): random bytes, truncated JSON, wrong types, huge numbers, NaN in arrays, unknown types,
 * unknown / out-of-order ids, duplicate hellos and welcomes, binary frames of wrong lengths or
 * kinds, and oversized messages on their own connections. Neither side may crash or hang; every
 * message must be counted as rejected; heap use after a forced GC must stay flat (bound below);
 * and a valid request must still be answered afterwards.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { AgentServer } from '../src/bridge/agentServer.ts';
import { decodeFrame, encodeObsFrame, encodeStepFrame, encodeStepResultFrame, parseAgentMessage, parseSimMessage } from '../src/bridge/protocol.ts';
import { startNavSim } from '../scripts/nav-sim.ts';

const MESSAGES = 10_000;
/** Allowed heap growth over the fuzz run, measured after forced GCs. */
const HEAP_BOUND_BYTES = 16 * 1024 * 1024;
const MAX_BYTES = 64 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (() => void) | undefined;
function heapUsed(): number {
  if (gc) {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  }
  return process.memoryUsage().rss;
}

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
process.on('unhandledRejection', onUnhandled);
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

const NAV_HELLO = {
  type: 'hello', protocol: 'metarl-bridge', version: 1, num: 2, observationSpace: { low: ['-inf', '-inf'], high: ['inf', 'inf'], shape: [2] },
  actionSpace: { low: [-0.1, -0.1], high: [0.1, 0.1], shape: [2] }, maxEpisodeSteps: 100, tasks: { goal: { low: [-0.5, -0.5], high: [0.5, 0.5] } }, binary: true,
};
const HOSTILE_VALUES: unknown[] = [null, true, false, {}, [], 'x', '', -1, 0, 1.5, -0.5, '1', [null], [[1]], { a: 1 }, 2 ** 53, -(2 ** 60), 'inf', ['inf'], 'é'.repeat(50)];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

function randomBytes(rng: Rng, max: number): Uint8Array {
  return Uint8Array.from({ length: rng.int(max + 1) }, () => rng.int(256));
}

function randomText(rng: Rng): string {
  const alphabet = '{}[]":,0123456789.eE-+ abcdefnulltrue\\\u00e9\u{1F600}\u0000';
  const chars = [...alphabet];
  return Array.from({ length: 1 + rng.int(60) }, () => pick(rng, chars)).join('');
}

/** A template message with one field replaced by a value of the wrong type (as JSON text). */
function wrongType(rng: Rng, template: Record<string, unknown>): string {
  const m = { ...template };
  const key = pick(rng, Object.keys(m));
  m[key] = pick(rng, HOSTILE_VALUES);
  return JSON.stringify(m);
}

type Parse = (text: string) => { ok: boolean };
type Msg = string | Uint8Array;

/**
 * Shared hostile generators; `valid` are well-formed messages that the receiver must still refuse
 * where they arrive (replies with unknown ids, requests out of order...), `templates` the messages
 * whose fields get wrong types, `frames` binary frames that must be refused.
 */
function hostile(rng: Rng, parse: Parse, templates: Record<string, unknown>[], valid: (rng: Rng) => Msg, frames: (rng: Rng) => Uint8Array): Msg {
  for (;;) {
    switch (rng.int(10)) {
      case 0:
        return randomBytes(rng, 80);
      case 1:
        return randomText(rng);
      case 2: {
        const text = JSON.stringify(pick(rng, templates));
        return text.slice(0, rng.int(text.length)); // truncated JSON
      }
      case 3: {
        const text = wrongType(rng, pick(rng, templates));
        if (!parse(text).ok) return text; // (a mutation that happens to stay valid is not hostile)
        continue;
      }
      case 4: // huge numbers and NaN / Infinity where JSON has none
        return pick(rng, [
          `{"type":"step","id":1e400,"actions":[0,0,0,0]}`, `{"type":"step_result","id":3,"obs":[1e400,0,0,0],"reward":[0,0],"terminated":[false,false],"truncated":[false,false]}`,
          `{"type":"obs","id":${rng.int(1e6) + 1},"obs":[NaN,0,0,0]}`, `{"type":"step","id":5,"actions":[Infinity,-Infinity,0,0]}`, `{"type":"reset","id":9,"seed":1e999}`,
          `{"type":"ok","id":-1e308}`, `{"type":"set_tasks","id":${2 ** 40},"tasks":[{}]}`,
        ]);
      case 5:
        return JSON.stringify({ type: pick(rng, ['', 'HELLO', 'stepp', 'result', 'ping', '__proto__', 'constructor', 'x'.repeat(500)]), id: rng.int(100) + 1 });
      case 6:
      case 7:
        return valid(rng);
      default:
        return frames(rng);
    }
  }
}

/** Frames that decode to nothing usable: cut, padded, wrong magic / version / kind, bad flags. */
function brokenFrame(rng: Rng): Uint8Array {
  const f = encodeStepResultFrame(1 + rng.int(1000), { obs: new Float32Array(4), reward: new Float32Array(2), terminated: new Uint8Array(2), truncated: new Uint8Array(2) }, 2, 2);
  switch (rng.int(5)) {
    case 0:
      return f.subarray(0, rng.int(f.length));
    case 1:
      return Uint8Array.from([...f, ...randomBytes(rng, 8), 0]);
    case 2: {
      const g = f.slice();
      g[rng.int(6)] ^= 1 + rng.int(255); // magic, version or kind
      return g;
    }
    case 3: {
      const g = f.slice();
      g[16 + 16 + 8 + rng.int(4)] = 2 + rng.int(250); // a flag byte that is neither 0 nor 1
      return g;
    }
    default: {
      const g = f.slice();
      g[12 + rng.int(4)] ^= 1 + rng.int(255); // n or dim disagreeing with the length
      return g;
    }
  }
}

/** Opens a raw client that hands every message to `onMessage`; resolves once open. */
async function rawClient(url: string, onMessage: (data: Buffer, isBinary: boolean, ws: WebSocket) => void): Promise<WebSocket> {
  const ws = new WebSocket(url, { maxPayload: 4 * MAX_BYTES });
  ws.on('error', () => {});
  ws.on('message', (d, isBinary) => onMessage(d as Buffer, isBinary, ws));
  await new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  });
  return ws;
}

/** Sends one message too big for the server on its own connection; resolves to the close code. */
async function oversized(url: string, binary: boolean): Promise<number> {
  const ws = await rawClient(url, () => {});
  const closed = new Promise<number>((res) => ws.once('close', (code) => res(code)));
  ws.send(binary ? new Uint8Array(MAX_BYTES + 1) : `{"type":"step","id":1,"actions":[${'0,'.repeat(MAX_BYTES / 2)}0]}`);
  return closed;
}

/** Sends every message; resolves once the last one was written to the socket. */
function sendAll(ws: WebSocket, msgs: Msg[]): Promise<void> {
  return new Promise((res, rej) => msgs.forEach((m, i) => ws.send(m, i < msgs.length - 1 ? undefined : (e) => (e ? rej(e) : res()))));
}

describe('hostile peers', () => {
  it('the agent server survives a rogue simulator, counts every reject and still works', { timeout: 20_000 }, async () => {
    const server = await AgentServer.listen({ maxMessageBytes: MAX_BYTES, handshakeTimeoutMs: 15_000, callTimeoutMs: 5_000, closeTimeoutMs: 500 });
    try {
      expect(await Promise.all([oversized(server.url, false), oversized(server.url, true)])).toEqual([1009, 1009]);
      expect(server.stats.rejected).toBe(2); // the oversized messages
      const rng = new Rng(7);
      const templates = [NAV_HELLO, { type: 'ok', id: 3 }, { type: 'obs', id: 4, obs: [0, 0, 0, 0] }, { type: 'error', id: 5, code: 'x', message: 'y' },
        { type: 'step_result', id: 6, obs: [0, 0, 0, 0], reward: [0, 0], terminated: [false, false], truncated: [false, false] }];
      const unknownIdReply = (r: Rng): Msg => pick(r, [
        JSON.stringify({ type: 'ok', id: 1 + r.int(1e6) }), JSON.stringify({ type: 'obs', id: 1 + r.int(1e6), obs: [0, 1, 2, 3] }),
        JSON.stringify({ type: 'error', id: 1 + r.int(1e6), code: 'sim_error', message: 'late' }),
        encodeObsFrame(1 + r.int(1e6), new Float32Array(4), 2, 2), encodeStepFrame(1 + r.int(1e6), new Float32Array(4), 2, 2),
      ]);
      const parse = (t: string) => parseSimMessage(t, MAX_BYTES);
      // Before the hello: anything but a hello is dropped (a hello of another version would end the connection).
      const preHello = Array.from({ length: 1_000 }, () => hostile(rng, parse, templates.slice(1), unknownIdReply, brokenFrame));
      // After it: the same, plus duplicate hellos.
      const postHello = Array.from({ length: MESSAGES }, () => hostile(rng, parse, templates, (r) => (r.int(3) === 0 ? JSON.stringify(NAV_HELLO) : unknownIdReply(r)), brokenFrame));

      let honest = false;
      let evilReply: ((id: number) => Msg) | null = null;
      const rogue = await rawClient(server.url, (data, isBinary, ws) => {
        if (!honest) return;
        if (isBinary) {
          const f = decodeFrame(data);
          if (evilReply && f.ok) ws.send(evilReply(f.frame.id));
          return;
        }
        const m = JSON.parse(data.toString());
        if (m.type === 'reset') ws.send(encodeObsFrame(m.id, new Float32Array([1, 2, 3, 4]), 2, 2));
        if (m.type === 'stop') ws.send(JSON.stringify({ type: 'ok', id: m.id }));
      });
      const accepted = server.accept(15_000);
      await sendAll(rogue, preHello);
      rogue.send(JSON.stringify(NAV_HELLO));
      const env = await accepted;
      expect(server.stats.rejected).toBe(2 + preHello.length);
      expect(env.binary).toBe(true);

      await sendAll(rogue, postHello.slice(0, 1_000));
      const heapBefore = heapUsed();
      await sendAll(rogue, postHello.slice(1_000));
      // Wait until every message was handled before calling: a hostile reply that still carried
      // the id of a pending call would rightly fail that call.
      // (The env's count covers its whole connection, the messages before the hello included.)
      const expected = preHello.length + postHello.length;
      for (let i = 0; i < 500 && env.stats.rejected < expected; i++) await new Promise((r) => setTimeout(r, 10));
      expect(env.stats.rejected).toBe(expected);
      honest = true;
      expect(Array.from(await env.reset(1))).toEqual([1, 2, 3, 4]);
      // Hostile answers to calls in flight: each fails its own call with a clear error, never hangs.
      const evil: [(id: number) => Msg, RegExp][] = [
        [(id) => JSON.stringify({ type: 'obs', id, obs: [0, 0, 0, 0] }), /answered with 'obs', expected 'step_result'/],
        [(id) => JSON.stringify({ type: 'step_result', id, obs: [0, 0, 0], reward: [0, 0], terminated: [false, false], truncated: [false, false] }), /obs has 3 entries, expected 4/],
        [(id) => `{"type":"step_result","id":${id},"obs":"x"}`, /invalid reply #\d+ .*step_result\.obs/],
        [(id) => encodeStepResultFrame(id, { obs: new Float32Array([0, NaN, 0, 0]), reward: new Float32Array(2), terminated: new Uint8Array(2), truncated: new Uint8Array(2) }, 2, 2), /observation from .* contains NaN/],
        [(id) => encodeStepResultFrame(id, { obs: new Float32Array(4), reward: new Float32Array(2), terminated: new Uint8Array(2), truncated: new Uint8Array(2) }, 2, 2).subarray(0, 40), /invalid binary reply #\d+.*must be 44 bytes, got 40/],
        [(id) => JSON.stringify({ type: 'error', id, code: 'numeric', message: 'diverged' }), /answered error \[numeric\]: diverged/],
      ];
      for (let round = 0; round < 60; round++) {
        const [make, reason] = evil[round % evil.length];
        evilReply = make;
        await expect(env.step(new Float32Array(4))).rejects.toThrow(reason);
      }
      evilReply = null;
      const heapAfter = heapUsed();
      console.log(`agent server: ${preHello.length + postHello.length} hostile messages, rejected ${env.stats.rejected} (${server.stats.rejected - 2} before the hello), heap ${((heapAfter - heapBefore) / 1e6).toFixed(2)} MB (${gc ? 'heapUsed after gc' : 'rss'})`);
      // Invalid replies to calls in flight count too (4 of the 6 kinds: NaN and an error reply are valid messages).
      expect(env.stats.rejected).toBe(expected + 40);
      expect(heapAfter - heapBefore).toBeLessThan(HEAP_BOUND_BYTES);
      expect(unhandled).toEqual([]);
      await env.close();
    } finally {
      await server.close();
    }
  });

  it('the reference simulator survives a rogue agent, counts every reject and still works', { timeout: 20_000 }, async () => {
    const sim = await startNavSim({ num: 2, maxMessageBytes: MAX_BYTES, welcomeTimeoutMs: 15_000 });
    try {
      expect(await Promise.all([oversized(sim.url, false), oversized(sim.url, true)])).toEqual([1009, 1009]);
      const rejectedBefore = sim.stats.rejected;
      expect(rejectedBefore).toBe(2); // the oversized messages
      const rng = new Rng(8);
      const welcome = { type: 'welcome', protocol: 'metarl-bridge', version: 1, binary: true };
      const templates = [welcome, { type: 'set_tasks', id: 2, tasks: [{ goal: [0, 0] }, { goal: [0, 0] }] }, { type: 'reset', id: 3, seed: 1 }, { type: 'step', id: 4, actions: [0, 0, 0, 0] },
        { type: 'stop', id: 5 }, { type: 'refused', code: 'x', message: 'y' }];
      // Requests a simulator must refuse where they arrive: steps before any reset, wrong task counts.
      const outOfOrder = (r: Rng): Msg => pick(r, [
        JSON.stringify({ type: 'step', id: 1 + r.int(1e6), actions: [0.1, 0, 0, 0] }), JSON.stringify({ type: 'set_tasks', id: 1 + r.int(1e6), tasks: [{ goal: [0, 0] }] }),
        encodeStepFrame(1 + r.int(1e6), new Float32Array([NaN, 0, 0, 0]), 2, 2), encodeStepFrame(1 + r.int(1e6), new Float32Array(6), 3, 2),
        encodeObsFrame(1 + r.int(1e6), new Float32Array(4), 2, 2), JSON.stringify({ type: 'step', id: 7, actions: [1e39, 0, 0, 0] }),
      ]);
      const parse = (t: string) => parseAgentMessage(t, MAX_BYTES);
      // Before the welcome: every request is out of order (answered with an error, nothing served).
      const preWelcome = Array.from({ length: 1_000 }, () => hostile(rng, parse, templates, (r) => (r.int(2) ? JSON.stringify({ type: 'reset', id: 1 + r.int(1e6) }) : outOfOrder(r)), brokenFrame));
      const postWelcome = Array.from({ length: MESSAGES }, () => hostile(rng, parse, templates, (r) => (r.int(4) === 0 ? JSON.stringify(welcome) : outOfOrder(r)), brokenFrame));

      let errorsWithId = 0;
      let answer: ((m: unknown) => void) | null = null;
      const rogue = await rawClient(sim.url, (data, isBinary) => {
        if (isBinary) return answer?.(decodeFrame(data));
        const m = JSON.parse(data.toString());
        if (m.type === 'error' && m.id !== undefined) errorsWithId++;
        if (m.type === 'ok' || (m.type === 'error' && m.id === 424242)) answer?.(m);
      });
      await sendAll(rogue, preWelcome);
      rogue.send(JSON.stringify(welcome));
      await sendAll(rogue, postWelcome.slice(0, 1_000));
      const heapBefore = heapUsed();
      await sendAll(rogue, postWelcome.slice(1_000));
      // Valid requests are still served after all that: set tasks, then reset (a binary obs frame).
      const reply = new Promise((res) => (answer = res));
      rogue.send(JSON.stringify({ type: 'set_tasks', id: 424241, tasks: [{ goal: [0.1, 0.1] }, { goal: [0.2, 0.2] }] }));
      expect(await reply).toEqual({ type: 'ok', id: 424241 });
      const obs = new Promise((res) => (answer = res));
      rogue.send(JSON.stringify({ type: 'reset', id: 424243, seed: 3 }));
      expect(await obs).toMatchObject({ ok: true, frame: { kind: 'obs', id: 424243, n: 2, dim: 2, obs: new Float32Array(4) } });
      const heapAfter = heapUsed();
      const rejected = sim.stats.rejected - rejectedBefore;
      console.log(`simulator: ${preWelcome.length + postWelcome.length} hostile messages, rejected ${rejected}, ${errorsWithId} answered with error, heap ${((heapAfter - heapBefore) / 1e6).toFixed(2)} MB (${gc ? 'heapUsed after gc' : 'rss'})`);
      expect(rejected).toBe(preWelcome.length + postWelcome.length);
      expect(errorsWithId).toBeGreaterThan(1_000);
      expect(sim.stats.requests).toBe(2);
      expect(heapAfter - heapBefore).toBeLessThan(HEAP_BOUND_BYTES);
      expect(unhandled).toEqual([]);
      rogue.close();
    } finally {
      await sim.close();
    }
  });
});
