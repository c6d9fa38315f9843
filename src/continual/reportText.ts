/**
 * The text parts of a continual-experiment report: `report.md` (title, metric table, per-task
 * returns, embedded plots, how to read the metrics) and `metrics.csv`. Pure functions of a validated
 * `ContinualResults`; report.ts writes what they return.
 */
import { METRIC_NAMES, type ContinualMetrics, type ContinualResults, type Interval } from './types.ts';
import { reportMethods, runsOf, taskReturns, CURVE_LEVEL } from './reportData.ts';
import { type MetricIntervals, metricsOf, pairedDifferences, summaryRows, unadaptedMetricsOf } from './metrics.ts';
import { toCsv } from '../io/csv.ts';
import { Rng } from '../core/rng.ts';

/** Display names of the metrics, in table order. */
export const METRIC_LABELS: Record<keyof ContinualMetrics, string> = {
  acc: 'ACC',
  la: 'LA',
  bwt: 'BWT',
  fwt: 'FWT',
  forgetting: 'Forgetting',
  forgettingCW: 'Forgetting (CW)',
};

/** Fixed decimals without a '-0.000' (a tiny negative rounds to a plain zero). */
export function formatFixed(x: number, digits: number): string {
  const text = x.toFixed(digits);
  return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
}

/** How the report prints a metric interval: `mean [lo, hi]`, three decimals (normalized returns). */
export function formatInterval(iv: Interval): string {
  if (iv.n < MIN_SEEDS_FOR_CI) return `${formatFixed(iv.mean, 3)} (n = ${iv.n}: no CI)`;
  return `${formatFixed(iv.mean, 3)} [${formatFixed(iv.lo, 3)}, ${formatFixed(iv.hi, 3)}]`;
}

/**
 * Below this many seeds an interval is not reported: a percentile bootstrap over 2 seeds is just
 * [min, max], and a t-interval with 1 degree of freedom spans everything. The per-seed values are
 * shown instead.
 */
export const MIN_SEEDS_FOR_CI = 5;

/** Markdown lines: the metrics of the returns before adaptation (runs with evalUnadapted), mean over seeds. */
export function unadaptedSection(results: ContinualResults, methods: string[]): string[] {
  const rows = methods.flatMap((method) => {
    const per = runsOf(results, method).map(unadaptedMetricsOf).filter((m): m is NonNullable<typeof m> => m !== null);
    if (per.length === 0) return [];
    const avg = (k: (typeof METRIC_NAMES)[number]) => formatFixed(per.reduce((s, m) => s + m[k], 0) / per.length, 3);
    return [`| ${cell(method)} | ${METRIC_NAMES.map(avg).join(' | ')} | ${per.length} |`];
  });
  if (rows.length === 0) return [];
  return [
    '## Without adaptation',
    '',
    'The same evaluations before their adaptation steps (R0: what θ itself retains, MER\'s retained accuracy), normalized as above; mean over seeds.',
    '',
    `| method | ${METRIC_NAMES.map((k) => METRIC_LABELS[k]).join(' | ')} | seeds |`,
    `|---|${METRIC_NAMES.map(() => '---').join('|')}|---|`,
    ...rows,
    '',
  ];
}

/** Markdown lines: every run's metrics, one row per method and seed (for runs with few seeds). */
export function perSeedSection(results: ContinualResults, methods: string[]): string[] {
  const lines = ['## Per seed', '', `Fewer than ${MIN_SEEDS_FOR_CI} seeds: no confidence intervals; each run's metrics instead.`, ''];
  lines.push(`| method | seed | ${METRIC_NAMES.map((k) => METRIC_LABELS[k]).join(' | ')} |`);
  lines.push(`|---|---|${METRIC_NAMES.map(() => '---').join('|')}|`);
  for (const method of methods) {
    for (const run of runsOf(results, method)) {
      const m = metricsOf(run);
      lines.push(`| ${cell(method)} | ${run.seed} | ${METRIC_NAMES.map((k) => formatFixed(m[k], 3)).join(' | ')} |`);
    }
  }
  return [...lines, ''];
}

/** Raw episode returns get two decimals. */
export function formatReturn(x: number): string {
  return formatFixed(x, 2);
}

/** Plot file names for a method: anything but letters, digits, '.', '_' and '-' becomes '_'. */
export function rMatrixPlotName(method: string): string {
  return `rmatrix-${method.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/** File name of a method's difference-to-frozen R matrix plot. */
export function rDiffPlotName(method: string): string {
  return `rdiff-${method.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/** One line per task, e.g. `velocity=0.4` for `{ velocity: 0.4 }`; other JSON is printed as JSON. */
export function describeTask(task: unknown): string {
  const short = (v: unknown): string => (typeof v === 'number' ? String(Number(v.toFixed(3))) : JSON.stringify(v));
  if (task && typeof task === 'object' && !Array.isArray(task)) {
    return Object.entries(task).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.map(short).join(', ')}]` : short(v)}`).join(', ');
  }
  return short(task);
}

/** Levels and seed counts of a method's intervals, e.g. '95 % CI, 5 seeds'. */
function intervalNote(results: ContinualResults): string {
  const intervals = Object.values(results.summary).flatMap((m) => METRIC_NAMES.map((k) => m[k]));
  const levels = [...new Set(intervals.map((iv) => iv.level))];
  const ns = [...new Set(intervals.map((iv) => iv.n))].sort((a, b) => a - b);
  const level = levels.length === 1 ? `${+(levels[0] * 100).toFixed(1)} % CI` : 'CI (levels differ, see metrics.csv)';
  const few = ns[0] < MIN_SEEDS_FOR_CI ? `; no interval below ${MIN_SEEDS_FOR_CI} seeds` : '';
  return `${level}, ${ns.join('/')} seed${ns.length === 1 && ns[0] === 1 ? '' : 's'}${few}`;
}

export function metricsSubtitle(results: ContinualResults): string {
  const n = Math.min(...Object.values(results.summary).map((m) => m.acc.n));
  if (n < MIN_SEEDS_FOR_CI) return `on normalized returns; mean over ${n} seed${n === 1 ? '' : 's'} (no interval below ${MIN_SEEDS_FOR_CI} seeds)`;
  return `on normalized returns; mean over seeds and ${intervalNote(results)}`;
}

const cell = (text: string): string => text.replace(/\|/g, '\\|');

/** The whole report.md. `plotsDir` is the plots folder relative to the report. */
export function reportMarkdown(results: ContinualResults, plotsDir: string): string {
  const methods = reportMethods(results);
  const T = results.tasks.length;
  const K = results.adaptSteps;
  const seeds = [...new Set(results.runs.map((r) => r.seed))].sort((a, b) => a - b);
  const lines: string[] = [];
  lines.push(`# Continual task adaptation: ${results.env}, ${results.schedule} schedule`, '');
  lines.push(
    `- environment: \`${results.env}\`; schedule: \`${results.schedule}\`; ${T} task${T === 1 ? '' : 's'}; ${K} adaptation step${K === 1 ? '' : 's'} per task`,
    `- ${seeds.length} seed${seeds.length === 1 ? '' : 's'} (${seeds.join(', ')}); methods: ${methods.map((m) => `\`${m}\``).join(', ')}`,
    ...(results.stepSizes && Object.keys(results.stepSizes).length > 0 ? [`- step size η: ${Object.entries(results.stepSizes).map(([m, lr]) => `${m} ${lr}`).join(', ')}`] : []),
    '',
  );

  lines.push('## Metrics', '');
  lines.push(`On normalized returns (0 = random policy, 1 = oracle): mean over seeds [lo, hi], ${intervalNote(results)}.`, '');
  lines.push(`| method | ${METRIC_NAMES.map((k) => METRIC_LABELS[k]).join(' | ')} | seeds |`);
  lines.push(`|---|${METRIC_NAMES.map(() => '---').join('|')}|---|`);
  for (const method of methods) {
    const m = results.summary[method];
    lines.push(`| ${cell(method)} | ${METRIC_NAMES.map((k) => formatInterval(m[k])).join(' | ')} | ${runsOf(results, method).length} |`);
  }
  lines.push('', `![Metrics with confidence intervals](${plotsDir}/metrics.png)`, '');
  if (seeds.length < MIN_SEEDS_FOR_CI) lines.push(...perSeedSection(results, methods));
  lines.push(...unadaptedSection(results, methods));
  lines.push(...pairedSection(results));

  lines.push('## Returns per task', '');
  lines.push(`Raw episode returns, mean over seeds: when the task arrives (before adapting to it) → after ${K} adaptation step${K === 1 ? '' : 's'}.`, '');
  // Each seed draws its own sequence (random draws may differ): the task column shows the first seed's.
  const taskColumn = seeds.length > 1 ? `task (as drawn for seed ${seeds[0]})` : 'task';
  lines.push(`| # | ${taskColumn} | ${methods.map(cell).join(' | ')} |`);
  lines.push(`|---|---|${methods.map(() => '---').join('|')}|`);
  const perMethod = methods.map((m) => taskReturns(results, m));
  for (let i = 0; i < T; i++) {
    const cells = perMethod.map((rows) => `${formatReturn(rows[i].before.mean)} → ${formatReturn(rows[i].after.mean)}`);
    lines.push(`| ${i + 1} | ${cell(describeTask(results.tasks[i]))} | ${cells.join(' | ')} |`);
  }
  lines.push('', `![Returns along the task sequence](${plotsDir}/returns.png)`, '');
  lines.push(`Lines are means over seeds; bands are ${CURVE_LEVEL * 100} % Student-t intervals over seeds (none with a single seed).`, '');

  lines.push('## R matrices', '');
  lines.push('Normalized return on task j (column) after training through task i (row), mean over seeds. Below the diagonal: memory of past tasks; diagonal: learning; above: transfer to tasks not yet seen. Colours share one scale across methods.', '');
  for (const method of methods) lines.push(`### ${method}`, '', `![R matrix of ${method}](${plotsDir}/${rMatrixPlotName(method)}.png)`, '');
  if (methods.includes('frozen') && methods.length > 1) {
    lines.push('## Against frozen', '', 'Each method\'s R minus frozen\'s, cell by cell (frozen never changes θ, so it cannot forget): orange cells are tasks the method does better on than the starting policy at that point, blue cells worse.', '');
    for (const method of methods.filter((m) => m !== 'frozen')) lines.push(`![R matrix of ${method} minus frozen](${plotsDir}/${rDiffPlotName(method)}.png)`, '');
  }

  lines.push(...HOW_TO_READ, '');
  lines.push('## Files', '');
  lines.push('- `metrics.csv`: every metric interval (method, metric, mean, lo, hi, level, n)');
  lines.push('- `results.json`: all runs; `metarl plot <run folder>` rebuilds this report from it');
  lines.push(`- \`${plotsDir}/*.svg\`: the plots as vector graphics (the PNGs are rendered from them)`, '');
  return lines.join('\n');
}

/** The method the paired table compares with the others: mer when it ran, else none. */
export const PAIRED_WITH = 'mer';
const PAIRED_SEED = 2024;

/**
 * `mer − other` per metric, paired by seed, for every other method of the report (none without
 * mer). The bootstrap generator is fixed, so the report stays a pure function of the results.
 */
export function pairedWithMer(results: ContinualResults): { other: string; d: MetricIntervals }[] {
  const methods = reportMethods(results);
  if (!methods.includes(PAIRED_WITH)) return [];
  const rng = new Rng(PAIRED_SEED);
  const level = results.ciLevel ?? 0.95;
  return methods.filter((m) => m !== PAIRED_WITH).map((other) => ({ other, d: pairedDifferences(results.runs, PAIRED_WITH, other, rng, { level }) }));
}

function pairedSection(results: ContinualResults): string[] {
  const pairs = pairedWithMer(results);
  if (pairs.length === 0) return [];
  const lines = [
    `### \`${PAIRED_WITH}\` against each method, paired by seed`,
    '',
    `Per seed, ${PAIRED_WITH}'s metric minus the other method's (same tasks and sampling noise), then the mean over seeds [lo, hi] with a ${+((results.ciLevel ?? 0.95) * 100).toFixed(1)} % bootstrap interval. An interval that excludes 0 says the difference holds across seeds; for forgetting, negative means ${PAIRED_WITH} forgets less.`,
    '',
    `| difference | ${METRIC_NAMES.map((k) => METRIC_LABELS[k]).join(' | ')} | seeds |`,
    `|---|${METRIC_NAMES.map(() => '---').join('|')}|---|`,
  ];
  for (const { other, d } of pairs) lines.push(`| ${cell(`${PAIRED_WITH} − ${other}`)} | ${METRIC_NAMES.map((k) => formatInterval(d[k])).join(' | ')} | ${d.acc.n} |`);
  lines.push('');
  return lines;
}

const HOW_TO_READ = [
  '## How to read the metrics',
  '',
  'R[i][j] is the return on task j (after the usual adaptation steps) once the agent has been trained through the i-th task of the sequence; b[j] is the same for the model before the sequence started. Every return is first normalized per task, (R − random) / (oracle − random), so that 0 means no better than an untrained policy and 1 means as good as the best known one, and tasks of different difficulty weigh the same. With T tasks:',
  '',
  '- **ACC** (average accuracy, MER\'s RA): the mean over all tasks of the performance at the end, R[T][j]. What is left after the whole sequence; higher is better.',
  '- **LA** (learning accuracy): the mean of R[i][i], the performance on each task right after training on it. How well the agent learns a new task at all; higher is better.',
  '- **BWT** (backward transfer, MER\'s BTI): the mean over the first T − 1 tasks of R[T][i] − R[i][i]. Negative means later training damaged earlier tasks (forgetting); positive means it helped them.',
  '- **FWT** (forward transfer): the mean over tasks 2…T of R[i−1][i] − b[i], how much better a task goes before its turn than it would with the starting model. Positive means earlier tasks prepared the agent for later ones.',
  '- **Forgetting**: for each of the first T − 1 tasks, the best performance it ever had before the end minus its final one, averaged; **Forgetting (CW)** is Continual World\'s variant, R[i][i] − R[T][i]. Zero is perfect memory; lower is better.',
  '',
  'An interval [lo, hi] that excludes another method\'s mean is a hint, not a test; with few seeds, intervals are wide and unstable.',
];

/** metrics.csv: one row per method × metric, full precision. */
export function metricsCsv(results: ContinualResults): string {
  return toCsv(summaryRows(Object.fromEntries(reportMethods(results).map((m) => [m, results.summary[m]]))));
}
