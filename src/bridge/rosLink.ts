/**
 * The ROS env's line to the robot's actuators: the rosbridge connection, the stop guard (a worker
 * thread with a connection of its own, stopGuard.ts) and every rule about the stop action —
 *   - the first command on a connection, and after every reconnect, is the stop;
 *   - a stop that cannot go out (disconnected) is owed and sent on the reconnect;
 *   - an action goes out only when the guard lets it (`beginSend`): never over the guard's stop;
 *   - after `halt()`, nothing but stops, from this thread and from the guard's.
 * `stats.stops` counts the stops sent by watchdogs, the guard, halts and reconnects.
 */
import type { BridgeStats } from './bridgeEnv.ts';
import { RosbridgeClient, type RosbridgeOptions } from './rosbridge.ts';
import type { RosPlan } from './rosConfig.ts';
import { actionMessage } from './rosFields.ts';
import { StopGuard } from './stopGuard.ts';

/** The rosbridge client options of a robot config. */
export function clientOptions(plan: RosPlan): RosbridgeOptions {
  const k = plan.config.connection;
  return { url: plan.config.url, requestTimeoutMs: k.request_timeout_ms, maxMessageBytes: k.max_message_bytes, reconnectInitialMs: k.reconnect_initial_ms, reconnectMaxMs: k.reconnect_max_ms, pingIntervalMs: k.ping_interval_ms };
}

export class RosLink {
  readonly client: RosbridgeClient;
  private guard: StopGuard | null = null;
  /** The last command this thread sent was the stop action. */
  stopped = false;
  /** A stop could not be sent (disconnected): send it first thing after reconnecting. */
  private stopOwed = false;
  private haltReason: string | null = null;
  private guardStopsCounted = 0;
  private declared = false;

  constructor(
    private readonly plan: RosPlan,
    private readonly stats: BridgeStats,
    private readonly overrides: Partial<RosbridgeOptions> = {},
  ) {
    this.client = new RosbridgeClient({ ...clientOptions(plan), onReject: () => { stats.rejected++; }, ...overrides });
    this.client.onConnection((e) => this.onConnection(e));
  }

  /** Connects, then starts the guard on its own connection. */
  async open(): Promise<void> {
    const c = this.plan.config;
    await this.client.connect();
    this.guard = await StopGuard.start({
      client: { ...clientOptions(this.plan), ...this.overrides, onReject: undefined as never },
      topic: c.action.topic,
      type: c.action.type,
      stopMessage: this.message(c.action.stop_action),
      timeoutMs: c.safety.timeout_ms,
      startTimeoutMs: c.connection.request_timeout_ms + 5000,
    });
    this.guard.onStop = () => this.countGuardStops();
  }

  /** Advertises the action topic and sends the first (harmless) stop. */
  declare(): void {
    this.declared = true;
    this.client.advertise(this.plan.config.action.topic, this.plan.config.action.type);
    // The first publish after advertise may be lost (REFERENCE §6); let it be a harmless stop.
    this.publishStop();
  }

  get halted(): boolean {
    return this.haltReason !== null;
  }

  get whyHalted(): string {
    return this.haltReason ?? '';
  }

  /** An episode runs: the guard watches the control loop's heartbeat. */
  watch(): void {
    this.guard?.watch();
  }

  beat(): void {
    this.guard?.beat();
  }

  /** The guard's stop is in force (not yet acknowledged by the end of the episode). */
  get guardStopHolds(): boolean {
    return this.guard?.stopHolds ?? false;
  }

  /**
   * Publishes one action if nothing stands in the way; returns why not otherwise: 'halted', or
   * 'stopped' (the guard's stop holds).
   */
  sendAction(action: Float32Array): 'sent' | 'stopped' | 'halted' {
    if (this.halted) return 'halted';
    if (this.guard && !this.guard.beginSend()) return this.guard.halted ? 'halted' : 'stopped';
    this.stopped = action.every((x, i) => x === Math.fround(this.plan.config.action.stop_action[i]));
    this.client.publish(this.plan.config.action.topic, this.message(action));
    this.guard?.endSend();
    return 'sent';
  }

  /** Publishes the stop action (not counted: an episode's ordinary end). */
  publishStop(): boolean {
    this.stopped = true;
    return this.client.publish(this.plan.config.action.topic, this.message(this.plan.config.action.stop_action));
  }

  /** A stop that a watchdog, a halt or a shutdown asks for: counted, and owed if offline. */
  sendStop(): void {
    if (this.client.connected && this.publishStop()) this.stats.stops++;
    else this.stopOwed = true;
  }

  /** The episode is over: acknowledge the guard, stop the robot (or owe it the stop). */
  endEpisode(): void {
    this.countGuardStops();
    this.guard?.idle();
    if (this.client.connected) this.publishStop();
    else this.stopOwed = true;
  }

  /** For good: the stop now, from both threads, and nothing else afterwards. */
  halt(reason: string): void {
    if (this.haltReason === null) this.haltReason = reason;
    this.guard?.halt();
    this.sendStop();
  }

  async close(): Promise<void> {
    this.guard?.halt();
    if (this.declared && this.client.connected && this.publishStop()) this.stats.stops++;
    await this.client.close();
    await this.guard?.close();
  }

  private message(action: ArrayLike<number>): Record<string, unknown> {
    return actionMessage(this.plan.config.action.template, this.plan.actionPaths, action);
  }

  /** Adds the stops the guard sent since the last count to `stats.stops`. */
  private countGuardStops(): void {
    const sent = this.guard?.sent ?? 0;
    this.stats.stops += sent - this.guardStopsCounted;
    this.guardStopsCounted = sent;
  }

  private onConnection(e: 'connected' | 'disconnected'): void {
    if (e === 'disconnected') this.stopOwed = true;
    else if (this.declared) {
      // A reconnect: the client re-advertised before telling us; the robot's state is unknown, so stop it first.
      this.stats.reconnects = this.client.stats.reconnects;
      if (this.stopOwed) this.stats.stops++;
      this.stopOwed = false;
      this.publishStop();
    }
  }
}
