/**
 * A vector env whose copies run in a simulator at the other end of one WebSocket
 * (`metarl-bridge/1`, docs/bridge-protocol.md). `RemoteVectorEnv.connect(url)` dials a simulator;
 * `AgentServer` (./agentServer.ts) hands out one for each simulator that dials the agent.
 *
 * Every call is a request with its own id and timeout; replies are validated before use.
 * Actions are checked (length, finite) and clipped into the action space before sending.
 * Failure policy: a timed-out call or a lost connection fails the env (that call and every call
 * in flight reject, later calls reject with the same error); an `error` reply, an invalid reply
 * or a NaN in the simulator's data rejects only that call (NaN as a NumericError). A `setTasks`
 * that failed also fails the next reset/step until a later `setTasks` succeeds, so callers may
 * leave it unawaited (requests go out in call order, and the simulator answers in order).
 */
import WebSocket, { type RawData } from 'ws';
import type { VectorStepResult } from '../core/env.ts';
import type { Box } from '../core/spaces.ts';
import type { Rng } from '../core/rng.ts';
import { HaltedError, NumericError, assertFinite } from '../core/errors.ts';
import { sanitizePeerText } from '../core/sanitize.ts';
import type { SteppableVectorEnv } from '../streams/rollout.ts';
import { type BridgeStats, type BridgeVectorEnv, emptyStats } from './bridgeEnv.ts';
import { RateLimiter, Watchdog, clipActions, onShutdown } from './safety.ts';
import { type TaskSpace, sampleTasks } from './taskSpace.ts';
import { type AgentBridgeOptions, type Handshake, connectAsAgent } from './handshake.ts';
import { type CallKind, PendingCalls } from './pendingCalls.ts';
import { CLOSE_CODES, DEFAULT_MAX_MESSAGE_BYTES, encodeMessage, encodeStepFrame } from './protocol.ts';
import { type Reply, decodeReply, shapeProblem } from './replies.ts';

const EXPECTED: Record<CallKind, Reply['type']> = { set_tasks: 'ok', reset: 'obs', step: 'step_result', stop: 'ok' };

/**
 * A simulator's env copies over one metarl-bridge/1 connection, as a vector env: `connect(url)`
 * dials a simulator that listens, or `AgentServer.accept()` yields one that dialled in. Every call
 * returns a promise; actions are clipped into the announced action space, steps are rate-limited
 * and watched (a stall sends `stop`), and malformed or late replies fail the call, not the process.
 */
export class RemoteVectorEnv<T = unknown> implements BridgeVectorEnv<T>, SteppableVectorEnv {
  readonly num: number;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  readonly maxEpisodeSteps: number;
  /** The task distribution the simulator announced. */
  readonly taskSpace: TaskSpace;
  /** The simulator's name from its hello ('' if none), control characters escaped (it reaches logs). */
  readonly name: string;
  /** The hello declared real hardware (see BridgeVectorEnv.hardware). */
  readonly hardware: boolean;
  private haltReason: string | null = null;
  /** Steps travel as binary frames (both sides agreed). */
  readonly binary: boolean;
  readonly stats: BridgeStats = emptyStats();
  /** The last `error` message without an id the simulator sent (diagnostics only). */
  lastRemoteError: { code: string; message: string } | null = null;

  private readonly calls: PendingCalls;
  private readonly callTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly maxBytes: number;
  private failure: Error | null = null;
  private taskError: Error | null = null;
  /** Id of the newest set_tasks request: only its outcome decides taskError. */
  private latestTaskCall = 0;
  private closing: Promise<void> | null = null;
  private resetDone = false;
  private readonly done: Uint8Array;
  private lastObs: Float32Array;
  // Safety: a stalled agent and a dying process both send `stop` (see AgentBridgeOptions).
  private readonly stallWatch: Watchdog | null;
  private readonly rate: RateLimiter | null;
  private readonly offShutdown: () => void;

  /** Wraps a socket whose handshake succeeded; use `connect` or `AgentServer` instead. */
  constructor(private readonly ws: WebSocket, hs: Handshake, readonly label: string, options: AgentBridgeOptions = {}) {
    this.num = hs.hello.num;
    this.observationSpace = hs.observationSpace;
    this.actionSpace = hs.actionSpace;
    this.maxEpisodeSteps = hs.hello.maxEpisodeSteps;
    this.taskSpace = hs.taskSpace;
    this.name = sanitizePeerText(hs.hello.name ?? '', 256);
    this.hardware = hs.hello.hardware === true;
    this.binary = hs.binary;
    this.stats.rejected = hs.rejected;
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
    this.maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.done = new Uint8Array(this.num);
    this.lastObs = new Float32Array(this.num * this.observationSpace.size);
    this.stallWatch = options.stallTimeoutMs ? new Watchdog(options.stallTimeoutMs, () => this.sendStopNow()) : null;
    this.rate = options.maxRateHz ? new RateLimiter(options.maxRateHz) : null;
    // Hardware: a signal halts (stop now, no step after it); other exits, and simulators, send the stop.
    this.offShutdown = options.stopOnShutdown === false ? () => {} : onShutdown((why) => (this.hardware && (why === 'SIGINT' || why === 'SIGTERM') ? this.halt(why) : this.sendStopNow()));
    this.calls = new PendingCalls((id, kind) => this.fail(new Error(`${kind} #${id}: no reply from ${label} within ${this.callTimeoutMs} ms`), true));
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', (code, reason) => this.onClose(code, reason));
    // Oversized or malformed frames: ws reports them here, then closes the socket (1009 / 1002).
    ws.on('error', () => this.stats.rejected++);
  }

  /** Dials a simulator that serves the protocol, e.g. `ws://127.0.0.1:8765`, and shakes hands. */
  static async connect<T = unknown>(url: string, options: AgentBridgeOptions = {}): Promise<RemoteVectorEnv<T>> {
    return connectAsAgent(url, options, (ws, hs) => new RemoteVectorEnv<T>(ws, hs, url, options));
  }

  /** Whether the connection is up and the env has not failed or been closed. */
  get usable(): boolean {
    return this.failure === null && this.closing === null && this.ws.readyState === WebSocket.OPEN;
  }

  sampleTasks(n: number, rng: Rng): T[] {
    return sampleTasks(this.taskSpace, n, rng) as T[];
  }

  /** Sets copy i's task to tasks[i]; may be left unawaited (see the failure policy above). */
  setTasks(tasks: T[]): Promise<void> {
    let p: Promise<void>;
    if (!Array.isArray(tasks) || tasks.length !== this.num) {
      this.taskError = new Error(`setTasks: got ${Array.isArray(tasks) ? tasks.length : typeof tasks} tasks for ${this.num} envs`);
      p = Promise.reject(this.taskError);
    } else {
      p = this.call<Reply>('set_tasks', (id) => encodeMessage({ type: 'set_tasks', id, tasks })).then(() => undefined);
    }
    p.catch(() => {}); // not unhandled when the caller does not await: the next reset/step reports it
    return p;
  }

  /** Resets every copy (copy i seeded with deriveSeed(seed, i) by the simulator); n × obsDim. */
  async reset(seed?: number): Promise<Float32Array> {
    if (seed !== undefined && !Number.isSafeInteger(seed)) throw new Error(`reset: seed must be an integer, got ${seed}`);
    if (this.haltReason !== null) throw new HaltedError(this.haltReason);
    const reply = await this.call<Reply & { type: 'obs' }>('reset', (id) => encodeMessage(seed === undefined ? { type: 'reset', id } : { type: 'reset', id, seed }));
    if (this.taskError) throw this.taskError;
    assertFinite(`observation from ${this.label} at reset`, reply.obs);
    this.done.fill(0);
    this.resetDone = true;
    this.lastObs = reply.obs.slice();
    this.stallWatch?.arm();
    return reply.obs;
  }

  /** Steps every running copy with its row of `actions` (n × actDim, clipped into the action space). */
  async step(actions: Float32Array): Promise<VectorStepResult> {
    const a = this.actionSpace.size;
    if (actions.length !== this.num * a) throw new Error(`step: expected ${this.num * a} action entries (${this.num} × ${a}), got ${actions.length}`);
    for (let i = 0; i < actions.length; i++) {
      // Refused rather than clipped: ±Infinity or NaN means the policy diverged.
      if (!Number.isFinite(actions[i])) throw new NumericError(`step: action entry ${i} (copy ${Math.floor(i / a)}) is ${actions[i]}; not sending it`);
    }
    if (!this.resetDone) throw new Error('step: call reset() before the first step');
    if (this.haltReason !== null) return this.haltedStep();
    const { actions: clipped, clipped: count } = clipActions(actions, this.actionSpace);
    this.stats.clippedActions += count;
    await this.rate?.wait();
    this.stallWatch?.disarm();
    const reply = await this.call<Reply & { type: 'step_result' }>('step', (id) =>
      this.binary ? encodeStepFrame(id, clipped, this.num, a) : encodeMessage({ type: 'step', id, actions: Array.from(clipped) }),
    );
    if (this.taskError) throw this.taskError;
    if (this.haltReason !== null) return this.haltedStep(); // halted while the step was out: not a transition
    const result = this.finishStep(reply.result);
    if (this.done.some((d) => d === 0)) this.stallWatch?.arm();
    return result;
  }

  /**
   * Stops for good: `stop` goes out now, no step is sent after it (a step in flight comes back
   * discarded for every copy), and reset() throws a HaltedError.
   */
  halt(reason = 'halt'): void {
    if (this.haltReason === null) this.haltReason = reason;
    this.stallWatch?.disarm();
    this.sendStopNow();
  }

  /** Every running copy's step discarded and its episode ended (see VectorStepResult.discarded). */
  private haltedStep(): VectorStepResult {
    const n = this.num;
    const discarded = Uint8Array.from(this.done, (d) => (d ? 0 : 1));
    this.stats.discardedSteps += discarded.reduce((a, b) => a + b, 0);
    this.stats.interruptedEpisodes += discarded.reduce((a, b) => a + b, 0);
    this.done.fill(1);
    return { obs: this.lastObs.slice(), reward: new Float32Array(n), terminated: new Uint8Array(n), truncated: discarded.slice(), discarded };
  }

  /** Asks the simulator to hold still (its safe state); resolves when it acknowledged. */
  async stop(): Promise<void> {
    this.stats.stops++;
    await this.call('stop', (id) => encodeMessage({ type: 'stop', id }));
  }

  /**
   * Safety path: queues a `stop` at once, without waiting for its answer (a stalled agent, a
   * dying process). The reply, if any, is not awaited by anyone.
   */
  private sendStopNow(): void {
    if (this.failure !== null || this.ws.readyState !== WebSocket.OPEN) return;
    this.stats.stops++;
    this.call('stop', (id) => encodeMessage({ type: 'stop', id }), true).catch(() => {});
  }

  /** Sends stop, then close, and waits for the socket to close (terminating it after closeTimeoutMs). */
  close(): Promise<void> {
    this.stallWatch?.disarm();
    this.offShutdown();
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.failure === null && this.ws.readyState === WebSocket.OPEN) {
      this.stats.stops++;
      const stop = this.call('stop', (id) => encodeMessage({ type: 'stop', id }), true).catch(() => {});
      await Promise.race([stop, delay(this.closeTimeoutMs)]);
    }
    this.calls.rejectAll((id, kind) => new Error(`${kind} #${id}: the env was closed before the reply`));
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((res) => this.ws.once('close', () => res()));
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(encodeMessage({ type: 'close' }));
      this.ws.close(CLOSE_CODES.normal, 'agent closed the env');
    }
    if (!(await Promise.race([closed.then(() => true), delay(this.closeTimeoutMs).then(() => false)]))) this.ws.terminate();
    await closed;
  }

  /** Sends one request and waits for its reply; `evenWhileClosing` lets close() send its stop. */
  private call<R>(kind: CallKind, encode: (id: number) => string | Uint8Array, evenWhileClosing = false): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing && !evenWhileClosing) return Promise.reject(new Error(`${kind}: the env is closed`));
    if (kind !== 'set_tasks' && kind !== 'stop' && this.taskError) return Promise.reject(this.taskError);
    if (this.ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error(`${kind}: connection to ${this.label} is not open`));
    const { id, promise } = this.calls.add<R>(kind, this.callTimeoutMs);
    if (kind === 'set_tasks') {
      // The newest set_tasks decides: clear an older failure now, record this one's if it fails.
      this.taskError = null;
      this.latestTaskCall = id;
      promise.catch((e: Error) => {
        if (this.latestTaskCall === id) this.taskError ??= e;
      });
    }
    const data = encode(id);
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (bytes > this.maxBytes) {
      // The peer would close the connection (1009) over it: refuse here and keep the env usable.
      this.calls.reject(id, new Error(`${kind} #${id}: message of ${bytes} bytes exceeds the limit of ${this.maxBytes} (maxMessageBytes, on both sides)`));
      return promise;
    }
    this.ws.send(data, (err) => {
      if (err) this.calls.reject(id, new Error(`${kind} #${id}: sending to ${this.label} failed: ${err.message}`));
    });
    return promise;
  }

  /** Keeps finished copies' rows as they were (reward 0), checks finiteness, records endings. */
  private finishStep(r: VectorStepResult): VectorStepResult {
    const d = this.observationSpace.size;
    for (let i = 0; i < this.num; i++) {
      if (!this.done[i]) continue;
      r.obs.set(this.lastObs.subarray(i * d, (i + 1) * d), i * d);
      r.reward[i] = 0;
      r.terminated[i] = 0;
      r.truncated[i] = 0;
    }
    assertFinite(`observation from ${this.label}`, r.obs);
    assertFinite(`reward from ${this.label}`, r.reward);
    for (let i = 0; i < this.num; i++) if (r.terminated[i] || r.truncated[i]) this.done[i] = 1;
    this.lastObs = r.obs.slice();
    return r;
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    const reply = decodeReply(data, isBinary, { maxBytes: this.maxBytes, binary: this.binary, label: this.label, kindOf: (id) => this.calls.kindOf(id) });
    if ('rejected' in reply) {
      this.stats.rejected++;
      return;
    }
    if ('remoteError' in reply) {
      this.lastRemoteError = reply.remoteError;
      return;
    }
    const kind = this.calls.kindOf(reply.id);
    if (kind === undefined) {
      this.stats.rejected++; // out of order, already answered, timed out, or never asked
      return;
    }
    if ('error' in reply) {
      if (reply.count) this.stats.rejected++;
      // Set synchronously: a reset answered in the same network chunk must already see it.
      if (kind === 'set_tasks' && reply.id === this.latestTaskCall) this.taskError = reply.error;
      this.calls.reject(reply.id, reply.error);
      return;
    }
    if (reply.value.type !== EXPECTED[kind]) {
      this.stats.rejected++;
      this.calls.reject(reply.id, new Error(`${kind} #${reply.id}: ${this.label} answered with '${reply.value.type}', expected '${EXPECTED[kind]}'`));
      return;
    }
    const problem = shapeProblem(reply.value, this.num, this.observationSpace.size);
    if (problem !== null) {
      this.stats.rejected++;
      this.calls.reject(reply.id, new Error(`${kind} #${reply.id}: invalid reply from ${this.label}: ${problem}`));
      return;
    }
    this.calls.resolve(reply.id, reply.value);
  }

  private onClose(code: number, reason: Buffer): void {
    // Nothing can be sent any more: drop the process hooks and the watchdog, which would otherwise
    // keep this env (and what it holds) alive for as long as the process runs.
    this.offShutdown();
    this.stallWatch?.disarm();
    if (this.closing) {
      // Closing already (maybe waiting for the stop's answer): nothing more will come.
      this.calls.rejectAll((id, kind) => new Error(`${kind} #${id}: the connection closed while the env was closing`));
      return;
    }
    if (this.resetDone && this.done.some((d) => d === 0)) this.stats.interruptedEpisodes++;
    const why = reason.length > 0 ? `: ${sanitizePeerText(reason.toString(), 123)}` : '';
    this.fail(new Error(`connection to ${this.label} closed (code ${code}${why})`), false);
  }

  /** Fails the env: every call in flight and every later call rejects. */
  private fail(e: Error, closeSocket: boolean): void {
    if (this.failure) return;
    this.failure = e;
    this.calls.rejectAll((id, kind) => (e.message.startsWith(`${kind} #${id}:`) ? e : new Error(`${kind} #${id}: ${e.message}`)));
    if (closeSocket && this.ws.readyState === WebSocket.OPEN) {
      this.stats.stops++;
      // Best effort: the simulator may only be slow; ask it to hold still before we hang up.
      this.ws.send(encodeMessage({ type: 'stop', id: 0xffff_ffff }));
      this.ws.close(CLOSE_CODES.timeout, 'call timed out');
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms).unref?.());
}
