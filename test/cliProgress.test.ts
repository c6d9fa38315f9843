/** Progress off a TTY (log files): plain lines, an ETA counted from this process's own batches (right after a resume), no carriage returns. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatDuration, progressReporter } from '../src/cliProgress.ts';
import type { BatchMetrics } from '../src/experiments/metaBatch.ts';

const m = { returnBefore: -10, returnAfter: -5, secondsSampling: 4, secondsInner: 0.5, secondsOuter: 0.5 } as BatchMetrics;

function captureStderr(): string[] {
  const lines: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  return lines;
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('meta-training progress in a log', () => {
  it('a resumed run (batches 306… of 475) gets its ETA from the batches it ran itself', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const lines = captureStderr();
    const p = progressReporter('meta-training', 475);
    p.episodes(306, 400, 800); // within the first batch: less than 10 s in, no line yet
    vi.advanceTimersByTime(15_000);
    p.episodes(306, 800, 800); // 15 s of silence: one line
    vi.advanceTimersByTime(5_000);
    p.update(306, m); // 20 s per batch, 169 to go
    vi.advanceTimersByTime(20_000);
    p.update(307, m);
    expect(lines).toEqual([
      'meta-training 306: 800/800 episodes sampled\n',
      'meta-training 306/475: return before -10.0 after -5.0 (5.0 s, ETA 56m20s)\n',
      'meta-training 307/475: return before -10.0 after -5.0 (5.0 s, ETA 56m00s)\n',
    ]);
    expect(lines.join('')).not.toContain('\r');
  });

  it('formats durations without 60-second minutes', () => {
    expect(formatDuration(119.6)).toBe('2m00s');
    expect(formatDuration(3599.5)).toBe('1h00m');
    expect(formatDuration(42)).toBe('42s');
  });
});
