/**
 * A rosbridge v2 client on `ws`: advertise / publish / subscribe / call_service, answering the
 * services it advertises, reassembling `fragment` messages, and reconnecting with exponential
 * backoff (re-advertising and re-subscribing afterwards).
 *
 * rosbridge reports almost nothing back (REFERENCE §6): no status for bad types or unknown topics,
 * so every wait here has a timeout. Every incoming message is validated; malformed, oversized or
 * unexpected ones are dropped and counted in `stats.rejected`, never thrown.
 */
import WebSocket from 'ws';

export interface RosbridgeOptions {
  /** ws://host:9090 */
  url: string;
  /** Timeout of the first connection and of each service call (ms). */
  requestTimeoutMs?: number;
  /** Largest message accepted or sent, in bytes (after fragment reassembly). */
  maxMessageBytes?: number;
  /** Reconnect backoff: first delay, cap (ms); the delay doubles after each failed attempt. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** Resend the first message published after (re-)advertising this many ms later (0 = never). */
  resendFirstAfterMs?: number;
  /**
   * WebSocket ping period (ms; 0 = off). A connection that has not answered the previous ping by
   * the next one is dropped and reconnected: a half-open link (robot out of Wi-Fi range) would
   * otherwise look connected for minutes while commands go nowhere.
   */
  pingIntervalMs?: number;
  /** Called with the reason each time an incoming message is rejected (the env counts them too). */
  onReject?: (why: string) => void;
}

export interface RosbridgeStats {
  received: number;
  rejected: number;
  reconnects: number;
  fragmentsReassembled: number;
  /** Publishes dropped because the connection was down (stale commands are never queued). */
  droppedWhileDisconnected: number;
  /** Why the last message was rejected (for logs and tests). */
  lastRejection: string;
}

export interface SubscribeOptions {
  /** Minimum ms between messages rosbridge sends us (its `throttle_rate`). */
  throttleRate?: number;
  /** Messages rosbridge buffers while throttling (its `queue_length`). */
  queueLength?: number;
}

type MessageHandler = (msg: Record<string, unknown>) => void;
type ServiceHandler = (args: Record<string, unknown>) => unknown | Promise<unknown>;
type ConnectionListener = (event: 'connected' | 'disconnected') => void;

/** A failed or timed-out service call. */
export class RosServiceError extends Error {
  constructor(readonly service: string, message: string) {
    super(`service ${service}: ${message}`);
    this.name = 'RosServiceError';
  }
}

interface Subscription { id: string; topic: string; type: string; options: SubscribeOptions; handler: MessageHandler }
interface PendingCall { service: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

export class RosbridgeClient {
  readonly stats: RosbridgeStats = { received: 0, rejected: 0, reconnects: 0, fragmentsReassembled: 0, droppedWhileDisconnected: 0, lastRejection: '' };
  private ws: WebSocket | null = null;
  private closedByUser = false;
  private nextId = 1;
  private backoffMs: number;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private everConnected = false;
  private wasOpen = false;
  private readonly opts: Required<Omit<RosbridgeOptions, 'onReject'>> & Pick<RosbridgeOptions, 'onReject'>;
  private readonly advertised = new Map<string, { type: string; firstPending: boolean; resendFirst: boolean; resendTimer: NodeJS.Timeout | null; at: number }>();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly services = new Map<string, { type: string; handler: ServiceHandler }>();
  private readonly pending = new Map<string, PendingCall>();
  private readonly listeners = new Set<ConnectionListener>();
  private readonly fragments: FragmentAssembler;

  constructor(options: RosbridgeOptions) {
    this.opts = { requestTimeoutMs: 5000, maxMessageBytes: 10_000_000, reconnectInitialMs: 100, reconnectMaxMs: 5000, resendFirstAfterMs: 50, pingIntervalMs: 2000, ...options };
    this.backoffMs = this.opts.reconnectInitialMs;
    this.fragments = new FragmentAssembler(this.opts.maxMessageBytes);
  }

  get connected(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Opens the first connection; rejects after `requestTimeoutMs`. Later losses reconnect by themselves. */
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        this.closedByUser = true;
        this.ws?.terminate();
        reject(new Error(`rosbridge: no connection to ${this.opts.url} within ${this.opts.requestTimeoutMs} ms`));
      }, this.opts.requestTimeoutMs);
      const off = this.onConnection((e) => {
        if (e !== 'connected') return;
        clearTimeout(timer);
        off();
        resolve();
      });
      this.open();
    });
  }

  /** Listens to connection changes; returns the function that stops listening. */
  onConnection(listener: ConnectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Declares that we publish on `topic`. `resendFirst: false` for topics where a repeated message
   * is not harmless (a reset); wait `advertisedAt(topic)` + a moment before publishing there instead.
   */
  advertise(topic: string, type: string, { resendFirst = true } = {}): void {
    const prev = this.advertised.get(topic);
    if (prev?.resendTimer) clearTimeout(prev.resendTimer);
    this.advertised.set(topic, { type, firstPending: resendFirst, resendFirst, resendTimer: null, at: performance.now() });
    this.send({ op: 'advertise', id: this.id('advertise'), topic, type });
  }

  /** performance.now() of the last (re-)advertise of `topic`, or undefined. */
  advertisedAt(topic: string): number | undefined {
    return this.advertised.get(topic)?.at;
  }

  unadvertise(topic: string): void {
    const a = this.advertised.get(topic);
    if (a?.resendTimer) clearTimeout(a.resendTimer);
    if (this.advertised.delete(topic)) this.send({ op: 'unadvertise', topic });
  }

  /**
   * Publishes `msg` on an advertised topic. Returns false (and drops it) while disconnected:
   * a command queued during an outage would reach the robot late. The first message after
   * advertising is sent again `resendFirstAfterMs` later unless another publish has gone out,
   * because rosbridge may drop it while ROS subscribers are still connecting (REFERENCE §6).
   */
  publish(topic: string, msg: Record<string, unknown>): boolean {
    const a = this.advertised.get(topic);
    if (!a) throw new Error(`rosbridge: publish on ${topic} before advertise`);
    if (a.resendTimer) {
      clearTimeout(a.resendTimer); // a newer message supersedes the resend of an older one
      a.resendTimer = null;
    }
    const frame = { op: 'publish', topic, msg };
    if (!this.send(frame)) {
      this.stats.droppedWhileDisconnected++;
      return false;
    }
    if (a.firstPending && this.opts.resendFirstAfterMs > 0) {
      a.firstPending = false;
      a.resendTimer = setTimeout(() => {
        a.resendTimer = null;
        this.send(frame);
      }, this.opts.resendFirstAfterMs);
      a.resendTimer.unref?.();
    }
    a.firstPending = false;
    return true;
  }

  /** Subscribes; returns the function that unsubscribes. Survives reconnects. */
  subscribe(topic: string, type: string, handler: MessageHandler, options: SubscribeOptions = {}): () => void {
    const sub: Subscription = { id: this.id(`subscribe:${topic}`), topic, type, options, handler };
    this.subscriptions.set(sub.id, sub);
    this.sendSubscribe(sub);
    return () => {
      if (this.subscriptions.delete(sub.id)) this.send({ op: 'unsubscribe', id: sub.id, topic });
    };
  }

  /**
   * Calls a ROS service and resolves with its `values`. Rejects with a RosServiceError when
   * rosbridge answers `result: false`, when no answer comes within the timeout, or when the
   * connection drops first.
   */
  callService(service: string, args: Record<string, unknown> = {}, timeoutMs = this.opts.requestTimeoutMs): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = this.id(`call_service:${service}`);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RosServiceError(service, `no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { service, resolve, reject, timer });
      if (!this.send({ op: 'call_service', id, service, args })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new RosServiceError(service, 'not connected to rosbridge'));
      }
    });
  }

  /** Serves a ROS service from this client: every request is answered, failures with result false. */
  advertiseService(service: string, type: string, handler: ServiceHandler): void {
    this.services.set(service, { type, handler });
    this.send({ op: 'advertise_service', service, type });
  }

  unadvertiseService(service: string): void {
    if (this.services.delete(service)) this.send({ op: 'unadvertise_service', service });
  }

  /** Closes for good: no reconnect; pending calls fail. */
  async close(): Promise<void> {
    this.closedByUser = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const a of this.advertised.values()) if (a.resendTimer) clearTimeout(a.resendTimer);
    this.failPending('client closed');
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { ws.terminate(); resolve(); }, 500);
      ws.once('close', () => { clearTimeout(t); resolve(); });
      ws.close();
    });
  }

  // ---- plumbing ----

  private id(what: string): string {
    return `${what}:${this.nextId++}`;
  }

  /** Sends a frame if connected; returns whether it went out. Oversized frames are refused loudly. */
  private send(frame: Record<string, unknown>): boolean {
    const text = JSON.stringify(frame);
    if (text.length > this.opts.maxMessageBytes) {
      throw new Error(`rosbridge: outgoing ${String(frame.op)} is ${text.length} bytes, above maxMessageBytes ${this.opts.maxMessageBytes}`);
    }
    if (!this.connected) return false;
    this.ws!.send(text);
    return true;
  }

  private sendSubscribe(sub: Subscription): void {
    const frame: Record<string, unknown> = { op: 'subscribe', id: sub.id, topic: sub.topic, type: sub.type };
    if (sub.options.throttleRate !== undefined) frame.throttle_rate = sub.options.throttleRate;
    if (sub.options.queueLength !== undefined) frame.queue_length = sub.options.queueLength;
    this.send(frame);
  }

  private open(): void {
    // Frames up to twice the message limit are read and rejected by us (counted, connection kept);
    // beyond that ws closes the connection rather than buffer them (we then reconnect).
    const ws = new WebSocket(this.opts.url, { maxPayload: 2 * this.opts.maxMessageBytes, handshakeTimeout: this.opts.requestTimeoutMs });
    this.ws = ws;
    ws.on('open', () => {
      this.startPing(ws);
      this.onOpen();
    });
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('error', () => { /* followed by 'close', which handles it */ });
    ws.on('close', () => this.onClose(ws));
  }

  private startPing(ws: WebSocket): void {
    if (!(this.opts.pingIntervalMs > 0)) return;
    let answered = true;
    ws.on('pong', () => { answered = true; });
    const timer = setInterval(() => {
      if (!answered) {
        ws.terminate(); // 'close' follows: reconnect as for any lost connection
        return;
      }
      answered = false;
      ws.ping();
    }, this.opts.pingIntervalMs);
    timer.unref?.();
    ws.once('close', () => clearInterval(timer));
  }

  private onOpen(): void {
    if (this.everConnected) this.stats.reconnects++;
    this.everConnected = true;
    this.wasOpen = true;
    this.backoffMs = this.opts.reconnectInitialMs;
    // A new rosbridge connection knows nothing of the old one: declare everything again.
    for (const [topic, a] of this.advertised) {
      if (a.resendTimer) clearTimeout(a.resendTimer);
      a.resendTimer = null;
      a.firstPending = a.resendFirst;
      a.at = performance.now();
      this.send({ op: 'advertise', id: this.id('advertise'), topic, type: a.type });
    }
    for (const [service, s] of this.services) this.send({ op: 'advertise_service', service, type: s.type });
    for (const sub of this.subscriptions.values()) this.sendSubscribe(sub);
    for (const l of [...this.listeners]) l('connected');
  }

  private onClose(ws: WebSocket): void {
    if (this.ws !== ws) return;
    this.ws = null;
    this.fragments.clear();
    this.failPending('connection to rosbridge lost');
    // Only a connection that was open is "lost"; failed reconnect attempts say nothing.
    if (this.wasOpen) for (const l of [...this.listeners]) l('disconnected');
    this.wasOpen = false;
    if (this.closedByUser) return;
    const delay = this.backoffMs * (0.8 + 0.4 * Math.random()); // jitter: many clients must not retry in step
    this.backoffMs = Math.min(this.opts.reconnectMaxMs, this.backoffMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.closedByUser) this.open();
    }, delay);
    this.reconnectTimer.unref?.();
  }

  private failPending(why: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new RosServiceError(p.service, why));
    }
  }

  private reject(why: string): void {
    this.stats.rejected++;
    this.stats.lastRejection = why;
    this.opts.onReject?.(why);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.stats.received++;
    if (isBinary) return this.reject('binary frame (no compression was requested)');
    if (data.length > this.opts.maxMessageBytes) return this.reject(`message of ${data.length} bytes above the limit`);
    const parsed = parseIncoming(data.toString('utf8'));
    if (typeof parsed === 'string') return this.reject(parsed);
    this.dispatch(parsed);
  }

  private dispatch(m: Incoming): void {
    switch (m.op) {
      case 'fragment': {
        const r = this.fragments.add(m);
        if (r.rejected) this.reject(r.rejected);
        if (r.complete === undefined) return;
        const inner = parseIncoming(r.complete);
        if (typeof inner === 'string') return this.reject(`reassembled message: ${inner}`);
        if (inner.op === 'fragment') return this.reject('fragment nested in a fragment');
        this.stats.fragmentsReassembled++;
        return this.dispatch(inner);
      }
      case 'publish': {
        let delivered = false;
        for (const sub of this.subscriptions.values()) {
          if (sub.topic !== m.topic) continue;
          delivered = true;
          try {
            sub.handler(m.msg);
          } catch (e) {
            // A failing handler is the subscriber's bug; it must not take the connection down.
            this.stats.lastRejection = `subscriber of ${m.topic.slice(0, 80)} threw: ${(e as Error).message}`;
          }
        }
        if (!delivered) this.reject(`publish on unsubscribed topic ${m.topic.slice(0, 80)}`);
        return;
      }
      case 'service_response': {
        const key = m.id === undefined ? undefined : String(m.id);
        const p = key === undefined ? undefined : this.pending.get(key);
        if (!p || p.service !== m.service) return this.reject('service_response for no pending call');
        clearTimeout(p.timer);
        this.pending.delete(key!);
        if (m.result) p.resolve(m.values ?? {});
        else p.reject(new RosServiceError(m.service, typeof m.values === 'string' ? m.values : `failed: ${JSON.stringify(m.values ?? null).slice(0, 200)}`));
        return;
      }
      case 'call_service':
        return void this.answerServiceRequest(m).catch((e: Error) => { this.stats.lastRejection = `service reply failed: ${e.message}`; });
      case 'status':
        return; // informational; rosbridge sends these only at raised log levels
    }
  }

  /** A ROS node called a service we advertised: always answer, or the caller hangs (REFERENCE §6). */
  private async answerServiceRequest(m: Extract<Incoming, { op: 'call_service' }>): Promise<void> {
    const s = this.services.get(m.service);
    const reply = (result: boolean, values: unknown) => this.send({ op: 'service_response', id: m.id, service: m.service, values, result });
    if (!s) {
      this.reject(`call_service for ${m.service.slice(0, 80)}, which we do not serve`);
      reply(false, `service ${m.service} is not served by this client`);
      return;
    }
    try {
      reply(true, (await s.handler(m.args)) ?? {});
    } catch (e) {
      // Also reached when the handler's answer cannot be sent (too big, not JSON): say so, briefly.
      reply(false, String((e as Error)?.message ?? e).slice(0, 1000));
    }
  }
}

// ---- incoming messages: validation and fragment reassembly ----

/** The incoming ops we act on, validated. */
export type Incoming =
  | { op: 'publish'; topic: string; msg: Record<string, unknown> }
  | { op: 'service_response'; id?: string | number; service: string; values?: unknown; result: boolean }
  | { op: 'call_service'; id?: string | number; service: string; args: Record<string, unknown> }
  | { op: 'fragment'; id: string | number; data: string; num: number; total: number }
  | { op: 'status'; level?: string; msg?: string };

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isId = (x: unknown): x is string | number => typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x));
const isName = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= 1024;

/** Parses and checks one incoming text frame; returns the message or why it was rejected. */
export function parseIncoming(text: string): Incoming | string {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return 'not valid JSON';
  }
  if (!isObject(m)) return 'not a JSON object';
  if (m.id !== undefined && !isId(m.id)) return 'id is neither a string nor a number';
  switch (m.op) {
    case 'publish':
      if (!isName(m.topic)) return 'publish without a topic';
      if (!isObject(m.msg)) return `publish on ${m.topic.slice(0, 80)} without a msg object`;
      return m as Incoming;
    case 'service_response':
      if (!isName(m.service)) return 'service_response without a service';
      if (typeof m.result !== 'boolean') return 'service_response without a boolean result';
      return m as Incoming;
    case 'call_service': {
      if (!isName(m.service)) return 'call_service without a service';
      // rosbridge sends args as an object; an empty list also means "no arguments".
      const args = m.args === undefined || (Array.isArray(m.args) && m.args.length === 0) ? {} : m.args;
      if (!isObject(args)) return 'call_service args is not an object';
      return { op: 'call_service', id: m.id as string | number | undefined, service: m.service, args };
    }
    case 'fragment':
      if (!isId(m.id)) return 'fragment without an id';
      if (typeof m.data !== 'string') return 'fragment data is not a string';
      if (typeof m.num !== 'number' || !Number.isInteger(m.num) || m.num < 0) return 'fragment num is not an integer ≥ 0';
      // rosbridge may send a non-integer total (REFERENCE §6): only require a positive finite number.
      if (typeof m.total !== 'number' || !Number.isFinite(m.total) || m.total <= 0 || m.total > 1e6) return 'fragment total is not a positive number';
      return m as Incoming;
    case 'status':
      return { op: 'status', level: String(m.level ?? ''), msg: String(m.msg ?? '') };
    default:
      return typeof m.op === 'string' ? `unknown op ${m.op.slice(0, 40)}` : 'no op';
  }
}

/** Fragments per message: a bound on bookkeeping that the byte limit alone would leave at millions. */
const MAX_FRAGMENTS = 100_000;

/**
 * Reassembles fragments in arrival order from num 0. rosbridge may reuse one constant id for
 * every fragmented message and send a non-integer total (REFERENCE §6), so: a num 0 starts a new
 * message under its id (an unfinished one is dropped), each next fragment must carry the next num,
 * and the message is complete when its text parses, which a strict prefix of a JSON object never
 * does, once num + 1 ≥ ⌊total⌋. More than ⌈total⌉ fragments, a gap, or too many bytes drop it.
 */
export class FragmentAssembler {
  private readonly open = new Map<string, { parts: string[]; bytes: number; next: number; total: number; last: string }>();

  constructor(private readonly maxBytes: number, private readonly maxOpen = 8) {}

  add(f: Extract<Incoming, { op: 'fragment' }>): { complete?: string; rejected?: string } {
    const key = String(f.id);
    let a = this.open.get(key);
    let rejected: string | undefined;
    if (f.num === 0) {
      if (a) rejected = `unfinished fragmented message ${key.slice(0, 40)} replaced`;
      if (!a && this.open.size >= this.maxOpen) {
        const oldest = this.open.keys().next().value as string;
        this.open.delete(oldest);
        rejected = 'too many unfinished fragmented messages; dropped the oldest';
      }
      a = { parts: [], bytes: 0, next: 0, total: f.total, last: '' };
      this.open.set(key, a);
    } else if (!a) {
      return { rejected: `fragment ${f.num} of ${key.slice(0, 40)} without its start` };
    } else if (f.num === a.next - 1 && f.data === a.last) {
      return { rejected: 'duplicate fragment ignored' }; // keeps the message: the copy adds nothing
    } else if (f.num !== a.next) {
      this.open.delete(key);
      return { rejected: `fragment ${f.num} out of order (expected ${a.next}); message dropped` };
    }
    a.bytes += f.data.length;
    if (a.bytes > this.maxBytes || a.next >= MAX_FRAGMENTS) {
      this.open.delete(key);
      return { rejected: `fragmented message above ${this.maxBytes} bytes or ${MAX_FRAGMENTS} fragments; dropped` };
    }
    a.parts.push(f.data);
    a.last = f.data;
    a.next = f.num + 1;
    if (a.next >= Math.floor(a.total)) {
      const text = a.parts.join('');
      let complete = false;
      try {
        complete = isObject(JSON.parse(text));
      } catch {
        complete = false;
      }
      if (complete) {
        this.open.delete(key);
        return { complete: text, rejected };
      }
      if (a.next >= Math.ceil(a.total)) {
        this.open.delete(key);
        return { rejected: `fragments of ${key.slice(0, 40)} do not form a JSON object` };
      }
    }
    return { rejected };
  }

  clear(): void {
    this.open.clear();
  }
}
