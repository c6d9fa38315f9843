/**
 * Side-by-side table of meta-training returns: our runs (metrics.jsonl) against the reference
 * runner's logs (../shared/reference/pytorch-maml-rl: one JSON line per meta-batch with
 * `train_return_mean` before and `valid_return_mean` after adaptation), per batch and as the
 * mean adaptation gain (after − before) over batch windows. Pairs are given per seed:
 *
 *   npx tsx scripts/parity-table.ts --ours RUN_DIR --ref LOG.jsonl [--ours RUN_DIR --ref LOG.jsonl …]
 *
 * Prints markdown (the per-batch table for the first pair, then the gains of every pair and
 * their mean over pairs), then the figures as one JSON line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface Series {
  before: number[];
  after: number[];
}

function readOurs(runDir: string): Series {
  const rows = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  rows.sort((a, b) => a.batch - b.batch);
  return { before: rows.map((r) => r['charts/return_before']), after: rows.map((r) => r['charts/return_after']) };
}

function readReference(log: string): Series {
  const rows = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => typeof r.batch === 'number' && 'train_return_mean' in r);
  rows.sort((a, b) => a.batch - b.batch);
  return { before: rows.map((r) => r.train_return_mean), after: rows.map((r) => r.valid_return_mean) };
}

const WINDOWS: [number, number][] = [[0, 3], [9, 10], [17, 19], [29, 37], [30, 39]];

/** Mean of after − before over batches [from, to] (inclusive); NaN when the series is shorter. */
export function meanGain(s: Series, from: number, to: number): number {
  if (s.before.length <= to) return NaN;
  let sum = 0;
  for (let b = from; b <= to; b++) sum += s.after[b] - s.before[b];
  return sum / (to - from + 1);
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');

function main(): void {
  const { values } = parseArgs({ options: { ours: { type: 'string', multiple: true }, ref: { type: 'string', multiple: true } } });
  const ours = (values.ours ?? []).map(readOurs);
  const refs = (values.ref ?? []).map(readReference);
  if (ours.length === 0 || ours.length !== refs.length) throw new Error('give --ours RUN_DIR and --ref LOG.jsonl in pairs (one pair per seed)');

  const [o, r] = [ours[0], refs[0]];
  console.log('| batch | ours before | ours after | ours gain | reference before | reference after | reference gain |');
  console.log('|---|---|---|---|---|---|---|');
  for (let b = 0; b < Math.max(o.before.length, r.before.length); b++) {
    const cells = [o, r].flatMap((s) => (b < s.before.length ? [s.before[b], s.after[b], s.after[b] - s.before[b]] : [NaN, NaN, NaN]));
    console.log(`| ${b} | ${cells.map(fmt).join(' | ')} |`);
  }

  console.log(`\n| seed pair | ${WINDOWS.map(([a, b]) => `gain ${a}–${b} ours / ref`).join(' | ')} |`);
  console.log(`|---|${WINDOWS.map(() => '---').join('|')}|`);
  const gains = ours.map((s, i) => WINDOWS.map(([a, b]) => [meanGain(s, a, b), meanGain(refs[i], a, b)]));
  gains.forEach((g, i) => console.log(`| ${i + 1} | ${g.map(([x, y]) => `${fmt(x)} / ${fmt(y)}`).join(' | ')} |`));
  const mean = WINDOWS.map((_, w) => [0, 1].map((k) => gains.reduce((s, g) => s + g[w][k], 0) / gains.length));
  console.log(`| mean | ${mean.map(([x, y]) => `${fmt(x)} / ${fmt(y)}`).join(' | ')} |`);
  const [ours3039, ref3039] = mean[WINDOWS.length - 1];
  console.log(`\nmean gain at batches 30–39: ours ${fmt(ours3039)}, reference ${fmt(ref3039)}, ratio ${(ours3039 / ref3039).toFixed(3)}`);
  console.log(JSON.stringify({ windows: WINDOWS, gains, mean, ratio3039: ours3039 / ref3039 }));
}

main();
