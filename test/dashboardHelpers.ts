/** Helpers of the dashboard tests: run folders in a temp dir, raw HTTP, and a small SSE client. */
import { request } from 'node:http';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const tempDir = (name: string) => mkdtempSync(join(tmpdir(), `metarl-${name}-`));

/** A training-run folder whose metrics.jsonl holds batches 0 … n−1. */
export function trainingRun(root: string, name: string, n: number): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.yaml'), 'env: navigation\n');
  writeFileSync(join(dir, 'metrics.jsonl'), Array.from({ length: n }, (_, b) => metricLine(b)).join(''));
  return dir;
}

export const metricLine = (b: number, extra: Record<string, number> = {}) =>
  `${JSON.stringify({ batch: b, 'charts/return_before': -40 + b, 'charts/return_after': -30 + 2 * b, 'charts/env_steps_total': 4000 * (b + 1), ...extra })}\n`;

export const appendLine = (dir: string, line: string, file = 'metrics.jsonl') => appendFileSync(join(dir, file), line);

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with the path sent exactly as given (no normalisation by a URL parser). */
export function raw(port: number, path: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export interface SseClient {
  status: Promise<number>;
  events: SseEvent[];
  /** Resolves with the first event (seen so far or later) for which `pred` holds. */
  waitFor(pred: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

/** Opens an event stream; events are parsed as they arrive. */
export function openEvents(port: number, path: string, headers: Record<string, string> = {}): SseClient {
  const events: SseEvent[] = [];
  const waiters: { pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }[] = [];
  let buffer = '';
  let setStatus!: (s: number) => void;
  const status = new Promise<number>((r) => (setStatus = r));
  const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
    setStatus(res.statusCode ?? 0);
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buffer += d;
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const ev: SseEvent = { event: 'message', data: '' };
        let hasData = false;
        for (const line of block.split('\n')) {
          const [field, ...rest] = line.split(': ');
          const value = rest.join(': ');
          if (field === 'id') ev.id = value;
          else if (field === 'event') ev.event = value;
          else if (field === 'data') ((ev.data = value), (hasData = true));
        }
        if (!hasData) continue; // retry: and keepalive comments
        events.push(ev);
        for (const w of [...waiters]) if (w.pred(ev)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(ev));
      }
    });
  });
  req.on('error', () => setStatus(0));
  req.end();
  return {
    status,
    events,
    waitFor: (pred, timeoutMs = 3000) =>
      new Promise((resolve, reject) => {
        const seen = events.find(pred);
        if (seen) return resolve(seen);
        const w = { pred, resolve: (e: SseEvent) => (clearTimeout(timer), resolve(e)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events.map((e) => e.id ?? e.event))}`));
        }, timeoutMs);
        waiters.push(w);
      }),
    close: () => req.destroy(),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
