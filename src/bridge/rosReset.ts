/**
 * How a ROS episode starts: wait for the connection, stop the robot, ask for the reset (a service
 * call or a message), and wait for the first fresh observation:
 *   lockstep   the trigger topic answers after the reset — with `sync: all` every topic does, so
 *              that no older message is still on its way when the first step waits for answers;
 *              with `sync: trigger` the other topics need only have spoken once;
 *   realtime   every topic delivers a message sent after the reset completed.
 * A lockstep sim answers every command, the stop that ended the last episode too: that answer is
 * let through first so it is not taken for the post-reset observation.
 */
import { noFreshObservationError, type ObservationBoard } from './rosWatch.ts';
import type { RosPlan } from './rosConfig.ts';
import type { RosLink } from './rosLink.ts';

/** How long after advertising a topic we wait before a message there that must not be lost. */
const ADVERTISE_SETTLE_MS = 250;

/** Resets the robot and resolves once fresh observations are in `board`; throws naming what is missing. */
export async function startFresh(plan: RosPlan, link: RosLink, board: ObservationBoard): Promise<void> {
  const c = plan.config;
  const client = link.client;
  const timeoutMs = c.reset?.timeout_ms ?? c.connection.step_timeout_ms;
  if ((await board.waitUntil(client, () => client.connected, c.connection.reconnect_wait_ms, { failOnDisconnect: false })) !== 'ok') {
    throw new Error(`RosEnv.reset: not connected to ${c.url} (waited ${c.connection.reconnect_wait_ms} ms for a reconnect)`);
  }
  const trigger = plan.triggerTopic;
  const answering = c.mode === 'realtime' || c.sync === 'all' ? board.topics : [trigger];
  let before: Map<string, number>;
  if (c.mode === 'lockstep' && c.reset) {
    const seq = board.snapshot();
    link.publishStop();
    await board.waitUntil(client, () => answering.every((t) => board.seq(t) > seq.get(t)!), Math.min(100, c.safety.timeout_ms));
    before = board.snapshot();
    await requestReset(plan, link, timeoutMs);
  } else if (c.mode === 'lockstep') {
    before = board.snapshot(); // no reset: the answer to the stop is the first observation
    link.publishStop();
  } else {
    await requestReset(plan, link, timeoutMs);
    before = board.snapshot(); // a streaming robot: only messages sent after the reset count
  }
  const isFresh = (topic: string) => board.seq(topic) > (answering.includes(topic) ? before.get(topic)! : 0);
  const fresh = await board.waitUntil(client, () => link.halted || board.topics.every(isFresh), timeoutMs);
  if (link.halted) return; // the caller reports the halt
  if (fresh === 'disconnected') throw new Error('RosEnv.reset: connection lost during reset');
  if (fresh !== 'ok') throw noFreshObservationError(plan, board, board.topics.filter((t) => !isFresh(t)), timeoutMs, before);
}

async function requestReset(plan: RosPlan, link: RosLink, timeoutMs: number): Promise<void> {
  const r = plan.config.reset;
  if (r?.service) {
    await link.client.callService(r.service, r.request, timeoutMs);
  } else if (r?.topic) {
    // rosbridge may drop a message published right after advertise (REFERENCE §6): wait briefly.
    const since = performance.now() - (link.client.advertisedAt(r.topic) ?? 0);
    if (since < ADVERTISE_SETTLE_MS) await new Promise((res) => setTimeout(res, ADVERTISE_SETTLE_MS - since));
    link.client.publish(r.topic, r.request);
  }
}
