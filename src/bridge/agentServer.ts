/**
 * `metarl serve`-style direction: the agent listens (127.0.0.1 by default) and simulators dial
 * in. Each simulator that completes the handshake (./handshake.ts) becomes a RemoteVectorEnv that
 * `accept()` hands out, in arrival order.
 *
 *   const server = await AgentServer.listen({ port: 8765, token });
 *   const env = await server.accept();       // waits for a simulator's hello
 *   ...
 *   await server.close();                    // closes the listener and every connection
 *
 * Connections that fail the handshake (wrong version or token, invalid or oversized hello,
 * timeout) are refused and counted; the server keeps listening. Whatever a connection holds
 * (its env, its place in the queue, process hooks, timers) is released when it ends, however it
 * ends: simulators may connect and leave forever without the server growing.
 */
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { type AgentBridgeOptions, agentHandshake } from './handshake.ts';
import { RemoteVectorEnv } from './remoteEnv.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from './protocol.ts';

export interface AgentServerOptions extends AgentBridgeOptions {
  /** Interface to bind (default 127.0.0.1: only this machine may connect). */
  host?: string;
  /** Port to listen on (default 0: any free port; read it from `server.port`). */
  port?: number;
  /** Simulators that completed the handshake but were not accepted yet, at most (default 16). */
  maxQueued?: number;
}

export interface AgentServerStats {
  /** Connections opened by simulators. */
  connections: number;
  /** Connections refused or dropped during the handshake (version, token, invalid hello, timeout). */
  refused: number;
  /** Messages dropped before a hello, summed over all connections (after it, see each env's stats). */
  rejected: number;
  /** Message of the last refusal, for diagnostics. */
  lastRefusal: string;
}

/**
 * The agent's side of `metarl serve`: listens (127.0.0.1 by default) for simulators speaking
 * metarl-bridge/1, runs the handshake (version, token) with each, and hands the ones that
 * completed it out as `RemoteVectorEnv`s, in arrival order, through `accept()`.
 *
 *   const server = await AgentServer.listen({ port: 8765, token });
 *   const env = await server.accept(60_000);   // the first simulator that dials in
 */
export class AgentServer {
  readonly stats: AgentServerStats = { connections: 0, refused: 0, rejected: 0, lastRefusal: '' };
  private readonly ready: RemoteVectorEnv[] = [];
  private readonly waiters: { resolve: (env: RemoteVectorEnv) => void; reject: (e: Error) => void }[] = [];
  private readonly envs = new Set<RemoteVectorEnv>();
  private closed = false;

  private constructor(
    private readonly wss: WebSocketServer,
    readonly host: string,
    readonly port: number,
    private readonly options: AgentServerOptions,
  ) {
    wss.on('connection', (ws, req) => this.onConnection(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`));
  }

  /** Starts listening; rejects naming host and port if the address cannot be bound. */
  static listen(options: AgentServerOptions = {}): Promise<AgentServer> {
    const host = options.host ?? '127.0.0.1';
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({ host, port: options.port ?? 0, maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES });
      const onError = (e: Error) => reject(new Error(`agent server cannot listen on ${host}:${options.port ?? 0}: ${e.message}`));
      wss.once('error', onError);
      wss.once('listening', () => {
        wss.off('error', onError);
        wss.on('error', () => {}); // later server errors surface through the connections
        resolve(new AgentServer(wss, host, (wss.address() as AddressInfo).port, options));
      });
    });
  }

  /** The URL simulators dial. */
  get url(): string {
    return `ws://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Open simulator connections (in handshake, queued or accepted and not closed). */
  get connectionCount(): number {
    return this.wss.clients.size;
  }

  /** Simulators that completed the handshake and wait for `accept()`. */
  get queuedCount(): number {
    return this.ready.length;
  }

  /** The next simulator to complete its handshake; rejects after `timeoutMs` (default: waits forever). */
  accept(timeoutMs?: number): Promise<RemoteVectorEnv> {
    if (this.closed) return Promise.reject(new Error('AgentServer: closed'));
    const env = this.ready.shift();
    if (env) return Promise.resolve(env);
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.waiters.push(waiter);
      if (timeoutMs === undefined) return;
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no simulator connected to ${this.url} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref?.();
      waiter.resolve = (e) => {
        clearTimeout(timer);
        resolve(e);
      };
      waiter.reject = (e) => {
        clearTimeout(timer);
        reject(e);
      };
    });
  }

  /** Stops listening and closes every connection and env (each env sends its stop first). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new Error('AgentServer: closed while waiting for a simulator'));
    this.ready.length = 0;
    await Promise.all([...this.envs].map((e) => e.close()));
    for (const ws of this.wss.clients) ws.terminate(); // connections still in their handshake
    await new Promise<void>((res) => this.wss.close(() => res()));
  }

  private async onConnection(ws: WebSocket, peer: string): Promise<void> {
    this.stats.connections++;
    // A socket error must never become an uncaught exception; during the handshake it is ours to
    // count (an oversized or malformed frame), after it the env counts it.
    let inHandshake = true;
    ws.on('error', () => {
      if (inHandshake) this.stats.rejected++;
    });
    if (this.closed) {
      ws.terminate();
      return;
    }
    const label = `simulator ${peer}`;
    let env: RemoteVectorEnv;
    try {
      env = await agentHandshake(ws, label, this.options, (sock, hs) => {
        inHandshake = false;
        return new RemoteVectorEnv(sock, hs, label, this.options);
      }, { dialled: false, onRejected: () => this.stats.rejected++ });
    } catch (e) {
      inHandshake = false;
      this.stats.refused++;
      this.stats.lastRefusal = (e as Error).message;
      if (ws.readyState !== WebSocket.CLOSED) {
        // Give the refusal a moment to arrive, but hold nothing once the socket is gone.
        const timer = setTimeout(() => ws.terminate(), 1_000);
        timer.unref?.();
        ws.once('close', () => clearTimeout(timer));
      }
      return;
    }
    if (this.closed || this.ready.length >= (this.options.maxQueued ?? 16)) {
      await env.close();
      return;
    }
    if (ws.readyState === WebSocket.CLOSED) return; // gone already: its env released itself on close
    this.envs.add(env);
    ws.once('close', () => {
      this.envs.delete(env);
      const i = this.ready.indexOf(env);
      if (i >= 0) this.ready.splice(i, 1); // gone before anyone accepted it
    });
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(env);
    else this.ready.push(env);
  }
}
