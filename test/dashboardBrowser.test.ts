/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core): a metrics line
 * appended to a run's metrics.jsonl is drawn on the chart within 1 s (the latency from the write to
 * the chart's draw is printed), a click on the navigation plane draws the adapted trajectories, the
 * continual R matrix fills in; screenshots are saved in the temp folder (paths printed).
 * Skipped, with the reason, when no chromium is found, unless METARL_REQUIRE_BROWSER=1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Adapter } from '../src/dashboard/adapt.ts';
import { RunSet } from '../src/dashboard/runs.ts';
import { type Dashboard, startDashboard } from '../src/dashboard/server.ts';
import { appendLine, tempDir } from './dashboardHelpers.ts';

const candidates = [process.env.METARL_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter((p): p is string => !!p);
const chromiumPath = candidates.find((p) => existsSync(p));
const required = process.env.METARL_REQUIRE_BROWSER === '1';
if (!chromiumPath) console.log(`dashboardBrowser: skipped: no chromium at ${candidates.join(', ')} (apt-get install chromium, or set METARL_CHROMIUM)`);

declare global {
  interface Window {
    metarl: { records: number; drawn: Record<number, number>; lastDrawnBatch: number; tasks: number; adaptPaths: number };
  }
}

describe.runIf(chromiumPath || required)('dashboard in chromium', () => {
  const root = tempDir('dash-browser');
  const pretrained = readFileSync('pretrained/navigation/metrics.jsonl', 'utf8').trim().split('\n');
  let run: string;
  let dash: Dashboard;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!chromiumPath) throw new Error(`METARL_REQUIRE_BROWSER=1 but no chromium at ${candidates.join(', ')}`);
    // A navigation run in progress: the pretrained policy, its first 10 meta-batches logged so far.
    run = join(root, 'navigation__maml-trpo__1__live');
    mkdirSync(run);
    for (const f of ['checkpoint.json', 'config.yaml']) copyFileSync(join('pretrained/navigation', f), join(run, f));
    writeFileSync(join(run, 'metrics.jsonl'), pretrained.slice(0, 10).map((l) => `${l}\n`).join(''));
    const continual = join(root, 'continual-run');
    mkdirSync(continual);
    const rows = (m: string, t: number) => Array.from({ length: 5 }, (_, j) => (j <= t ? 0.95 - 0.02 * (t - j) * (m === 'finetune' ? 2 : 1) : 0.9 + 0.01 * j));
    writeFileSync(join(continual, 'tasks.jsonl'), ['mer', 'finetune'].flatMap((m) => [0, 1, 2, 3].map((t) => `${JSON.stringify({ seed: 1, method: m, task: t, evalRow: JSON.stringify(rows(m, t)) })}\n`)).join(''));
    const runs = new RunSet();
    runs.add(run);
    runs.add(continual);
    dash = await startDashboard({ runs, port: 0, adapter: new Adapter() });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
    await page.goto(dash.url);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await dash?.close();
  });

  it('draws an appended metrics line within 1 s', async () => {
    await page.waitForFunction(() => window.metarl.lastDrawnBatch === 9, undefined, { timeout: 10_000 });
    const latencies: number[] = [];
    for (let b = 10; b < 14; b++) {
      await page.waitForTimeout(250);
      const line = b === 13 ? JSON.stringify({ ...JSON.parse(pretrained[b]), 'env/stops': 1, 'env/reconnects': 0 }) : pretrained[b];
      const written = Date.now();
      appendLine(run, `${line}\n`);
      await page.waitForFunction((batch) => window.metarl.drawn[batch] !== undefined, b, { timeout: 1000 });
      latencies.push((await page.evaluate((batch) => window.metarl.drawn[batch], b)) - written);
    }
    console.log(`dashboard browser latency, metrics line written → drawn on the chart: ${latencies.join(', ')} ms`);
    expect(Math.max(...latencies)).toBeLessThan(1000);
    await page.screenshot({ path: join(root, 'dashboard-training.png') });
    await page.click('button[data-tab=env]');
    expect(await page.textContent('#env-table')).toContain('env/stops');
    console.log(`screenshot: ${join(root, 'dashboard-training.png')}`);
  }, 30_000);

  it('draws the trajectories adapted toward a clicked goal', async () => {
    await page.click('button[data-tab=adapt]');
    await page.selectOption('#steps', '2');
    // The goal (0.3, 0.4) on the 560-pixel plane spanning ±0.6 with a 30-pixel margin.
    const at = (v: number) => 30 + ((v + 0.6) / 1.2) * 500;
    const t0 = Date.now();
    await page.click('#plane', { position: { x: at(0.3), y: 560 - at(0.4) } });
    await page.waitForFunction(() => window.metarl.adaptPaths === 3, undefined, { timeout: 60_000 });
    console.log(`dashboard browser adaptation (2 steps): drawn ${((Date.now() - t0) / 1000).toFixed(1)} s after the click`);
    const coloured = await page.evaluate(() => {
      const cv = document.getElementById('plane') as HTMLCanvasElement;
      const d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
      return n;
    });
    expect(coloured).toBeGreaterThan(800); // three paths and the goal, not just the grey grid
    expect(await page.locator('#legend div').count()).toBe(3);
    await page.screenshot({ path: join(root, 'dashboard-adaptation.png') });
    console.log(`screenshot: ${join(root, 'dashboard-adaptation.png')}`);
  }, 90_000);

  it('fills in the continual R matrix', async () => {
    await page.selectOption('#run', '1');
    await page.waitForFunction(() => window.metarl.tasks === 8, undefined, { timeout: 10_000 });
    await page.waitForTimeout(100);
    expect(await page.isVisible('#rmatrix')).toBe(true);
    await page.screenshot({ path: join(root, 'dashboard-continual.png') });
    console.log(`screenshot: ${join(root, 'dashboard-continual.png')}`);
  }, 30_000);
});
