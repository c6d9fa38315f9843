/**
 * Why RosbridgeClient.connect() fails, over real loopback sockets: each cause (nothing listening,
 * a plain HTTP server, an unresolvable host, TLS to a non-TLS server, a server that never answers)
 * must be named in the one-line error, and connect() must keep retrying until its deadline.
 */
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { RosbridgeClient } from '../src/bridge/rosbridge.ts';
import { explainConnectError, explainHttpAnswer } from '../src/bridge/rosbridgeMessages.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A port that was just free: listen on an ephemeral port, then close it. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts `server` on an ephemeral loopback port and stops it after the test. */
async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

/** connect()'s rejection message for `url`, with a short deadline. */
async function connectError(url: string, requestTimeoutMs = 300): Promise<string> {
  const client = new RosbridgeClient({ url, requestTimeoutMs, reconnectInitialMs: 20, reconnectMaxMs: 50 });
  cleanups.push(() => client.close());
  const err = await client.connect().then(() => new Error('connected'), (e: Error) => e);
  return err.message;
}

describe('rosbridge connect errors', () => {
  it('names a refused port, after retrying until the deadline', { timeout: 5000 }, async () => {
    const port = await freePort();
    const msg = await connectError(`ws://127.0.0.1:${port}`);
    expect(msg).toMatch(new RegExp(`^rosbridge: cannot connect to ws://127\\.0\\.0\\.1:${port}: nothing listens at 127\\.0\\.0\\.1:${port} — is rosbridge_server running\\? \\(ECONNREFUSED\\)`));
    const attempts = Number(/\((\d+) attempts in 300 ms\)$/.exec(msg)?.[1]);
    expect(attempts).toBeGreaterThanOrEqual(3); // backoff 20 → 40 → 50 ms within 300 ms
    expect(msg).not.toContain('\n');
  });

  it('connects once the server comes up within the deadline', { timeout: 5000 }, async () => {
    const port = await freePort();
    const client = new RosbridgeClient({ url: `ws://127.0.0.1:${port}`, requestTimeoutMs: 2000, reconnectInitialMs: 20, reconnectMaxMs: 50 });
    cleanups.push(() => client.close());
    const connecting = client.connect();
    await new Promise((r) => setTimeout(r, 150)); // a few refused attempts first
    const wss = new WebSocketServer({ host: '127.0.0.1', port });
    cleanups.push(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r()); }));
    await expect(connecting).resolves.toBeUndefined();
    expect(client.connected).toBe(true);
  });

  it('names an HTTP server that is not a WebSocket server; offers no permessage-deflate', { timeout: 5000 }, async () => {
    const extensions: (string | undefined)[] = [];
    const server = http.createServer((req, res) => {
      extensions.push(req.headers['sec-websocket-extensions']);
      res.writeHead(200, { 'content-type': 'text/html', server: 'toy-http' });
      res.end('<html>hello</html>');
    });
    const port = await listen(server);
    const msg = await connectError(`ws://127.0.0.1:${port}`);
    expect(msg).toMatch(/^rosbridge: cannot connect to ws:\/\/127\.0\.0\.1:\d+: not a WebSocket server \(HTTP 200 OK, server: toy-http\)/);
    expect(extensions.length).toBeGreaterThan(0);
    // Compressed sends complete asynchronously; a stop sent just before exit must leave at once.
    expect(extensions.every((e) => e === undefined)).toBe(true);
  });

  it('names a host that cannot be resolved', { timeout: 5000 }, async () => {
    const msg = await connectError('ws://nonexistent.invalid:9090', 1000);
    // Resolvers answer .invalid at once (ENOTFOUND), or time out without one (then the deadline says so).
    expect(msg).toMatch(/^rosbridge: cannot connect to ws:\/\/nonexistent\.invalid:9090: (cannot resolve host nonexistent\.invalid \((ENOTFOUND|EAI_AGAIN|EAI_FAIL|EAI_NONAME)\)|timed out: no WebSocket handshake with nonexistent\.invalid:9090)/);
  });

  it('names TLS to a server that does not speak TLS', { timeout: 5000 }, async () => {
    const port = await listen(http.createServer((_req, res) => res.end('plain')));
    const msg = await connectError(`wss://127.0.0.1:${port}`);
    expect(msg).toMatch(new RegExp(`^rosbridge: cannot connect to wss://127\\.0\\.0\\.1:${port}: TLS handshake with 127\\.0\\.0\\.1:${port} failed: \\S+`));
  });

  it('names a timeout when the server accepts the connection but never answers', { timeout: 5000 }, async () => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => { sockets.add(s); s.on('error', () => {}); });
    const port = await listen(server);
    cleanups.push(() => { for (const s of sockets) s.destroy(); });
    const msg = await connectError(`ws://127.0.0.1:${port}`);
    expect(msg).toBe(`rosbridge: cannot connect to ws://127.0.0.1:${port}: timed out: no WebSocket handshake with 127.0.0.1:${port} within 300 ms — host down or unreachable, or a server that accepts connections but never answers (1 attempt in 300 ms)`);
  });

  it('rejects a malformed URL at once', { timeout: 2000 }, async () => {
    const t0 = performance.now();
    expect(await connectError('ftp://127.0.0.1:9090', 1000)).toMatch(/^rosbridge: cannot connect to ftp:\/\/127\.0\.0\.1:9090: .*protocol/);
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it('words other causes (unit)', () => {
    const e = (code: string, message = code) => Object.assign(new Error(message), { code });
    expect(explainConnectError(e('EAI_AGAIN'), 'ws://robot.lan:9090')).toBe('cannot resolve host robot.lan (EAI_AGAIN)');
    expect(explainConnectError(e('EHOSTUNREACH'), 'ws://10.0.0.7:9090')).toMatch(/^no route to 10\.0\.0\.7:9090/);
    expect(explainConnectError(e('ETIMEDOUT'), 'ws://10.0.0.7')).toMatch(/^timed out connecting to 10\.0\.0\.7:80/);
    expect(explainConnectError(e('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), 'wss://robot:9090')).toBe('TLS handshake with robot:9090 failed: DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(explainConnectError(e('HPE_INVALID_CONSTANT'), 'ws://robot:9090')).toMatch(/does not answer in HTTP/);
    const agg = Object.assign(new AggregateError([e('ECONNREFUSED')], ''), {});
    expect(explainConnectError(agg, 'ws://localhost:9090')).toMatch(/^nothing listens at localhost:9090/);
    expect(explainHttpAnswer({ statusCode: 301, statusMessage: 'Moved Permanently', headers: { location: 'ws://robot:9091/' } })).toMatch(/^redirected to ws:\/\/robot:9091\//);
    expect(explainHttpAnswer({ statusCode: 404, statusMessage: 'Not Found', headers: {} })).toBe('not a WebSocket server (HTTP 404 Not Found) — wrong port? rosbridge_server listens on 9090 by default');
  });
});
