/**
 * Single-panel chart builders, beside the report charts of plots.ts (same look, same renderer):
 *
 *   lineBandChart   lines along a quantitative x, each with an optional shaded band lo…hi
 *                   (learning curves: return vs meta-batch or vs env steps)
 *   errorBarChart   points with lo…hi error bars at a few integer x, joined per series, series
 *                   drawn side by side (returns after 0…K adaptation steps, next to a reference)
 *
 * Both are pure functions from plain rows to Vega-Lite specs: they know nothing about runs, files
 * or papers. Series are given in legend order, each with its colour, so a figure's colours are
 * chosen by its caller and stay the same from one figure to the next.
 */
import { BASE_CONFIG, chartTitle, type TopLevelSpec } from './plots.ts';

/** One point of one series; `lo`/`hi` (both or neither) bound its band or error bar. */
export interface SeriesPoint {
  series: string;
  x: number;
  mean: number;
  lo?: number;
  hi?: number;
}

/** How one series is drawn. `dashed` joins its points with a dashed line, `shape` is its marker. */
export interface SeriesStyle {
  name: string;
  color: string;
  dashed?: boolean;
  shape?: 'circle' | 'square' | 'diamond' | 'triangle-up' | 'cross';
}

interface ChartText {
  title: string;
  subtitle?: string;
  xTitle: string;
  yTitle: string;
}

export interface LineBandOptions extends ChartText {
  /** Legend order and colours; every point's series must be one of these. */
  series: SeriesStyle[];
  /** d3 format of the x labels, e.g. 'd' (integers) or '~s' (1.2M). */
  xFormat?: string;
}

export interface ErrorBarOptions extends ChartText {
  series: SeriesStyle[];
  /** Horizontal distance, in x units, between neighbouring series at the same x (0: on top). */
  dodge?: number;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
/** Markers are drawn on lines only while they stay apart; a 500-batch curve is a line. */
const MAX_MARKED_POINTS = 40;

/** Throws naming the builder and the bad row: Vega would silently drop a NaN or an unknown series. */
function checkPoints(who: string, points: SeriesPoint[], series: SeriesStyle[]): void {
  if (points.length === 0) throw new Error(`${who}: no points to draw`);
  const names = new Set(series.map((s) => s.name));
  if (names.size !== series.length) throw new Error(`${who}: series names must be distinct`);
  points.forEach((p, i) => {
    if (!names.has(p.series)) throw new Error(`${who}: point ${i} belongs to series '${p.series}', which is not in opts.series`);
    const bounds = [p.lo, p.hi].filter((v) => v !== undefined);
    if (bounds.length === 1) throw new Error(`${who}: point ${i} has only one of lo, hi`);
    for (const v of [p.x, p.mean, ...bounds]) {
      if (!Number.isFinite(v)) throw new Error(`${who}: point ${i} (series '${p.series}') holds ${v}; expected finite numbers`);
    }
  });
}

/** The colour (and shape, dash) scales of the series, in legend order; one legend, no title. */
function seriesChannels(series: SeriesStyle[]) {
  const domain = series.map((s) => s.name);
  const field = { field: 'series', type: 'nominal', sort: domain, title: null } as const;
  return {
    color: { ...field, scale: { domain, range: series.map((s) => s.color) } },
    shape: { ...field, scale: { domain, range: series.map((s) => s.shape ?? 'circle') } },
    strokeDash: { ...field, scale: { domain, range: series.map((s) => (s.dashed ? [5, 4] : [1, 0])) } },
  };
}

const hasBounds = (p: SeriesPoint) => p.lo !== undefined && p.hi !== undefined;

/** Lines (mean) per series, with a shaded lo…hi band wherever a point has bounds. */
export function lineBandChart(points: SeriesPoint[], opts: LineBandOptions): TopLevelSpec {
  checkPoints('lineBandChart', points, opts.series);
  const xs = points.map((p) => p.x);
  const { color } = seriesChannels(opts.series);
  // Opaque line swatches: the legend would otherwise take the bands' pale fill.
  const legendColor = { ...color, legend: { symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 } } as const;
  const x = {
    field: 'x',
    type: 'quantitative',
    title: opts.xTitle,
    // 10 px padding keeps the first and last points off the frame.
    scale: { domain: [Math.min(...xs), Math.max(...xs)] as number[], nice: false, padding: 10 },
    // About 8 labels: '~s' labels such as 150k need the room.
    axis: { tickCount: 8, labelOverlap: true, ...(opts.xFormat ? { format: opts.xFormat } : {}) },
  } as const;
  const perSeries = Math.max(...opts.series.map((s) => points.filter((p) => p.series === s.name).length));
  const banded = points.filter(hasBounds);
  const line = {
    data: { values: points },
    mark: { type: 'line', strokeWidth: 2, ...(perSeries <= MAX_MARKED_POINTS ? { point: { size: 24 } } : {}) },
    encoding: { x, y: { field: 'mean', type: 'quantitative', title: opts.yTitle, scale: { zero: false, padding: 10 } }, color: legendColor },
  } as const;
  const band = {
    data: { values: banded },
    mark: { type: 'area', opacity: 0.2 },
    encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color: legendColor },
  } as const;
  return {
    $schema: SCHEMA,
    title: chartTitle(opts),
    config: BASE_CONFIG,
    width: 480,
    height: 280,
    layer: banded.length > 0 ? [band, line] : [line],
  };
}

/**
 * Points with lo…hi error bars (where given) at integer x, each series joined by its (solid or
 * dashed) line. Series sit side by side, `dodge` x units apart, so equal values do not hide each
 * other; the x axis still labels the integer positions.
 */
export function errorBarChart(points: SeriesPoint[], opts: ErrorBarOptions): TopLevelSpec {
  checkPoints('errorBarChart', points, opts.series);
  const dodge = opts.dodge ?? 0;
  const names = opts.series.map((s) => s.name);
  const shift = (name: string) => (names.indexOf(name) - (names.length - 1) / 2) * dodge;
  const rows = points.map((p) => ({ ...p, xDrawn: p.x + shift(p.series) }));
  const ticks = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const { color, shape, strokeDash } = seriesChannels(opts.series);
  const x = {
    field: 'xDrawn',
    type: 'quantitative',
    title: opts.xTitle,
    scale: { domain: [ticks[0] - 0.5, ticks[ticks.length - 1] + 0.5] as number[], nice: false },
    axis: { values: ticks as number[], format: 'd', grid: false },
  } as const;
  const y = { field: 'mean', type: 'quantitative', title: opts.yTitle, scale: { zero: false, padding: 12 } } as const;
  return {
    $schema: SCHEMA,
    title: chartTitle(opts),
    // Series are often run folders, named {env}__{exp}__{seed}__{time}: room for the whole name.
    config: { ...BASE_CONFIG, legend: { ...BASE_CONFIG.legend, labelLimit: 420 } },
    width: Math.max(360, 90 * ticks.length),
    height: 280,
    layer: [
      { data: { values: rows }, mark: { type: 'line', strokeWidth: 1.5 }, encoding: { x, y, color, shape, strokeDash } },
      {
        data: { values: rows.filter(hasBounds) },
        mark: { type: 'errorbar', ticks: { size: 8 }, thickness: 1.5 },
        encoding: { x, y: { field: 'lo', type: 'quantitative', title: opts.yTitle }, y2: { field: 'hi' }, color },
      },
      { data: { values: rows }, mark: { type: 'point', filled: true, size: 70, opacity: 1 }, encoding: { x, y, color, shape } },
    ],
  };
}
