/**
 * The simulator's side of `metarl-bridge/1` on one connection: announce the env in a `hello`,
 * wait for `welcome` (and, with a token, the challenge-response of ./auth.ts), then serve
 * set_tasks / reset / step / stop in arrival order on a vector env of n copies, answering each
 * with its id. The env is built only once the agent is through the handshake: a connection that
 * never authenticates costs a socket and a timer, not an env. Anything malformed, unknown or out
 * of order is answered with `error` when it carries an id, otherwise dropped, and counted; nothing
 * a peer sends can throw out of here. An agent that does not read its replies is dropped once
 * they pile up past `maxBufferedBytes`. Used by ./simServer.ts (listen or dial) and scripts/nav-sim.ts.
 */
import WebSocket, { type RawData } from 'ws';
import type { AnyVectorEnv } from '../core/env.ts';
import { sanitizePeerText } from '../core/sanitize.ts';
import type { TaskSpace } from './taskSpace.ts';
import { authProof, authProofMatches, newNonce } from './auth.ts';
import { type SimRequest, type SimSpec, RequestServer } from './simRequests.ts';
import {
  type AgentMessage, CLOSE_CODES, DEFAULT_MAX_MESSAGE_BYTES, type ErrorCode, PROTOCOL_NAME, PROTOCOL_VERSION, boxToJson, closeReason, decodeFrame, encodeMessage,
  messageBytes, parseAgentMessage,
} from './protocol.ts';

export type { SimSpec } from './simRequests.ts';
export { specOf } from './simRequests.ts';

export interface SimulatorOptions {
  /** Builds the vector env served on one connection, once the agent is through the handshake (closed when the connection ends). */
  makeEnv: () => AnyVectorEnv;
  /** What the hello announces (copies, spaces, time limit); default: read once from an env built for the purpose. */
  spec?: SimSpec;
  /** The task distribution announced in the hello. */
  taskSpace: TaskSpace;
  /** Shown to the agent in the hello. */
  name?: string;
  /** Shared secret: both sides prove they know it (HMAC challenge-response); it is never sent. */
  token?: string;
  /** Offer binary frames (default true); the agent decides in its welcome. */
  binary?: boolean;
  /** Milliseconds to wait for the agent's welcome (and proof) before hanging up (default 5 s). */
  welcomeTimeoutMs?: number;
  /** Largest message accepted or sent, in bytes (default 1 MiB). */
  maxMessageBytes?: number;
  /** Replies queued for an agent that does not read them, in bytes, before it is dropped (default 4 × maxMessageBytes). */
  maxBufferedBytes?: number;
  /** Announce real hardware (hello `hardware: true`): the agent halts at once on Ctrl-C. */
  hardware?: boolean;
  /** Called on `stop`: bring the system to its safe state (the reference simulator holds still anyway). */
  onStop?: (env: AnyVectorEnv) => void | Promise<void>;
}

export interface SimulatorStats {
  connections: number;
  /** Requests served (answered with ok / obs / step_result). */
  requests: number;
  /** Messages rejected: malformed, failing the schema, oversized, unknown type, out of order. */
  rejected: number;
  /** Connections that ended because the agent refused us or presented a wrong token. */
  refused: number;
  stops: number;
  /** Connections dropped because the agent left its replies unread past maxBufferedBytes. */
  slowReaders: number;
  /** Envs built (one per connection that completed the handshake). */
  envsBuilt: number;
}

export function emptySimulatorStats(): SimulatorStats {
  return { connections: 0, requests: 0, rejected: 0, refused: 0, stops: 0, slowReaders: 0, envsBuilt: 0 };
}

/** How a session ended: `refused` holds the agent's reason when it refused us. */
export interface SessionEnd {
  code: number;
  refused?: string;
}

export class SimSession {
  readonly finished: Promise<SessionEnd>;
  private state: 'awaiting_welcome' | 'authenticating' | 'ready' | 'ended' = 'awaiting_welcome';
  private server: RequestServer | null = null;
  private binary = false;
  private refusedReason: string | undefined;
  private readonly welcomeTimer: NodeJS.Timeout;
  private readonly maxBytes: number;
  private readonly maxBuffered: number;
  /** Our challenge in the hello (only with a token), and the agent's from its welcome. */
  private readonly helloNonce: string | undefined;
  private welcomeNonce = '';

  /** `dialled`: this simulator dialled the agent, so it proves its token first. */
  constructor(
    private readonly ws: WebSocket,
    private readonly options: SimulatorOptions,
    private readonly stats: SimulatorStats,
    private readonly spec: SimSpec,
    private readonly dialled: boolean,
  ) {
    stats.connections++;
    this.maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxBuffered = options.maxBufferedBytes ?? 4 * this.maxBytes;
    ws.on('error', () => stats.rejected++); // oversized / malformed frames; ws then closes the socket
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    this.finished = new Promise((resolve) => {
      ws.once('close', (code) => {
        this.state = 'ended';
        clearTimeout(this.welcomeTimer);
        this.server?.end();
        resolve(this.refusedReason === undefined ? { code } : { code, refused: this.refusedReason });
      });
    });
    const waitMs = options.welcomeTimeoutMs ?? 5_000;
    this.welcomeTimer = setTimeout(() => this.hangUp(CLOSE_CODES.handshake, `no welcome within ${waitMs} ms`), waitMs);
    this.welcomeTimer.unref?.();
    this.helloNonce = options.token !== undefined ? newNonce() : undefined;
    this.send(encodeMessage({
      type: 'hello', protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, num: spec.num,
      observationSpace: boxToJson(spec.observationSpace), actionSpace: boxToJson(spec.actionSpace), maxEpisodeSteps: spec.maxEpisodeSteps,
      tasks: options.taskSpace, binary: options.binary !== false,
      ...(options.name !== undefined ? { name: options.name } : {}), ...(this.helloNonce !== undefined ? { nonce: this.helloNonce } : {}),
      ...(options.hardware ? { hardware: true } : {}),
    }));
  }

  /** Sends if open; drops an agent that leaves more than maxBufferedBytes of replies unread. */
  private send(data: string | Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(data);
    if (this.ws.bufferedAmount > this.maxBuffered) {
      this.stats.slowReaders++;
      this.state = 'ended';
      this.server?.end(); // serve nothing more of what it queued
      this.ws.terminate(); // a close frame would wait behind the unread replies
    }
  }

  private hangUp(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, closeReason(reason));
  }

  /** Counts a rejected message and answers it with `error` if it carried an id. */
  private reject(id: number | undefined, code: ErrorCode, message: string): void {
    this.stats.rejected++;
    if (id !== undefined) this.send(encodeMessage({ type: 'error', id, code, message }));
  }

  /** Ends the connection on an authentication failure: `error` (no id), then close 4001. */
  private unauthorized(reason: string): void {
    this.stats.refused++;
    this.refusedReason = reason;
    this.send(encodeMessage({ type: 'error', code: 'unauthorized', message: reason }));
    this.hangUp(CLOSE_CODES.unauthorized, reason);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      const f = decodeFrame(data as Buffer, this.maxBytes);
      if (!f.ok) return this.reject(f.id, 'bad_message', f.reason);
      if (this.state !== 'ready' || !this.binary) return this.reject(f.frame.id, 'bad_state', 'binary frame before binary frames were agreed in the welcome');
      if (f.frame.kind !== 'step') return this.reject(f.frame.id, 'bad_request', `a ${f.frame.kind} frame goes from simulator to agent`);
      const { n, dim } = f.frame;
      if (n !== this.spec.num || dim !== this.spec.actionSpace.size) {
        return this.reject(f.frame.id, 'bad_request', `step frame for n = ${n}, dim = ${dim}; this simulator has n = ${this.spec.num}, action dim ${this.spec.actionSpace.size}`);
      }
      return this.server!.enqueue({ type: 'step', id: f.frame.id, actions: f.frame.actions }, messageBytes(data));
    }
    const text = data.toString();
    const r = parseAgentMessage(text, this.maxBytes);
    if (!r.ok) return this.reject(r.id, r.code, r.reason);
    const m = r.msg;
    switch (m.type) {
      case 'welcome':
        return this.onWelcome(m);
      case 'auth':
        return this.onAuth(m.proof);
      case 'refused':
        this.stats.refused++;
        this.refusedReason = `[${sanitizePeerText(m.code, 64)}] ${sanitizePeerText(m.message)}`;
        return this.hangUp(CLOSE_CODES.normal, 'refused by the agent');
      case 'close':
        return this.hangUp(CLOSE_CODES.normal, 'agent asked to close');
      case 'step':
        return this.enqueueIfReady({ type: 'step', id: m.id, actions: Float32Array.from(m.actions) }, text.length);
      default:
        return this.enqueueIfReady(m, text.length);
    }
  }

  private onWelcome(m: AgentMessage & { type: 'welcome' }): void {
    if (this.state !== 'awaiting_welcome') return this.reject(undefined, 'bad_state', 'a second welcome');
    this.binary = m.binary && this.options.binary !== false;
    if (this.options.token === undefined) return this.becomeReady();
    if (m.nonce === undefined) {
      return this.unauthorized(m.token === undefined ? 'agent presented no token' : 'agent sent its token in clear text (an agent from before challenge-response authentication); update it');
    }
    this.welcomeNonce = m.nonce;
    this.state = 'authenticating';
    if (this.dialled) this.send(encodeMessage({ type: 'auth', proof: authProof(this.options.token, 'simulator', this.helloNonce!, this.welcomeNonce) }));
  }

  private onAuth(proof: string): void {
    if (this.state !== 'authenticating') return this.reject(undefined, 'bad_state', 'auth out of place');
    const token = this.options.token!;
    if (!authProofMatches(token, 'agent', this.helloNonce!, this.welcomeNonce, proof)) return this.unauthorized('agent presented a wrong token');
    // A listening simulator proves itself only now, to an agent that already proved it knows the token.
    if (!this.dialled) this.send(encodeMessage({ type: 'auth', proof: authProof(token, 'simulator', this.helloNonce!, this.welcomeNonce) }));
    this.becomeReady();
  }

  /** The handshake is complete: only now is the env built. */
  private becomeReady(): void {
    clearTimeout(this.welcomeTimer);
    let env: AnyVectorEnv;
    try {
      env = this.options.makeEnv();
    } catch (e) {
      // Say why in an error and the close reason rather than crash the server.
      const why = `the simulator could not build its env: ${(e as Error).message}`;
      this.send(encodeMessage({ type: 'error', code: 'sim_error', message: why.slice(0, 4000) }));
      this.ws.close(1011, closeReason(why));
      return;
    }
    this.stats.envsBuilt++;
    this.state = 'ready';
    this.server = new RequestServer(env, this.spec, {
      binary: this.binary,
      maxBytes: this.maxBytes,
      stats: this.stats,
      onStop: this.options.onStop,
      send: (data) => this.send(data),
      reject: (id, code, message) => this.reject(id, code, message),
    });
  }

  private enqueueIfReady(req: SimRequest, bytes: number): void {
    if (this.state !== 'ready') return this.reject(req.id, 'bad_state', `${req.type} before the handshake completed (welcome, and auth with a token)`);
    this.server!.enqueue(req, bytes);
  }
}
