/**
 * A stop that does not depend on the agent's event loop. A worker thread holds its own rosbridge
 * connection and publishes the stop action itself when the control loop misses its heartbeat for
 * `timeoutMs` during an episode: a blocked event loop (a long synchronous computation, a GC pause,
 * a debugger) can send nothing, so the watchdog must not live there.
 *
 * The two threads share one Int32Array (a SharedArrayBuffer) and change it only with Atomics:
 *   [STATE]  IDLE (no episode) · WATCHING (episode running) · SENDING (the control loop is
 *            publishing an action) · STOPPED (the worker sent the stop; it holds until the control
 *            loop acknowledges) · HALTED (for good: the process is stopping)
 *   [BEAT]   a counter the control loop increments; the worker times its changes on its own clock,
 *            so the threads share no clock.
 *   [SENT]   stops the worker has sent (readable at once, even before its message arrives).
 * The worker stops only by compare-exchange WATCHING → STOPPED, and the control loop publishes an
 * action only after compare-exchange WATCHING → SENDING: so once the worker's stop has gone out, no
 * action can follow it until the control loop has seen the stop and ended the episode.
 *
 * What this cannot catch: a killed or frozen *process* (kill -9, a power cut, a kernel hang) takes
 * the worker down too. Only the robot's own command timeout covers that (docs/ros.md).
 */
import { siblingModule } from '../core/moduleUrl.ts';
import { Worker } from 'node:worker_threads';
import { workerStart } from '../streams/workerGroup.ts';
import type { RosbridgeOptions } from './rosbridge.ts';

export const GuardState = { IDLE: 0, WATCHING: 1, SENDING: 2, STOPPED: 3, HALTED: 4 } as const;
export const STATE = 0;
export const BEAT = 1;
export const SENT = 2;

/** What the guard worker needs: its own connection and the stop message to publish. */
export interface GuardWorkerData {
  shared: SharedArrayBuffer;
  client: RosbridgeOptions & { onReject?: never };
  topic: string;
  type: string;
  stopMessage: Record<string, unknown>;
  timeoutMs: number;
  pollMs: number;
}

/** Messages the worker posts to the control loop. */
export type GuardEvent =
  | { kind: 'ready' }
  | { kind: 'failed'; message: string }
  | { kind: 'stopped'; silentMs: number; reason: 'stall' | 'halt' };

export class StopGuard {
  private readonly view: Int32Array;
  private closed = false;
  /** Silence that made the worker stop last, ms (for logs and tests). */
  lastSilentMs = 0;

  /** Called (on this thread, when its loop runs again) for each stop the worker sent. */
  onStop: (silentMs: number) => void = () => {};

  private constructor(private readonly worker: Worker, shared: SharedArrayBuffer) {
    this.view = new Int32Array(shared);
    worker.on('message', (m: GuardEvent) => {
      if (m.kind === 'stopped') {
        this.lastSilentMs = m.silentMs;
        this.onStop(m.silentMs);
      }
    });
  }

  /** Starts the worker and resolves once it is connected and has advertised the action topic. */
  static async start(o: Omit<GuardWorkerData, 'shared' | 'pollMs'> & { pollMs?: number; startTimeoutMs: number }): Promise<StopGuard> {
    const shared = new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT);
    const { startTimeoutMs, ...rest } = o;
    const data: GuardWorkerData = { ...rest, shared, pollMs: o.pollMs ?? Math.max(1, Math.min(5, o.timeoutMs / 20)) };
    const start = workerStart(siblingModule('./stopGuardWorker', import.meta.url));
    // --input-type (a parent started with -e) is refused in a worker: drop it.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    const worker = new Worker(start.url, { workerData: { ...start.workerData, guard: data }, execArgv });
    worker.unref(); // the guard never keeps the process alive on its own
    const guard = new StopGuard(worker, shared);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`stop guard: its connection to ${o.client.url} was not ready within ${startTimeoutMs} ms`)), startTimeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        void worker.terminate();
        reject(e);
      };
      worker.on('message', (m: GuardEvent) => {
        if (m.kind === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (m.kind === 'failed') fail(new Error(`stop guard: ${m.message}`));
      });
      worker.once('error', (e) => fail(e));
      worker.once('exit', (code) => fail(new Error(`stop guard: worker exited (code ${code}) before it was ready`)));
    });
    return guard;
  }

  /** Stops the worker has sent (stalls and halts). */
  get sent(): number {
    return Atomics.load(this.view, SENT);
  }

  get state(): number {
    return Atomics.load(this.view, STATE);
  }

  /** An episode runs: the worker stops the robot if no heartbeat comes for timeoutMs. */
  watch(): void {
    this.beat();
    Atomics.compareExchange(this.view, STATE, GuardState.IDLE, GuardState.WATCHING);
  }

  /** The control loop is alive. */
  beat(): void {
    Atomics.add(this.view, BEAT, 1);
  }

  /** Claims the right to publish one action; false when the worker's stop holds or the guard halted. */
  beginSend(): boolean {
    this.beat();
    return Atomics.compareExchange(this.view, STATE, GuardState.WATCHING, GuardState.SENDING) === GuardState.WATCHING;
  }

  /** The action went out (it counts as a heartbeat). */
  endSend(): void {
    this.beat();
    Atomics.compareExchange(this.view, STATE, GuardState.SENDING, GuardState.WATCHING);
  }

  /** The worker's stop is in force (not yet acknowledged). */
  get stopHolds(): boolean {
    return this.state === GuardState.STOPPED;
  }

  /**
   * The episode is over (the control loop sent its own stop): no more watching. Returns whether
   * the worker had stopped the robot, acknowledging that stop.
   */
  idle(): boolean {
    if (Atomics.compareExchange(this.view, STATE, GuardState.WATCHING, GuardState.IDLE) === GuardState.WATCHING) return false;
    return Atomics.compareExchange(this.view, STATE, GuardState.STOPPED, GuardState.IDLE) === GuardState.STOPPED;
  }

  /** For good: no action may be published any more; the worker publishes the stop too. */
  halt(): void {
    Atomics.store(this.view, STATE, GuardState.HALTED);
    Atomics.notify(this.view, STATE);
  }

  get halted(): boolean {
    return this.state === GuardState.HALTED;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker.terminate();
  }
}
