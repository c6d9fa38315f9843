/**
 * Hostile rosbridge: 10,000+ malformed messages from the peer to a running ROS env (random bytes,
 * bad JSON, wrong op types, giant and disordered fragments, unknown topics, non-finite fields).
 * Nothing may crash or hang, every message is counted as rejected, memory stays flat, and the
 * control loop keeps working between bursts and afterwards.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { RosEnv } from '../src/bridge/rosEnv.ts';
import { parseRosConfig } from '../src/bridge/rosConfig.ts';
import { readConfigFile } from '../src/io/config.ts';
import { Rng } from '../src/core/rng.ts';
import { RosbridgePeer } from './support/rosbridgePeer.ts';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void; // a real collection before each heap reading

const MAX_BYTES = 200_000;
/** Heap growth allowed between the middle and the end of the flood ("flat"). */
const HEAP_BOUND_MB = 16;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** One hostile frame; `pending` marks fragments that start a message and are only rejected later. */
function hostile(rng: Rng): { data: string | Buffer; pending?: boolean } {
  let pick = rng.int(12);
  if (pick >= 10 && rng.int(25) !== 0) pick = 1; // giant frames are rare: ~70 of them move 14 MB already
  const junk = (n: number) => Array.from({ length: n }, () => String.fromCharCode(32 + rng.int(95))).join('');
  switch (pick) {
    case 0: return { data: Buffer.from(Array.from({ length: 1 + rng.int(200) }, () => rng.int(256))) }; // binary noise
    case 1: return { data: junk(1 + rng.int(120)) }; // printable noise
    case 2: { // truncated valid JSON
      const full = JSON.stringify({ op: 'publish', topic: '/odom', msg: { pose: { pose: { position: { x: 1 } } } } });
      return { data: full.slice(0, rng.int(full.length - 1)) };
    }
    case 3: return { data: JSON.stringify([null, 5, 'x', { op: 1 }, [], true][rng.int(6)]) }; // not a message
    case 4: return { data: JSON.stringify([{ op: 7 }, { op: 'publish', topic: 3, msg: {} }, { op: 'publish', topic: '/odom', msg: [] }, { op: 'service_response', service: '/x', result: 'yes' }, { op: 'call_service', service: '/x', args: 5 }, { op: 'fragment', id: {}, data: 'x', num: 0, total: 1 }, { op: 'subscribe', topic: '/odom' }, { op: 'status' + junk(3) }][rng.int(8)]) };
    case 5: return { data: JSON.stringify({ op: 'publish', topic: `/unknown_${rng.int(1000)}`, msg: { data: junk(10) } }) };
    case 6: { // non-finite or wrong-typed fields on the real topic (1e999 parses as Infinity)
      const x = ['1e999', '-1e999', '"NaN"', 'null', '{}', '[1]', 'NaN'][rng.int(7)];
      return { data: `{"op":"publish","topic":"/odom","msg":{"pose":{"pose":{"position":{"x":${x},"y":0},"orientation":{"z":0,"w":1}}},"twist":{"twist":{"linear":{"x":0},"angular":{"z":0}}}}}` };
    }
    case 7: return { data: JSON.stringify({ op: 'service_response', id: `call_service:/reset_robot:${rng.int(1e6)}`, service: '/reset_robot', result: true }) };
    case 8: return { data: JSON.stringify({ op: 'call_service', id: rng.int(1e6), service: `/not_ours_${rng.int(9)}`, args: {} }) };
    case 9: { // a fragment that is not the start of anything, or a bad start
      const num = rng.int(5);
      const total = [0, -1, 1e9, 1, 2.5, 1.0001][rng.int(6)];
      if (num === 0 && total > 1 && total <= 1e6) return { data: JSON.stringify({ op: 'fragment', id: `f${rng.int(20)}`, data: junk(30), num, total }), pending: true };
      // Other ids than the starts above, so a stray fragment never continues an open message.
      return { data: JSON.stringify({ op: 'fragment', id: `${num === 0 ? 'f' : 'n'}${rng.int(20)}`, data: junk(30), num, total }) };
    }
    case 10: // giant fragment data: over the reassembly limit on its own, under the frame limit
      return { data: JSON.stringify({ op: 'fragment', id: 'giant', data: 'x'.repeat(MAX_BYTES + 1000), num: 0, total: 1.5 }) };
    default: // an oversized frame (between the message limit and the connection limit)
      return { data: `{"op":"publish","topic":"/odom","msg":{"pad":"${'y'.repeat(MAX_BYTES + 10)}"}}` };
  }
}

describe('rosbridge client under hostile input', () => {
  it('rejects 10,000+ malformed messages without crash, hang or memory growth; still works afterwards', { timeout: 20000 }, async () => {
    const peer = new RosbridgePeer();
    const url = await peer.start();
    const base = parseRosConfig(readConfigFile(fileURLToPath(new URL('../examples/diff-drive.yaml', import.meta.url)))).config as Record<string, unknown>;
    const plan = parseRosConfig({
      ...base, url, mode: 'lockstep', rate_hz: undefined, max_episode_steps: 1000, safety: { timeout_ms: 5000 },
      connection: { ...(base.connection as object), max_message_bytes: MAX_BYTES, step_timeout_ms: 3000 },
    });
    const env = await RosEnv.connect(plan, { stopOnShutdown: false });
    cleanups.push(() => peer.stop(), () => env.close());
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();

    const rng = new Rng(2026);
    const bursts = 10;
    const perBurst = 1050;
    let sent = 0;
    let pending = 0;
    let heapMid = 0;
    // Duplicated and out-of-order fragment runs: 0, 0(dup), 2, 1 → the dup and the gap are rejected.
    const disordered = (id: string) => [0, 0, 2, 1].map((num) => JSON.stringify({ op: 'fragment', id, data: '{"op":"pub', num, total: 3.2 }));
    for (let b = 0; b < bursts; b++) {
      for (let i = 0; i < perBurst; i++) {
        const h = hostile(rng);
        peer.sendRaw(h.data);
        if (h.pending) pending++;
        sent++;
      }
      for (const f of disordered(`run${b}`)) peer.sendRaw(f);
      sent += 4;
      pending += 1; // the run's num-1 fragment after the gap is dropped with it, or it starts nothing
      // The control loop keeps working in the middle of the flood.
      const r = await env.step(Float32Array.of(0.1, 0));
      expect(r.truncated[0]).toBe(0);
      if (b === bursts / 2 - 1) {
        gc();
        heapMid = process.memoryUsage().heapUsed;
      }
    }
    expect(sent).toBeGreaterThanOrEqual(10_000);
    // Wait until the client has read everything (one more valid round trip proves the queue drained).
    await env.step(Float32Array.of(0.1, 0));
    gc();
    const heapEnd = process.memoryUsage().heapUsed;
    const growthMb = (heapEnd - heapMid) / 2 ** 20;
    console.log(`fuzz: ${sent} hostile messages, ${env.stats.rejected} rejections, heap ${(heapMid / 2 ** 20).toFixed(1)} → ${(heapEnd / 2 ** 20).toFixed(1)} MB`);
    expect(growthMb).toBeLessThan(HEAP_BOUND_MB);
    // Every message is rejected at least once (fragments that only open a message are rejected later or
    // linger, at most 8 at a time), and none more than twice (a replaced start plus its own fault).
    expect(env.stats.rejected).toBeGreaterThanOrEqual(sent - pending);
    expect(env.stats.rejected).toBeLessThanOrEqual(2 * sent);
    expect(env.client.stats.reconnects).toBe(0);

    // Afterwards: a full episode start, steps and a service call work as before.
    await env.reset();
    const r = await env.step(Float32Array.of(0.2, 0));
    expect(r.obs[0]).toBeCloseTo(0.02, 5);
    await expect(env.client.callService('/reset_robot')).resolves.toEqual({});
  });

  it('survives frames above the connection limit and invalid UTF-8 by reconnecting', { timeout: 10000 }, async () => {
    const peer = new RosbridgePeer();
    const url = await peer.start();
    const base = parseRosConfig(readConfigFile(fileURLToPath(new URL('../examples/diff-drive.yaml', import.meta.url)))).config as Record<string, unknown>;
    const plan = parseRosConfig({
      ...base, url, mode: 'lockstep', rate_hz: undefined, safety: { timeout_ms: 5000 },
      connection: { ...(base.connection as object), max_message_bytes: MAX_BYTES, reconnect_initial_ms: 20, reconnect_max_ms: 100 },
    });
    const env = await RosEnv.connect(plan, { stopOnShutdown: false });
    cleanups.push(() => peer.stop(), () => env.close());
    env.setTasks([{ goal: [1, 1] }]);
    peer.sendRaw('z'.repeat(3 * MAX_BYTES)); // ws closes the connection (1009) instead of buffering it
    expect(await peer.until(() => env.stats.reconnects === 1, 3000)).toBe(true);
    await peer.until(() => peer.connections === 2);
    // A text frame that is not UTF-8: ws closes with 1007; we reconnect again.
    for (const ws of (peer as unknown as { sockets: Set<import('ws').WebSocket> }).sockets) ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect(await peer.until(() => env.stats.reconnects === 2, 3000)).toBe(true);
    await env.reset();
    expect((await env.step(Float32Array.of(0.2, 0))).truncated[0]).toBe(0);
  });
});
