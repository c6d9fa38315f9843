/**
 * What the `metarl` command shows while it works, and how it hears Ctrl-C: the meta-training
 * progress bar (a line per meta-batch off a TTY), a line per episode on robots, and the
 * stop-request signal (first Ctrl-C / SIGTERM: stop; second: exit at once).
 */
import cliProgress from 'cli-progress';
import type { BridgeStats } from './bridge/bridgeEnv.ts';
import type { BatchMetrics } from './experiments/metaBatch.ts';

/** A bridged env's counters of one meta-batch, for the progress line. */
export function envCounters(s: BridgeStats): string {
  return `stops ${s.stops}, interrupted ${s.interruptedEpisodes}, reconnects ${s.reconnects}, rejected ${s.rejected}, clipped ${s.clippedActions}`;
}

/** Plain (non-TTY) progress lines within a meta-batch come at most this often. */
const QUIET_SECONDS = 10;

/**
 * Meta-training progress. On a TTY: a bar with the ETA, the last batch's returns and, during a
 * batch, how many of its episodes are done; off a TTY (a log file): a line per meta-batch, and a
 * line within a long meta-batch at most every 10 s, never a carriage return. The ETA counts the
 * meta-batches this process ran (a resumed run's earlier ones took no time here).
 */
export function progressReporter(label: string, total: number) {
  const tty = Boolean(process.stderr.isTTY);
  const bar = tty
    ? new cliProgress.SingleBar(
        { format: `${label} {bar} {value}/{total} | ETA {eta} | return before {before} after {after} | {secs}s/batch{env}{within}`, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let started = false;
  let first: { batch: number; t: number } | null = null;
  let lastLine = performance.now();
  const payload = { before: '-', after: '-', secs: '-', env: '', eta: '-', within: '' };
  const begin = (doneBefore: number) => {
    if (first) return;
    first = { batch: doneBefore, t: performance.now() };
    if (bar && !started) bar.start(total, doneBefore, payload);
    started = true;
  };
  return {
    /** Episodes done within meta-batch `batch` (1-based) so far. */
    episodes(batch: number, done: number, total: number) {
      begin(batch - 1);
      const within = ` | batch ${batch}: ${done}/${total} episodes`;
      if (bar) {
        payload.within = within;
        bar.update(batch - 1, payload);
      } else if ((performance.now() - lastLine) / 1000 >= QUIET_SECONDS) {
        process.stderr.write(`${label} ${batch}: ${done}/${total} episodes sampled\n`);
        lastLine = performance.now();
      }
    },
    update(done: number, m: BatchMetrics) {
      begin(done - 1);
      const ran = done - first!.batch;
      const eta = ((performance.now() - first!.t) / 1000 / Math.max(ran, 1)) * (total - done);
      Object.assign(payload, { before: m.returnBefore.toFixed(1), after: m.returnAfter.toFixed(1), secs: (m.secondsSampling + m.secondsInner + m.secondsOuter).toFixed(1), env: m.env ? ` | ${envCounters(m.env)}` : '', eta: formatDuration(eta), within: '' });
      if (bar) {
        bar.update(done, payload);
      } else {
        process.stderr.write(`${label} ${done}/${total}: return before ${payload.before} after ${payload.after} (${payload.secs} s, ETA ${payload.eta})${m.env ? `; ${envCounters(m.env)}` : ''}\n`);
        lastLine = performance.now();
      }
    },
    stop() {
      bar?.stop();
    },
  };
}

/**
 * Ctrl-C or SIGTERM: the first asks the run to stop (a simulator finishes its meta-batch; a robot
 * is halted at once, see train.ts) and checkpoint; the second exits at once (a robot env's exit
 * hook sends the stop action once more on the way out).
 */
export function interruptFlag(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    process.stderr.write('\nstopping: a simulator finishes this meta-batch, a robot stops now; then a checkpoint is written (Ctrl-C again to abort)\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { signal: controller.signal, dispose: () => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); } };
}

/** Formats seconds as 1h02m, 3m05s or 42s. */
export function formatDuration(s: number): string {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  return m > 0 ? `${m}m${String(t % 60).padStart(2, '0')}s` : `${t}s`;
}

/**
 * A line per round of episodes: `meta-batch 2/20: episode 5/16, ETA 14m05s`. The ETA counts
 * episodes (on a robot the time goes there), from this process's own rate, so it stays right
 * after a resume.
 */
export function episodeProgress(numBatches: number): (batch: number, done: number, total: number) => void {
  const t0 = performance.now();
  let first: number | null = null;
  return (batch, done, total) => {
    first ??= (batch - 1) * total;
    const doneAll = (batch - 1) * total + done - first;
    const rate = (performance.now() - t0) / 1000 / Math.max(doneAll, 1);
    const left = numBatches * total - ((batch - 1) * total + done);
    process.stderr.write(`meta-batch ${batch}/${numBatches}: episode ${done}/${total}, ETA ${formatDuration(rate * left)}\n`);
  };
}
