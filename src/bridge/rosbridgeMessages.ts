/**
 * What comes back from the far end of a rosbridge connection, checked and put into words:
 * incoming text frames are parsed and validated into `Incoming` messages (or a reason to reject
 * them), `fragment` messages are reassembled, and a failed connection attempt (a socket error,
 * or an HTTP server that answered instead of upgrading to WebSocket) is explained in one line.
 *
 * Split from the client (rosbridge.ts) because none of this needs a socket or a timer: it is
 * the part that meets untrusted input, and the fuzz and unit tests drive it directly. Nothing
 * here throws on bad input; rejections are returned as strings for the client to count.
 */
import type { IncomingMessage } from 'node:http';

// ---- incoming messages: validation ----

/** The incoming ops we act on, validated. */
export type Incoming =
  | { op: 'publish'; topic: string; msg: Record<string, unknown> }
  | { op: 'service_response'; id?: string | number; service: string; values?: unknown; result: boolean }
  | { op: 'call_service'; id?: string | number; service: string; args: Record<string, unknown> }
  | { op: 'fragment'; id: string | number; data: string; num: number; total: number }
  | { op: 'status'; level?: string; msg?: string };

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isId = (x: unknown): x is string | number => typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x));
const isName = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= 1024;

/** Parses and checks one incoming text frame; returns the message or why it was rejected. */
export function parseIncoming(text: string): Incoming | string {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return 'not valid JSON';
  }
  if (!isObject(m)) return 'not a JSON object';
  if (m.id !== undefined && !isId(m.id)) return 'id is neither a string nor a number';
  switch (m.op) {
    case 'publish':
      if (!isName(m.topic)) return 'publish without a topic';
      if (!isObject(m.msg)) return `publish on ${m.topic.slice(0, 80)} without a msg object`;
      return m as Incoming;
    case 'service_response':
      if (!isName(m.service)) return 'service_response without a service';
      if (typeof m.result !== 'boolean') return 'service_response without a boolean result';
      return m as Incoming;
    case 'call_service': {
      if (!isName(m.service)) return 'call_service without a service';
      // rosbridge sends args as an object; an empty list also means "no arguments".
      const args = m.args === undefined || (Array.isArray(m.args) && m.args.length === 0) ? {} : m.args;
      if (!isObject(args)) return 'call_service args is not an object';
      return { op: 'call_service', id: m.id as string | number | undefined, service: m.service, args };
    }
    case 'fragment':
      if (!isId(m.id)) return 'fragment without an id';
      if (typeof m.data !== 'string') return 'fragment data is not a string';
      if (typeof m.num !== 'number' || !Number.isInteger(m.num) || m.num < 0) return 'fragment num is not an integer ≥ 0';
      // rosbridge may send a non-integer total (REFERENCE §6): only require a positive finite number.
      if (typeof m.total !== 'number' || !Number.isFinite(m.total) || m.total <= 0 || m.total > 1e6) return 'fragment total is not a positive number';
      return m as Incoming;
    case 'status':
      return { op: 'status', level: String(m.level ?? ''), msg: String(m.msg ?? '') };
    default:
      return typeof m.op === 'string' ? `unknown op ${m.op.slice(0, 40)}` : 'no op';
  }
}

// ---- incoming messages: fragment reassembly ----

/** Fragments per message: a bound on bookkeeping that the byte limit alone would leave at millions. */
const MAX_FRAGMENTS = 100_000;

/**
 * Reassembles fragments in arrival order from num 0. rosbridge may reuse one constant id for
 * every fragmented message and send a non-integer total (REFERENCE §6), so: a num 0 starts a new
 * message under its id (an unfinished one is dropped), each next fragment must carry the next num,
 * and the message is complete when its text parses, which a strict prefix of a JSON object never
 * does, once num + 1 ≥ ⌊total⌋. More than ⌈total⌉ fragments, a gap, or too many bytes drop it.
 */
export class FragmentAssembler {
  private readonly open = new Map<string, { parts: string[]; bytes: number; next: number; total: number; last: string }>();

  constructor(private readonly maxBytes: number, private readonly maxOpen = 8) {}

  add(f: Extract<Incoming, { op: 'fragment' }>): { complete?: string; rejected?: string } {
    const key = String(f.id);
    let a = this.open.get(key);
    let rejected: string | undefined;
    if (f.num === 0) {
      if (a) rejected = `unfinished fragmented message ${key.slice(0, 40)} replaced`;
      if (!a && this.open.size >= this.maxOpen) {
        const oldest = this.open.keys().next().value as string;
        this.open.delete(oldest);
        rejected = 'too many unfinished fragmented messages; dropped the oldest';
      }
      a = { parts: [], bytes: 0, next: 0, total: f.total, last: '' };
      this.open.set(key, a);
    } else if (!a) {
      return { rejected: `fragment ${f.num} of ${key.slice(0, 40)} without its start` };
    } else if (f.num === a.next - 1 && f.data === a.last) {
      return { rejected: 'duplicate fragment ignored' }; // keeps the message: the copy adds nothing
    } else if (f.num !== a.next) {
      this.open.delete(key);
      return { rejected: `fragment ${f.num} out of order (expected ${a.next}); message dropped` };
    }
    a.bytes += f.data.length;
    if (a.bytes > this.maxBytes || a.next >= MAX_FRAGMENTS) {
      this.open.delete(key);
      return { rejected: `fragmented message above ${this.maxBytes} bytes or ${MAX_FRAGMENTS} fragments; dropped` };
    }
    a.parts.push(f.data);
    a.last = f.data;
    a.next = f.num + 1;
    if (a.next >= Math.floor(a.total)) {
      const text = a.parts.join('');
      let complete = false;
      try {
        complete = isObject(JSON.parse(text));
      } catch {
        complete = false;
      }
      if (complete) {
        this.open.delete(key);
        return { complete: text, rejected };
      }
      if (a.next >= Math.ceil(a.total)) {
        this.open.delete(key);
        return { rejected: `fragments of ${key.slice(0, 40)} do not form a JSON object` };
      }
    }
    return { rejected };
  }

  clear(): void {
    this.open.clear();
  }
}

/** A validated message that is not a fragment: what the client acts on. */
export type Decoded = Exclude<Incoming, { op: 'fragment' }>;

/** What a decoder reports besides messages: each rejection, and each message built from fragments. */
export interface DecoderEvents {
  reject: (why: string) => void;
  reassembled: () => void;
}

/**
 * Raw frame in, validated message out: checks type and size, parses, and feeds fragments to a
 * FragmentAssembler until they form a message. Returns undefined for a frame that was rejected
 * or only part of a message.
 */
export class IncomingDecoder {
  private readonly fragments: FragmentAssembler;

  constructor(private readonly maxBytes: number, private readonly events: DecoderEvents) {
    this.fragments = new FragmentAssembler(maxBytes);
  }

  decode(data: Buffer, isBinary: boolean): Decoded | undefined {
    const { reject } = this.events;
    if (isBinary) return void reject('binary frame (no compression was requested)');
    if (data.length > this.maxBytes) return void reject(`message of ${data.length} bytes above the limit`);
    const m = parseIncoming(data.toString('utf8'));
    if (typeof m === 'string') return void reject(m);
    if (m.op !== 'fragment') return m;
    const r = this.fragments.add(m);
    if (r.rejected) reject(r.rejected);
    if (r.complete === undefined) return undefined;
    const inner = parseIncoming(r.complete);
    if (typeof inner === 'string') return void reject(`reassembled message: ${inner}`);
    if (inner.op === 'fragment') return void reject('fragment nested in a fragment');
    this.events.reassembled();
    return inner;
  }

  /** Forgets unfinished messages: a new connection never continues the fragments of an old one. */
  clear(): void {
    this.fragments.clear();
  }
}

// ---- failed connection attempts, in words ----

/** host:port of a ws:// or wss:// URL, with the default port made explicit. */
function hostPort(url: string): { host: string; where: string } {
  try {
    const u = new URL(url);
    const port = u.port || (u.protocol === 'wss:' || u.protocol === 'https:' ? '443' : '80');
    return { host: u.hostname, where: `${u.hostname}:${port}` };
  } catch {
    return { host: url, where: url };
  }
}

/** TLS failures come as OpenSSL or certificate codes rather than one family of codes. */
const isTlsCode = (code: string): boolean =>
  /^(ERR_SSL_|ERR_TLS_|EPROTO$|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH)/.test(code);

/**
 * Why a connection attempt to `url` failed, from the error `ws` emitted: the system error code
 * (refused, unresolvable, unreachable, TLS…) decides the wording; the code is kept for searches.
 */
export function explainConnectError(err: Error & { code?: string; errors?: { code?: string }[] }, url: string): string {
  const { host, where } = hostPort(url);
  // With several addresses for one name, Node reports an AggregateError; its parts carry the codes.
  const code = err.code ?? err.errors?.find((e) => e.code)?.code ?? '';
  switch (code) {
    case 'ECONNREFUSED':
      return `nothing listens at ${where} — is rosbridge_server running? (ECONNREFUSED)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
      return `cannot resolve host ${host} (${code})`;
    case 'ETIMEDOUT':
      return `timed out connecting to ${where} — host down, or a firewall dropping packets? (ETIMEDOUT)`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
      return `no route to ${where} — is this machine on the robot's network? (${code})`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `${where} closed the connection during the handshake (${code})`;
  }
  if (isTlsCode(code)) {
    // The usual cause of "wrong version number": wss:// to a server that speaks plain ws://.
    const hint = /wrong version number/i.test(err.message) ? ' — the server does not speak TLS; try ws:// instead of wss://' : '';
    return `TLS handshake with ${where} failed: ${code}${hint}`;
  }
  if (code.startsWith('HPE_')) {
    return `${where} does not answer in HTTP (${code}) — a TLS-only server needs wss://, or this is not a WebSocket server`;
  }
  if (/handshake has timed out/i.test(err.message)) return `timed out: ${where} did not complete the WebSocket handshake`;
  return `${err.message.split('\n')[0]}${code && !err.message.includes(code) ? ` (${code})` : ''}`;
}

/** Why a connection attempt failed when the server answered HTTP instead of upgrading to WebSocket. */
export function explainHttpAnswer(res: Pick<IncomingMessage, 'statusCode' | 'statusMessage' | 'headers'>): string {
  const status = `HTTP ${res.statusCode ?? '?'}${res.statusMessage ? ` ${res.statusMessage}` : ''}`;
  const code = res.statusCode ?? 0;
  if (code >= 300 && code < 400 && res.headers.location) return `redirected to ${res.headers.location} (${status}); connect there instead`;
  if (code === 401 || code === 403) return `the server refused the WebSocket upgrade (${status})`;
  const server = res.headers.server ? `, server: ${String(res.headers.server).slice(0, 60)}` : '';
  return `not a WebSocket server (${status}${server}) — wrong port? rosbridge_server listens on 9090 by default`;
}

/** Why connecting failed when no attempt reported anything before the deadline. */
export function explainSilence(url: string, ms: number): string {
  return `timed out: no WebSocket handshake with ${hostPort(url).where} within ${ms} ms — host down or unreachable, or a server that accepts connections but never answers`;
}
