/**
 * Serving a vector env over `metarl-bridge/1` from the simulator's side, in either direction:
 * - `serveSimulator({ port })`: listen (127.0.0.1 by default); every agent that connects gets its
 *   own session (./simSession.ts), and a fresh env of n copies once it is through the handshake;
 * - `dialAgent(url)`: connect to an agent that listens (`AgentServer`) and serve one session
 *   until the connection ends.
 * What the hello announces (`spec`) is read once, from one env built for the purpose, unless the
 * options give it: connections never build an env before they authenticated.
 */
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { DEFAULT_MAX_MESSAGE_BYTES } from './protocol.ts';
import { type SessionEnd, SimSession, type SimSpec, type SimulatorOptions, type SimulatorStats, emptySimulatorStats, specOf } from './simSession.ts';

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

/** The spec the options give, else the one of an env built (and closed) to read it. */
async function resolveSpec(options: SimulatorOptions): Promise<SimSpec> {
  if (options.spec) return options.spec;
  const env = options.makeEnv();
  try {
    return specOf(env);
  } finally {
    await env.close();
  }
}

/** Listens for agents; rejects naming the address if it cannot be bound, or if the env cannot be built. */
export async function serveSimulator(options: SimulatorOptions & { host?: string; port?: number }): Promise<SimulatorServer> {
  const host = options.host ?? '127.0.0.1';
  const stats = emptySimulatorStats();
  const spec = await resolveSpec(options);
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ host, port: options.port ?? 0, maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES });
    const onError = (e: Error) => reject(new Error(`simulator cannot listen on ${host}:${options.port ?? 0}: ${e.message}`));
    wss.once('error', onError);
    wss.on('connection', (ws) => void new SimSession(ws, options, stats, spec, false));
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
export async function dialAgent(url: string, options: SimulatorOptions, stats: SimulatorStats = emptySimulatorStats()): Promise<SessionEnd> {
  const spec = await resolveSpec(options);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, handshakeTimeout: options.welcomeTimeoutMs ?? 5_000 });
    const onError = (e: Error) => reject(new Error(`cannot connect to ${url}: ${e.message || (e as NodeJS.ErrnoException).code || 'connection failed'}`));
    ws.once('error', onError);
    ws.once('open', () => {
      ws.off('error', onError);
      const session = new SimSession(ws, options, stats, spec, true);
      session.finished.then((end) => (end.refused !== undefined ? reject(new Error(`agent at ${url} refused this simulator: ${end.refused}`)) : resolve(end)));
    });
  });
}
