/**
 * The dashboard's HTTP server (node:http). Routes, all fixed:
 *   GET  /                       the page; /app.js, /uplot.js, /uplot.css its script and library
 *   GET  /api/runs               the runs shown: [{id, name, kind, env, adaptable, stoppable}]
 *   GET  /api/runs/ID/events     server-sent events: the run's metrics.jsonl (training) or
 *                                tasks.jsonl (continual), replayed then tailed (sse.ts)
 *   POST /api/runs/ID/adapt      {goal: [x, y], steps: 1–3} → mean-policy paths (adapt.ts);
 *                                429 while another adaptation runs
 *   POST /api/runs/ID/stop       stops a run this process trains (train --dashboard); else 404
 * Security (auth.ts): loopback by default, with a Host-header check; bound elsewhere, every /api/
 * request needs the token (401 without). POSTs must be application/json, which a page on another
 * site cannot send without a CORS preflight that this server never grants.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../core/errors.ts';
import { isLoopback, loopbackHostHeader, presentedToken, tokenMatches } from './auth.ts';
import { Adapter, BusyError, parseAdaptRequest } from './adapt.ts';
import { type RunSet, describeRun, runFilePath, runKind } from './runs.ts';
import { streamLog } from './sse.ts';
import { SECURITY_HEADERS, assetAt } from './static.ts';

export interface DashboardOptions {
  runs: RunSet;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 8766; 0 = any free port). */
  port?: number;
  /** Secret every /api/ request must present when the token is required. */
  token?: string;
  /** Require the token (default: when `host` is not a loopback address). */
  requireToken?: boolean;
  /** Adapts navigation checkpoints; null turns the adaptation page off (default: on). */
  adapter?: Adapter | null;
  /** Most event streams open at once (default 32); more are answered 503. */
  maxClients?: number;
  /** Poll interval of the streams in ms (default 200). */
  pollMs?: number;
  log?: (line: string) => void;
}

export interface Dashboard {
  /** http://HOST:PORT/ (a wildcard host shown as 127.0.0.1). */
  url: string;
  port: number;
  close(): Promise<void>;
}

const MAX_BODY = 4096;
const API = /^\/api\/runs\/(\d{1,6})\/(events|adapt|stop)$/;

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const fail = (res: ServerResponse, status: number, error: string, headers?: Record<string, string>) => sendJson(res, status, { error }, headers);

/** The JSON body of a POST (at most MAX_BODY bytes). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new ConfigError('body', `larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ConfigError('body', 'not JSON');
  }
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const host = o.host ?? '127.0.0.1';
  const requireToken = o.requireToken ?? !isLoopback(host);
  if (requireToken && (o.token === undefined || o.token === '')) {
    throw new ConfigError('--host', `${host} is reachable from other machines: give a token with --token-file FILE or the METARL_TOKEN environment variable`);
  }
  const adapter = o.adapter === null ? null : (o.adapter ?? new Adapter());
  const maxClients = o.maxClients ?? 32;
  const streams = new Set<() => void>();
  let port = 0;

  const api = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    if (requireToken && !tokenMatches(o.token!, presentedToken(req, url))) return fail(res, 401, 'token required: open the URL with #token=TOKEN, or send Authorization: Bearer TOKEN');
    if (url.pathname === '/api/runs') {
      if (req.method !== 'GET') return fail(res, 405, 'GET only', { allow: 'GET' });
      return sendJson(res, 200, { runs: o.runs.list().map((r) => describeRun(r, adapter !== null)), adaptation: adapter !== null });
    }
    const m = API.exec(url.pathname);
    const run = m ? o.runs.get(m[1]) : undefined;
    if (!m || !run) return fail(res, 404, 'no such run or endpoint');
    const action = m[2];
    if (action === 'events') {
      if (req.method !== 'GET') return fail(res, 405, 'GET only', { allow: 'GET' });
      if (streams.size >= maxClients) return fail(res, 503, `too many open streams (${maxClients})`, { 'retry-after': '5' });
      const file = runKind(run) === 'continual' ? 'tasks.jsonl' : 'metrics.jsonl';
      const end = streamLog(req, res, url, { resolve: () => runFilePath(run, file), watchDir: run.dir, fileName: file, pollMs: o.pollMs, onClose: () => streams.delete(end) });
      streams.add(end);
      return;
    }
    if (req.method !== 'POST') return fail(res, 405, 'POST only', { allow: 'POST' });
    // Only application/json: another site's page cannot send it here without a preflight.
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return fail(res, 415, 'send application/json');
    if (action === 'stop') {
      if (!run.stop) return fail(res, 404, 'this run was not started by this dashboard\'s process: stop it where it runs (Ctrl-C)');
      run.stop();
      o.log?.(`dashboard: stop requested for ${run.name}`);
      return sendJson(res, 202, { stopping: true });
    }
    if (!adapter) return fail(res, 404, 'adaptation is off in this dashboard (metarl train --dashboard: run metarl dashboard RUN in another process)');
    if (adapter.busy) return fail(res, 429, 'an adaptation is running; try again when it is done', { 'retry-after': '2' });
    const body = await readJson(req);
    const result = await adapter.adapt(run, parseAdaptRequest(body));
    o.log?.(`dashboard: adapted ${run.name} toward (${result.goal.join(', ')}) with ${result.steps} step(s) in ${result.seconds.toFixed(1)} s`);
    return sendJson(res, 200, result);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Bound to loopback: only requests addressed to loopback (no DNS rebinding from a web page).
    if (isLoopback(host) && !loopbackHostHeader(req.headers.host, port)) return fail(res, 403, 'Host header must name this loopback address');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    } catch {
      return fail(res, 400, 'bad URL');
    }
    if (url.pathname.startsWith('/api/')) return api(req, res, url);
    const asset = assetAt(url.pathname);
    if (!asset) return fail(res, 404, 'not found');
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'GET only', { allow: 'GET, HEAD' });
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };

  const server = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (e instanceof BusyError) return fail(res, 429, e.message, { 'retry-after': '2' });
      if (e instanceof ConfigError) return fail(res, 400, e.message);
      o.log?.(`dashboard: ${req.method} ${(req.url ?? '').split('?')[0]}: ${(e as Error).message ?? e}`); // no query: it may hold the token
      fail(res, 500, (e as Error).message ?? String(e));
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // event streams stay open
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8766, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const end of [...streams]) end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
