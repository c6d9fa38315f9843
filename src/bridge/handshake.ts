/**
 * The agent's half of the `metarl-bridge/1` handshake, whichever side dialled: wait for the
 * simulator's `hello`, check protocol version, token, spaces and task space, then answer
 * `welcome` (agreeing on binary frames) or `refused` followed by a close code. Also `connectAsAgent`,
 * which dials a URL and turns a refused connection into an error naming that URL.
 *
 * Before the hello, messages that are not a valid hello are dropped and counted (a simulator may
 * retry), but the whole handshake must finish within `handshakeTimeoutMs`.
 */
import WebSocket, { type RawData } from 'ws';
import type { Box } from '../core/spaces.ts';
import { type TaskSpace, parseTaskSpace } from './taskSpace.ts';
import {
  CLOSE_CODES, DEFAULT_MAX_MESSAGE_BYTES, PROTOCOL_NAME, PROTOCOL_VERSION, type Hello, boxFromJson, closeReason, encodeMessage, parseSimMessage, tokenMatches,
} from './protocol.ts';

export interface AgentBridgeOptions {
  /** Shared secret: the simulator's hello must carry it, and the welcome carries it back. */
  token?: string;
  /** Use binary frames for steps when the simulator offers them (default true). */
  binary?: boolean;
  /** Milliseconds one reset/step/setTasks/stop may wait for its reply before the env fails (default 10 s). */
  callTimeoutMs?: number;
  /** Milliseconds from connection to a valid hello (default 5 s). */
  handshakeTimeoutMs?: number;
  /** Largest message accepted, in bytes (default 1 MiB); larger ones close the connection (1009). */
  maxMessageBytes?: number;
  /** Milliseconds close() waits for the stop answer and the closing handshake (default 2 s). */
  closeTimeoutMs?: number;
  /** Safety: send `stop` when the agent sends no step this long after an observation, mid-episode (default 0: off). */
  stallTimeoutMs?: number;
  /** Safety: at most this many steps per second (default 0: unlimited). */
  maxRateHz?: number;
  /** Safety: send `stop` on process exit, Ctrl-C, SIGTERM or a crash (default true). */
  stopOnShutdown?: boolean;
}

/** What a successful handshake established. */
export interface Handshake {
  hello: Hello;
  observationSpace: Box;
  actionSpace: Box;
  taskSpace: TaskSpace;
  /** Both sides agreed to use binary frames. */
  binary: boolean;
  /** Messages dropped before the hello. */
  rejected: number;
}

/**
 * Dials `url` and runs the handshake. Rejects with an error naming the URL if nothing accepts the
 * connection. The handshake starts inside the 'open' event: a simulator sends its hello at once,
 * and ws may deliver it before an awaiting caller would have attached a listener.
 */
export function connectAsAgent<R>(url: string, options: AgentBridgeOptions, adopt: (ws: WebSocket, hs: Handshake) => R): Promise<R> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, { maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, handshakeTimeout: options.handshakeTimeoutMs ?? 5_000 });
    } catch (e) {
      reject(new Error(`cannot connect to ${url}: ${(e as Error).message}`));
      return;
    }
    const onError = (e: Error) => {
      ws.off('open', onOpen);
      reject(new Error(`cannot connect to ${url}: ${e.message || (e as NodeJS.ErrnoException).code || 'connection failed'}`));
    };
    const onOpen = () => {
      ws.off('error', onError);
      agentHandshake(ws, url, options, adopt).then(
        resolve,
        (e) => {
          ws.terminate();
          reject(e);
        },
      );
    };
    ws.once('error', onError);
    ws.once('open', onOpen);
  });
}

/** The version a hello-looking message claims, when it is not ours (to name both in the refusal). */
function foreignVersion(text: string): string | undefined {
  try {
    const raw = JSON.parse(text) as { type?: unknown; protocol?: unknown; version?: unknown };
    if (typeof raw !== 'object' || raw === null || raw.type !== 'hello') return undefined;
    if (raw.protocol === PROTOCOL_NAME && raw.version === PROTOCOL_VERSION) return undefined;
    return `${String(raw.protocol).slice(0, 40)}/${String(raw.version).slice(0, 20)}`;
  } catch {
    return undefined;
  }
}

/**
 * Runs the agent's side of the handshake on an open socket. Once the welcome is sent, `adopt`
 * takes the socket over synchronously (so that no message arriving right after the hello goes
 * unheard) and the promise resolves with what it returns. Rejects (after refusing and closing) on
 * a wrong version or token, an invalid hello, a timeout or a closed connection. Leaves no
 * listener of its own on the socket except a no-op error guard. `onRejected` counts drops.
 */
export function agentHandshake<R>(ws: WebSocket, label: string, options: AgentBridgeOptions, adopt: (ws: WebSocket, hs: Handshake) => R, onRejected?: () => void): Promise<R> {
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const timeoutMs = options.handshakeTimeoutMs ?? 5_000;
  // A socket without an 'error' listener throws on bad frames; this guard outlives the handshake.
  if (ws.listenerCount('error') === 0) ws.on('error', () => {});
  return new Promise<R>((resolve, reject) => {
    let rejected = 0;
    const cleanup = () => {
      clearTimeout(timer);
      ws.off('message', onMessage);
      ws.off('close', onClose);
    };
    const refuse = (code: string, closeCode: number, message: string) => {
      cleanup();
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(encodeMessage({ type: 'refused', code, message }));
        ws.close(closeCode, closeReason(message));
      }
      reject(new Error(message));
    };
    const timer = setTimeout(() => refuse('bad_state', CLOSE_CODES.handshake, `handshake timeout: no valid hello from ${label} within ${timeoutMs} ms`), timeoutMs);
    timer.unref?.();
    const onClose = (code: number, reason: Buffer) => {
      cleanup();
      reject(new Error(`connection to ${label} closed (code ${code}${reason.length ? `: ${reason.toString().slice(0, 120)}` : ''}) before its hello`));
    };
    const onMessage = (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        rejected++;
        onRejected?.();
        return;
      }
      const text = data.toString();
      const foreign = text.length <= maxBytes ? foreignVersion(text) : undefined;
      if (foreign !== undefined) {
        refuse('version', CLOSE_CODES.version, `version mismatch: simulator at ${label} speaks ${foreign}, this agent speaks ${PROTOCOL_NAME}/${PROTOCOL_VERSION}`);
        return;
      }
      const r = parseSimMessage(text, maxBytes);
      if (!r.ok || r.msg.type !== 'hello') {
        rejected++;
        onRejected?.();
        return;
      }
      const hello = r.msg;
      if (!tokenMatches(options.token, hello.token)) {
        refuse('unauthorized', CLOSE_CODES.unauthorized, `simulator at ${label} presented ${hello.token === undefined ? 'no' : 'a wrong'} token`);
        return;
      }
      let hs: Handshake;
      try {
        hs = {
          hello,
          observationSpace: boxFromJson(hello.observationSpace, 'hello.observationSpace'),
          actionSpace: boxFromJson(hello.actionSpace, 'hello.actionSpace'),
          taskSpace: parseTaskSpace(hello.tasks, 'hello.tasks'),
          binary: options.binary !== false && hello.binary === true,
          rejected,
        };
      } catch (e) {
        refuse('bad_message', CLOSE_CODES.handshake, `invalid hello from ${label}: ${(e as Error).message}`);
        return;
      }
      cleanup();
      ws.send(encodeMessage({ type: 'welcome', protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, binary: hs.binary, ...(options.token !== undefined ? { token: options.token } : {}) }));
      try {
        resolve(adopt(ws, hs));
      } catch (e) {
        reject(e as Error); // never throw into ws's message dispatch
      }
    };
    ws.on('message', onMessage);
    ws.on('close', onClose);
    if (ws.readyState !== WebSocket.OPEN) onClose(1006, Buffer.from('socket not open'));
  });
}
