/**
 * The report of a continual task-adaptation experiment, written into its run folder:
 *
 *   report.md                    title, metric table, per-task returns, plots, how to read them
 *   metrics.csv                  method, metric, mean, lo, hi, level, n
 *   results.json                 the ContinualResults (writeResults / readResults)
 *   plots/returns.svg|png        returns along the sequence, before and after adaptation
 *   plots/rmatrix-<method>.svg|png   mean normalized R matrix of each method
 *   plots/metrics.svg|png        metric bars with their intervals
 *
 * `plotRun(runDir)` rebuilds everything from results.json (the `metarl plot RUN_DIR` command).
 * Every file is written atomically (temporary file in the same folder, fsync, rename), so a crash
 * never leaves a half-written report next to a good one.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.ts';
import { join } from 'node:path';
import { metricBarsChart, rMatrixChart, renderSvg, returnsChart, svgToPng, type CurvePoint, type MatrixCell, type MetricBar, type TopLevelSpec } from '../io/plots.ts';
import type { ContinualResults } from './types.ts';
import { CURVE_LEVEL, InvalidResultsError, meanNormalizedR, reportMethods, runsOf, seedCount, taskReturns, validateResults } from './reportData.ts';
import { METRIC_LABELS, MIN_SEEDS_FOR_CI, metricsCsv, metricsSubtitle, reportMarkdown, rDiffPlotName, rMatrixPlotName } from './reportText.ts';

export const RESULTS_FILE = 'results.json';
export const REPORT_FILE = 'report.md';
export const METRICS_CSV_FILE = 'metrics.csv';
export const PLOTS_DIR = 'plots';
const RESULTS_FORMAT = 'metarl-continual-results';
const RESULTS_VERSION = 1;

/** The metrics drawn as bars (all six are in the table and the CSV). */
const PLOTTED_METRICS = ['acc', 'la', 'bwt', 'fwt', 'forgetting'] as const;

/** Saves the results as `runDir/results.json` (creating runDir if needed). */
export function writeResults(runDir: string, results: ContinualResults): void {
  mkdirSync(runDir, { recursive: true });
  // JSON has no NaN: a NaN would come back as null and be refused by readResults, which names it.
  const body = { format: RESULTS_FORMAT, version: RESULTS_VERSION, ...results };
  writeFileAtomic(join(runDir, RESULTS_FILE), `${JSON.stringify(body, null, 1)}\n`);
}

/** Reads and checks `runDir/results.json`; throws an error naming the file and what is wrong. */
export function readResults(runDir: string): ContinualResults {
  const path = join(runDir, RESULTS_FILE);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (raw?.format !== RESULTS_FORMAT || raw.version !== RESULTS_VERSION) {
    throw new InvalidResultsError(`${path} is not a ${RESULTS_FORMAT} file of version ${RESULTS_VERSION} (format ${String(raw?.format)}, version ${String(raw?.version)})`);
  }
  const { format: _format, version: _version, ...rest } = raw;
  const results = rest as unknown as ContinualResults;
  try {
    validateResults(results);
  } catch (e) {
    if (e instanceof InvalidResultsError) e.message = `${path}: ${e.message}`;
    throw e;
  }
  return results;
}

/** The three kinds of chart of a report, as Vega-Lite specs keyed by file name (without extension). */
export function reportCharts(results: ContinualResults): Map<string, TopLevelSpec> {
  const methods = reportMethods(results);
  const K = results.adaptSteps;
  const nSeeds = seedCount(results);
  const before = 'before adaptation';
  const after = `after ${K} adaptation step${K === 1 ? '' : 's'}`;
  const charts = new Map<string, TopLevelSpec>();

  const points: CurvePoint[] = methods.flatMap((method) =>
    taskReturns(results, method).flatMap((r, i) => [
      { method, panel: before, task: i + 1, ...r.before },
      { method, panel: after, task: i + 1, ...r.after },
    ]),
  );
  const band = nSeeds > 1 ? ` with a ${CURVE_LEVEL * 100} % Student-t band` : '';
  charts.set('returns', returnsChart(points, { methods, panels: [before, after], title: 'Returns along the task sequence', subtitle: `episode return, mean over ${nSeeds} seed${nSeeds === 1 ? '' : 's'}${band}`, yTitle: 'episode return' }));

  const fileNames = methods.map(rMatrixPlotName);
  const clash = fileNames.find((n, i) => fileNames.indexOf(n) !== i);
  if (clash) throw new InvalidResultsError(`two method names give the same plot file ${clash}; rename one (only letters, digits, '.', '_' and '-' are kept)`);
  const matrices = methods.map((m) => meanNormalizedR(results, m));
  const values = matrices.flat(2);
  // One colour scale for all methods, spanning the values drawn (values in 0.86–1.0 get the whole
  // scale, not its top seventh), so that heatmaps compare and differences show.
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const domain: [number, number] = hi > lo ? [lo, hi] : [lo - 0.5, hi + 0.5];
  const cellsOf = (m: number[][]): MatrixCell[] => m.flatMap((row, i) => row.map((value, j) => ({ row: i + 1, col: j + 1, value })));
  methods.forEach((method, k) => {
    const n = runsOf(results, method).length;
    charts.set(rMatrixPlotName(method), rMatrixChart(cellsOf(matrices[k]), { title: `R matrix: ${method}`, subtitle: `normalized return, mean over ${n} seed${n === 1 ? '' : 's'}`, domain, legendTitle: 'normalized R' }));
  });
  // Each method minus frozen (which cannot forget), cell by cell: what the method's updates did.
  const f = methods.indexOf('frozen');
  if (f >= 0) {
    const diffs = methods.map((_, k) => matrices[k].map((row, i) => row.map((v, j) => v - matrices[f][i][j])));
    const reach = Math.max(1e-9, ...diffs.filter((_, k) => k !== f).flat(2).map(Math.abs));
    methods.forEach((method, k) => {
      if (k === f) return;
      charts.set(rDiffPlotName(method), rMatrixChart(cellsOf(diffs[k]), { title: `R matrix: ${method} − frozen`, subtitle: 'difference of normalized returns, mean over seeds (orange: better than frozen)', domain: [-reach, reach], legendTitle: 'R − R(frozen)', scheme: 'diverging' }));
    });
  }

  const bars: MetricBar[] = methods.flatMap((method) =>
    PLOTTED_METRICS.map((name) => {
      const { mean, lo, hi, n } = results.summary[method][name];
      // Below MIN_SEEDS_FOR_CI the interval is not shown (see reportText.ts).
      return n < MIN_SEEDS_FOR_CI ? { method, metric: METRIC_LABELS[name], mean, lo: mean, hi: mean } : { method, metric: METRIC_LABELS[name], mean, lo, hi };
    }),
  );
  charts.set('metrics', metricBarsChart(bars, { methods, metrics: PLOTTED_METRICS.map((n) => METRIC_LABELS[n]), title: 'Continual-learning metrics', subtitle: metricsSubtitle(results), yTitle: 'normalized value' }));
  return charts;
}

/**
 * Writes report.md, metrics.csv and plots/ into runDir (results.json is writeResults' job).
 * Returns the written paths relative to runDir. Throws InvalidResultsError on inconsistent input.
 */
export async function writeReport(runDir: string, results: ContinualResults): Promise<string[]> {
  validateResults(results);
  const charts = reportCharts(results);
  mkdirSync(join(runDir, PLOTS_DIR), { recursive: true });
  const written: string[] = [];
  for (const [name, spec] of charts) {
    const warnings: string[] = [];
    const svg = await renderSvg(spec, warnings);
    // Vega warnings mean a chart is not what it claims to be: say so instead of shipping it silently.
    if (warnings.length > 0) throw new Error(`plot ${name}: ${warnings.join('; ')}`);
    writeFileAtomic(join(runDir, PLOTS_DIR, `${name}.svg`), svg);
    writeFileAtomic(join(runDir, PLOTS_DIR, `${name}.png`), svgToPng(svg));
    written.push(`${PLOTS_DIR}/${name}.svg`, `${PLOTS_DIR}/${name}.png`);
  }
  writeFileAtomic(join(runDir, METRICS_CSV_FILE), metricsCsv(results));
  writeFileAtomic(join(runDir, REPORT_FILE), reportMarkdown(results, PLOTS_DIR));
  written.push(METRICS_CSV_FILE, REPORT_FILE);
  return written;
}

/** `metarl plot RUN_DIR`: reads runDir/results.json and rewrites the report and plots from it. */
export async function plotRun(runDir: string): Promise<string[]> {
  return writeReport(runDir, readResults(runDir));
}
