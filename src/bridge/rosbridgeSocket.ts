/**
 * The connection under a rosbridge client: one `ws` WebSocket at a time to one URL, opened with
 * retries until a deadline (connect()), kept honest with pings, reopened with jittered exponential
 * backoff whenever it drops, and closed for good on request. It knows nothing of the rosbridge
 * protocol: it sends text it is given and reports each open, incoming message and close to its
 * owner (RosbridgeClient), which re-declares its topics and services on every open.
 *
 * Split from the client (rosbridge.ts) because the two change for different reasons: this part
 * is about sockets, timers and why a connection failed; the client is about what is said over it.
 */
import WebSocket from 'ws';
import { explainConnectError, explainHttpAnswer, explainSilence } from './rosbridgeMessages.ts';

export type ConnectionListener = (event: 'connected' | 'disconnected') => void;

/** The connection's part of RosbridgeOptions (which extends it); RosbridgeClient fills in defaults. */
export interface ConnectionOptions {
  /** ws://host:9090 */
  url: string;
  /** Timeout of the first connection and of each service call (ms). */
  requestTimeoutMs?: number;
  /** Largest message accepted or sent, in bytes (after fragment reassembly). */
  maxMessageBytes?: number;
  /** Reconnect backoff: first delay, cap (ms); the delay doubles after each failed attempt. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /**
   * WebSocket ping period (ms; 0 = off). A connection that has not answered the previous ping by
   * the next one is dropped and reconnected: a half-open link (robot out of Wi-Fi range) would
   * otherwise look connected for minutes while commands go nowhere.
   */
  pingIntervalMs?: number;
}

/** What the socket tells its owner; called before the connection listeners hear of the same event. */
export interface SocketEvents {
  /** A connection opened and can send; `isReconnect` unless it is the first one ever. */
  open(isReconnect: boolean): void;
  message(data: Buffer, isBinary: boolean): void;
  /** The current connection or connection attempt ended (a reconnect may follow). */
  close(): void;
}

export class ReconnectingSocket {
  private ws: WebSocket | null = null;
  private closedByUser = false;
  private backoffMs: number;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private everConnected = false;
  private wasOpen = false;
  private readonly listeners = new Set<ConnectionListener>();
  /** Why the latest connection attempt failed, in words ('' if none has); connect() reports it. */
  private lastFailure = '';
  private attempts = 0;

  constructor(private readonly opts: Required<ConnectionOptions>, private readonly events: SocketEvents) {
    this.backoffMs = opts.reconnectInitialMs;
  }

  get connected(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /**
   * Opens the first connection, retrying with backoff (rosbridge may still be starting); after
   * `requestTimeoutMs` rejects with `rosbridge: cannot connect to URL: <why>`, the why being the
   * last failed attempt's cause. Later losses reconnect by themselves.
   */
  connect(): Promise<void> {
    const { url, requestTimeoutMs: ms } = this.opts;
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        off();
        this.closedByUser = true;
        reject(new Error(`rosbridge: cannot connect to ${url}: ${why}`));
      };
      const timer = setTimeout(() => {
        // Read before terminate(): aborting the attempt in flight would record that as the cause.
        const why = this.lastFailure || explainSilence(url, ms);
        const n = this.attempts;
        this.ws?.terminate();
        fail(`${why} (${n} attempt${n === 1 ? '' : 's'} in ${ms} ms)`);
      }, ms);
      const off = this.onConnection((e) => {
        if (e !== 'connected') return;
        clearTimeout(timer);
        off();
        resolve();
      });
      try {
        this.open();
      } catch (e) {
        fail((e as Error).message); // a malformed URL: ws throws at once, and retrying cannot help
      }
    });
  }

  /** Listens to connection changes; returns the function that stops listening. */
  onConnection(listener: ConnectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends one text frame if connected; returns whether it went out (nothing is queued). */
  send(text: string): boolean {
    if (!this.connected) return false;
    this.ws!.send(text);
    return true;
  }

  /** Closes for good: no reconnect. Resolves once closed, or after 500 ms (then terminated). */
  async close(): Promise<void> {
    this.closedByUser = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { ws.terminate(); resolve(); }, 500);
      ws.once('close', () => { clearTimeout(t); resolve(); });
      ws.close();
    });
  }

  private open(): void {
    // Frames up to twice the message limit are read and rejected by the client (counted, connection
    // kept); beyond that ws closes the connection rather than buffer them (we then reconnect).
    // No permessage-deflate: a compressed send finishes asynchronously (in zlib), so a stop command
    // sent right before process.exit would never leave; uncompressed, ws writes it to the socket at once.
    const ws = new WebSocket(this.opts.url, { maxPayload: 2 * this.opts.maxMessageBytes, handshakeTimeout: this.opts.requestTimeoutMs, perMessageDeflate: false });
    this.ws = ws;
    this.attempts++;
    let failure = ''; // the first cause wins: aborting a failed handshake emits a vaguer error after it
    ws.on('unexpected-response', (_req, res) => {
      failure ||= explainHttpAnswer(res);
      res.resume();
      ws.terminate(); // listening here means ws no longer aborts the handshake itself
    });
    ws.on('open', () => {
      this.lastFailure = '';
      this.startPing(ws);
      this.onOpen();
    });
    ws.on('message', (data, isBinary) => this.events.message(data as Buffer, isBinary));
    ws.on('error', (err) => { failure ||= explainConnectError(err, this.opts.url); }); // 'close' follows and reconnects
    ws.on('close', () => {
      if (failure) this.lastFailure = failure;
      this.onClose(ws);
    });
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
    const isReconnect = this.everConnected;
    this.everConnected = true;
    this.wasOpen = true;
    this.backoffMs = this.opts.reconnectInitialMs;
    // The owner re-declares itself before anyone is told the connection is up.
    this.events.open(isReconnect);
    for (const l of [...this.listeners]) l('connected');
  }

  private onClose(ws: WebSocket): void {
    if (this.ws !== ws) return;
    this.ws = null;
    this.events.close();
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
}
