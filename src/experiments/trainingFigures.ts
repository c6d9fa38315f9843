/**
 * Figures of meta-training runs and of their adaptation evaluations (`metarl plot RUN [RUN…]`):
 *
 *   training-returns.svg|png        mean return before and after adaptation vs meta-batch
 *   training-returns-steps.svg|png  the same vs environment steps (cumulative charts/env_steps)
 *   adaptation.svg|png              eval.json: mean return ± standard error after 0…K steps,
 *                                   next to the MAML paper's Fig. 5 (REFERENCE.md)
 *
 * A run folder is what `metarl train` writes: config.yaml, metrics.jsonl (one record per
 * meta-batch, `toRecord` in train.ts) and, after `metarl eval`, eval.json. Several folders are
 * taken as seeds of one configuration: the learning curves show the mean over runs with a 95 %
 * Student-t band, over the batches every run has reached; the adaptation figure has one series per
 * run (labelled by folder name), since evaluations may differ in tasks and steps.
 * A folder holding results.json is a continual run; plotKind sends it to continualReport.plotRun.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { JsonlLog } from '../io/jsonl.ts';
import { METHOD_PALETTE, renderSvg, svgToPng, type TopLevelSpec } from '../io/plots.ts';
import { type SeriesPoint, type SeriesStyle, errorBarChart, lineBandChart } from '../io/charts.ts';
import { CURVE_LEVEL, seedMeanInterval } from '../continual/reportData.ts';
import { RESULTS_FILE } from '../continual/report.ts';
import { METRICS_FILE } from './train.ts';

export const EVAL_FILE = 'eval.json';
const CONFIG_FILE = 'config.yaml';
const EXPECTED = `a run folder of metarl train (${CONFIG_FILE} with ${METRICS_FILE} and/or ${EVAL_FILE}) or of metarl continual (${RESULTS_FILE})`;

/** One meta-batch of metrics.jsonl. */
export interface TrainingRecord {
  batch: number;
  before: number;
  after: number;
  envSteps: number;
}

/** The part of eval.json drawn (older files lack env, stepSizes and episodesPerTask). */
export interface EvalSummary {
  steps: number[];
  mean: number[];
  stderr: number[];
  env?: string;
  tasks?: number;
  episodesPerTask?: number;
}

export interface TrainingRun {
  dir: string;
  name: string;
  env: string;
  horizon: number;
  numSteps: number;
  /** null: no metrics.jsonl in the folder. */
  records: TrainingRecord[] | null;
  /** null: no eval.json in the folder. */
  evaluation: EvalSummary | null;
}

/** The MAML paper's Fig. 5: mean return on 40 test tasks after 0, 1 and 3 steps (REFERENCE.md). */
export const PAPER_FIG5: Record<string, { steps: number[]; returns: number[]; horizon?: number }> = {
  'cheetah-velocity': { steps: [0, 1, 3], returns: [-129.5, -78.6, -60.8], horizon: 200 },
  'cheetah-direction': { steps: [0, 1, 3], returns: [-50.7, 293.2, 315.7], horizon: 200 },
  navigation: { steps: [0, 1, 3], returns: [-40.4, -11.7, -3.2] },
};
export const PAPER_LABEL = 'MAML paper (Fig. 5)';

const BEFORE = 'before adaptation';
export const afterLabel = (k: number) => `after ${k} step${k === 1 ? '' : 's'}`;
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** 'continual' or 'training' for the command's folders; a ConfigError naming a bad or mixed one. */
export function plotKind(dirs: string[], out?: string): 'continual' | 'training' {
  const kinds = dirs.map((dir) => {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(dir, `no such folder; expected ${EXPECTED}`);
    if (existsSync(join(dir, RESULTS_FILE))) return 'continual';
    if (existsSync(join(dir, METRICS_FILE)) || existsSync(join(dir, EVAL_FILE))) return 'training';
    throw new ConfigError(dir, `holds none of ${RESULTS_FILE}, ${METRICS_FILE}, ${EVAL_FILE}; expected ${EXPECTED}`);
  });
  if (!kinds.includes('continual')) {
    if (dirs.length > 1 && out === undefined) throw new ConfigError('--out', `several runs make one figure; give --out DIR for it`);
    return 'training';
  }
  if (dirs.length > 1) throw new ConfigError(dirs[kinds.indexOf('continual')], `is a continual run (${RESULTS_FILE}); plot it on its own, not with other folders`);
  if (out !== undefined) throw new ConfigError('--out', `a continual report is written into its run folder; drop --out`);
  return 'continual';
}

/** The records of metrics.jsonl, sorted by batch (a batch logged twice: the later line wins). */
export function readMetrics(dir: string): TrainingRecord[] {
  const path = join(dir, METRICS_FILE);
  const byBatch = new Map<number, TrainingRecord>();
  new JsonlLog(path).read().forEach((r, i) => {
    const rec = { batch: r.batch, before: r['charts/return_before'], after: r['charts/return_after'], envSteps: r['charts/env_steps'] };
    if (!Object.values(rec).every(finite) || !Number.isInteger(r.batch)) {
      throw new ConfigError(path, `record ${i + 1} lacks a number in batch, charts/return_before, charts/return_after or charts/env_steps; expected lines written by metarl train`);
    }
    byBatch.set(r.batch as number, rec as TrainingRecord);
  });
  if (byBatch.size === 0) throw new ConfigError(path, `holds no meta-batch record; expected JSON lines written by metarl train`);
  return [...byBatch.values()].sort((a, b) => a.batch - b.batch);
}

/** eval.json as written by `metarl eval`, checked: steps, mean and stderr of equal length, finite. */
export function readEval(dir: string): EvalSummary {
  const path = join(dir, EVAL_FILE);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(path, `cannot be read as JSON (${(e as Error).message}); expected the file metarl eval writes`);
  }
  const { steps, mean, stderr } = raw ?? {};
  const vector = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every(finite);
  if (!vector(steps) || !vector(mean) || !vector(stderr) || mean.length !== steps.length || stderr.length !== steps.length || !steps.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new ConfigError(path, `expected steps (whole numbers), mean and stderr: finite numbers, one per step, as metarl eval writes`);
  }
  const opt = (v: unknown) => (finite(v) ? v : undefined);
  return { steps, mean, stderr, env: typeof raw.env === 'string' ? raw.env : undefined, tasks: opt(raw.tasks), episodesPerTask: opt(raw.episodesPerTask) };
}

/** A training run folder: its config.yaml's env, horizon and numSteps, its metrics and eval. */
export function readTrainingRun(dir: string): TrainingRun {
  const path = join(dir, CONFIG_FILE);
  let cfg: Record<string, unknown> | undefined;
  try {
    cfg = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(path, `cannot be read (${(e as Error).message.split('\n')[0]}); expected the config.yaml metarl train writes`);
  }
  const { env, horizon, numSteps } = cfg ?? {};
  if (typeof env !== 'string' || !finite(horizon) || !finite(numSteps)) throw new ConfigError(path, `expected env, horizon and numSteps fields, as metarl train writes`);
  const records = existsSync(join(dir, METRICS_FILE)) ? readMetrics(dir) : null;
  const evaluation = existsSync(join(dir, EVAL_FILE)) ? readEval(dir) : null;
  return { dir, name: basename(dir.replace(/\/+$/, '')) || dir, env, horizon, numSteps, records, evaluation };
}

/** Batches present in every run, ascending. */
export function commonBatches(runs: TrainingRecord[][]): number[] {
  const [first, ...rest] = runs.map((r) => new Set(r.map((x) => x.batch)));
  return [...first].filter((b) => rest.every((s) => s.has(b))).sort((a, b) => a - b);
}

/** Env steps taken up to and including each batch: the running sum of charts/env_steps. */
export function cumulativeEnvSteps(records: TrainingRecord[]): Map<number, number> {
  let total = 0;
  return new Map([...records].sort((a, b) => a.batch - b.batch).map((r) => [r.batch, (total += r.envSteps)]));
}

/**
 * Learning-curve rows: per common batch, the mean return before and after adaptation over runs,
 * with a 95 % Student-t interval when there are several. x is the batch, or (axis 'envSteps')
 * the mean over runs of the cumulative env steps at that batch.
 */
export function learningCurveRows(runs: TrainingRecord[][], axis: 'batch' | 'envSteps', after: string): SeriesPoint[] {
  if (runs.length === 0 || runs.some((r) => r.length === 0)) throw new Error('learningCurveRows: every run needs records');
  const batches = commonBatches(runs);
  const index = runs.map((r) => new Map(r.map((x) => [x.batch, x])));
  const steps = runs.map(cumulativeEnvSteps);
  const band = (values: number[]) => (runs.length > 1 ? seedMeanInterval(values) : { mean: values[0] });
  return batches.flatMap((b) => {
    const x = axis === 'batch' ? b : steps.reduce((s, m) => s + m.get(b)!, 0) / runs.length;
    const at = index.map((m) => m.get(b)!);
    return [
      { series: BEFORE, x, ...band(at.map((r) => r.before)) },
      { series: after, x, ...band(at.map((r) => r.after)) },
    ];
  });
}

/** The paper's points for an env (none for envs it did not run), as a series of adaptation rows. */
export function paperPoints(env: string): SeriesPoint[] {
  const p = PAPER_FIG5[env];
  return p ? p.steps.map((x, i) => ({ series: PAPER_LABEL, x, mean: p.returns[i] })) : [];
}

/** Subtitle note when the paper's numbers are for another horizon than the runs'. */
export function horizonNote(env: string, horizons: number[]): string | undefined {
  const paper = PAPER_FIG5[env]?.horizon;
  const ours = [...new Set(horizons)].sort((a, b) => a - b);
  if (paper === undefined || ours.every((h) => h === paper)) return undefined;
  return `paper: horizon ${paper}; ${horizons.length === 1 ? 'this run' : 'these runs'}: ${ours.join(', ')}`;
}

/** Adaptation rows: each evaluated run's mean ± standard error per step, then the paper's points. */
export function adaptationRows(runs: { name: string; evaluation: EvalSummary }[], env: string): SeriesPoint[] {
  const ours = runs.flatMap(({ name, evaluation: e }) => e.steps.map((x, i) => ({ series: name, x, mean: e.mean[i], lo: e.mean[i] - e.stderr[i], hi: e.mean[i] + e.stderr[i] })));
  return [...ours, ...paperPoints(env)];
}

const RUN_COLOURS = METHOD_PALETTE.filter((c) => c !== '#D55E00');
const PAPER_STYLE: SeriesStyle = { name: PAPER_LABEL, color: '#D55E00', dashed: true, shape: 'diamond' };
const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : what.endsWith('h') ? 'es' : 's'}`;

/** The figures for these runs (one env; the trained ones of one horizon and numSteps), by file name. */
export function trainingCharts(runs: TrainingRun[]): Map<string, TopLevelSpec> {
  const env = runs[0].env;
  const otherEnv = runs.find((r) => r.env !== env);
  if (otherEnv) throw new ConfigError(otherEnv.dir, `is a ${otherEnv.env} run but ${runs[0].dir} is ${env}; plot runs of one env together`);
  const charts = new Map<string, TopLevelSpec>();
  const trained = runs.filter((r) => r.records !== null);
  if (trained.length > 0) {
    // Curves are averaged over runs: only seeds of one setting make a meaningful mean.
    const { horizon, numSteps, dir } = trained[0];
    const clash = trained.find((r) => r.horizon !== horizon || r.numSteps !== numSteps);
    if (clash) throw new ConfigError(clash.dir, `has horizon ${clash.horizon} and ${clash.numSteps} inner steps but ${dir} has ${horizon} and ${numSteps}; learning curves average seeds of one setting`);
    const after = afterLabel(numSteps);
    const records = trained.map((r) => r.records!);
    const n = commonBatches(records).length;
    if (n === 0) throw new ConfigError(trained[0].dir, 'shares no meta-batch with the other runs; expected seeds of one training');
    const over = trained.length === 1 ? `run ${trained[0].name}` : `mean over ${trained.length} runs with a ${CURVE_LEVEL * 100} % Student-t band, ${plural(n, 'batch')} all reached`;
    const series = [{ name: BEFORE, color: METHOD_PALETTE[1] }, { name: after, color: METHOD_PALETTE[0] }];
    const text = { title: `Meta-training on ${env}`, subtitle: `mean episode return on each meta-batch's tasks; ${over}`, yTitle: 'mean episode return', series };
    charts.set('training-returns', lineBandChart(learningCurveRows(records, 'batch', after), { ...text, xTitle: 'meta-batch', xFormat: 'd' }));
    charts.set('training-returns-steps', lineBandChart(learningCurveRows(records, 'envSteps', after), { ...text, xTitle: 'environment steps (cumulative)', xFormat: '~s' }));
  }
  // Folders are named by their last path part, unless two share it (a/run, b/run): then by path.
  const label = (r: TrainingRun) => (runs.filter((o) => o.name === r.name).length > 1 ? r.dir : r.name);
  const evaluated = runs.filter((r) => r.evaluation !== null).map((r) => ({ name: label(r), horizon: r.horizon, evaluation: r.evaluation! }));
  if (evaluated.length > 0) {
    const evalEnv = evaluated[0].evaluation.env ?? env;
    const rows = adaptationRows(evaluated, evalEnv);
    const series: SeriesStyle[] = evaluated.map((r, i) => ({ name: r.name, color: RUN_COLOURS[i % RUN_COLOURS.length] }));
    if (rows.some((p) => p.series === PAPER_LABEL)) series.push(PAPER_STYLE);
    const e = evaluated[0].evaluation;
    const how = evaluated.length === 1 && e.tasks !== undefined ? ` over ${plural(e.tasks, 'new task')}${e.episodesPerTask !== undefined ? `, ${plural(e.episodesPerTask, 'episode')} per task and step` : ''}` : ' across tasks, one series per run';
    const notes = [`mean return ± standard error${how}`, horizonNote(evalEnv, evaluated.map((r) => r.horizon))].filter(Boolean);
    charts.set('adaptation', errorBarChart(rows, { title: `Adaptation to new ${evalEnv} tasks`, subtitle: notes.join('; '), xTitle: 'adaptation steps', yTitle: 'mean episode return', series, dodge: 0.12 }));
  }
  return charts;
}

/** `metarl plot RUN [RUN…]` for training runs: renders the figures into outDir (default RUN/plots). */
export async function plotTrainingRuns(dirs: string[], outDir = join(dirs[0], 'plots')): Promise<string[]> {
  const charts = trainingCharts(dirs.map(readTrainingRun));
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  for (const [name, spec] of charts) {
    const warnings: string[] = [];
    const svg = await renderSvg(spec, warnings);
    // Vega warnings mean a chart is not what it claims to be: say so instead of shipping it silently.
    if (warnings.length > 0) throw new Error(`plot ${name}: ${warnings.join('; ')}`);
    for (const [ext, data] of [['svg', svg], ['png', svgToPng(svg)]] as const) {
      const path = join(outDir, `${name}.${ext}`);
      writeFileAtomic(path, data);
      written.push(path);
    }
  }
  return written;
}
