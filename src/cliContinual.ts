/**
 * `metarl continual`'s console output: the config fields for `--help`, one progress line per
 * finished task, and the summary table with the paired comparisons against mer.
 */
import type { z } from 'zod';
import type { TaskRecord } from './experiments/continual.ts';
import { pairedWithMer } from './experiments/continualReportText.ts';
import { type ContinualConfig, ContinualSchema } from './experiments/continualConfig.ts';
import type { ContinualResults, Interval } from './experiments/continualTypes.ts';

export function describeContinualFields(): string {
  return Object.entries(ContinualSchema.shape)
    .map(([k, s]) => `  ${k.padEnd(16)} ${(s as z.ZodType).description ?? ''}`)
    .join('\n');
}

/** One progress line per finished task (the count goes on where a resumed run left off). */
export function taskProgress(c: ContinualConfig): (t: TaskRecord) => void {
  const total = c.seeds * c.methods.length * c.tasks;
  return (t) => {
    const done = (t.seed - 1) * c.methods.length * c.tasks + (c.methods as string[]).indexOf(t.method) * c.tasks + t.task + 1;
    process.stderr.write(`continual ${done}/${total}: seed ${t.seed} ${t.method} task ${t.task + 1}/${c.tasks}: return before ${t.returnBefore.toFixed(1)} after ${t.returnsAfter.at(-1)!.toFixed(1)} (${t.seconds.toFixed(1)} s)\n`);
  };
}

export function printSummary(r: ContinualResults): void {
  console.log(`continual ${r.env}, ${r.schedule} schedule, ${r.tasks.length} tasks: metrics on normalized returns, mean [95% CI] over seeds`);
  const fmt = (iv: Interval) => `${iv.mean.toFixed(3)} [${iv.lo.toFixed(3)}, ${iv.hi.toFixed(3)}]`;
  for (const [method, m] of Object.entries(r.summary)) {
    console.log(`  ${method.padEnd(9)} ACC ${fmt(m.acc)}  LA ${fmt(m.la)}  BWT ${fmt(m.bwt)}  FWT ${fmt(m.fwt)}  forgetting ${fmt(m.forgetting)}`);
  }
  const pairs = pairedWithMer(r);
  if (pairs.length > 0) console.log('paired by seed, mean difference [95% CI]:');
  for (const { other, d } of pairs) {
    console.log(`  mer − ${other.padEnd(9)} ACC ${fmt(d.acc)}  LA ${fmt(d.la)}  forgetting ${fmt(d.forgetting)}`);
  }
}
