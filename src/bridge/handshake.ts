/**
 * The agent's half of the `metarl-bridge/1` handshake, whichever side dialled: wait for the
 * simulator's `hello`, check protocol version, the sizes it announces (./budget.ts, before
 * anything is allocated), spaces and task space, then answer `welcome` (agreeing on binary frames)
 * or `refused` followed by a close code. With a token, both sides then prove they know it
 * (./auth.ts: the dialling side first; the token itself never travels). Also `connectAsAgent`,
 * which dials a URL and turns a refused connection into an error naming that URL.
 *
 * Messages that are not the one expected next are dropped and counted (a simulator may retry),
 * but the whole handshake must finish within `handshakeTimeoutMs`. Text from the simulator is
 * sanitized before it goes into an error message.
 */
import WebSocket, { type RawData } from 'ws';
import type { Box } from '../core/spaces.ts';
import { sanitizePeerText } from '../core/sanitize.ts';
import { type TaskSpace, parseTaskSpace } from './taskSpace.ts';
import { authProof, authProofMatches, newNonce } from './auth.ts';
import { DEFAULT_MAX_EPISODE_BUFFER_BYTES, helloBudgetProblem } from './budget.ts';
import {
  CLOSE_CODES, DEFAULT_MAX_MESSAGE_BYTES, PROTOCOL_NAME, PROTOCOL_VERSION, type Hello, boxFromJson, closeReason, encodeMessage, parseSimMessage,
} from './protocol.ts';

export interface AgentBridgeOptions {
  /** Shared secret: both sides prove they know it (HMAC challenge-response); it is never sent. */
  token?: string;
  /** Use binary frames for steps when the simulator offers them (default true). */
  binary?: boolean;
  /** Milliseconds one reset/step/setTasks/stop may wait for its reply before the env fails (default 10 s). */
  callTimeoutMs?: number;
  /** Milliseconds from connection to a valid hello (default 5 s). */
  handshakeTimeoutMs?: number;
  /** Largest message accepted, in bytes (default 1 MiB); larger ones close the connection (1009). */
  maxMessageBytes?: number;
  /**
   * Episode buffers one simulator may make the agent hold, in bytes (default 2 GiB): a hello whose
   * num × maxEpisodeSteps × (obs + act + 8) float32 exceed it is refused before anything is allocated.
   */
  maxEpisodeBufferBytes?: number;
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
      agentHandshake(ws, url, options, adopt, { dialled: true }).then(
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
    return `${sanitizePeerText(raw.protocol, 40)}/${sanitizePeerText(raw.version, 20)}`;
  } catch {
    return undefined;
  }
}

/** The spaces and task space a hello describes; throws naming the field (bounded by the budget check). */
function handshakeFrom(hello: Hello, binary: boolean, rejected: number): Handshake {
  return {
    hello,
    observationSpace: boxFromJson(hello.observationSpace, 'hello.observationSpace'),
    actionSpace: boxFromJson(hello.actionSpace, 'hello.actionSpace'),
    taskSpace: parseTaskSpace(hello.tasks, 'hello.tasks'),
    binary,
    rejected,
  };
}

export interface HandshakeRole {
  /** This agent dialled (it proves its token first); false when the simulator dialled it. */
  dialled: boolean;
  /** Counts a message dropped during the handshake. */
  onRejected?: () => void;
}

/**
 * Runs the agent's side of the handshake on an open socket. Once it succeeded, `adopt` takes the
 * socket over synchronously (so that no message arriving right after goes unheard) and the
 * promise resolves with what it returns. Rejects (after refusing and closing) on a wrong version
 * or token, an invalid or oversized hello, a timeout or a closed connection. Leaves no listener of
 * its own on the socket except a no-op error guard.
 */
export function agentHandshake<R>(ws: WebSocket, label: string, options: AgentBridgeOptions, adopt: (ws: WebSocket, hs: Handshake) => R, role: HandshakeRole): Promise<R> {
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const timeoutMs = options.handshakeTimeoutMs ?? 5_000;
  const token = options.token;
  // A socket without an 'error' listener throws on bad frames; this guard outlives the handshake.
  if (ws.listenerCount('error') === 0) ws.on('error', () => {});
  return new Promise<R>((resolve, reject) => {
    let rejected = 0;
    /** Set once the welcome is out and the simulator's proof is awaited. */
    let awaitingProof: { hs: Handshake; helloNonce: string; welcomeNonce: string } | null = null;
    const drop = () => {
      rejected++;
      role.onRejected?.();
    };
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
    const finish = (hs: Handshake) => {
      cleanup();
      try {
        resolve(adopt(ws, { ...hs, rejected }));
      } catch (e) {
        reject(e as Error); // never throw into ws's message dispatch
      }
    };
    const timer = setTimeout(() => refuse('bad_state', CLOSE_CODES.handshake, `handshake timeout: no valid ${awaitingProof ? 'auth' : 'hello'} from ${label} within ${timeoutMs} ms`), timeoutMs);
    timer.unref?.();
    const onClose = (code: number, reason: Buffer) => {
      cleanup();
      const why = reason.length ? `: ${sanitizePeerText(reason.toString(), 120)}` : '';
      reject(new Error(`connection to ${label} closed (code ${code}${why}) before the handshake completed`));
    };
    const onHello = (hello: Hello) => {
      const binary = options.binary !== false && hello.binary === true;
      // Sizes first: nothing below allocates in proportion to what the simulator announced.
      const problem = helloBudgetProblem(hello, { maxEpisodeBufferBytes: options.maxEpisodeBufferBytes ?? DEFAULT_MAX_EPISODE_BUFFER_BYTES, maxMessageBytes: maxBytes, binary });
      if (problem !== null) return refuse('too_large', CLOSE_CODES.handshake, `simulator at ${label}: ${problem}`);
      if (token !== undefined && hello.nonce === undefined) {
        return refuse('unauthorized', CLOSE_CODES.unauthorized, hello.token === undefined
          ? `simulator at ${label} presented no token`
          : `simulator at ${label} sent its token in clear text (a simulator from before challenge-response authentication); update it`);
      }
      let hs: Handshake;
      try {
        hs = handshakeFrom(hello, binary, rejected);
      } catch (e) {
        return refuse('bad_message', CLOSE_CODES.handshake, `invalid hello from ${label}: ${sanitizePeerText((e as Error).message, 1_000)}`);
      }
      const welcome = { type: 'welcome', protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, binary } as const;
      // Without a token of ours there is nothing to prove (a simulator with one hangs up: 4001).
      if (token === undefined) {
        ws.send(encodeMessage(welcome));
        return finish(hs);
      }
      awaitingProof = { hs, helloNonce: hello.nonce!, welcomeNonce: newNonce() };
      ws.send(encodeMessage({ ...welcome, nonce: awaitingProof.welcomeNonce }));
      if (role.dialled) ws.send(encodeMessage({ type: 'auth', proof: authProof(token, 'agent', awaitingProof.helloNonce, awaitingProof.welcomeNonce) }));
    };
    const onProofPhase = (text: string) => {
      const r = parseSimMessage(text, maxBytes);
      if (!r.ok) return drop();
      const m = r.msg;
      if (m.type === 'error' && m.id === undefined) {
        // The simulator refused our proof (or our lack of one); it hangs up itself.
        cleanup();
        return reject(new Error(`simulator at ${label} refused this agent: [${sanitizePeerText(m.code, 64)}] ${sanitizePeerText(m.message)}`));
      }
      if (m.type !== 'auth') return drop();
      const { hs, helloNonce, welcomeNonce } = awaitingProof!;
      if (!authProofMatches(token!, 'simulator', helloNonce, welcomeNonce, m.proof)) {
        return refuse('unauthorized', CLOSE_CODES.unauthorized, `simulator at ${label} presented a wrong token`);
      }
      // The listening side proves itself only now, to a simulator that already proved it knows the token.
      if (!role.dialled) ws.send(encodeMessage({ type: 'auth', proof: authProof(token!, 'agent', helloNonce, welcomeNonce) }));
      finish(hs);
    };
    const onMessage = (data: RawData, isBinary: boolean) => {
      if (isBinary) return drop();
      const text = data.toString();
      if (awaitingProof !== null) return onProofPhase(text);
      const foreign = text.length <= maxBytes ? foreignVersion(text) : undefined;
      if (foreign !== undefined) {
        return refuse('version', CLOSE_CODES.version, `version mismatch: simulator at ${label} speaks ${foreign}, this agent speaks ${PROTOCOL_NAME}/${PROTOCOL_VERSION}`);
      }
      const r = parseSimMessage(text, maxBytes);
      if (!r.ok || r.msg.type !== 'hello') return drop();
      onHello(r.msg);
    };
    ws.on('message', onMessage);
    ws.on('close', onClose);
    if (ws.readyState !== WebSocket.OPEN) onClose(1006, Buffer.from('socket not open'));
  });
}
