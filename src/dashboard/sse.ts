/**
 * One server-sent-events stream of a run's log: every line of the file as an event whose `id:` is
 * its line number, first the lines already there, then each line as it is appended (fs.watch on
 * the run folder, and a poll every `pollMs` in case the watch misses a change). A client that
 * reconnects sends `Last-Event-ID: N` (EventSource does it by itself) and gets lines N+1 … only.
 * When the file is rewritten (a resumed run), the stream sends `event: reset` and replays it from
 * line 1; so it does when a reconnecting client has seen more lines than the file now holds.
 *
 * Bounded: the file is read in chunks, and not read further while the socket holds more than
 * `maxBuffered` bytes unsent (a slow client slows its own stream, nothing piles up in memory).
 */
import { type FSWatcher, watch } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LineTail } from './tail.ts';

export interface StreamOptions {
  /** The file's checked real path now, or null (runs.ts: runFilePath). */
  resolve: () => string | null;
  /** Folder to watch for changes of the file (the run folder) and the file's name in it. */
  watchDir: string;
  fileName: string;
  pollMs?: number;
  maxLine?: number;
  maxBuffered?: number;
  /** Called once when the stream ends (client gone or server closing). */
  onClose?: () => void;
}

/** The line number in a Last-Event-ID header or `lastEventId` query parameter (0 when absent). */
export function lastEventId(req: IncomingMessage, url: URL): number {
  const raw = req.headers['last-event-id'] ?? url.searchParams.get('lastEventId') ?? '0';
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** A line as one SSE event, or null when it is not a JSON object (a line cut by a crash). */
export function sseEvent(n: number, text: string): string | null {
  if (text === '' || /[\r\n]/.test(text)) return null;
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  } catch {
    return null;
  }
  return `id: ${n}\ndata: ${text}\n\n`;
}

/** Streams the log to `res` until the client goes away; returns a function that ends it. */
export function streamLog(req: IncomingMessage, res: ServerResponse, url: URL, o: StreamOptions): () => void {
  const pollMs = o.pollMs ?? 200;
  const maxBuffered = o.maxBuffered ?? 1024 * 1024;
  const tail = new LineTail(o.resolve, { maxLine: o.maxLine });
  let seen = lastEventId(req, url);
  let caughtUp = false;
  let closed = false;
  let scheduled: NodeJS.Immediate | undefined;
  let watcher: FSWatcher | undefined;

  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write('retry: 1000\n\n');

  const pump = () => {
    scheduled = undefined;
    if (closed) return;
    if (res.writableLength > maxBuffered) return; // resumed on 'drain'
    const r = tail.read();
    if (r.reset) {
      res.write('event: reset\ndata: {}\n\n');
      seen = 0;
    }
    for (const line of r.lines) {
      if (line.n <= seen) continue;
      const ev = sseEvent(line.n, line.text);
      if (ev !== null) res.write(ev);
    }
    if (r.more) return schedule();
    if (!caughtUp) {
      caughtUp = true;
      // The client saw more lines than the file holds: it was rewritten while the client was away.
      if (tail.lines < seen) {
        res.write('event: reset\ndata: {}\n\n');
        seen = 0;
        tail.restart();
        return schedule();
      }
    }
  };
  const schedule = () => {
    if (!closed && scheduled === undefined) scheduled = setImmediate(pump);
  };

  const timer = setInterval(schedule, pollMs);
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000);
  try {
    watcher = watch(o.watchDir, { persistent: false }, (_event, name) => {
      if (name === null || name === o.fileName) schedule();
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = undefined; // no inotify watch left: the poll alone
  }
  res.on('drain', schedule);

  const end = () => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    clearInterval(keepalive);
    if (scheduled !== undefined) clearImmediate(scheduled);
    watcher?.close();
    res.end();
    o.onClose?.();
  };
  req.on('close', end);
  res.on('error', end);
  schedule();
  return end;
}
