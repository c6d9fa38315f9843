/**
 * The simulator's side of `metarl-bridge/1` on one connection: announce the env in a `hello`,
 * wait for `welcome` (checking the agent's token), then serve set_tasks / reset / step / stop in
 * arrival order on a vector env of n copies, answering each with its id. Anything malformed,
 * unknown or out of order is answered with `error` when it carries an id, otherwise dropped, and
 * counted; nothing a peer sends can throw out of here. Used by ./simServer.ts (listen or dial)
 * and scripts/nav-sim.ts.
 */
import WebSocket, { type RawData } from 'ws';
import type { AnyVectorEnv, VectorStepResult } from '../core/env.ts';
import type { TaskSpace } from './taskSpace.ts';
import {
  CLOSE_CODES, DEFAULT_MAX_MESSAGE_BYTES, type ErrorCode, PROTOCOL_NAME, PROTOCOL_VERSION, boxToJson, closeReason, decodeFrame, encodeMessage, encodeObsFrame,
  encodeStepResultFrame, parseAgentMessage, tokenMatches,
} from './protocol.ts';

export interface SimulatorOptions {
  /** Builds the vector env served on one connection (closed when the connection ends). */
  makeEnv: () => AnyVectorEnv;
  /** The task distribution announced in the hello. */
  taskSpace: TaskSpace;
  /** Shown to the agent in the hello. */
  name?: string;
  /** Shared secret: sent in the hello, and the agent's welcome must carry it. */
  token?: string;
  /** Offer binary frames (default true); the agent decides in its welcome. */
  binary?: boolean;
  /** Milliseconds to wait for the agent's welcome before hanging up (default 5 s). */
  welcomeTimeoutMs?: number;
  /** Largest message accepted, in bytes (default 1 MiB). */
  maxMessageBytes?: number;
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
}

export function emptySimulatorStats(): SimulatorStats {
  return { connections: 0, requests: 0, rejected: 0, refused: 0, stops: 0 };
}

/** How a session ended: `refused` holds the agent's reason when it refused us. */
export interface SessionEnd {
  code: number;
  refused?: string;
}

type Request = { type: 'set_tasks'; id: number; tasks: unknown[] } | { type: 'reset'; id: number; seed?: number } | { type: 'step'; id: number; actions: Float32Array } | { type: 'stop'; id: number };

/** Requests queued behind the one being served, at most; more are refused (a flooding peer). */
const MAX_QUEUED = 1_024;

export class SimSession {
  readonly finished: Promise<SessionEnd>;
  private readonly env: AnyVectorEnv;
  private state: 'awaiting_welcome' | 'ready' | 'ended' = 'awaiting_welcome';
  private binary = false;
  private resetDone = false;
  private queued = 0;
  private chain: Promise<void> = Promise.resolve();
  private refusedReason: string | undefined;
  private readonly welcomeTimer: NodeJS.Timeout;
  private readonly maxBytes: number;

  constructor(private readonly ws: WebSocket, private readonly options: SimulatorOptions, private readonly stats: SimulatorStats) {
    stats.connections++;
    this.maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.env = options.makeEnv();
    ws.on('error', () => stats.rejected++); // oversized / malformed frames; ws then closes the socket
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    this.finished = new Promise((resolve) => {
      ws.once('close', (code) => {
        this.state = 'ended';
        clearTimeout(this.welcomeTimer);
        void Promise.resolve(this.chain).then(() => this.env.close()).catch(() => {});
        resolve(this.refusedReason === undefined ? { code } : { code, refused: this.refusedReason });
      });
    });
    const waitMs = options.welcomeTimeoutMs ?? 5_000;
    this.welcomeTimer = setTimeout(() => this.hangUp(CLOSE_CODES.handshake, `no welcome within ${waitMs} ms`), waitMs);
    this.welcomeTimer.unref?.();
    const env = this.env;
    this.send(encodeMessage({
      type: 'hello', protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, num: env.num,
      observationSpace: boxToJson(env.observationSpace), actionSpace: boxToJson(env.actionSpace), maxEpisodeSteps: env.maxEpisodeSteps,
      tasks: options.taskSpace, binary: options.binary !== false,
      ...(options.name !== undefined ? { name: options.name } : {}), ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.hardware ? { hardware: true } : {}),
    }));
  }

  private send(data: string | Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
  }

  private hangUp(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, closeReason(reason));
  }

  /** Counts a rejected message and answers it with `error` if it carried an id. */
  private reject(id: number | undefined, code: ErrorCode, message: string): void {
    this.stats.rejected++;
    if (id !== undefined) this.send(encodeMessage({ type: 'error', id, code, message }));
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      const f = decodeFrame(data as Buffer, this.maxBytes);
      if (!f.ok) return this.reject(f.id, 'bad_message', f.reason);
      if (this.state !== 'ready' || !this.binary) return this.reject(f.frame.id, 'bad_state', 'binary frame before binary frames were agreed in the welcome');
      if (f.frame.kind !== 'step') return this.reject(f.frame.id, 'bad_request', `a ${f.frame.kind} frame goes from simulator to agent`);
      const { n, dim } = f.frame;
      if (n !== this.env.num || dim !== this.env.actionSpace.size) {
        return this.reject(f.frame.id, 'bad_request', `step frame for n = ${n}, dim = ${dim}; this simulator has n = ${this.env.num}, action dim ${this.env.actionSpace.size}`);
      }
      return this.enqueue({ type: 'step', id: f.frame.id, actions: f.frame.actions });
    }
    const r = parseAgentMessage(data.toString(), this.maxBytes);
    if (!r.ok) return this.reject(r.id, r.code, r.reason);
    const m = r.msg;
    switch (m.type) {
      case 'welcome':
        if (this.state !== 'awaiting_welcome') return this.reject(undefined, 'bad_state', 'a second welcome');
        clearTimeout(this.welcomeTimer);
        if (!tokenMatches(this.options.token, m.token)) {
          this.stats.refused++;
          this.refusedReason = `agent presented ${m.token === undefined ? 'no' : 'a wrong'} token`;
          this.send(encodeMessage({ type: 'error', code: 'unauthorized', message: this.refusedReason }));
          return this.hangUp(CLOSE_CODES.unauthorized, this.refusedReason);
        }
        this.binary = m.binary && this.options.binary !== false;
        this.state = 'ready';
        return;
      case 'refused':
        this.stats.refused++;
        this.refusedReason = `[${m.code}] ${m.message}`;
        return this.hangUp(CLOSE_CODES.normal, 'refused by the agent');
      case 'close':
        return this.hangUp(CLOSE_CODES.normal, 'agent asked to close');
      case 'step':
        return this.enqueueIfReady({ type: 'step', id: m.id, actions: Float32Array.from(m.actions) });
      default:
        return this.enqueueIfReady(m);
    }
  }

  private enqueueIfReady(req: Request): void {
    if (this.state !== 'ready') return this.reject(req.id, 'bad_state', `${req.type} before the agent's welcome`);
    this.enqueue(req);
  }

  /** Serves requests strictly in arrival order, even when the env answers asynchronously. */
  private enqueue(req: Request): void {
    if (this.queued >= MAX_QUEUED) return this.reject(req.id, 'bad_state', `more than ${MAX_QUEUED} requests in flight`);
    this.queued++;
    this.chain = this.chain.then(async () => {
      this.queued--;
      if (this.state === 'ended') return;
      try {
        await this.serve(req);
      } catch (e) {
        const err = e as Error;
        const code: ErrorCode = err.name === 'NumericError' ? 'numeric' : err.name === 'ConfigError' ? 'bad_request' : 'sim_error';
        this.send(encodeMessage({ type: 'error', id: req.id, code, message: `${req.type} failed: ${err.message}`.slice(0, 4000) }));
      }
    });
  }

  private async serve(req: Request): Promise<void> {
    const env = this.env;
    const n = env.num;
    const obsDim = env.observationSpace.size;
    switch (req.type) {
      case 'set_tasks':
        if (req.tasks.length !== n) return this.reject(req.id, 'bad_request', `set_tasks: got ${req.tasks.length} tasks for ${n} copies`);
        await env.setTasks(req.tasks);
        this.answered(encodeMessage({ type: 'ok', id: req.id }));
        return;
      case 'reset': {
        const obs = await env.reset(req.seed);
        this.resetDone = true;
        this.answered(this.binary ? encodeObsFrame(req.id, obs, n, obsDim) : encodeMessage({ type: 'obs', id: req.id, obs: Array.from(obs) }));
        return;
      }
      case 'step': {
        const a = env.actionSpace.size;
        if (!this.resetDone) return this.reject(req.id, 'bad_state', 'step before the first reset');
        if (req.actions.length !== n * a) return this.reject(req.id, 'bad_request', `step: expected ${n * a} action entries (${n} × ${a}), got ${req.actions.length}`);
        const bad = req.actions.findIndex((x) => !Number.isFinite(x));
        if (bad >= 0) return this.reject(req.id, 'numeric', `step: action entry ${bad} is ${req.actions[bad]} (as float32)`);
        const r = await env.step(req.actions);
        this.answered(this.binary ? encodeStepResultFrame(req.id, r, n, obsDim) : encodeMessage(stepResultJson(req.id, r)));
        return;
      }
      case 'stop':
        this.stats.stops++;
        await this.options.onStop?.(env);
        this.answered(encodeMessage({ type: 'ok', id: req.id }));
        return;
    }
  }

  private answered(reply: string | Uint8Array): void {
    this.stats.requests++;
    this.send(reply);
  }
}

/** A step result as JSON; NaN and ±Infinity become null (what JSON.stringify does with them). */
function stepResultJson(id: number, r: VectorStepResult) {
  return {
    type: 'step_result' as const, id, obs: Array.from(r.obs), reward: Array.from(r.reward),
    terminated: Array.from(r.terminated, (x) => x !== 0), truncated: Array.from(r.truncated, (x) => x !== 0),
  };
}
