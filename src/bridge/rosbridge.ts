/**
 * A rosbridge v2 client: advertise / publish / subscribe / call_service, answering the services
 * it advertises, and re-advertising and re-subscribing each time the connection comes back.
 *
 * The connection itself (retries, backoff, pings, why a connect() failed) is rosbridgeSocket.ts;
 * validating and reassembling what comes in is rosbridgeMessages.ts. This file is the protocol.
 *
 * rosbridge reports almost nothing back (REFERENCE §6): no status for bad types or unknown topics,
 * so every wait here has a timeout. Every incoming message is validated (rosbridgeMessages.ts);
 * malformed, oversized or unexpected ones are dropped and counted in `stats.rejected`, never thrown.
 * A failed connect() says why: refused, unresolvable host, not a WebSocket server, TLS, timeout.
 */
import { sanitizePeerText } from '../core/sanitize.ts';
import { IncomingDecoder, type Decoded } from './rosbridgeMessages.ts';
import { ReconnectingSocket, type ConnectionListener, type ConnectionOptions } from './rosbridgeSocket.ts';

// Re-exported: callers and tests import the message layer through the client.
export { parseIncoming, FragmentAssembler, type Incoming } from './rosbridgeMessages.ts';

/** The connection's settings (url, timeouts, message size, backoff, pings) are in ConnectionOptions. */
export interface RosbridgeOptions extends ConnectionOptions {
  /** Resend the first message published after (re-)advertising this many ms later (0 = never). */
  resendFirstAfterMs?: number;
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

/** A failed or timed-out service call. */
export class RosServiceError extends Error {
  constructor(readonly service: string, message: string) {
    // Both come from the peer (rosbridge relays the service's own text): escape what a terminal would obey.
    super(`service ${sanitizePeerText(service, 200)}: ${sanitizePeerText(message, 1000)}`);
    this.name = 'RosServiceError';
  }
}

interface Subscription { id: string; topic: string; type: string; options: SubscribeOptions; handler: MessageHandler }
interface PendingCall { service: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

export class RosbridgeClient {
  readonly stats: RosbridgeStats = { received: 0, rejected: 0, reconnects: 0, fragmentsReassembled: 0, droppedWhileDisconnected: 0, lastRejection: '' };
  private nextId = 1;
  private readonly opts: Required<Omit<RosbridgeOptions, 'onReject'>> & Pick<RosbridgeOptions, 'onReject'>;
  private readonly advertised = new Map<string, { type: string; firstPending: boolean; resendFirst: boolean; resendTimer: NodeJS.Timeout | null; at: number }>();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly services = new Map<string, { type: string; handler: ServiceHandler }>();
  private readonly pending = new Map<string, PendingCall>();
  private readonly decoder: IncomingDecoder;
  private readonly socket: ReconnectingSocket;

  constructor(options: RosbridgeOptions) {
    this.opts = { requestTimeoutMs: 5000, maxMessageBytes: 10_000_000, reconnectInitialMs: 100, reconnectMaxMs: 5000, resendFirstAfterMs: 50, pingIntervalMs: 2000, ...options };
    this.decoder = new IncomingDecoder(this.opts.maxMessageBytes, {
      reject: (why) => this.reject(why),
      reassembled: () => { this.stats.fragmentsReassembled++; },
    });
    this.socket = new ReconnectingSocket(this.opts, {
      open: (isReconnect) => this.onOpen(isReconnect),
      message: (data, isBinary) => this.onMessage(data, isBinary),
      close: () => this.onClose(),
    });
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Opens the first connection, retrying until `requestTimeoutMs` (ReconnectingSocket.connect). */
  connect(): Promise<void> {
    return this.socket.connect();
  }

  /** Listens to connection changes; returns the function that stops listening. */
  onConnection(listener: ConnectionListener): () => void {
    return this.socket.onConnection(listener);
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
    for (const a of this.advertised.values()) if (a.resendTimer) clearTimeout(a.resendTimer);
    this.failPending('client closed');
    await this.socket.close();
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
    return this.socket.send(text);
  }

  private sendSubscribe(sub: Subscription): void {
    const frame: Record<string, unknown> = { op: 'subscribe', id: sub.id, topic: sub.topic, type: sub.type };
    if (sub.options.throttleRate !== undefined) frame.throttle_rate = sub.options.throttleRate;
    if (sub.options.queueLength !== undefined) frame.queue_length = sub.options.queueLength;
    this.send(frame);
  }

  /** Called on each (re)open, before the connection listeners hear 'connected'. */
  private onOpen(isReconnect: boolean): void {
    if (isReconnect) this.stats.reconnects++;
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
  }

  /** Called when a connection or attempt ends, before the listeners hear 'disconnected'. */
  private onClose(): void {
    // Half a fragmented message or a pending answer will never arrive on a new connection.
    this.decoder.clear();
    this.failPending('connection to rosbridge lost');
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
    const m = this.decoder.decode(data, isBinary);
    if (m) this.dispatch(m);
  }

  private dispatch(m: Decoded): void {
    switch (m.op) {
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
  private async answerServiceRequest(m: Extract<Decoded, { op: 'call_service' }>): Promise<void> {
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
