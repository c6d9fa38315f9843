/**
 * Fail-safe pieces shared by every bridge to hardware or external simulators:
 * - `clipActions`: actions into the action space (NaN refused: it is a diverged policy, not a command);
 * - `Watchdog`: calls its `expire` handler when it is not kicked (an observation arrived) within
 *   `timeoutMs` while armed; the bridge then sends its stop action;
 * - `RateLimiter`: a minimum interval between commands (maximum command rate);
 * - `onShutdown`: runs a handler once on exit, SIGINT, SIGTERM or an uncaught error, so the stop
 *   action goes out before the process dies.
 */
import type { Box } from '../core/spaces.ts';
import { NumericError } from '../core/errors.ts';

/** Clips `actions` (rows of `box.size`) into the box, in a copy; counts the entries that were changed. */
export function clipActions(actions: Float32Array, box: Box): { actions: Float32Array; clipped: number } {
  const out = Float32Array.from(actions);
  const n = box.size;
  let clipped = 0;
  for (let i = 0; i < out.length; i++) {
    const x = out[i];
    if (Number.isNaN(x)) throw new NumericError(`bridge: action entry ${i} is NaN`);
    const j = i % n;
    if (x < box.low[j]) {
      out[i] = box.low[j];
      clipped++;
    } else if (x > box.high[j]) {
      out[i] = box.high[j];
      clipped++;
    }
  }
  return { actions: out, clipped };
}

export type WatchdogReason = 'timeout' | 'disconnect' | 'stall' | 'shutdown';

/**
 * Expires `timeoutMs` after the last `kick()` while armed, calling `expire('timeout')` once per
 * silence (kicking again re-arms it). `trip(reason)` expires at once (disconnect, shutdown).
 */
export class Watchdog {
  private timer: NodeJS.Timeout | null = null;
  private armed = false;
  private lastKick = 0;

  constructor(
    readonly timeoutMs: number,
    private readonly expire: (reason: WatchdogReason, silentMs: number) => void,
  ) {
    if (!(timeoutMs > 0)) throw new Error(`Watchdog: timeoutMs must be positive, got ${timeoutMs}`);
  }

  /** Starts watching: expires if no kick comes within timeoutMs from now. */
  arm(): void {
    this.armed = true;
    this.kick();
  }

  /** An observation arrived: restart the countdown. */
  kick(): void {
    this.lastKick = performance.now();
    if (!this.armed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.expire('timeout', performance.now() - this.lastKick);
    }, this.timeoutMs);
    this.timer.unref?.();
  }

  /** Expires now for `reason` (once), and stops watching. */
  trip(reason: WatchdogReason): void {
    const wasArmed = this.armed;
    this.disarm();
    if (wasArmed || reason === 'shutdown') this.expire(reason, performance.now() - this.lastKick);
  }

  /** Stops watching without expiring (the episode ended normally). */
  disarm(): void {
    this.armed = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** At most `maxHz` commands per second: `wait()` resolves when the next command may go out. */
export class RateLimiter {
  private next = 0;
  private readonly intervalMs: number;

  constructor(maxHz: number) {
    if (!(maxHz > 0)) throw new Error(`RateLimiter: maxHz must be positive, got ${maxHz}`);
    this.intervalMs = 1000 / maxHz;
  }

  async wait(): Promise<void> {
    const now = performance.now();
    const at = Math.max(now, this.next);
    this.next = at + this.intervalMs;
    if (at > now) await new Promise((r) => setTimeout(r, at - now));
  }
}

/**
 * Runs `handler` whenever the process is asked to go or is going: SIGINT, SIGTERM, normal exit, or
 * an uncaught exception — every time, not once: a second Ctrl-C or the exit after a first one must
 * send the stop again (a stop is idempotent). The handler must act synchronously (queue the stop
 * action). A signal that no one else handles keeps its default outcome (the process ends); with
 * other listeners (e.g. the training loop's Ctrl-C) they decide. Returns a function that removes
 * the hooks.
 */
export function onShutdown(handler: (why: string) => void): () => void {
  const run = (why: string) => {
    try {
      handler(why);
    } catch {
      // Shutting down anyway; a failing stop handler must not mask the original cause.
    }
  };
  const onExit = () => run('exit');
  const onCrash = () => run('crash');
  const onSignal = (sig: NodeJS.Signals) => {
    run(sig);
    if (process.listenerCount(sig) === 1) {
      remove();
      process.kill(process.pid, sig); // nobody else handles it: take the default action
    }
  };
  const remove = () => {
    process.off('exit', onExit);
    process.off('uncaughtExceptionMonitor', onCrash);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('exit', onExit);
  process.on('uncaughtExceptionMonitor', onCrash);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return remove;
}
