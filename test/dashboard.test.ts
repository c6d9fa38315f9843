/**
 * The dashboard server over real loopback sockets: event streams that replay and tail a run's log
 * (latency printed), resume after a reconnect, reset on a rewrite; the token when bound beyond
 * loopback; no file outside the run folders (path traversal, symlinks); adaptation of
 * pretrained/navigation and its 429; the stop button only for a run of this process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Adapter, type TrajectoryFn } from '../src/dashboard/adapt.ts';
import { isLoopback, loopbackHostHeader, tokenMatches } from '../src/dashboard/auth.ts';
import { findRuns, newRunFolder, startTrainDashboard } from '../src/dashboard/command.ts';
import { RunSet } from '../src/dashboard/runs.ts';
import { type Dashboard, type DashboardOptions, startDashboard } from '../src/dashboard/server.ts';
import { LineTail } from '../src/dashboard/tail.ts';
import { main } from '../src/cli.ts';
import { appendLine, metricLine, openEvents, raw, sleep, tempDir, trainingRun } from './dashboardHelpers.ts';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});

async function serve(dirs: string[], o: Partial<DashboardOptions> = {}): Promise<Dashboard> {
  const runs = new RunSet();
  for (const d of dirs) runs.add(d);
  const dash = await startDashboard({ runs, port: 0, adapter: null, ...o });
  open.push(dash);
  return dash;
}

describe('event streams', () => {
  it('replays metrics.jsonl, then delivers an appended line (latency printed), whole lines only', async () => {
    const run = trainingRun(tempDir('dash'), 'run', 3);
    const dash = await serve([run]);
    const sse = openEvents(dash.port, '/api/runs/0/events');
    expect(await sse.status).toBe(200);
    await sse.waitFor((e) => e.id === '3');
    expect(sse.events.map((e) => e.id)).toEqual(['1', '2', '3']);
    expect(JSON.parse(sse.events[2].data).batch).toBe(2);
    const latencies: number[] = [];
    for (let b = 3; b < 6; b++) {
      await sleep(150);
      const t0 = performance.now();
      appendLine(run, metricLine(b));
      await sse.waitFor((e) => e.id === String(b + 1), 2000);
      latencies.push(performance.now() - t0);
    }
    console.log(`dashboard SSE latency, line appended → event received over loopback: ${latencies.map((l) => l.toFixed(1)).join(', ')} ms`);
    expect(Math.max(...latencies)).toBeLessThan(1000);
    // A line without its newline yet is held back until it is complete.
    const half = metricLine(6);
    appendLine(run, half.slice(0, 20));
    await sleep(450);
    expect(sse.events.at(-1)!.id).toBe('6');
    appendLine(run, half.slice(20));
    expect(JSON.parse((await sse.waitFor((e) => e.id === '7')).data).batch).toBe(6);
    sse.close();
  });

  it('resumes after Last-Event-ID without duplicates, and resets when the log is rewritten', async () => {
    const run = trainingRun(tempDir('dash'), 'run', 5);
    const dash = await serve([run]);
    const again = openEvents(dash.port, '/api/runs/0/events', { 'last-event-id': '3' });
    await again.waitFor((e) => e.id === '5');
    expect(again.events.map((e) => e.id)).toEqual(['4', '5']);
    // A resumed run drops the batches it redoes: the file is replaced (atomic rename) by a shorter one.
    writeFileSync(join(run, 'metrics.tmp'), metricLine(0) + metricLine(1));
    renameSync(join(run, 'metrics.tmp'), join(run, 'metrics.jsonl'));
    await again.waitFor((e) => e.event === 'reset');
    await again.waitFor((e) => e.id === '2' && again.events.some((x) => x.event === 'reset'));
    const afterReset = again.events.slice(again.events.findIndex((e) => e.event === 'reset') + 1);
    expect(afterReset.map((e) => e.id)).toEqual(['1', '2']);
    again.close();
    // A client that saw more lines than the file now holds is told to start over.
    const stale = openEvents(dash.port, '/api/runs/0/events', { 'last-event-id': '4' });
    await stale.waitFor((e) => e.id === '2');
    expect(stale.events.map((e) => e.id ?? e.event)).toEqual(['reset', '1', '2']);
    stale.close();
  });

  it('streams tasks.jsonl of a continual run; caps streams and line length', async () => {
    const root = tempDir('dash');
    const cont = join(root, 'continual');
    mkdirSync(cont);
    writeFileSync(join(cont, 'tasks.jsonl'), `${JSON.stringify({ seed: 1, method: 'mer', task: 0, evalRow: '[1,0.5]' })}\n`);
    const dash = await serve([cont], { maxClients: 1 });
    expect(JSON.parse((await raw(dash.port, '/api/runs')).body).runs[0].kind).toBe('continual');
    const sse = openEvents(dash.port, '/api/runs/0/events');
    expect(JSON.parse((await sse.waitFor((e) => e.id === '1')).data).method).toBe('mer');
    const second = await raw(dash.port, '/api/runs/0/events');
    expect(second.status).toBe(503);
    sse.close();
    await sleep(200); // the server notices the client is gone and frees its slot
    const third = openEvents(dash.port, '/api/runs/0/events');
    expect(await third.status).toBe(200);
    third.close();
    // Lines longer than maxLine are counted (ids stay line numbers) but not sent.
    const long = `${JSON.stringify({ x: 'y'.repeat(300) })}\n`;
    writeFileSync(join(root, 'lines.jsonl'), `{"a":1}\n${long}{"a":3}\n`);
    const tail = new LineTail(() => join(root, 'lines.jsonl'), { maxLine: 100, maxBytes: 7 });
    const got: { n: number; text: string }[] = [];
    for (let r = tail.read(); ; r = tail.read()) {
      got.push(...r.lines);
      if (!r.more) break;
    }
    expect(got).toEqual([{ n: 1, text: '{"a":1}' }, { n: 3, text: '{"a":3}' }]);
  });
});

describe('security', () => {
  it('needs the token when bound beyond loopback: 401 without, header or query with', async () => {
    expect(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('localhost')).toBe(true);
    expect(isLoopback('0.0.0.0') || isLoopback('192.168.1.5') || isLoopback('::')).toBe(false);
    expect(tokenMatches('abc', 'abc') && !tokenMatches('abc', 'abd') && !tokenMatches('abc', undefined) && !tokenMatches('abc', 'abcd')).toBe(true);
    await expect(startDashboard({ runs: new RunSet(), host: '0.0.0.0', port: 0 })).rejects.toThrow(/token/);
    const run = trainingRun(tempDir('dash'), 'run', 2);
    const dash = await serve([run], { requireToken: true, token: 's3cret-token' });
    expect((await raw(dash.port, '/api/runs')).status).toBe(401);
    expect((await raw(dash.port, '/api/runs', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await raw(dash.port, '/api/runs/0/events')).status).toBe(401);
    expect((await raw(dash.port, '/api/runs/0/adapt', { method: 'POST' })).status).toBe(401);
    expect((await raw(dash.port, '/api/runs', { headers: { authorization: 'Bearer s3cret-token' } })).status).toBe(200);
    const sse = openEvents(dash.port, '/api/runs/0/events?token=s3cret-token');
    expect(await sse.status).toBe(200);
    await sse.waitFor((e) => e.id === '2');
    sse.close();
    expect((await raw(dash.port, '/')).status).toBe(200); // the page itself holds no run data
  });

  it('serves no file outside the run folders: traversal, encodings, absolute paths, symlinks; checks Host', async () => {
    const root = tempDir('dash');
    const run = trainingRun(root, 'run', 1);
    writeFileSync(join(root, 'outside.jsonl'), `${JSON.stringify({ secret: 'outside' })}\n`);
    const leaky = join(root, 'leaky');
    mkdirSync(leaky);
    symlinkSync(join(root, 'outside.jsonl'), join(leaky, 'metrics.jsonl'));
    symlinkSync(resolve('pretrained/navigation/checkpoint.json'), join(leaky, 'checkpoint.json'));
    const dash = await serve([run, leaky]);
    const paths = ['/../package.json', '/%2e%2e/package.json', '/%2e%2e%2fpackage.json', '/..%2F..%2Fpackage.json', '//etc/passwd', '/etc/passwd', `/${resolve('package.json')}`, '/api/runs/0/../../../package.json', '/api/runs/0/%2e%2e/%2e%2e/package.json', '/api/runs/0/events/../../../../package.json', '/uplot.js/../../package.json', '/node_modules/uplot/package.json', '/api/runs/..%2f..%2fpackage.json/events', '/api/runs/0/metrics.jsonl', '/api/runs/0/checkpoint.json', '/src/dashboard/server.ts', '/app.js%00.json'];
    for (const p of paths) {
      const r = await raw(dash.port, p);
      expect([400, 404], p).toContain(r.status);
      expect(r.body).not.toMatch(/"name": "metarl"|"dependencies"|root:|secret/);
    }
    // A symlink in a run folder that leads out of it is not followed: no events, not adaptable.
    const sse = openEvents(dash.port, '/api/runs/1/events');
    expect(await sse.status).toBe(200);
    await sleep(500);
    expect(sse.events).toEqual([]);
    sse.close();
    const info = JSON.parse((await raw(dash.port, '/api/runs')).body).runs[1];
    expect(info).toMatchObject({ kind: 'pending', adaptable: false });
    // A loopback dashboard answers only requests addressed to loopback (no DNS rebinding).
    expect((await raw(dash.port, '/api/runs', { headers: { host: `evil.example:${dash.port}` } })).status).toBe(403);
    expect((await raw(dash.port, '/api/runs', { headers: { host: `localhost:${dash.port}` } })).status).toBe(200);
  });
});

describe('adaptation and stop', () => {
  it('adapts pretrained/navigation toward a clicked goal and returns the mean-policy paths', async () => {
    const dash = await serve(['pretrained/navigation'], { adapter: new Adapter() });
    const json = { 'content-type': 'application/json' };
    expect(JSON.parse((await raw(dash.port, '/api/runs')).body).runs[0]).toMatchObject({ kind: 'training', env: 'navigation', adaptable: true, stoppable: false });
    expect((await raw(dash.port, '/api/runs/0/adapt', { method: 'POST', headers: json, body: '{"goal":[3,0]}' })).status).toBe(400);
    expect((await raw(dash.port, '/api/runs/0/adapt', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"goal":[0.3,0.4]}' })).status).toBe(415);
    const t0 = performance.now();
    const r = await raw(dash.port, '/api/runs/0/adapt', { method: 'POST', headers: json, body: JSON.stringify({ goal: [0.3, 0.4], steps: 1 }) });
    console.log(`dashboard adaptation (pretrained/navigation, 1 step, backend start included): ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as { batch: number; paths: { step: string; points: [number, number][] }[] };
    expect(body.batch).toBe(100);
    expect(body.paths.map((p) => p.step)).toEqual(['θ (no adaptation)', 'after 1 step']);
    for (const p of body.paths) expect(p.points.length).toBeGreaterThan(50);
    const end = body.paths[1].points.at(-1)!;
    expect(Math.hypot(end[0] - 0.3, end[1] - 0.4)).toBeLessThan(0.2); // the adapted policy reaches the goal
    // The stop button works only for a run this process trains.
    expect((await raw(dash.port, '/api/runs/0/stop', { method: 'POST', headers: json, body: '{}' })).status).toBe(404);
  });

  it('answers 429 while an adaptation runs, then serves the next one', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: TrajectoryFn = async () => {
      await gate;
      return [0, 1].flatMap((t) => [{ step: 'θ (no adaptation)', t, x: 0, y: 0.1 * t }, { step: 'after 1 step', t, x: 0.1 * t, y: 0.1 * t }]);
    };
    const dash = await serve(['pretrained/navigation'], { adapter: new Adapter(slow) });
    const req = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"goal":[0.1,0.2]}' };
    const first = raw(dash.port, '/api/runs/0/adapt', req);
    await sleep(300);
    const busy = await raw(dash.port, '/api/runs/0/adapt', req);
    expect(busy.status).toBe(429);
    expect(busy.headers['retry-after']).toBe('2');
    release();
    expect((await first).status).toBe(200);
    const next = await raw(dash.port, '/api/runs/0/adapt', req);
    expect(JSON.parse(next.body).paths[1].points).toEqual([[0, 0], [0.1, 0.1]]);
  });

  it('train --dashboard: finds the new run folder, and its stop button stops that run only', async () => {
    const out = tempDir('dash-out');
    trainingRun(out, 'navigation__maml-trpo__7__20260101-000000', 1); // an older run: not this one
    const lines: string[] = [];
    const td = await startTrainDashboard({ out, env: 'navigation', seed: 7, port: 0, log: (l) => lines.push(l) });
    open.push(td);
    expect(lines.join('\n')).toContain(td.url);
    const port = Number(new URL(td.url).port);
    expect(JSON.parse((await raw(port, '/api/runs')).body).runs).toEqual([]);
    const dir = trainingRun(out, 'navigation__maml-trpo__7__20260102-000000', 2);
    expect(newRunFolder(out, 'navigation', 7, new Set(['navigation__maml-trpo__7__20260101-000000']))).toBe(dir);
    await sleep(500);
    const runs = JSON.parse((await raw(port, '/api/runs')).body).runs;
    expect(runs).toMatchObject([{ name: 'navigation__maml-trpo__7__20260102-000000', stoppable: true, adaptable: false }]);
    expect(td.stopSignal.aborted).toBe(false);
    expect((await raw(port, '/api/runs/0/stop', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })).status).toBe(415);
    expect((await raw(port, '/api/runs/0/stop', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(202);
    expect(td.stopSignal.aborted).toBe(true);
    expect(findRuns(out)).toHaveLength(2);
  });
});

describe('metarl train --dashboard', () => {
  it('serves the run as it trains; the stop button checkpoints and stops it (exit 130)', async () => {
    const out = tempDir('dash-train');
    const args = ['train', '--preset', 'quick', '--num-batches', '300', '--set', 'metaBatchSize=2', '--set', 'episodesPerTask=2', '--backend', 'wasm', '--out', out, '--dashboard'];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    const code = new Promise<number | null>((r) => child.on('exit', r));
    try {
      const deadline = Date.now() + 30_000;
      let port = 0;
      while (port === 0 && Date.now() < deadline) {
        const m = /dashboard: http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr);
        if (m) port = Number(m[1]);
        else await sleep(100);
      }
      expect(port, stderr).toBeGreaterThan(0);
      let runs: { name: string; stoppable: boolean }[] = [];
      while (runs.length === 0 && Date.now() < deadline) {
        runs = JSON.parse((await raw(port, '/api/runs')).body).runs;
        if (runs.length === 0) await sleep(100);
      }
      expect(runs).toMatchObject([{ stoppable: true }]);
      const sse = openEvents(port, '/api/runs/0/events');
      expect(JSON.parse((await sse.waitFor((e) => e.id === '1', 20_000)).data).batch).toBe(0);
      expect((await raw(port, '/api/runs/0/stop', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(202);
      sse.close();
      expect(await code).toBe(130);
    } finally {
      child.kill('SIGKILL');
    }
    expect(stderr).toMatch(/stop requested for navigation__maml-trpo__1__/);
    const done = Number(/stopped after (\d+) meta-batches/.exec(stderr)?.[1]);
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(300);
    expect(stdout.trim()).toBe(join(out, runs0(stderr)));
  }, 60_000);
});

/** The run folder's name in a train log. */
const runs0 = (log: string) => /run folder .*\/(navigation__maml-trpo__1__[^\s/]+)/.exec(log)![1];

describe('metarl dashboard', () => {
  it('refuses a non-loopback host without a token (exit 2), prints its URL on stdout and stops on SIGINT', async () => {
    const prev = process.env.METARL_TOKEN;
    delete process.env.METARL_TOKEN;
    const err: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
    try {
      expect(await main(['dashboard', 'pretrained/navigation', '--host', '0.0.0.0', '--port', '0'])).toBe(2);
    } finally {
      process.stderr.write = write;
      if (prev !== undefined) process.env.METARL_TOKEN = prev;
    }
    expect(err.join('')).toMatch(/--token-file/);
    const run = trainingRun(tempDir('dash'), 'run', 2);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'dashboard', run, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const url = await new Promise<string>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error('no URL within 20 s')), 20_000);
      child.stdout.on('data', () => {
        const m = /^http:\/\/127\.0\.0\.1:\d+\/$/m.exec(stdout);
        if (m) (clearTimeout(timer), ok(m[0]));
      });
    });
    const port = Number(new URL(url).port);
    expect(JSON.parse((await raw(port, '/api/runs')).body).runs[0].name).toBe('run');
    const code = new Promise<number | null>((r) => child.on('exit', r));
    child.kill('SIGINT');
    expect(await code).toBe(0);
    expect(readFileSync(join(run, 'metrics.jsonl'), 'utf8').split('\n')).toHaveLength(3); // read, never written
  }, 40_000);
});
