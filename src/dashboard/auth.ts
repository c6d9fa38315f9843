/**
 * Who may talk to the dashboard. Bound to a loopback address (the default), it answers only
 * requests whose Host header names that loopback address (a web page on another site cannot
 * reach it through DNS rebinding) and needs no token. Bound elsewhere, every /api/ request must
 * carry the token: `Authorization: Bearer TOKEN`, or `?token=TOKEN` where a header cannot be set
 * (EventSource). Tokens are compared in constant time (SHA-256 digests of equal length).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/** Whether `host` (an address or name given to --host) is this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Whether `presented` equals `token`, in time independent of where they differ. */
export function tokenMatches(token: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(token), digest(presented));
}

/** The token a request presents: its bearer header, else its `token` query parameter. */
export function presentedToken(req: IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice('Bearer '.length).trim();
  return url.searchParams.get('token') ?? undefined;
}

/**
 * Whether the Host header of a request to a loopback-bound server names a loopback host on
 * `port`: `127.0.0.1:PORT`, `localhost:PORT` or `[::1]:PORT`.
 */
export function loopbackHostHeader(hostHeader: string | undefined, port: number): boolean {
  if (hostHeader === undefined) return false;
  const m = /^(\[[0-9a-f:.]+\]|[^:]+):(\d+)$/i.exec(hostHeader.trim());
  return m !== null && Number(m[2]) === port && isLoopback(m[1]);
}
