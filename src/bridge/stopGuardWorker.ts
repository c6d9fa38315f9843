/**
 * The stop guard's thread (see stopGuard.ts): its own rosbridge connection, a poll of the shared
 * heartbeat every `pollMs`, and the stop action published from here when the control loop has
 * been silent for `timeoutMs` during an episode, or once when the guard is halted.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RosbridgeClient } from './rosbridge.ts';
import { BEAT, type GuardEvent, GuardState, type GuardWorkerData, SENT, STATE } from './stopGuard.ts';

const d = (workerData as { guard: GuardWorkerData }).guard;
const view = new Int32Array(d.shared);
const post = (e: GuardEvent) => parentPort!.postMessage(e);
const RESEND_MS = 50;
const client = new RosbridgeClient({ ...d.client, resendFirstAfterMs: RESEND_MS });

let lastBeat = Atomics.load(view, BEAT);
let lastBeatAt = performance.now();
let haltSent = false;

const publishStop = () => client.publish(d.topic, d.stopMessage);

function poll(): void {
  const beat = Atomics.load(view, BEAT);
  const now = performance.now();
  if (beat !== lastBeat) {
    lastBeat = beat;
    lastBeatAt = now;
  }
  const state = Atomics.load(view, STATE);
  if (state === GuardState.HALTED) {
    if (!haltSent && publishStop()) {
      haltSent = true;
      Atomics.add(view, SENT, 1);
      post({ kind: 'stopped', silentMs: now - lastBeatAt, reason: 'halt' });
    }
    return;
  }
  if (state !== GuardState.WATCHING || now - lastBeatAt < d.timeoutMs) return;
  // Only a loop that is not publishing right now can be stalled; the exchange decides atomically.
  if (Atomics.compareExchange(view, STATE, GuardState.WATCHING, GuardState.STOPPED) !== GuardState.WATCHING) return;
  if (publishStop()) Atomics.add(view, SENT, 1); // dropped while disconnected: the reconnect path stops it
  post({ kind: 'stopped', silentMs: now - lastBeatAt, reason: 'stall' });
}

try {
  await client.connect();
  client.advertise(d.topic, d.type);
  // The first publish after advertise may be lost and is resent (REFERENCE §6): let it be this
  // harmless stop, not the one that matters.
  publishStop();
  setInterval(poll, d.pollMs);
  // Ready once that resend is out too: a stray stop later would be taken for a lockstep sim's answer.
  setTimeout(() => post({ kind: 'ready' }), 2 * RESEND_MS);
} catch (e) {
  post({ kind: 'failed', message: (e as Error).message });
}
