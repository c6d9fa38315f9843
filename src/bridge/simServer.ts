/**
 * Serving a vector env over `metarl-bridge/1` from the simulator's side, in either direction:
 * - `serveSimulator({ port })`: listen (127.0.0.1 by default); every agent that connects gets its
 *   own session with a fresh env of n copies (./simSession.ts);
 * - `dialAgent(url)`: connect to an agent that listens (`AgentServer`) and serve one session
 *   until the connection ends.
 */
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { DEFAULT_MAX_MESSAGE_BYTES } from './protocol.ts';
import { type SessionEnd, SimSession, type SimulatorOptions, type SimulatorStats, emptySimulatorStats } from './simSession.ts';

export interface SimulatorServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly stats: SimulatorStats;
  /** Open agent connections. */
  readonly connectionCount: number;
  /** Stops listening and closes every connection (and its env). */
  close(): Promise<void>;
}

/** Listens for agents; rejects naming the address if it cannot be bound. */
export function serveSimulator(options: SimulatorOptions & { host?: string; port?: number }): Promise<SimulatorServer> {
  const host = options.host ?? '127.0.0.1';
  const stats = emptySimulatorStats();
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ host, port: options.port ?? 0, maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES });
    const onError = (e: Error) => reject(new Error(`simulator cannot listen on ${host}:${options.port ?? 0}: ${e.message}`));
    wss.once('error', onError);
    wss.on('connection', (ws) => {
      try {
        new SimSession(ws, options, stats);
      } catch (e) {
        // The env could not be built: say why in the close reason rather than crash the server.
        ws.on('error', () => {});
        ws.close(1011, String((e as Error).message).slice(0, 100));
      }
    });
    wss.once('listening', () => {
      wss.off('error', onError);
      wss.on('error', () => {});
      const port = (wss.address() as AddressInfo).port;
      let closing: Promise<void> | null = null;
      resolve({
        host,
        port,
        url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}`,
        stats,
        get connectionCount() {
          return wss.clients.size;
        },
        close() {
          closing ??= new Promise<void>((res) => {
            for (const ws of wss.clients) ws.terminate();
            wss.close(() => res());
          });
          return closing;
        },
      });
    });
  });
}

/**
 * Connects to an agent server and serves one session. Resolves when the connection ends; rejects
 * if the connection cannot be made (naming the URL) or the agent refused us (with its reason).
 */
export function dialAgent(url: string, options: SimulatorOptions, stats: SimulatorStats = emptySimulatorStats()): Promise<SessionEnd> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, handshakeTimeout: options.welcomeTimeoutMs ?? 5_000 });
    const onError = (e: Error) => reject(new Error(`cannot connect to ${url}: ${e.message || (e as NodeJS.ErrnoException).code || 'connection failed'}`));
    ws.once('error', onError);
    ws.once('open', () => {
      ws.off('error', onError);
      let session: SimSession;
      try {
        session = new SimSession(ws, options, stats);
      } catch (e) {
        ws.terminate();
        reject(e);
        return;
      }
      session.finished.then((end) => (end.refused !== undefined ? reject(new Error(`agent at ${url} refused this simulator: ${end.refused}`)) : resolve(end)));
    });
  });
}
