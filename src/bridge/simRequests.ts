/**
 * Serving an agent's requests on the simulator's side of `metarl-bridge/1`, once the handshake is
 * done (./simSession.ts owns the connection): set_tasks / reset / step / stop strictly in arrival
 * order, even when the env answers asynchronously, each answered with its id. The queue is bounded
 * in count and in bytes (a flooding agent gets `bad_state`), requests of the wrong size are
 * refused before they are queued (nothing of them is kept), and a reply larger than the message
 * limit becomes a `too_large` error instead of a message the agent would close the connection over.
 */
import type { AnyVectorEnv, VectorStepResult } from '../core/env.ts';
import type { Box } from '../core/spaces.ts';
import { type ErrorCode, encodeMessage, encodeObsFrame, encodeStepResultFrame } from './protocol.ts';

/** What a simulator announces in its hello: copies, spaces and time limit. */
export interface SimSpec {
  num: number;
  observationSpace: Box;
  actionSpace: Box;
  maxEpisodeSteps: number;
}

/** An env's spec (what its hello says). */
export function specOf(env: AnyVectorEnv): SimSpec {
  return { num: env.num, observationSpace: env.observationSpace, actionSpace: env.actionSpace, maxEpisodeSteps: env.maxEpisodeSteps };
}

export type SimRequest = { type: 'set_tasks'; id: number; tasks: unknown[] } | { type: 'reset'; id: number; seed?: number } | { type: 'step'; id: number; actions: Float32Array } | { type: 'stop'; id: number };

/** A request refused after the ones before it were answered (replies stay in arrival order). */
type Queued = SimRequest | { type: 'refusal'; id: number; code: ErrorCode; message: string };

/** Requests queued behind the one being served, at most; more are refused (a flooding peer). */
export const MAX_QUEUED = 1_024;

export interface RequestServerHooks {
  binary: boolean;
  maxBytes: number;
  stats: { requests: number; stops: number };
  onStop?: (env: AnyVectorEnv) => void | Promise<void>;
  send: (data: string | Uint8Array) => void;
  /** Counts a rejected request and answers it with `error`. */
  reject: (id: number, code: ErrorCode, message: string) => void;
}

export class RequestServer {
  private queued = 0;
  private queuedBytes = 0;
  private resetDone = false;
  private ended = false;
  private chain: Promise<void> = Promise.resolve();
  /** Bytes of requests that may wait in the queue: enough for any pipelining agent, not for a flood. */
  private readonly maxQueuedBytes: number;

  constructor(private readonly env: AnyVectorEnv, private readonly spec: SimSpec, private readonly hooks: RequestServerHooks) {
    this.maxQueuedBytes = 8 * hooks.maxBytes;
  }

  /** The connection ended: serve nothing more, and close the env once the request in progress is done. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    void this.chain.then(() => this.env.close()).catch(() => {});
  }

  /** Queues a request (`bytes`: its size on the wire); refused now if the queue is full. */
  enqueue(req: SimRequest, bytes: number): void {
    if (this.queued >= MAX_QUEUED || this.queuedBytes + bytes > this.maxQueuedBytes) {
      return this.hooks.reject(req.id, 'bad_state', `more than ${MAX_QUEUED} requests or ${this.maxQueuedBytes} bytes in flight`);
    }
    const item = this.sizeProblem(req) ?? req;
    const cost = item === req ? bytes : 0;
    this.queued++;
    this.queuedBytes += cost;
    this.chain = this.chain.then(async () => {
      this.queued--;
      this.queuedBytes -= cost;
      if (this.ended) return;
      try {
        await this.serve(item);
      } catch (e) {
        const err = e as Error;
        const code: ErrorCode = err.name === 'NumericError' ? 'numeric' : err.name === 'ConfigError' ? 'bad_request' : 'sim_error';
        this.hooks.send(encodeMessage({ type: 'error', id: req.id, code, message: `${req.type} failed: ${err.message}`.slice(0, 4000) }));
      }
    });
  }

  /** A request whose size does not fit this env, as a refusal that keeps none of its data. */
  private sizeProblem(req: SimRequest): Queued | null {
    const n = this.spec.num;
    const a = this.spec.actionSpace.size;
    if (req.type === 'set_tasks' && req.tasks.length !== n) return { type: 'refusal', id: req.id, code: 'bad_request', message: `set_tasks: got ${req.tasks.length} tasks for ${n} copies` };
    if (req.type === 'step' && req.actions.length !== n * a) {
      return { type: 'refusal', id: req.id, code: 'bad_request', message: `step: expected ${n * a} action entries (${n} × ${a}), got ${req.actions.length}` };
    }
    return null;
  }

  private async serve(req: Queued): Promise<void> {
    const env = this.env;
    const n = env.num;
    const obsDim = env.observationSpace.size;
    switch (req.type) {
      case 'refusal':
        return this.hooks.reject(req.id, req.code, req.message);
      case 'set_tasks':
        await env.setTasks(req.tasks);
        return this.answered(req.id, encodeMessage({ type: 'ok', id: req.id }));
      case 'reset': {
        const obs = await env.reset(req.seed);
        this.resetDone = true;
        return this.answered(req.id, this.hooks.binary ? encodeObsFrame(req.id, obs, n, obsDim) : encodeMessage({ type: 'obs', id: req.id, obs: Array.from(obs) }));
      }
      case 'step': {
        if (!this.resetDone) return this.hooks.reject(req.id, 'bad_state', 'step before the first reset');
        const bad = req.actions.findIndex((x) => !Number.isFinite(x));
        if (bad >= 0) return this.hooks.reject(req.id, 'numeric', `step: action entry ${bad} is ${req.actions[bad]} (as float32)`);
        const r = await env.step(req.actions);
        return this.answered(req.id, this.hooks.binary ? encodeStepResultFrame(req.id, r, n, obsDim) : encodeMessage(stepResultJson(req.id, r)));
      }
      case 'stop':
        this.hooks.stats.stops++;
        await this.hooks.onStop?.(env);
        return this.answered(req.id, encodeMessage({ type: 'ok', id: req.id }));
    }
  }

  /** Sends a reply, or a `too_large` error when the reply exceeds the message limit (both sides close over those). */
  private answered(id: number, reply: string | Uint8Array): void {
    const bytes = typeof reply === 'string' ? Buffer.byteLength(reply) : reply.byteLength;
    if (bytes > this.hooks.maxBytes) {
      this.hooks.send(encodeMessage({ type: 'error', id, code: 'too_large', message: `reply of ${bytes} bytes exceeds the limit of ${this.hooks.maxBytes} (maxMessageBytes)` }));
      return;
    }
    this.hooks.stats.requests++;
    this.hooks.send(reply);
  }
}

/** A step result as JSON; NaN and ±Infinity become null (what JSON.stringify does with them). */
function stepResultJson(id: number, r: VectorStepResult) {
  return {
    type: 'step_result' as const, id, obs: Array.from(r.obs), reward: Array.from(r.reward),
    terminated: Array.from(r.terminated, (x) => x !== 0), truncated: Array.from(r.truncated, (x) => x !== 0),
  };
}
