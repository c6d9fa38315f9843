/**
 * `tsx scripts/continual-verdict.ts RUN…`: issue 14's gate and verdict from continual run folders
 * (results.json): per run, online's BWT and its LA against frozen (paired by seed), and mer minus
 * each of online, replay and er on ACC (paired by seed), with 95 % bootstrap intervals. MER
 * "helps" on a run only if every one of those intervals excludes 0 with a mean of at least +0.01.
 */
import { readResults } from '../src/continual/report.ts';
import { pairedDifferences } from '../src/continual/metrics.ts';
import { Rng } from '../src/core/rng.ts';
import type { Interval } from '../src/continual/types.ts';

const fmt = (iv: Interval) => `${iv.mean >= 0 ? '+' : ''}${iv.mean.toFixed(3)} [${iv.lo.toFixed(3)}, ${iv.hi.toFixed(3)}]`;
const excludes0 = (iv: Interval) => iv.lo > 0 || iv.hi < 0;

for (const dir of process.argv.slice(2)) {
  const r = readResults(dir);
  const rng = new Rng(77);
  const bwt = r.summary.online?.bwt;
  const la = r.runs.some((x) => x.method === 'frozen') ? pairedDifferences(r.runs, 'online', 'frozen', rng.fork()).la : undefined;
  const gate = bwt !== undefined && la !== undefined && bwt.hi < 0 && la.lo > 0;
  console.log(`${dir}: ${r.env}, ${r.schedule}, ${r.tasks.length} tasks, ${new Set(r.runs.map((x) => x.seed)).size} seeds; steps ${JSON.stringify(r.stepSizes ?? {})}`);
  console.log(`  gate (online forgets): BWT(online) ${bwt ? fmt(bwt) : '-'}, LA(online − frozen) ${la ? fmt(la) : '-'} → ${gate ? 'passes' : 'does not pass'}`);
  const others = ['online', 'replay', 'er'].filter((m) => r.runs.some((x) => x.method === m));
  const diffs = others.map((m) => ({ m, d: pairedDifferences(r.runs, 'mer', m, rng.fork()).acc }));
  for (const { m, d } of diffs) console.log(`  ACC(mer − ${m.padEnd(6)}) ${fmt(d)}${excludes0(d) ? '' : '  (includes 0)'}`);
  const helps = diffs.length > 0 && diffs.every(({ d }) => d.lo > 0 && d.mean >= 0.01);
  console.log(`  verdict: MER ${helps ? 'helps' : 'does not help'} here`);
  console.log(JSON.stringify({ run: dir, gate, bwtOnline: bwt, laOnlineMinusFrozen: la, merMinus: Object.fromEntries(diffs.map(({ m, d }) => [m, d])), merHelps: helps }));
}
