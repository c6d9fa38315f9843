/**
 * Continual-experiment report: files, PNG validity (signature, IHDR, non-blank pixels, glyphs drawn
 * with the bundled font), the numbers in report.md and metrics.csv, byte-identical SVGs across
 * renders and through results.json (`plotRun`), and clear errors on inconsistent results.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_NAMES, type ContinualMetrics, type ContinualResults, type Interval, type SeedRun } from '../src/continual/types.ts';
import { plotRun, readResults, reportCharts, writeReport, writeResults } from '../src/continual/report.ts';
import { seedMeanInterval } from '../src/continual/reportData.ts';
import { formatInterval } from '../src/continual/reportText.ts';
import { readFontWidths } from '../src/io/fontMetrics.ts';
import { METHOD_PALETTE, metricBarsChart, rasterizeSvg, renderSvg } from '../src/io/plots.ts';

const METHODS = ['frozen', 'finetune', 'mer'];
const T = 4;
const SEEDS = [1, 2, 3];
const K = 2;

/** Normalized R of method k on task j after task i; seeds add a small ± offset. */
function normalizedR(k: number, i: number, j: number, seed: number): number {
  const base = j <= i ? 0.9 - 0.1 * (i - j) * (k === 2 ? 0.3 : 1) : 0.2 + 0.05 * k;
  return base + 0.02 * (seed - 2);
}

function seedRun(method: string, k: number, seed: number): SeedRun {
  const tasks = [...Array(T).keys()];
  return {
    method,
    seed,
    // random = −100, oracle = 0 on every task, so a raw return is 100 × (normalized − 1).
    R: tasks.map((i) => tasks.map((j) => -100 + 100 * normalizedR(k, i, j, seed))),
    b: tasks.map(() => -80),
    random: tasks.map(() => -100),
    oracle: tasks.map(() => 0),
    // Mean over seeds: −40 + 5k + 2i before, 10 more after K steps.
    returnsBefore: tasks.map((i) => -40 + 5 * k + 2 * i + (seed - 2)),
    returnsAfter: tasks.map((i) => [-35 + 5 * k + 2 * i + (seed - 2), -30 + 5 * k + 2 * i + (seed - 2)]),
  };
}

/** Hand-made intervals (three decimals, so the report must print them exactly like this). */
const HAND_SUMMARY: Record<string, Record<keyof ContinualMetrics, [number, number, number]>> = {
  frozen: { acc: [0.412, 0.301, 0.523], la: [0.5, 0.45, 0.55], bwt: [-0.105, -0.21, -0.02], fwt: [0.031, -0.012, 0.077], forgetting: [0.118, 0.05, 0.19], forgettingCW: [0.105, 0.02, 0.21] },
  finetune: { acc: [0.633, 0.6, 0.7], la: [0.875, 0.85, 0.9], bwt: [-0.3, -0.35, -0.25], fwt: [0.05, 0.01, 0.09], forgetting: [0.3, 0.25, 0.35], forgettingCW: [0.3, 0.25, 0.35] },
  mer: { acc: [0.81, 0.777, 0.842], la: [0.88, 0.86, 0.9], bwt: [-0.09, -0.12, -0.06], fwt: [0.125, 0.1, 0.15], forgetting: [0.09, 0.06, 0.12], forgettingCW: [0.09, 0.06, 0.12] },
};

function syntheticResults(): ContinualResults {
  const summary: ContinualResults['summary'] = {};
  for (const [method, metrics] of Object.entries(HAND_SUMMARY)) {
    const entry = {} as Record<keyof ContinualMetrics, Interval>;
    for (const name of METRIC_NAMES) {
      const [mean, lo, hi] = metrics[name];
      entry[name] = { mean, lo, hi, level: 0.95, n: SEEDS.length };
    }
    summary[method] = entry;
  }
  return {
    env: 'cheetah-velocity',
    schedule: 'drift',
    tasks: [{ velocity: 0.4 }, { velocity: 0.8 }, { velocity: 1.2 }, { velocity: 1.6 }],
    adaptSteps: K,
    runs: METHODS.flatMap((m, k) => SEEDS.map((s) => seedRun(m, k, s))),
    summary,
  };
}

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'metarl-report-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const PLOT_NAMES = ['returns', 'metrics', ...METHODS.map((m) => `rmatrix-${m}`), ...METHODS.filter((m) => m !== 'frozen').map((m) => `rdiff-${m}`)];
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function distinctColours(pixels: Buffer): number {
  const seen = new Set<number>();
  for (let p = 0; p < pixels.length; p += 4) seen.add(pixels.readUInt32BE(p));
  return seen.size;
}

describe('continual report', () => {
  const dir = tempDir();
  const results = syntheticResults();
  let written: string[] = [];
  beforeAll(async () => {
    written = await writeReport(dir, results);
  });

  it('writes report.md, metrics.csv and an SVG and a PNG per plot', () => {
    const expected = ['report.md', 'metrics.csv', ...PLOT_NAMES.flatMap((n) => [`plots/${n}.svg`, `plots/${n}.png`])];
    expect([...written].sort()).toEqual([...expected].sort());
    for (const f of expected) expect(existsSync(join(dir, f)), f).toBe(true);
  });

  it('writes valid, non-blank PNGs', () => {
    for (const name of PLOT_NAMES) {
      const png = readFileSync(join(dir, 'plots', `${name}.png`));
      expect(png.subarray(0, 8).equals(PNG_SIGNATURE), name).toBe(true);
      expect(png.toString('latin1', 12, 16)).toBe('IHDR');
      expect(png.readUInt32BE(16)).toBeGreaterThan(100);
      expect(png.readUInt32BE(20)).toBeGreaterThan(100);
      // A blank (single-colour) canvas would have 1 colour; a chart with antialiased text has hundreds.
      const raster = rasterizeSvg(readFileSync(join(dir, 'plots', `${name}.svg`), 'utf8'));
      expect(raster.png.equals(png), `${name}.png matches its SVG`).toBe(true);
      expect(distinctColours(raster.pixels), name).toBeGreaterThan(50);
    }
  });

  it('draws text with the bundled font, whatever fonts the machine has', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" fill="white"/><text x="5" y="28" font-family="sans-serif" font-size="20">ACC 0.5</text></svg>';
    const { pixels } = rasterizeSvg(svg, 1);
    let ink = 0;
    for (let p = 0; p < pixels.length; p += 4) if (pixels[p] < 128) ink++;
    expect(ink).toBeGreaterThan(50);
  });

  it('prints an interval as mean [lo, hi] with 3 decimals, and no interval below 5 seeds', () => {
    expect(formatInterval({ mean: 0.412, lo: 0.301, hi: 0.523, level: 0.95, n: 5 })).toBe('0.412 [0.301, 0.523]');
    expect(formatInterval({ mean: 0.412, lo: 0.301, hi: 0.523, level: 0.95, n: 4 })).toBe('0.412 (n = 4: no CI)');
  });

  it('puts every metric of every method in report.md (3 seeds: means, and each seed\'s values)', () => {
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(md).toContain('# Continual task adaptation: cheetah-velocity, drift schedule');
    expect(md).toContain('4 tasks; 2 adaptation steps per task');
    expect(md).toContain('3 seeds (1, 2, 3); methods: `frozen`, `finetune`, `mer`');
    expect(md).toContain('| frozen | 0.412 (n = 3: no CI) | 0.500 (n = 3: no CI) | -0.105 (n = 3: no CI) | 0.031 (n = 3: no CI) | 0.118 (n = 3: no CI) | 0.105 (n = 3: no CI) | 3 |');
    expect(md).toContain('| mer | 0.810 (n = 3: no CI) | 0.880 (n = 3: no CI) |');
    expect(md).toContain('95 % CI, 3 seeds; no interval below 5 seeds');
    expect(md).toContain('## Per seed');
    expect(md).toMatch(/^\| finetune \| 3 \| -?\d\.\d{3} \| -?\d\.\d{3} \|/m);
    // Paired by seed: the seed offset is the same for every method, so each difference is exact.
    // ACC: mer's last row 0.81, 0.84, 0.87, 0.9 against frozen's 0.6 … 0.9; LA: equal diagonals.
    expect(md).toContain('| mer − frozen | 0.105 (n = 3: no CI) | 0.000 (n = 3: no CI) |');
    expect(md).toMatch(/\| mer − finetune \| 0\.105 \(n = 3: no CI\) \|/);
    // Per-task returns: frozen −40 → −30 on task 1; mer −24 → −14 on task 4.
    expect(md).toContain('| 1 | velocity=0.4 | -40.00 → -30.00 | -35.00 → -25.00 | -30.00 → -20.00 |');
    expect(md).toContain('| 4 | velocity=1.6 | -34.00 → -24.00 | -29.00 → -19.00 | -24.00 → -14.00 |');
    for (const name of PLOT_NAMES) expect(md).toContain(`(plots/${name}.png)`);
    expect(md).toContain('## How to read the metrics');
  });

  it('writes metrics.csv with one full-precision row per method and metric', () => {
    const lines = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\r\n');
    expect(lines[0]).toBe('method,metric,mean,lo,hi,level,n');
    expect(lines).toHaveLength(1 + METHODS.length * METRIC_NAMES.length);
    expect(lines).toContain('frozen,bwt,-0.105,-0.21,-0.02,0.95,3');
    expect(lines).toContain('mer,forgettingCW,0.09,0.06,0.12,0.95,3');
  });

  it('renders byte-identical SVGs from the same input', async () => {
    for (const [name, spec] of reportCharts(syntheticResults())) {
      const again = await renderSvg(spec);
      expect(again === readFileSync(join(dir, 'plots', `${name}.svg`), 'utf8'), name).toBe(true);
    }
  });

  it('renders concurrent requests one at a time, so they stay byte-identical', async () => {
    const specs = [...reportCharts(syntheticResults()).values()];
    const together = await Promise.all([...specs, ...specs].map((spec) => renderSvg(spec)));
    expect(together.slice(specs.length)).toEqual(together.slice(0, specs.length));
  });

  it('plotRun rebuilds identical plots, CSV and report from results.json alone', async () => {
    writeResults(dir, results);
    expect(readResults(dir)).toEqual(results);
    const other = tempDir();
    copyFileSync(join(dir, 'results.json'), join(other, 'results.json'));
    await plotRun(other);
    for (const f of ['report.md', 'metrics.csv', ...PLOT_NAMES.flatMap((n) => [`plots/${n}.svg`, `plots/${n}.png`])]) {
      expect(readFileSync(join(other, f)).equals(readFileSync(join(dir, f))), f).toBe(true);
    }
  });
});

describe('report helpers', () => {
  it('reads advance widths from the bundled DejaVu Sans (2048 units per em)', () => {
    const fontDir = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
    const widths = readFontWidths(readFileSync(join(fontDir, 'DejaVuSans.ttf')));
    // DejaVu Sans advances: M 1767, i 569, space 651, digits 1303, minus sign (U+2212) 1716.
    expect(widths.advance('M'.codePointAt(0)!) * 2048).toBeCloseTo(1767, 6);
    expect(widths.advance('i'.codePointAt(0)!) * 2048).toBeCloseTo(569, 6);
    expect(widths.measure(' 0−', 10)).toBeCloseTo(((651 + 1303 + 1716) / 2048) * 10, 6);
    expect(() => readFontWidths(new Uint8Array(64))).toThrow(/no 'head' table/);
  });

  it('gives a Student-t 95 % interval over seeds, and a point with one seed', () => {
    const iv = seedMeanInterval([1, 2, 3]);
    expect(iv.mean).toBe(2);
    expect(iv.hi - iv.mean).toBeCloseTo(4.303 / Math.sqrt(3), 6);
    expect(iv.mean - iv.lo).toBeCloseTo(iv.hi - iv.mean, 9);
    expect(seedMeanInterval([5])).toEqual({ mean: 5, lo: 5, hi: 5 });
  });
});

describe('continual report input checks', () => {
  const broken = (edit: (r: ContinualResults) => void): ContinualResults => {
    const r = syntheticResults();
    edit(r);
    return r;
  };

  it('refuses results without runs', async () => {
    await expect(writeReport(tempDir(), broken((r) => (r.runs = [])))).rejects.toThrow(/runs is empty/);
  });

  it('names the run and the shape of a mismatched R matrix', async () => {
    await expect(writeReport(tempDir(), broken((r) => r.runs[4].R.pop()))).rejects.toThrow(/run 4 \(method finetune, seed 2\): R is 3×4; expected 4×4/);
    await expect(writeReport(tempDir(), broken((r) => r.runs[0].R[2].push(0)))).rejects.toThrow(/run 0 \(method frozen, seed 1\): R\[2\] has 5 entries; expected 4/);
  });

  it('checks vectors, adaptation steps, non-finite values and the summary', async () => {
    await expect(writeReport(tempDir(), broken((r) => r.runs[1].returnsBefore.pop()))).rejects.toThrow(/returnsBefore has 3 entries; expected 4/);
    await expect(writeReport(tempDir(), broken((r) => (r.adaptSteps = 3)))).rejects.toThrow(/returnsAfter is 4×2; expected 4×3/);
    await expect(writeReport(tempDir(), broken((r) => (r.runs[2].b[1] = Number.NaN)))).rejects.toThrow(/b\[1\] is NaN/);
    await expect(writeReport(tempDir(), broken((r) => delete r.summary.mer))).rejects.toThrow(/summary has no entry for method 'mer'/);
    await expect(writeReport(tempDir(), broken((r) => (r.runs[0].oracle[0] = -100)))).rejects.toThrow(/oracle equals random on task 1/);
    await expect(writeReport(tempDir(), broken((r) => r.runs.push(seedRun('mer', 2, 3))))).rejects.toThrow(/appears twice/);
  });

  it('reports a missing or damaged results.json with its path', () => {
    const dir = tempDir();
    expect(() => readResults(dir)).toThrow(/cannot read .*results\.json/);
    const results = syntheticResults();
    results.runs[0].R[0][0] = Number.NaN; // JSON turns it into null
    writeResults(dir, results);
    expect(() => readResults(dir)).toThrow(/results\.json: .*R\[0\]\[0\] is null/);
    writeFileSync(join(dir, 'results.json'), '{"runs": []}');
    expect(() => readResults(dir)).toThrow(/not a metarl-continual-results file/);
  });
});

describe('method colours', () => {
  const rangeOf = (methods: string[]) => {
    const spec = JSON.stringify(metricBarsChart([], { methods, metrics: ['ACC'], title: 't', yTitle: 'y' }));
    return JSON.parse(spec.match(/"scale":(\{"domain":\[[^\]]*\],"range":\[[^\]]*\]\})/)![1]) as { domain: string[]; range: string[] };
  };

  it('keeps each built-in method one colour whichever methods ran; other names take the rest', () => {
    const all = rangeOf(['frozen', 'finetune', 'online', 'replay', 'mer']);
    const some = rangeOf(['mer', 'online', 'mine']);
    expect(some.domain).toEqual(['mer', 'online', 'mine']);
    expect(some.range).toEqual([all.range[4], all.range[2], METHOD_PALETTE[8]]);
    expect(new Set(all.range).size).toBe(5);
    expect(new Set(rangeOf(['frozen', 'finetune', 'online', 'replay', 'mer', 'er', 'agem', 'l2', 'mine']).range).size).toBe(9);
  });
});
