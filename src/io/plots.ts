/**
 * Plots without a browser or native downloads: Vega-Lite specs are compiled to Vega, rendered to SVG
 * by Vega's headless View (`renderer: 'none'`, `toSVG()`), and rasterized to PNG by resvg.
 *
 * Text in PNGs: resvg is given the DejaVu Sans TrueType files shipped by the `dejavu-fonts-ttf` npm
 * package and told not to look at system fonts, so a PNG has the same glyphs on every machine,
 * including one with no fonts installed (resvg then silently drops all text otherwise).
 *
 * The chart builders (`returnsChart`, `rMatrixChart`, `metricBarsChart`) are pure functions from
 * plain rows to Vega-Lite specs; they know nothing about experiments, which turn their results into
 * rows. Same rows → same spec → byte-identical SVG.
 */
import { CONTINUAL_METHODS } from '../continual/types.ts';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import resvg from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { readFontWidths } from './fontMetrics.ts';

export type { TopLevelSpec } from 'vega-lite';

/** Okabe–Ito colours (readable by colour-blind readers), without its yellow, which vanishes on white; then two of Paul Tol's (wine, teal) for the ninth and tenth series. */
export const METHOD_PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#999999', '#882255', '#44AA99'];

const FONT_FAMILY = 'DejaVu Sans';
const fontDir = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
const FONT_FILES = [join(fontDir, 'DejaVuSans.ttf'), join(fontDir, 'DejaVuSans-Bold.ttf')];
const regularWidths = readFontWidths(readFileSync(FONT_FILES[0]));
const boldWidths = readFontWidths(readFileSync(FONT_FILES[1]));

/** The part of a Vega text item that decides its width. */
interface TextItem {
  fontSize?: number | string;
  fontWeight?: number | string;
  limit?: number;
}

/** Width in px of one line of a Vega text item, in the font resvg draws with. */
function textWidth(item: TextItem, text: unknown): number {
  const size = item.fontSize != null ? +item.fontSize || 0 : 11; // Vega's default size
  const bold = item.fontWeight === 'bold' || Number(item.fontWeight) >= 600;
  const width = (bold ? boldWidths : regularWidths).measure(text == null ? '' : String(text).trim(), size);
  // Vega cuts text longer than `limit` down to at most `limit`; clamping keeps its bounds right.
  return item.limit && item.limit > 0 ? Math.min(width, item.limit) : width;
}

// Vega lets a program replace its text measurer (it has none without `canvas` but a crude guess).
// This changes it for the whole process, which is what every chart of ours wants.
(vega as unknown as { textMetrics: { width: typeof textWidth } }).textMetrics.width = textWidth;

/** Shared look: white background (PNGs are not transparent), one font, readable sizes. */
export const BASE_CONFIG = {
  background: 'white',
  padding: 12,
  font: `${FONT_FAMILY}, sans-serif`,
  title: { fontSize: 14, subtitleFontSize: 12, subtitleColor: '#444444', anchor: 'start', offset: 10 },
  // No axis lines: the view frame is the border (with scale padding the two would sit apart).
  axis: { labelFontSize: 11, titleFontSize: 12, titlePadding: 8, gridColor: '#e6e6e6', domain: false },
  header: { labelFontSize: 12, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 260 },
  view: { stroke: '#cccccc' },
} as const;

/** Collects Vega / Vega-Lite warnings instead of printing them, so callers (and tests) can see them. */
class WarningCollector {
  constructor(private readonly sink: string[]) {}
  level(): number {
    return 2; // vega-util's Warn: errors and warnings, no info/debug chatter.
  }
  error(...args: unknown[]): this {
    throw new Error(`vega: ${args.map(String).join(' ')}`);
  }
  warn(...args: unknown[]): this {
    this.sink.push(args.map(String).join(' '));
    return this;
  }
  info(): this {
    return this;
  }
  debug(): this {
    return this;
  }
}

/** Renders run one after another: the SVG id counters below are process-wide (see renderNow). */
let renderQueue: Promise<unknown> = Promise.resolve();

/** Renders a Vega-Lite spec to an SVG string; compiler and runtime warnings are appended to `warnings`. */
export function renderSvg(spec: TopLevelSpec, warnings: string[] = []): Promise<string> {
  const job = renderQueue.then(() => renderNow(spec, warnings));
  renderQueue = job.catch(() => undefined);
  return job;
}

async function renderNow(spec: TopLevelSpec, warnings: string[]): Promise<string> {
  const logger = new WarningCollector(warnings);
  const { spec: vegaSpec } = compile(spec, { logger });
  const view = new vega.View(vega.parse(vegaSpec), { renderer: 'none', logger });
  try {
    await view.runAsync();
    // Gradient and clip-path ids come from counters global to the process; restarting them makes the
    // same spec give byte-identical SVG however many charts were drawn before.
    vega.resetSVGDefIds();
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface Raster {
  png: Buffer;
  width: number;
  height: number;
  /** RGBA bytes, row-major, width × height × 4. */
  pixels: Buffer;
}

/** Rasterizes an SVG with the bundled fonts; `scale` 2 gives sharp text on high-density screens. */
export function rasterizeSvg(svg: string, scale = 2): Raster {
  const renderer = new resvg.Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: false, fontFiles: FONT_FILES, defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY },
  });
  const image = renderer.render();
  return { png: image.asPng(), width: image.width, height: image.height, pixels: image.pixels };
}

export function svgToPng(svg: string, scale = 2): Buffer {
  return rasterizeSvg(svg, scale).png;
}

// ---------------------------------------------------------------------------------------------
// Chart builders

/** One point of a curve along the task sequence: `task` is the 1-based position. */
export interface CurvePoint {
  method: string;
  /** Facet column label, e.g. 'before adaptation'. */
  panel: string;
  task: number;
  mean: number;
  lo: number;
  hi: number;
}

export interface ReturnsChartOptions {
  /** Method order (legend order and colours). */
  methods: string[];
  /** Panel order, left to right. */
  panels: string[];
  title: string;
  subtitle?: string;
  yTitle: string;
}

/** Lines (mean) with shaded bands (lo…hi) per method, one facet column per panel, shared y axis. */
export function returnsChart(points: CurvePoint[], opts: ReturnsChartOptions): TopLevelSpec {
  if (points.length === 0) throw new Error('returnsChart: no points to draw');
  const tasks = points.map((p) => p.task);
  // Opaque line swatches: the legend would otherwise take the bands' pale fill.
  const legend = { symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 } as const;
  const color = { field: 'method', type: 'nominal', title: 'method', scale: methodScale(opts.methods), sort: opts.methods, legend } as const;
  const x = {
    field: 'task',
    type: 'quantitative',
    title: 'task position in the sequence',
    // 10 px padding keeps the first and last points off the frame.
    scale: { domain: [Math.min(...tasks), Math.max(...tasks)] as number[], nice: false, padding: 10 },
    axis: { tickMinStep: 1, format: 'd' },
  } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chartTitle(opts),
    config: BASE_CONFIG,
    data: { values: points },
    facet: { column: { field: 'panel', type: 'nominal', sort: opts.panels, title: null } },
    spec: {
      width: 320,
      height: 220,
      layer: [
        {
          mark: { type: 'area', opacity: 0.18 },
          encoding: { x, y: { field: 'lo', type: 'quantitative', title: opts.yTitle, scale: { zero: false, padding: 10 } }, y2: { field: 'hi' }, color },
        },
        {
          mark: { type: 'line', strokeWidth: 2, point: { size: 30 } },
          encoding: { x, y: { field: 'mean', type: 'quantitative' }, color },
        },
      ],
    },
  };
}

/** One cell of an R matrix: `row` = trained through task i, `col` = evaluated on task j (1-based). */
export interface MatrixCell {
  row: number;
  col: number;
  value: number;
}

export interface MatrixChartOptions {
  title: string;
  subtitle?: string;
  /** Colour scale domain, shared by all methods' heatmaps so their colours compare. */
  domain: [number, number];
  legendTitle: string;
  /** viridis (default) for values; diverging (blue–orange, white at 0) for differences. */
  scheme?: 'viridis' | 'diverging';
}

/** Heatmap of a square matrix (viridis), with the values printed in the cells while they fit. */
export function rMatrixChart(cells: MatrixCell[], opts: MatrixChartOptions): TopLevelSpec {
  if (cells.length === 0) throw new Error('rMatrixChart: no cells to draw');
  const size = Math.max(...cells.map((c) => Math.max(c.row, c.col)));
  const cellPx = Math.max(18, Math.min(48, Math.floor(480 / size)));
  // Viridis is dark below its middle: print white there and black above so the numbers stay
  // legible. The diverging scale is light around 0 and dark at both ends.
  const middle = (opts.domain[0] + opts.domain[1]) / 2;
  const span = opts.domain[1] - opts.domain[0];
  const diverging = opts.scheme === 'diverging';
  const scale = diverging ? { scheme: 'blueorange', domain: [opts.domain[0], 0, opts.domain[1]], clamp: true } : { scheme: 'viridis', domain: opts.domain, clamp: true };
  const cellColours = {
    mark: { type: 'rect' },
    encoding: { color: { field: 'value', type: 'quantitative', title: opts.legendTitle, scale } },
  } as const;
  const darkText = diverging ? `abs(datum.value) > ${0.35 * span}` : `datum.value < ${middle}`;
  const cellNumbers = {
    mark: { type: 'text', fontSize: 10 },
    encoding: {
      text: { field: 'value', type: 'quantitative', format: '.2f' },
      color: { condition: { test: darkText, value: 'white' }, value: 'black' },
    },
  } as const;
  const order = Array.from({ length: size }, (_, i) => i + 1);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chartTitle(opts),
    config: BASE_CONFIG,
    data: { values: cells },
    width: cellPx * size,
    height: cellPx * size,
    encoding: {
      x: { field: 'col', type: 'ordinal', sort: order, title: 'evaluated on task j', axis: { labelAngle: 0, orient: 'top' } },
      y: { field: 'row', type: 'ordinal', sort: order, title: 'after training through task i' },
    },
    // Numbers only while a cell is wide enough for '-0.00' at 10 px.
    layer: cellPx >= 34 ? [cellColours, cellNumbers] : [cellColours],
  };
}

/** One bar: a metric's mean and interval for one method. */
export interface MetricBar {
  method: string;
  metric: string;
  mean: number;
  lo: number;
  hi: number;
}

export interface MetricBarsOptions {
  methods: string[];
  /** Metric labels in display order. */
  metrics: string[];
  title: string;
  subtitle?: string;
  yTitle: string;
}

/** Grouped bars (one group per metric, one bar per method) with lo…hi error bars and a zero line. */
/**
 * One panel per metric, each with its own y axis (ACC near 0.9 and BWT near 0.01 cannot share
 * one), bars per method with their intervals, and a rule at 0.
 */
export function metricBarsChart(bars: MetricBar[], opts: MetricBarsOptions): TopLevelSpec {
  const x = { field: 'method', type: 'nominal', sort: opts.methods, title: null, axis: { labels: false, ticks: false } } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chartTitle(opts),
    config: BASE_CONFIG,
    data: { values: bars },
    facet: { column: { field: 'metric', type: 'nominal', sort: opts.metrics, title: null, header: { labelFontSize: 12 } } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: Math.max(60, opts.methods.length * 18),
      height: 220,
      layer: [
        {
          mark: { type: 'bar' },
          encoding: {
            x,
            y: { field: 'mean', type: 'quantitative', title: opts.yTitle, scale: { zero: true } },
            color: { field: 'method', type: 'nominal', title: 'method', scale: methodScale(opts.methods), sort: opts.methods },
          },
        },
        { mark: { type: 'rule', color: '#222222', strokeWidth: 1.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
        { mark: { type: 'rule', color: '#555555' }, encoding: { y: { datum: 0 } } },
      ],
    },
  } as TopLevelSpec;
}

export function chartTitle(opts: { title: string; subtitle?: string }): { text: string; subtitle?: string } {
  return opts.subtitle ? { text: opts.title, subtitle: opts.subtitle } : { text: opts.title };
}

/** The same method always gets the same colour, in every chart of a report. */
/**
 * Colours of the methods: the built-in methods keep one colour each in every report (so `mer` looks
 * the same whichever methods ran); other names take the palette's remaining colours in order.
 */
function methodScale(methods: string[]): { domain: string[]; range: string[] } {
  const known = CONTINUAL_METHODS as readonly string[];
  let next = known.length;
  const range = methods.map((m) => METHOD_PALETTE[(known.includes(m) ? known.indexOf(m) : next++) % METHOD_PALETTE.length]);
  return { domain: methods, range };
}
