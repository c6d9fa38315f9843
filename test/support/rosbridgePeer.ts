/**
 * A rosbridge v2 test server (written from the public protocol spec) on 127.0.0.1 with a simulated
 * differential-drive (unicycle) robot behind it: it takes geometry_msgs/Twist on /cmd_vel,
 * publishes nav_msgs/Odometry on /odom after each command (`lockstep`) or at a rate, and serves
 * /reset_robot (std_srvs/Empty) (a std_msgs/Empty on /reset also resets it). Knobs make it misbehave like a real rosbridge: fragment what it
 * sends (non-integer total, constant id), drop the first publish after an advertise, go silent,
 * drop connections, refuse them, send garbage. Every command received is recorded with its time.
 */
import { WebSocketServer, WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';

export interface PeerOptions {
  /** 'lockstep': one /odom after every /cmd_vel and after a reset; 'rate': /odom at rateHz. */
  mode?: 'lockstep' | 'rate';
  rateHz?: number;
  /** Integration step of the robot per command (lockstep) or per tick (rate), seconds. */
  dt?: number;
}

export interface ReceivedCommand { at: number; topic: string; msg: Record<string, unknown> }

export interface Knobs {
  /** Split every outgoing message into fragments of this many characters (0 = whole messages). */
  fragmentSize: number;
  /** Send `total` as a non-integer (length / size) as rosbridge sometimes does. */
  fractionalTotal: boolean;
  /** Use one constant fragment id for every message. */
  constantFragmentId: boolean;
  /** Drop the first publish after each advertise (ROS subscribers not yet connected)… */
  dropFirstPublish: boolean;
  /** … if it comes within this many ms of the advertise (as in ROS, where the loss is a race). */
  dropWindowMs: number;
  /** Publish nothing (the robot / rosbridge went quiet). */
  silent: boolean;
  /** Close new connections at once (rosbridge down). */
  refuseConnections: boolean;
  /** Delay before answering a service call, ms. */
  serviceDelayMs: number;
  /** Serve rosapi's /rosapi/message_details (the field check at connect). */
  rosapi: boolean;
  /** Also publish the odometry on /odom_late this many ms after each /odom (a second sensor; < 0: never). */
  lateTopicMs: number;
}

export class RosbridgePeer {
  readonly knobs: Knobs = { fragmentSize: 0, fractionalTotal: false, constantFragmentId: false, dropFirstPublish: false, dropWindowMs: Infinity, silent: false, refuseConnections: false, serviceDelayMs: 0, rosapi: true, lateTopicMs: -1 };
  readonly commands: ReceivedCommand[] = [];
  /** Every op received, for assertions on the protocol (subscribe options, re-advertise…). */
  readonly received: Record<string, unknown>[] = [];
  /** performance.now() of every /odom sent. */
  readonly odomTimes: number[] = [];
  connections = 0;
  resets = 0;
  /** Publishes dropped because a field does not exist in the advertised type (as rosbridge does). */
  droppedPublishes = 0;
  readonly robot = { x: 0, y: 0, theta: 0, v: 0, w: 0 };
  private wss!: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();
  private readonly frozen = new Set<WebSocket>();
  private readonly subs = new Map<WebSocket, Map<string, { topic: string; throttle: number; lastSent: number }>>();
  private readonly advertised = new Map<WebSocket, Map<string, { type: string; dropNext: boolean; at: number }>>();
  private timer: NodeJS.Timeout | null = null;
  private readonly clientCalls = new Map<string, (m: Record<string, unknown>) => void>();
  private seq = 0;
  private fragmentSeq = 0;
  readonly mode: 'lockstep' | 'rate';
  readonly dt: number;

  constructor(private readonly options: PeerOptions = {}) {
    this.mode = options.mode ?? 'lockstep';
    this.dt = options.dt ?? 0.1;
  }

  async start(): Promise<string> {
    // Refusing happens at the HTTP upgrade, so the client never sees the connection open.
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: () => !this.knobs.refuseConnections });
    await new Promise<void>((r) => this.wss.once('listening', () => r()));
    this.wss.on('connection', (ws) => this.onConnection(ws));
    if (this.mode === 'rate') {
      this.timer = setInterval(() => { this.integrate(this.dt); this.publishOdom(); }, 1000 / (this.options.rateHz ?? 20));
    }
    return this.url;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }

  /** Drops every connection abruptly (no close handshake), like a crashed rosbridge. */
  dropConnections(): void {
    for (const ws of this.sockets) ws.terminate();
  }

  /** Stops reading and writing every connection without closing it: a half-open link (no pongs either). */
  freeze(): void {
    for (const ws of this.sockets) {
      const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
      socket.pause();
      this.frozen.add(ws);
    }
  }

  /** Sends raw text or bytes to every client. */
  sendRaw(data: string | Buffer): void {
    for (const ws of this.sockets) ws.send(data);
  }

  /** Publishes on a topic to the clients subscribed to it (through fragmentation and throttling). */
  publish(topic: string, msg: unknown): void {
    if (this.knobs.silent) return;
    const live = (ws: WebSocket) => !this.frozen.has(ws);
    const now = performance.now();
    for (const [ws, subs] of this.subs) {
      if (!live(ws)) continue;
      for (const s of subs.values()) {
        if (s.topic !== topic) continue;
        if (s.throttle > 0 && now - s.lastSent < s.throttle) continue;
        s.lastSent = now;
        this.send(ws, { op: 'publish', topic, msg });
        break; // one copy per connection even with several subscriptions
      }
    }
  }

  /** Calls a service the client advertised (as a ROS node would) and resolves with its service_response. */
  callClient(service: string, args: Record<string, unknown> = {}, timeoutMs = 2000): Promise<Record<string, unknown>> {
    const id = `peer_call_${this.fragmentSeq++}`;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`client did not answer ${service}`)), timeoutMs);
      this.clientCalls.set(id, (m) => { clearTimeout(t); resolve(m); });
      for (const ws of this.sockets) this.send(ws, { op: 'call_service', id, service, args });
    });
  }

  /** Commands received on a topic (default /cmd_vel). */
  commandsOn(topic = '/cmd_vel'): ReceivedCommand[] {
    return this.commands.filter((c) => c.topic === topic);
  }

  /** Waits until `cond` holds or `ms` pass; returns whether it held. */
  async until(cond: () => boolean, ms = 2000): Promise<boolean> {
    const end = performance.now() + ms;
    while (!cond()) {
      if (performance.now() > end) return false;
      await new Promise((r) => setTimeout(r, 2));
    }
    return true;
  }

  private onConnection(ws: WebSocket): void {
    this.connections++;
    this.sockets.add(ws);
    this.subs.set(ws, new Map());
    this.advertised.set(ws, new Map());
    ws.on('message', (data) => this.onMessage(ws, data.toString()));
    ws.on('close', () => {
      this.sockets.delete(ws);
      this.subs.delete(ws);
      this.advertised.delete(ws); // rosbridge unadvertises a client's topics when it leaves
    });
    ws.on('error', () => {});
  }

  /** Like rosbridge: anything malformed or unknown is dropped without a reply (REFERENCE §6). */
  private onMessage(ws: WebSocket, text: string): void {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof m !== 'object' || m === null) return;
    this.received.push(m);
    const adv = this.advertised.get(ws);
    const subs = this.subs.get(ws);
    if (!adv || !subs) return;
    switch (m.op) {
      case 'advertise':
        adv.set(String(m.topic), { type: String(m.type), dropNext: this.knobs.dropFirstPublish, at: performance.now() });
        return;
      case 'unadvertise':
        adv.delete(String(m.topic));
        return;
      case 'subscribe':
        subs.set(String(m.id ?? m.topic), { topic: String(m.topic), throttle: Number(m.throttle_rate ?? 0), lastSent: -Infinity });
        return;
      case 'unsubscribe':
        if (m.id !== undefined) subs.delete(String(m.id));
        else for (const [k, s] of subs) if (s.topic === m.topic) subs.delete(k);
        return;
      case 'publish': {
        const a = adv.get(String(m.topic));
        if (!a || typeof m.msg !== 'object' || m.msg === null) return; // not advertised: silently dropped
        // rosbridge cannot fill a message with a field its type lacks: it logs and drops the publish.
        if (!fitsType(a.type, m.msg)) {
          this.droppedPublishes++;
          return;
        }
        if (a.dropNext) {
          a.dropNext = false;
          if (performance.now() - a.at <= this.knobs.dropWindowMs) return;
        }
        this.commands.push({ at: performance.now(), topic: String(m.topic), msg: m.msg as Record<string, unknown> });
        if (m.topic === '/cmd_vel' && a.type === 'geometry_msgs/Twist') this.onTwist(m.msg as Record<string, Record<string, number>>);
        if (m.topic === '/reset' && a.type === 'std_msgs/Empty') this.resetRobot();
        return;
      }
      case 'call_service':
        this.onCallService(ws, m);
        return;
      case 'service_response': {
        const waiter = this.clientCalls.get(String(m.id));
        this.clientCalls.delete(String(m.id));
        waiter?.(m);
        return;
      }
    }
  }

  private onTwist(msg: Record<string, Record<string, number>>): void {
    const v = Number(msg.linear?.x ?? 0);
    const w = Number(msg.angular?.z ?? 0);
    this.robot.v = Number.isFinite(v) ? v : 0;
    this.robot.w = Number.isFinite(w) ? w : 0;
    if (this.mode === 'lockstep') {
      this.integrate(this.dt);
      this.publishOdom();
    }
  }

  private onCallService(ws: WebSocket, m: Record<string, unknown>): void {
    const reply = (result: boolean, values?: unknown) => setTimeout(() => {
      const frame: Record<string, unknown> = { op: 'service_response', service: m.service, result };
      if (m.id !== undefined) frame.id = m.id;
      if (values !== undefined) frame.values = values;
      if (ws.readyState === WebSocket.OPEN) this.send(ws, frame);
    }, this.knobs.serviceDelayMs);
    if (m.service === '/rosapi/message_details' && this.knobs.rosapi) {
      const type = String((m.args as { type?: unknown })?.type ?? '');
      reply(true, { typedefs: typedefs(type) });
    } else if (m.service === '/reset_robot') {
      this.resetRobot(); // its odometry goes out before the response, as a sim publishing on reset would
      reply(true, {});
    } else {
      reply(false, `Service ${String(m.service)} does not exist`);
    }
  }

  /** Back to the origin at rest (the /reset_robot service and the /reset topic). */
  private resetRobot(): void {
    Object.assign(this.robot, { x: 0, y: 0, theta: 0, v: 0, w: 0 });
    this.resets++;
    if (this.mode === 'lockstep') this.publishOdom();
  }

  private integrate(dt: number): void {
    const r = this.robot;
    r.x += r.v * Math.cos(r.theta) * dt;
    r.y += r.v * Math.sin(r.theta) * dt;
    r.theta += r.w * dt;
  }

  /** nav_msgs/Odometry of the robot's current state. */
  odometry(): Record<string, unknown> {
    const r = this.robot;
    const secs = Date.now() / 1000;
    return {
      header: { seq: this.seq++, stamp: { secs: Math.floor(secs), nsecs: Math.floor((secs % 1) * 1e9) }, frame_id: 'odom' },
      child_frame_id: 'base_link',
      pose: { pose: { position: { x: r.x, y: r.y, z: 0 }, orientation: { x: 0, y: 0, z: Math.sin(r.theta / 2), w: Math.cos(r.theta / 2) } }, covariance: new Array(36).fill(0) },
      twist: { twist: { linear: { x: r.v, y: 0, z: 0 }, angular: { x: 0, y: 0, z: r.w } }, covariance: new Array(36).fill(0) },
    };
  }

  publishOdom(): void {
    if (this.knobs.silent) return;
    this.odomTimes.push(performance.now());
    const odometry = this.odometry();
    this.publish('/odom', odometry);
    if (this.knobs.lateTopicMs >= 0) setTimeout(() => this.publish('/odom_late', odometry), this.knobs.lateTopicMs);
  }

  /** Sends a frame, fragmented when the knob says so. */
  private send(ws: WebSocket, frame: Record<string, unknown>): void {
    const text = JSON.stringify(frame);
    const size = this.knobs.fragmentSize;
    if (size <= 0 || text.length <= size) return void ws.send(text);
    const count = Math.ceil(text.length / size);
    const total = this.knobs.fractionalTotal ? text.length / size : count;
    const id = this.knobs.constantFragmentId ? 'fragment' : `msg_${this.fragmentSeq++}`;
    for (let num = 0; num < count; num++) ws.send(JSON.stringify({ op: 'fragment', id, data: text.slice(num * size, (num + 1) * size), num, total }));
  }
}

/** Field layouts of the message types the peer knows (others are not checked); `type[n]`: an array. */
const TYPES: Record<string, Record<string, string>> = {
  'geometry_msgs/Twist': { linear: 'geometry_msgs/Vector3', angular: 'geometry_msgs/Vector3' },
  'geometry_msgs/Vector3': { x: 'float64', y: 'float64', z: 'float64' },
  'std_msgs/Empty': {},
  'nav_msgs/Odometry': { header: 'std_msgs/Header', child_frame_id: 'string', pose: 'geometry_msgs/PoseWithCovariance', twist: 'geometry_msgs/TwistWithCovariance' },
  'std_msgs/Header': { seq: 'uint32', stamp: 'time', frame_id: 'string' },
  'geometry_msgs/PoseWithCovariance': { pose: 'geometry_msgs/Pose', covariance: 'float64[36]' },
  'geometry_msgs/Pose': { position: 'geometry_msgs/Point', orientation: 'geometry_msgs/Quaternion' },
  'geometry_msgs/Point': { x: 'float64', y: 'float64', z: 'float64' },
  'geometry_msgs/Quaternion': { x: 'float64', y: 'float64', z: 'float64', w: 'float64' },
  'geometry_msgs/TwistWithCovariance': { twist: 'geometry_msgs/Twist', covariance: 'float64[36]' },
};

/** rosapi's answer for `type`: its typedef and those of the types inside it (none if unknown). */
function typedefs(type: string, seen = new Set<string>()): Record<string, unknown>[] {
  const fields = TYPES[type];
  if (!fields || seen.has(type)) return [];
  seen.add(type);
  const names = Object.keys(fields);
  const parts = names.map((n) => /^(.*?)(?:\[(\d*)\])?$/.exec(fields[n])!);
  const own = { type, fieldnames: names, fieldtypes: parts.map((p) => p[1]), fieldarraylen: parts.map((p) => (p[2] === undefined ? -1 : Number(p[2] || 0))), examples: [], constnames: [], constvalues: [] };
  return [own, ...parts.flatMap((p) => typedefs(p[1], seen))];
}

/** Whether every field of `msg` exists in `type` (recursively), as rosbridge's message filling requires. */
function fitsType(type: string, msg: unknown): boolean {
  const fields = TYPES[type];
  if (!fields) return true;
  if (typeof msg !== 'object' || msg === null) return false;
  return Object.entries(msg).every(([k, v]) => k in fields && (TYPES[fields[k]] === undefined || fitsType(fields[k], v)));
}
