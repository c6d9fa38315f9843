/**
 * A ROS robot (or Gazebo) as a `BridgeVectorEnv` with one copy, over a rosbridge v2 connection,
 * built from a robot config (rosConfig.ts): observations from topic fields and expressions, actions
 * written into message fields, reward and termination from expressions, tasks from a TaskSpace.
 *
 * Timing: `lockstep` ends a step on the next message of the trigger topic after the action went
 * out; `realtime` ends it on a fixed-rate clock and samples the latest values.
 * Safety: actions are clipped to the bounds; the stop action goes out when observations stop
 * (`safety.timeout_ms`), when the agent stalls between steps, at the end of each episode, on close,
 * on process exit / Ctrl-C / crash, and as the first command after a reconnect (a closed socket
 * cannot carry it). A lost connection ends the running episode as truncated with the last
 * observation; the env reconnects with backoff and the next reset continues.
 */
import type { VectorStepResult } from '../core/env.ts';
import type { Rng } from '../core/rng.ts';
import { Box } from '../core/spaces.ts';
import { NumericError } from '../core/errors.ts';
import { type BridgeVectorEnv, emptyStats } from './bridgeEnv.ts';
import { clipActions, onShutdown, RateLimiter, Watchdog, type WatchdogReason } from './safety.ts';
import { sampleTasks } from './taskSpace.ts';
import { RosbridgeClient, type RosbridgeOptions } from './rosbridge.ts';
import { addTaskToScope, evaluateNumber, type RosPlan } from './rosConfig.ts';

type Task = Record<string, unknown>;
/** How long after advertising a topic we wait before a message there that must not be lost. */
const ADVERTISE_SETTLE_MS = 250;
type Outcome = 'ok' | 'disconnected' | 'timeout';

export interface RosEnvOptions {
  /** Install the exit / signal / crash hook that sends the stop action (default true). */
  stopOnShutdown?: boolean;
  /** Overrides of the rosbridge client options (tests). */
  client?: Partial<RosbridgeOptions>;
}

/** Reads a field path out of a message: a finite number (booleans as 0/1), or why not. */
function readField(msg: unknown, path: (string | number)[]): number | string {
  let v: unknown = msg;
  for (const key of path) {
    if (typeof v !== 'object' || v === null) return `no field ${path.join('.')}`;
    v = (v as Record<string | number, unknown>)[key];
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v !== 'number' || !Number.isFinite(v)) return `field ${path.join('.')} is ${JSON.stringify(v) ?? 'missing'}, not a finite number`;
  return v;
}

/** Writes `value` at `path` into `msg`, creating objects / arrays on the way. */
function writeField(msg: Record<string, unknown>, path: (string | number)[], value: number): void {
  let o: Record<string | number, unknown> = msg;
  for (let i = 0; i < path.length - 1; i++) {
    const next = o[path[i]];
    if (typeof next !== 'object' || next === null) o[path[i]] = typeof path[i + 1] === 'number' ? [] : {};
    o = o[path[i]] as Record<string | number, unknown>;
  }
  o[path[path.length - 1]] = value;
}

export class RosEnv implements BridgeVectorEnv<Task> {
  readonly num = 1;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  readonly maxEpisodeSteps: number;
  readonly stats = emptyStats();
  readonly client: RosbridgeClient;
  private readonly cfg: RosPlan['config'];
  private readonly scope = new Map<string, unknown>();
  private readonly topicSeq = new Map<string, number>();
  private readonly wakers = new Set<() => void>();
  private readonly obsWatchdog: Watchdog;
  private readonly stallWatchdog: Watchdog;
  private readonly limiter: RateLimiter | null;
  private readonly offHooks: (() => void)[] = [];
  private task: Task = {};
  private running = false;
  private stepping = false;
  private t = 0;
  private lastObs: Float32Array;
  private nextTickAt = 0;
  /** The last command sent was the stop action: watchdogs need not repeat it. */
  private stopped = false;
  /** A stop could not be sent (disconnected): send it first thing after reconnecting. */
  private stopOwed = false;
  /** The connection dropped during the running episode: its next step ends it (truncated). */
  private interrupted = false;
  /** The observation watchdog expired and nothing arrived since (realtime: hold the stop). */
  private observationsLost = false;
  /** When the trigger topic last delivered (realtime mode checks the data is not stale). */
  private lastTriggerAt = 0;
  /** Topics are subscribed and advertised (after the first connection). */
  private declared = false;

  private constructor(private readonly plan: RosPlan, options: RosEnvOptions) {
    const c = (this.cfg = plan.config);
    this.maxEpisodeSteps = c.max_episode_steps;
    const visible = plan.observation.filter((o) => !o.hidden).length;
    this.observationSpace = new Box(-Infinity, Infinity, [visible]);
    this.actionSpace = new Box(c.action.low, c.action.high, [c.action.fields.length]);
    this.lastObs = new Float32Array(visible);
    this.limiter = c.safety.max_rate_hz ? new RateLimiter(c.safety.max_rate_hz) : null;
    this.obsWatchdog = new Watchdog(c.safety.timeout_ms, (why) => {
      this.observationsLost = true;
      this.sendStop(why);
    });
    this.stallWatchdog = new Watchdog(c.safety.timeout_ms, (why) => this.sendStop(why === 'timeout' ? 'stall' : why));
    const k = c.connection;
    this.client = new RosbridgeClient({
      url: c.url, requestTimeoutMs: k.request_timeout_ms, maxMessageBytes: k.max_message_bytes,
      reconnectInitialMs: k.reconnect_initial_ms, reconnectMaxMs: k.reconnect_max_ms, pingIntervalMs: k.ping_interval_ms,
      onReject: () => { this.stats.rejected++; }, ...options.client,
    });
    for (const o of plan.observation) this.scope.set(o.name, 0);
    if (options.stopOnShutdown !== false) this.offHooks.push(onShutdown(() => this.sendStop('shutdown')));
    this.offHooks.push(this.client.onConnection((e) => this.onConnection(e)));
  }

  /** Connects, subscribes to the observation topics and advertises the action topic. */
  static async connect(plan: RosPlan, options: RosEnvOptions = {}): Promise<RosEnv> {
    const env = new RosEnv(plan, options);
    try {
      await env.client.connect();
    } catch (e) {
      for (const off of env.offHooks) off();
      throw e;
    }
    env.declare();
    return env;
  }

  private declare(): void {
    const c = this.cfg;
    this.declared = true;
    const byTopic = new Map<string, { type: string; entries: { name: string; path: (string | number)[] }[] }>();
    for (const o of this.plan.observation) {
      if (!('topic' in o)) continue;
      const g = byTopic.get(o.topic) ?? { type: o.type, entries: [] };
      g.entries.push({ name: o.name, path: o.path });
      byTopic.set(o.topic, g);
    }
    for (const [topic, g] of byTopic) {
      this.topicSeq.set(topic, 0);
      const values = new Float64Array(g.entries.length);
      this.client.subscribe(topic, g.type, (msg) => {
        // All fields of a message or none: a half-updated state would mix two instants.
        for (let i = 0; i < g.entries.length; i++) {
          const v = readField(msg, g.entries[i].path);
          if (typeof v === 'string') return void this.stats.rejected++;
          values[i] = v;
        }
        g.entries.forEach((e, i) => this.scope.set(e.name, values[i]));
        this.topicSeq.set(topic, this.topicSeq.get(topic)! + 1);
        if (topic === this.plan.triggerTopic) this.lastTriggerAt = performance.now();
        this.observationsLost = false;
        this.obsWatchdog.kick();
        for (const wake of [...this.wakers]) wake();
      }, { throttleRate: c.connection.throttle_rate_ms, queueLength: c.connection.queue_length });
    }
    this.client.advertise(c.action.topic, c.action.type);
    // A repeated reset message is not harmless: no resend; requestReset waits for the advertise instead.
    if (c.reset?.topic) this.client.advertise(c.reset.topic, c.reset.type, { resendFirst: false });
    // The first publish after advertise may be lost (REFERENCE §6); let it be a harmless stop.
    this.publishAction(Float32Array.from(c.action.stop_action));
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
    addTaskToScope(this.scope, this.task);
  }

  /** Stops the robot, resets it (service or topic), and resolves with the first fresh observation. */
  async reset(): Promise<Float32Array> {
    if (this.running) this.endEpisode();
    const c = this.cfg;
    const resetTimeout = c.reset?.timeout_ms ?? c.connection.step_timeout_ms;
    if ((await this.waitUntil(() => this.client.connected, c.connection.reconnect_wait_ms, { failOnDisconnect: false })) !== 'ok') {
      throw new Error(`RosEnv.reset: not connected to ${c.url} (waited ${c.connection.reconnect_wait_ms} ms for a reconnect)`);
    }
    const stop = Float32Array.from(c.action.stop_action);
    const trigger = this.plan.triggerTopic;
    let before: Map<string, number>;
    if (c.mode === 'lockstep' && c.reset) {
      // Lockstep sims answer every command, including the stop that ended the last episode: let that
      // answer arrive first so that it is not taken for the post-reset observation.
      const seq = this.seq(trigger);
      this.publishAction(stop);
      await this.waitUntil(() => this.seq(trigger) > seq, Math.min(100, c.safety.timeout_ms));
      before = this.snapshot();
      await this.requestReset(resetTimeout);
    } else if (c.mode === 'lockstep') {
      before = this.snapshot(); // no reset: the answer to the stop is the first observation
      this.publishAction(stop);
    } else {
      await this.requestReset(resetTimeout);
      before = this.snapshot(); // a streaming robot: only messages sent after the reset count
    }
    // Lockstep: the trigger topic must answer and every other topic must have spoken at least once;
    // realtime: every topic must deliver a message from after the reset.
    const isFresh = ([topic, n]: [string, number]) => n > (c.mode === 'realtime' || topic === trigger ? before.get(topic)! : 0);
    const fresh = await this.waitUntil(() => [...this.topicSeq].every(isFresh), resetTimeout);
    if (fresh !== 'ok') {
      const missing = [...this.topicSeq].filter((e) => !isFresh(e)).map(([topic]) => topic);
      throw new Error(`RosEnv.reset: ${fresh === 'timeout' ? `no fresh message on ${missing.join(', ')} within ${resetTimeout} ms` : 'connection lost during reset'}`);
    }
    this.interrupted = false;
    this.observationsLost = false;
    this.t = 0;
    this.running = true;
    this.scope.set('t', 0);
    this.lastObs = this.observe();
    this.obsWatchdog.arm();
    this.stallWatchdog.arm();
    this.nextTickAt = performance.now() + 1000 / (c.rate_hz ?? 1);
    return this.lastObs.slice();
  }

  private async requestReset(timeoutMs: number): Promise<void> {
    const r = this.cfg.reset;
    if (r?.service) {
      await this.client.callService(r.service, r.request, timeoutMs);
    } else if (r?.topic) {
      // rosbridge may drop a message published right after advertise (REFERENCE §6): wait briefly.
      const since = performance.now() - (this.client.advertisedAt(r.topic) ?? 0);
      if (since < ADVERTISE_SETTLE_MS) await new Promise((res) => setTimeout(res, ADVERTISE_SETTLE_MS - since));
      this.client.publish(r.topic, r.request);
    }
  }

  async step(actions: Float32Array): Promise<VectorStepResult> {
    if (!this.running) throw new Error('RosEnv.step: no episode running; call reset() first');
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
    this.stallWatchdog.disarm();
    try {
      if (this.limiter) await this.limiter.wait();
      let outcome: Outcome = 'disconnected';
      if (this.running && this.client.connected && !this.interrupted) {
        const seq = this.seq(this.plan.triggerTopic);
        // Realtime: while the robot is silent past the watchdog, its stop stays in force (we are
        // driving blind). Lockstep sims are silent between steps by design, so they get the action.
        if (this.cfg.mode === 'lockstep' || !this.observationsLost) this.publishAction(safe);
        if (this.cfg.mode === 'lockstep') {
          outcome = await this.waitUntil(() => this.seq(this.plan.triggerTopic) > seq, this.cfg.connection.step_timeout_ms);
        } else {
          const now = performance.now();
          const waitMs = Math.max(0, this.nextTickAt - now);
          this.nextTickAt = Math.max(this.nextTickAt, now) + 1000 / this.cfg.rate_hz!; // fall behind: restart the clock
          outcome = await this.waitUntil(() => false, waitMs, { timeoutIsOk: true });
          // A robot that stopped publishing gives stale observations: end the episode instead.
          if (outcome === 'ok' && performance.now() - this.lastTriggerAt > this.cfg.connection.step_timeout_ms) outcome = 'timeout';
        }
      }
      return this.finishStep(safe, outcome);
    } finally {
      this.stepping = false;
    }
  }

  private finishStep(action: Float32Array, outcome: Outcome): VectorStepResult {
    this.t++;
    const s = this.scope;
    s.set('t', this.t);
    s.set('action', Array.from(action));
    action.forEach((x, i) => s.set(`action_${i}`, x));
    const interrupted = outcome !== 'ok';
    // An interrupted step keeps the last observation (no fresh one came); its reward is evaluated there.
    let reward: number;
    let terminated: boolean;
    try {
      if (!interrupted) this.lastObs = this.observe();
      reward = evaluateNumber(this.plan.reward, s, 'reward');
      if (!Number.isFinite(reward)) throw new NumericError(`reward expression gave ${reward} at step ${this.t}`);
      terminated = !interrupted && this.plan.termination !== null && evaluateNumber(this.plan.termination, s, 'termination') !== 0;
    } catch (e) {
      this.endEpisode(); // the run stops on this error: leave the robot stopped
      throw e;
    }
    const truncated = interrupted || (!terminated && this.t >= this.maxEpisodeSteps);
    if (interrupted) this.stats.interruptedEpisodes++;
    if (terminated || truncated) this.endEpisode();
    else this.stallWatchdog.arm();
    return { obs: this.lastObs.slice(), reward: Float32Array.of(reward), terminated: Uint8Array.of(terminated ? 1 : 0), truncated: Uint8Array.of(truncated ? 1 : 0) };
  }

  /** Sends the stop action and closes the connection. */
  async close(): Promise<void> {
    this.running = false;
    if (this.client.connected && this.publishAction(Float32Array.from(this.cfg.action.stop_action))) this.stats.stops++;
    for (const off of this.offHooks) off();
    this.obsWatchdog.disarm();
    this.stallWatchdog.disarm();
    await this.client.close();
  }

  /** What a process shutdown does (also called by the exit / signal hook): send the stop now. */
  shutdown(why = 'shutdown'): void {
    this.sendStop(why as WatchdogReason);
  }

  // ---- internals ----

  private seq(topic: string): number {
    return this.topicSeq.get(topic) ?? 0;
  }

  private snapshot(): Map<string, number> {
    return new Map(this.topicSeq);
  }

  /** Evaluates the observation vector from the latest topic values and expressions. */
  private observe(): Float32Array {
    const out = new Float32Array(this.observationSpace.size);
    let k = 0;
    for (const o of this.plan.observation) {
      const v = 'expr' in o ? evaluateNumber(o.expr, this.scope, `observation ${o.name}`) : (this.scope.get(o.name) as number);
      if ('expr' in o) this.scope.set(o.name, v);
      if (!o.hidden) out[k++] = v;
    }
    return out;
  }

  private publishAction(action: Float32Array): boolean {
    const a = this.cfg.action;
    const msg = structuredClone(a.template) as Record<string, unknown>;
    this.plan.actionPaths.forEach((path, i) => writeField(msg, path, action[i]));
    this.stopped = action.every((x, i) => x === Math.fround(a.stop_action[i]));
    return this.client.publish(a.topic, msg);
  }

  /** Watchdog / disconnect / shutdown: send the stop action (owed until reconnect if offline). */
  private sendStop(reason: WatchdogReason | string): void {
    // Repeated silences do not repeat a stop already in force; disconnect and shutdown always send.
    if ((reason === 'timeout' || reason === 'stall') && this.stopped) return;
    if (this.client.connected && this.publishAction(Float32Array.from(this.cfg.action.stop_action))) this.stats.stops++;
    else this.stopOwed = true;
  }

  private endEpisode(): void {
    this.running = false;
    this.obsWatchdog.disarm();
    this.stallWatchdog.disarm();
    if (this.client.connected) this.publishAction(Float32Array.from(this.cfg.action.stop_action));
    else this.stopOwed = true;
  }

  private onConnection(e: 'connected' | 'disconnected'): void {
    if (e === 'disconnected') {
      if (this.running) {
        this.interrupted = true;
        this.obsWatchdog.trip('disconnect');
      }
      this.stopOwed = true;
    } else if (this.declared) {
      // A reconnect: the client re-advertised before telling us; the robot's state is unknown, so stop it first.
      this.stats.reconnects = this.client.stats.reconnects;
      if (this.stopOwed) this.stats.stops++;
      this.stopOwed = false;
      this.publishAction(Float32Array.from(this.cfg.action.stop_action));
    }
    for (const wake of [...this.wakers]) wake();
  }

  /**
   * Resolves 'ok' when `done()` holds (checked now and on every observation or connection change),
   * 'timeout' after `timeoutMs`, and 'disconnected' when the connection is down (unless
   * `failOnDisconnect` is false: waiting for the reconnect itself). With `timeoutIsOk` the timeout is
   * the normal end (the realtime clock tick).
   */
  private waitUntil(done: () => boolean, timeoutMs: number, { failOnDisconnect = true, timeoutIsOk = false } = {}): Promise<Outcome> {
    return new Promise((resolve) => {
      const finish = (o: Outcome) => {
        clearTimeout(timer);
        this.wakers.delete(check);
        resolve(o);
      };
      const check = () => {
        if (failOnDisconnect && !this.client.connected) finish('disconnected');
        else if (done()) finish('ok');
      };
      const timer = setTimeout(() => finish(timeoutIsOk ? 'ok' : 'timeout'), timeoutMs);
      this.wakers.add(check);
      check();
    });
  }
}
