/** The rosbridge v2 client against the test peer over real loopback sockets. */
import { afterEach, describe, expect, it } from 'vitest';
import { RosbridgeClient, RosServiceError, FragmentAssembler, parseIncoming } from '../src/bridge/rosbridge.ts';
import { RosbridgePeer } from './support/rosbridgePeer.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(peerOptions = {}, clientOptions = {}) {
  const peer = new RosbridgePeer(peerOptions);
  const url = await peer.start();
  const client = new RosbridgeClient({ url, requestTimeoutMs: 1000, reconnectInitialMs: 20, reconnectMaxMs: 200, ...clientOptions });
  cleanups.push(() => peer.stop(), () => client.close());
  await client.connect();
  return { peer, client };
}

const twist = (v: number, w: number) => ({ linear: { x: v, y: 0, z: 0 }, angular: { x: 0, y: 0, z: w } });

describe('rosbridge client', () => {
  it('publishes and subscribes; passes throttle_rate and queue_length; resends the first publish once', { timeout: 5000 }, async () => {
    const { peer, client } = await setup();
    const odoms: Record<string, unknown>[] = [];
    client.subscribe('/odom', 'nav_msgs/Odometry', (m) => odoms.push(m), { throttleRate: 0, queueLength: 1 });
    client.advertise('/cmd_vel', 'geometry_msgs/Twist');
    await peer.until(() => peer.received.some((m) => m.op === 'subscribe'));
    const sub = peer.received.find((m) => m.op === 'subscribe')!;
    expect(sub).toMatchObject({ topic: '/odom', type: 'nav_msgs/Odometry', throttle_rate: 0, queue_length: 1 });
    expect(client.publish('/cmd_vel', twist(0.5, 0))).toBe(true);
    expect(await peer.until(() => odoms.length >= 1)).toBe(true);
    expect((odoms[0].twist as { twist: { linear: { x: number } } }).twist.linear.x).toBe(0.5);
    // With nothing else published, the first message goes out a second time (it may have been lost).
    expect(await peer.until(() => peer.commandsOn().length === 2)).toBe(true);
    client.publish('/cmd_vel', twist(0.1, 0));
    client.publish('/cmd_vel', twist(0.2, 0));
    await peer.until(() => peer.commandsOn().length === 4);
    await new Promise((r) => setTimeout(r, 80));
    expect(peer.commandsOn().map((c) => (c.msg.linear as { x: number }).x)).toEqual([0.5, 0.5, 0.1, 0.2]);
    expect(() => client.publish('/nowhere', {})).toThrow(/before advertise/);
  });

  it('unsubscribes by id and unadvertises; later messages on the topic are counted as rejected', { timeout: 5000 }, async () => {
    const { peer, client } = await setup();
    const odoms: unknown[] = [];
    const off = client.subscribe('/odom', 'nav_msgs/Odometry', (m) => odoms.push(m));
    client.advertise('/cmd_vel', 'geometry_msgs/Twist');
    await peer.until(() => peer.received.some((m) => m.op === 'subscribe'));
    const subId = peer.received.find((m) => m.op === 'subscribe')!.id;
    off();
    client.unadvertise('/cmd_vel');
    await peer.until(() => peer.received.some((m) => m.op === 'unadvertise'));
    expect(peer.received.find((m) => m.op === 'unsubscribe')).toMatchObject({ id: subId, topic: '/odom' });
    expect(peer.received.find((m) => m.op === 'unadvertise')).toMatchObject({ topic: '/cmd_vel' });
    peer.sendRaw(JSON.stringify({ op: 'publish', topic: '/odom', msg: peer.odometry() })); // a late message in flight
    await peer.until(() => client.stats.rejected === 1);
    expect(odoms.length).toBe(0);
    expect(client.stats.lastRejection).toMatch(/unsubscribed topic \/odom/);
    expect(() => client.publish('/cmd_vel', twist(0, 0))).toThrow(/before advertise/);
  });

  it('handles a lost first publish after advertise (the resend arrives)', { timeout: 5000 }, async () => {
    const { peer, client } = await setup();
    peer.knobs.dropFirstPublish = true;
    client.advertise('/cmd_vel', 'geometry_msgs/Twist');
    client.publish('/cmd_vel', twist(0, 0));
    expect(await peer.until(() => peer.commandsOn().length === 1, 1000)).toBe(true);
  });

  it('calls services: success, failure with the message, timeout on silence', { timeout: 5000 }, async () => {
    const { peer, client } = await setup();
    await expect(client.callService('/reset_robot', {})).resolves.toEqual({});
    expect(peer.resets).toBe(1);
    await expect(client.callService('/no_such_service')).rejects.toThrow(/no_such_service.*does not exist/);
    peer.knobs.serviceDelayMs = 5000;
    const t0 = performance.now();
    const err = (await client.callService('/reset_robot', {}, 200).catch((e: Error) => e)) as Error;
    expect(err).toBeInstanceOf(RosServiceError);
    expect(err.message).toMatch(/no response within 200 ms/);
    expect(performance.now() - t0).toBeLessThan(1000);
    // A service's failure text reaches the operator with its control characters escaped.
    peer.knobs.serviceDelayMs = 0;
    const hostile = (await client.callService('/evil\u001b[2J', {}).catch((e: Error) => e)) as Error;
    expect(hostile.message).toContain('\\x1b[2J');
    expect(hostile.message).not.toMatch(/\u001b/);
  });

  it('gives up connecting after requestTimeoutMs when every upgrade is refused, and says so', { timeout: 5000 }, async () => {
    const peer = new RosbridgePeer();
    const url = await peer.start();
    peer.knobs.refuseConnections = true;
    const client = new RosbridgeClient({ url, requestTimeoutMs: 300, reconnectInitialMs: 20 });
    cleanups.push(() => peer.stop(), () => client.close());
    // More connection-failure causes: test/rosbridgeConnect.test.ts.
    await expect(client.connect()).rejects.toThrow(/^rosbridge: cannot connect to ws:.*: the server refused the WebSocket upgrade \(HTTP 401 Unauthorized\) \(\d+ attempts in 300 ms\)$/);
  });

  it('reassembles fragments with a non-integer total and a constant id', { timeout: 5000 }, async () => {
    const { peer, client } = await setup();
    const odoms: Record<string, unknown>[] = [];
    client.subscribe('/odom', 'nav_msgs/Odometry', (m) => odoms.push(m));
    await peer.until(() => peer.received.some((m) => m.op === 'subscribe'));
    Object.assign(peer.knobs, { fragmentSize: 37, fractionalTotal: true, constantFragmentId: true });
    for (let i = 0; i < 5; i++) {
      peer.robot.x = i;
      peer.publishOdom();
    }
    expect(await peer.until(() => odoms.length === 5)).toBe(true);
    expect(odoms.map((o) => (o as { pose: { pose: { position: { x: number } } } }).pose.pose.position.x)).toEqual([0, 1, 2, 3, 4]);
    expect(client.stats.fragmentsReassembled).toBe(5);
    expect(client.stats.rejected).toBe(0);
  });

  it('reassembly: order, duplicates, gaps, totals (unit)', () => {
    const text = JSON.stringify({ op: 'publish', topic: '/a', msg: { v: 'x'.repeat(40) } });
    const parts = text.match(/.{1,10}/g)!;
    const frag = (num: number, total = parts.length - 0.4, id = 'c') => ({ op: 'fragment' as const, id, data: parts[num], num, total });
    const asm = new FragmentAssembler(1e6);
    let out: string | undefined;
    for (let i = 0; i < parts.length; i++) {
      const r = asm.add(frag(i));
      if (i === 1) expect(asm.add(frag(1)).rejected).toMatch(/duplicate/); // duplicate: ignored, message kept
      out = r.complete ?? out;
    }
    expect(out).toBe(text);
    expect(asm.add(frag(3)).rejected).toMatch(/without its start/);
    asm.add(frag(0));
    expect(asm.add(frag(2)).rejected).toMatch(/out of order/);
    expect(new FragmentAssembler(15).add(frag(0)).rejected).toBeUndefined();
    const small = new FragmentAssembler(15);
    small.add(frag(0));
    expect(small.add(frag(1)).rejected).toMatch(/above 15 bytes or/);
    expect(parseIncoming(JSON.stringify({ op: 'fragment', id: 'a', data: 'x', num: 0, total: Number.MAX_VALUE }))).toMatch(/total/);
    expect(parseIncoming('{"op":"publish","topic":"/a","msg":NaN}')).toMatch(/JSON/);
  });

  it('answers service requests for services it advertised, failures included', { timeout: 5000 }, async () => {
    const { peer, client } = await setup();
    client.advertiseService('/add', 'rospy_tutorials/AddTwoInts', (args) => ({ sum: Number(args.a) + Number(args.b) }));
    client.advertiseService('/broken', 'std_srvs/Trigger', () => { throw new Error('sensor offline'); });
    await peer.until(() => peer.received.filter((m) => m.op === 'advertise_service').length === 2);
    expect(await peer.callClient('/add', { a: 2, b: 3 })).toMatchObject({ op: 'service_response', result: true, values: { sum: 5 } });
    expect(await peer.callClient('/broken')).toMatchObject({ result: false, values: 'sensor offline' });
    expect(await peer.callClient('/unknown')).toMatchObject({ result: false });
  });

  it('reconnects with backoff, re-advertises and re-subscribes; pending calls fail at once', { timeout: 8000 }, async () => {
    const { peer, client } = await setup();
    const odoms: unknown[] = [];
    const events: string[] = [];
    client.onConnection((e) => events.push(e));
    client.subscribe('/odom', 'nav_msgs/Odometry', (m) => odoms.push(m));
    client.advertise('/cmd_vel', 'geometry_msgs/Twist');
    client.advertiseService('/ping', 'std_srvs/Empty', () => ({}));
    await peer.until(() => peer.received.some((m) => m.op === 'subscribe'));
    peer.knobs.serviceDelayMs = 3000;
    const pending = client.callService('/reset_robot', {}, 5000).catch((e: Error) => e) as Promise<Error>;
    await new Promise((r) => setTimeout(r, 20));
    peer.knobs.refuseConnections = true;
    peer.dropConnections();
    const err = await pending;
    expect(err.message).toMatch(/connection to rosbridge lost/);
    expect(client.publish('/cmd_vel', twist(1, 0))).toBe(false); // never queued for later
    expect(client.stats.droppedWhileDisconnected).toBe(1);
    await new Promise((r) => setTimeout(r, 150)); // a few refused attempts
    peer.knobs.refuseConnections = false;
    peer.received.length = 0;
    expect(await peer.until(() => client.connected, 3000)).toBe(true);
    expect(client.stats.reconnects).toBe(1);
    expect(events).toEqual(['disconnected', 'connected']);
    await peer.until(() => peer.received.filter((m) => ['subscribe', 'advertise', 'advertise_service'].includes(String(m.op))).length === 3);
    expect(peer.received.map((m) => m.op).sort()).toEqual(['advertise', 'advertise_service', 'subscribe']);
    peer.publishOdom();
    expect(await peer.until(() => odoms.length === 1)).toBe(true);
    peer.knobs.serviceDelayMs = 0;
    await expect(client.callService('/reset_robot')).resolves.toEqual({});
  });

  it('drops and reconnects a half-open connection (no pong within the ping period)', { timeout: 5000 }, async () => {
    const { peer, client } = await setup({}, { pingIntervalMs: 100 });
    const odoms: unknown[] = [];
    client.subscribe('/odom', 'nav_msgs/Odometry', (m) => odoms.push(m));
    await peer.until(() => peer.received.some((m) => m.op === 'subscribe'));
    const t0 = performance.now();
    peer.freeze();
    expect(await peer.until(() => client.stats.reconnects === 1, 3000)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(600); // two or three ping periods, not minutes
    await peer.until(() => peer.received.filter((m) => m.op === 'subscribe').length === 2);
    peer.publishOdom();
    expect(await peer.until(() => odoms.length === 1)).toBe(true);
  });

  it('refuses to send a message above maxMessageBytes, with a clear error', { timeout: 5000 }, async () => {
    const { client } = await setup({}, { maxMessageBytes: 1000 });
    client.advertise('/big', 'std_msgs/String');
    expect(() => client.publish('/big', { data: 'x'.repeat(2000) })).toThrow(/above maxMessageBytes 1000/);
  });
});
