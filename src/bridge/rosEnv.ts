/**
 * A ROS robot (or Gazebo) as a `BridgeVectorEnv` with one copy, over a rosbridge v2 connection,
 * built from a robot config (rosConfig.ts): observations from topic fields and expressions, actions
 * written into message fields, reward and termination from expressions, tasks from a TaskSpace.
 *
 * Timing: `lockstep` ends a step when every observation topic (or, with `sync: trigger`, the
 * trigger topic) has delivered a message newer than the action; `realtime` ends it on a fixed-rate
 * clock and samples the latest values.
 *
 * Safety (docs/ros.md): actions are clipped to the bounds; the stop action goes out when
 * observations stop (`safety.timeout_ms`, this thread), when the control loop stalls or its event
 * loop is blocked (the stop guard: a worker thread with its own connection, stopGuard.ts), at the
 * end of each episode, on close, on process exit / crash, and as the first command after a
 * reconnect. `halt()` (the first Ctrl-C or SIGTERM) sends the stop and refuses every later action.
 *
 * A step that did not happen as commanded — interrupted by a disconnect, a timeout, stale data, the
 * guard's stop or a halt — is not a transition: it comes back `discarded` (and truncated) and the
 * episode ends at the step before it. Episodes that never get one answer in a row point to a
 * misconfiguration, which stops the run (rosWatch.ts).
 */
import type { VectorStepResult } from '../core/env.ts';
import type { Rng } from '../core/rng.ts';
import { Box } from '../core/spaces.ts';
import { HaltedError, NumericError } from '../core/errors.ts';
import { type BridgeVectorEnv, emptyStats } from './bridgeEnv.ts';
import { clipActions, onShutdown, RateLimiter, Watchdog } from './safety.ts';
import { sampleTasks } from './taskSpace.ts';
import type { RosbridgeClient, RosbridgeOptions } from './rosbridge.ts';
import { addTaskToScope, evaluateNumber, type RosPlan } from './rosConfig.ts';
import { RosLink } from './rosLink.ts';
import { type Outcome, ObservationBoard, failedEpisodeError } from './rosWatch.ts';
import { startFresh } from './rosReset.ts';
import { checkFields } from './rosTypes.ts';

type Task = Record<string, unknown>;
/** Episodes in a row without one answered step before the run stops as misconfigured. */
export const MAX_DEAD_EPISODES = 5;
/** Reset attempts when the connection drops during a reset. */
const RESET_ATTEMPTS = 4;

export interface RosEnvOptions {
  /** Install the exit / signal / crash hook that sends the stop action (default true). */
  stopOnShutdown?: boolean;
  /** Overrides of the rosbridge client options (tests). */
  client?: Partial<RosbridgeOptions>;
  /** Status lines (e.g. that the fields could not be checked against the robot's types). */
  log?: (line: string) => void;
}

export class RosEnv implements BridgeVectorEnv<Task> {
  readonly num = 1;
  readonly hardware = true;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  readonly maxEpisodeSteps: number;
  readonly stats = emptyStats();
  private readonly link: RosLink;
  private readonly cfg: RosPlan['config'];
  private readonly board: ObservationBoard;
  private readonly obsWatchdog: Watchdog;
  private readonly limiter: RateLimiter | null;
  private readonly offHooks: (() => void)[] = [];
  private task: Task = {};
  private running = false;
  private stepping = false;
  private t = 0;
  private lastObs: Float32Array;
  private nextTickAt = 0;
  /** The connection dropped during the running episode: its next step ends it. */
  private interrupted = false;
  /** Disconnects so far (a reset that saw one retries). */
  private drops = 0;
  /** The observation watchdog expired and nothing arrived since (its stop holds). */
  private observationsLost = false;
  /** Episodes in a row that ended without one answered step, and why the last did. */
  private deadEpisodes = 0;
  private answeredThisEpisode = 0;

  private constructor(private readonly plan: RosPlan, options: RosEnvOptions) {
    const c = (this.cfg = plan.config);
    this.maxEpisodeSteps = c.max_episode_steps;
    const visible = plan.observation.filter((o) => !o.hidden).length;
    this.observationSpace = new Box(-Infinity, Infinity, [visible]);
    this.actionSpace = new Box(c.action.low, c.action.high, [c.action.fields.length]);
    this.lastObs = new Float32Array(visible);
    this.limiter = c.safety.max_rate_hz ? new RateLimiter(c.safety.max_rate_hz) : null;
    this.board = new ObservationBoard(plan, () => {
      this.stats.rejected++;
    }, () => {
      this.observationsLost = false;
      this.obsWatchdog.kick();
    });
    this.obsWatchdog = new Watchdog(c.safety.timeout_ms, () => {
      this.observationsLost = true;
      if (!this.link.stopped && !this.link.guardStopHolds) this.link.sendStop(); // not twice when the guard stopped it already
    });
    this.link = new RosLink(plan, this.stats, options.client);
    if (options.stopOnShutdown !== false) {
      // A signal halts (stop now, no more actions); exit and crash paths send the stop once more.
      this.offHooks.push(onShutdown((why) => (why === 'SIGINT' || why === 'SIGTERM' ? this.halt(why) : this.link.sendStop())));
    }
    this.offHooks.push(this.client.onConnection((e) => this.onConnection(e)));
  }

  /** The rosbridge connection (its stats, for logs and tests). */
  get client(): RosbridgeClient {
    return this.link.client;
  }

  /** Connects, starts the stop guard, subscribes to the observation topics and advertises the action topic. */
  static async connect(plan: RosPlan, options: RosEnvOptions = {}): Promise<RosEnv> {
    const env = new RosEnv(plan, options);
    try {
      await env.link.open();
      const warning = await checkFields(plan, env.client, plan.config.connection.request_timeout_ms);
      if (warning) options.log?.(`warning: ${warning}`);
    } catch (e) {
      for (const off of env.offHooks) off();
      await env.link.close();
      throw e;
    }
    env.declare();
    return env;
  }

  private declare(): void {
    const c = this.cfg;
    this.board.subscribe(this.client, { throttleRate: c.connection.throttle_rate_ms, queueLength: c.connection.queue_length });
    // A repeated reset message is not harmless: no resend; requestReset waits for the advertise instead.
    if (c.reset?.topic) this.client.advertise(c.reset.topic, c.reset.type, { resendFirst: false });
    this.link.declare();
  }

  sampleTasks(n: number, rng: Rng): Task[] {
    return sampleTasks(this.plan.tasks, n, rng);
  }

  getTask(): Task {
    return this.task;
  }

  setTasks(tasks: Task[]): void {
    if (tasks.length !== 1) throw new Error(`RosEnv.setTasks: expected 1 task (num = 1), got ${tasks.length}`);
    this.task = tasks[0];
    addTaskToScope(this.board.scope, this.task);
  }

  /** Whether halt() was called (the env takes no more actions). */
  get halted(): boolean {
    return this.link.halted;
  }

  /**
   * Stops the robot for good: sends the stop action now (from this thread and from the guard's),
   * ends the running episode (a step in flight comes back discarded) and refuses every later
   * action; reset() then throws a HaltedError.
   */
  halt(reason = 'halt'): void {
    this.link.halt(reason);
    this.obsWatchdog.disarm();
    this.board.wakeAll();
  }

  /** Stops the robot, resets it (service or topic), and resolves with the first fresh observation. */
  async reset(): Promise<Float32Array> {
    for (let attempt = 1; ; attempt++) {
      if (this.halted) throw new HaltedError(this.link.whyHalted);
      const drops = this.drops;
      try {
        return await this.resetOnce();
      } catch (e) {
        // A connection lost around the reset is retried like one lost mid-step (after the reconnect).
        if (this.halted || this.drops === drops || attempt >= RESET_ATTEMPTS) throw e;
      }
    }
  }

  private async resetOnce(): Promise<Float32Array> {
    if (this.running) this.endEpisode();
    const c = this.cfg;
    await startFresh(this.plan, this.link, this.board);
    if (this.halted) throw new HaltedError(this.link.whyHalted);
    this.interrupted = false;
    this.observationsLost = false;
    this.t = 0;
    this.answeredThisEpisode = 0;
    this.running = true;
    this.board.scope.set('t', 0);
    this.lastObs = this.board.observe(this.observationSpace.size);
    // Realtime robots stream: silence is a fault at any time. Lockstep sims are silent between steps
    // by design, so there the watchdog watches only a step's wait (a stall between steps is the guard's).
    if (c.mode === 'realtime') this.obsWatchdog.arm();
    this.link.watch();
    this.nextTickAt = performance.now() + 1000 / (c.rate_hz ?? 1);
    return this.lastObs.slice();
  }

  async step(actions: Float32Array): Promise<VectorStepResult> {
    if (!this.running) throw this.halted ? new HaltedError(this.link.whyHalted) : new Error('RosEnv.step: no episode running; call reset() first');
    if (this.stepping) throw new Error('RosEnv.step: the previous step has not finished');
    if (actions.length !== this.actionSpace.size) throw new Error(`RosEnv.step: expected ${this.actionSpace.size} action entries, got ${actions.length}`);
    let safe: Float32Array;
    try {
      const c = clipActions(actions, this.actionSpace);
      safe = c.actions;
      this.stats.clippedActions += c.clipped;
    } catch (e) {
      this.endEpisode(); // a diverged policy: stop the robot before reporting it
      throw e;
    }
    this.stepping = true;
    // Waiting inside a step is the control loop at work: keep the guard's heartbeat going (a
    // blocked event loop stops these beats too, which is the point).
    const beats = setInterval(() => this.link.beat(), Math.max(1, this.cfg.safety.timeout_ms / 4));
    this.link.beat();
    try {
      if (this.limiter) await this.limiter.wait();
      return this.finishStep(safe, await this.exchange(safe));
    } finally {
      clearInterval(beats);
      this.stepping = false;
    }
  }

  /** Sends the action (unless something stands in the way) and waits for the step to end. */
  private async exchange(action: Float32Array): Promise<Outcome> {
    const c = this.cfg;
    if (this.halted) return 'halted';
    if (!this.running || !this.client.connected || this.interrupted) return 'disconnected';
    // Realtime: while the robot is silent past the watchdog, its stop stays in force (we would drive blind).
    if (c.mode === 'realtime' && this.observationsLost) return 'stale';
    const before = this.board.snapshot();
    const sent = this.link.sendAction(action);
    if (sent !== 'sent') return sent;
    let outcome: Outcome;
    if (c.mode === 'lockstep') {
      const awaited = c.sync === 'all' ? this.board.topics : [this.plan.triggerTopic];
      this.obsWatchdog.arm();
      outcome = await this.board.waitUntil(this.client, () => awaited.every((t) => this.board.seq(t) > before.get(t)!), c.connection.step_timeout_ms);
      this.obsWatchdog.disarm();
      if (outcome === 'timeout') this.board.noteTimeout(awaited.filter((t) => this.board.seq(t) <= before.get(t)!));
    } else {
      const now = performance.now();
      const waitMs = Math.max(0, this.nextTickAt - now);
      this.nextTickAt = Math.max(this.nextTickAt, now) + 1000 / c.rate_hz!; // fall behind: restart the clock
      outcome = await this.board.waitUntil(this.client, () => this.halted, waitMs, { timeoutIsOk: true });
      if (outcome === 'ok' && performance.now() - this.board.lastTriggerAt > c.connection.step_timeout_ms) outcome = 'timeout';
      if (outcome === 'ok' && this.observationsLost) outcome = 'stale';
    }
    if (this.halted) return 'halted';
    // The guard stopped the robot while this step ran: what followed was not this action's doing.
    if (this.link.guardStopHolds) return 'stopped';
    return outcome;
  }

  private finishStep(action: Float32Array, outcome: Outcome): VectorStepResult {
    if (outcome !== 'ok') return this.discardStep(outcome);
    this.t++;
    const s = this.board.scope;
    s.set('t', this.t);
    s.set('action', Array.from(action));
    action.forEach((x, i) => s.set(`action_${i}`, x));
    let reward: number;
    let terminated: boolean;
    try {
      this.lastObs = this.board.observe(this.observationSpace.size);
      reward = evaluateNumber(this.plan.reward, s, 'reward');
      if (!Number.isFinite(reward)) throw new NumericError(`reward expression gave ${reward} at step ${this.t}`);
      terminated = this.plan.termination !== null && evaluateNumber(this.plan.termination, s, 'termination') !== 0;
    } catch (e) {
      this.endEpisode(); // the run stops on this error: leave the robot stopped
      throw e;
    }
    this.answeredThisEpisode++;
    this.deadEpisodes = 0;
    const truncated = !terminated && this.t >= this.maxEpisodeSteps;
    if (terminated || truncated) this.endEpisode();
    return { obs: this.lastObs.slice(), reward: Float32Array.of(reward), terminated: Uint8Array.of(terminated ? 1 : 0), truncated: Uint8Array.of(truncated ? 1 : 0) };
  }

  /** Ends the episode at the step before this one: the step is reported discarded, not stored. */
  private discardStep(outcome: Exclude<Outcome, 'ok'>): VectorStepResult {
    this.stats.interruptedEpisodes++;
    this.stats.discardedSteps++;
    this.endEpisode();
    if (outcome === 'timeout' || outcome === 'stale') {
      if (this.answeredThisEpisode === 0) this.deadEpisodes++;
      if (this.deadEpisodes >= MAX_DEAD_EPISODES) throw failedEpisodeError(this.plan, this.board, this.deadEpisodes);
    }
    return { obs: this.lastObs.slice(), reward: Float32Array.of(0), terminated: Uint8Array.of(0), truncated: Uint8Array.of(1), discarded: Uint8Array.of(1) };
  }

  /** Sends the stop action and closes the connection (and the guard's). */
  async close(): Promise<void> {
    this.running = false;
    for (const off of this.offHooks) off();
    this.obsWatchdog.disarm();
    await this.link.close();
  }

  /** What a process shutdown does (also called by the exit / crash hook): send the stop now. */
  shutdown(): void {
    this.link.sendStop();
  }

  private endEpisode(): void {
    this.running = false;
    this.obsWatchdog.disarm();
    this.link.endEpisode();
  }

  /** A drop ends the running episode (RosLink sends the stop on the reconnect); waits re-check. */
  private onConnection(e: 'connected' | 'disconnected'): void {
    if (e === 'disconnected') {
      this.drops++;
      if (this.running) {
        this.interrupted = true;
        this.obsWatchdog.disarm();
      }
    }
    this.board.wakeAll();
  }
}
