/**
 * What the ROS env knows about its observation topics: the latest value of every entry (the
 * expression scope), a message count per topic, why messages were rejected, and the waits that
 * end on new messages. Also the errors that turn "nothing arrived" into the config field to fix.
 */
import { ConfigError } from '../core/errors.ts';
import type { RosbridgeClient, SubscribeOptions } from './rosbridge.ts';
import { evaluateNumber, type RosPlan } from './rosConfig.ts';
import { readField } from './rosFields.ts';

/**
 * How a step ended: `ok` (its observation came), or why it did not happen as commanded — the
 * connection dropped, no answer within the timeout, the data went stale (realtime), the stop
 * guard's stop held, or the env was halted.
 */
export type Outcome = 'ok' | 'disconnected' | 'timeout' | 'stale' | 'stopped' | 'halted';

interface Rejection { count: number; why: string; entry: number }

export class ObservationBoard {
  /** Names → values for the expressions: observation entries, task fields, t, action. */
  readonly scope = new Map<string, unknown>();
  /** performance.now() of the trigger topic's last message (realtime freshness). */
  lastTriggerAt = 0;
  private readonly counts = new Map<string, number>();
  private readonly rejections = new Map<string, Rejection>();
  private readonly wakers = new Set<() => void>();
  /** Topics that did not answer the last timed-out step. */
  private silent: string[] = [];

  constructor(
    private readonly plan: RosPlan,
    private readonly onRejected: () => void,
    private readonly onFresh: () => void,
  ) {
    for (const o of plan.observation) this.scope.set(o.name, 0);
    for (const o of plan.observation) if ('topic' in o) this.counts.set(o.topic, 0);
  }

  /** The observation topics. */
  get topics(): string[] {
    return [...this.counts.keys()];
  }

  seq(topic: string): number {
    return this.counts.get(topic) ?? 0;
  }

  snapshot(): Map<string, number> {
    return new Map(this.counts);
  }

  /** Subscribes to every observation topic (one subscription per topic). */
  subscribe(client: RosbridgeClient, options: SubscribeOptions): void {
    const byTopic = new Map<string, { type: string; entries: { name: string; path: (string | number)[]; index: number }[] }>();
    this.plan.observation.forEach((o, index) => {
      if (!('topic' in o)) return;
      const g = byTopic.get(o.topic) ?? { type: o.type, entries: [] };
      g.entries.push({ name: o.name, path: o.path, index });
      byTopic.set(o.topic, g);
    });
    for (const [topic, g] of byTopic) {
      const values = new Float64Array(g.entries.length);
      client.subscribe(topic, g.type, (msg) => {
        // All fields of a message or none: a half-updated state would mix two instants.
        for (let i = 0; i < g.entries.length; i++) {
          const v = readField(msg, g.entries[i].path);
          if (typeof v === 'string') return this.reject(topic, v, g.entries[i].index);
          values[i] = v;
        }
        g.entries.forEach((e, i) => this.scope.set(e.name, values[i]));
        this.counts.set(topic, this.seq(topic) + 1);
        if (topic === this.plan.triggerTopic) this.lastTriggerAt = performance.now();
        this.onFresh();
        this.wakeAll();
      }, options);
    }
  }

  private reject(topic: string, why: string, entry: number): void {
    const r = this.rejections.get(topic);
    this.rejections.set(topic, { count: (r?.count ?? 0) + 1, why, entry });
    this.onRejected();
  }

  /** Messages on `topic` rejected so far, the last reason and the entry it concerned. */
  rejected(topic: string): Rejection | undefined {
    return this.rejections.get(topic);
  }

  /** Evaluates the observation vector (size visible entries) from the latest values and expressions. */
  observe(size: number): Float32Array {
    const out = new Float32Array(size);
    let k = 0;
    for (const o of this.plan.observation) {
      const v = 'expr' in o ? evaluateNumber(o.expr, this.scope, `observation ${o.name}`) : (this.scope.get(o.name) as number);
      if ('expr' in o) this.scope.set(o.name, v);
      if (!o.hidden) out[k++] = v;
    }
    return out;
  }

  noteTimeout(topics: string[]): void {
    this.silent = topics;
  }

  get lastSilent(): string[] {
    return this.silent;
  }

  wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
  }

  /**
   * Resolves 'ok' when `done()` holds (checked now and on every observation or connection change),
   * 'timeout' after `timeoutMs`, and 'disconnected' when the connection is down (unless
   * `failOnDisconnect` is false: waiting for the reconnect itself). With `timeoutIsOk` the timeout is
   * the normal end (the realtime clock tick).
   */
  waitUntil(client: RosbridgeClient, done: () => boolean, timeoutMs: number, { failOnDisconnect = true, timeoutIsOk = false } = {}): Promise<Outcome> {
    return new Promise((resolve) => {
      const finish = (o: Outcome) => {
        clearTimeout(timer);
        this.wakers.delete(check);
        resolve(o);
      };
      const check = () => {
        if (failOnDisconnect && !client.connected) finish('disconnected');
        else if (done()) finish('ok');
      };
      const timer = setTimeout(() => finish(timeoutIsOk ? 'ok' : 'timeout'), timeoutMs);
      this.wakers.add(check);
      check();
    });
  }
}

/** The config field behind messages that arrive but are rejected, if any. */
function rejectedFieldError(plan: RosPlan, board: ObservationBoard, topics: string[], since?: Map<string, number>): ConfigError | null {
  for (const topic of topics) {
    const r = board.rejected(topic);
    if (!r || (since && board.seq(topic) > since.get(topic)!)) continue;
    return new ConfigError(`observation.${r.entry}.field`, `messages on ${topic} arrive but are rejected (${r.count} so far): ${r.why}; check the field against ${(plan.observation[r.entry] as { type: string }).type}`);
  }
  return null;
}

/** reset() saw no fresh message on `missing`: name a rejected field if that is why, else the topics. */
export function noFreshObservationError(plan: RosPlan, board: ObservationBoard, missing: string[], timeoutMs: number, since: Map<string, number>): Error {
  return rejectedFieldError(plan, board, missing, since) ?? new Error(`RosEnv.reset: no fresh message on ${missing.join(', ')} within ${timeoutMs} ms (is the robot or simulator publishing? check the topic names)`);
}

/**
 * `n` episodes in a row ended without one answered step: the actions do not reach the robot, or
 * its answers do not reach us. rosbridge drops a message whose fields its type lacks and says
 * nothing (REFERENCE §6), so the likeliest cause is the action's fields, topic or type.
 */
export function failedEpisodeError(plan: RosPlan, board: ObservationBoard, n: number): ConfigError {
  const c = plan.config;
  const silent = board.lastSilent.length > 0 ? board.lastSilent : [plan.triggerTopic];
  const rejected = rejectedFieldError(plan, board, silent);
  if (rejected) return rejected;
  if (c.mode === 'lockstep') {
    return new ConfigError('action.fields', `${n} episodes in a row, no message on ${silent.join(', ')} answered an action on ${c.action.topic} within connection.step_timeout_ms (${c.connection.step_timeout_ms} ms). rosbridge silently drops a message whose fields do not exist in its type: check action.fields [${c.action.fields.join(', ')}] against ${c.action.type}, and action.topic / action.type (or the simulator is not stepping)`);
  }
  return new ConfigError('observation', `${n} episodes in a row, ${silent.join(', ')} went silent for safety.timeout_ms (${c.safety.timeout_ms} ms) before the first step ended: is the robot publishing at least that often? check the topic names, and that safety.timeout_ms exceeds its publishing period`);
}
