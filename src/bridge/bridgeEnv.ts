/**
 * What every bridged env offers the agent: a vector env whose calls are asynchronous (a network
 * round trip), plus the task distribution (announced by the simulator, or defined in the robot's
 * config) and counters a user can read to see what the bridge had to reject or repair.
 */
import type { AnyVectorEnv } from '../core/env.ts';
import type { Rng } from '../core/rng.ts';

export interface BridgeStats {
  /** Incoming messages rejected: malformed, failing the schema, oversized, out of order, unknown id. */
  rejected: number;
  /** Action entries clipped into the action space before sending. */
  clippedActions: number;
  /** Stop actions sent by the watchdog or on disconnect / shutdown. */
  stops: number;
  /** Reconnections after a lost connection. */
  reconnects: number;
  /** Episodes ended early (truncated): a disconnect, a timeout, stale data, a stop in force, a halt. */
  interruptedEpisodes: number;
  /** Steps that did not happen as commanded and were not stored as transitions. */
  discardedSteps: number;
}

export function emptyStats(): BridgeStats {
  return { rejected: 0, clippedActions: 0, stops: 0, reconnects: 0, interruptedEpisodes: 0, discardedSteps: 0 };
}

export interface BridgeVectorEnv<T = unknown> extends AnyVectorEnv<T> {
  /** Draws n tasks from the remote side's task distribution. */
  sampleTasks(n: number, rng: Rng): T[];
  readonly stats: BridgeStats;
  /**
   * A robot rather than a simulator: the first Ctrl-C or SIGTERM halts it at once (the stop goes
   * out and no action follows) instead of finishing the meta-batch.
   */
  readonly hardware?: boolean;
  /** Sends the stop action and refuses every later action (a running step comes back discarded). */
  halt?(reason: string): void;
  /** Closes the connection (sending the stop action first where there is one). */
  close(): Promise<void>;
}
