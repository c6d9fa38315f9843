/**
 * Our own WebSocket protocol between the agent and a simulator, `metarl-bridge/1`
 * (docs/bridge-protocol.md is the reference): the zod schemas of every JSON message, a parser
 * that checks size, JSON syntax and schema and says what was wrong, and the conversions between
 * `Box` and its JSON form (±Infinity bounds travel as the strings "inf" / "-inf"). The binary frame
 * codec for Float32 arrays lives in ./frames.ts and is re-exported here.
 */
import { z } from 'zod';
import { Box } from '../core/spaces.ts';
import { sanitizePeerText } from '../core/sanitize.ts';
import { TaskSpaceSchema } from './taskSpace.ts';
import { HEX64 } from './auth.ts';

export * from './frames.ts';

export const PROTOCOL_NAME = 'metarl-bridge';
export const PROTOCOL_VERSION = 1;
/** Largest message (text or binary) either side accepts unless configured otherwise: 1 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1 << 20;
/** Largest number of scalar entries in one space, and of env copies on one connection. */
export const MAX_SPACE_SIZE = 65_536;
export const MAX_COPIES = 4_096;

/** WebSocket close codes used by the protocol (4000–4999 are free for applications). */
export const CLOSE_CODES = {
  normal: 1000,
  /** ws closes with 1009 by itself when a message exceeds the size limit. */
  tooBig: 1009,
  unauthorized: 4001,
  version: 4002,
  handshake: 4003,
  /** The agent gave up on a call that got no reply in time. */
  timeout: 4004,
} as const;

/** `code` values of `error` (and `refused`) messages. */
export const ERROR_CODES = ['bad_json', 'bad_message', 'unknown_type', 'too_large', 'bad_state', 'bad_request', 'numeric', 'sim_error', 'unauthorized', 'version'] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

const requestId = z.number().int().min(1).max(0xffff_ffff);
const bound = z.union([z.number(), z.literal('inf'), z.literal('-inf')]);
/** A float that may have become NaN or ±Infinity: JSON.stringify writes those as null. */
const maybeFloat = z.union([z.number(), z.null()]);
const floats = z.array(maybeFloat).max(MAX_COPIES * MAX_SPACE_SIZE);
/** A nonce or an HMAC-SHA256 proof: 32 bytes as lowercase hex (./auth.ts). */
const hex64 = z.string().regex(HEX64, 'expected 64 lowercase hex digits');
/**
 * Obsolete: peers before challenge-response authentication sent the token itself here. Still
 * read, only so that such a peer is refused with a message saying why (never compared).
 */
const clearToken = z.string().max(1024).optional();

export const BoxJsonSchema = z.object({
  low: z.array(bound).min(1).max(MAX_SPACE_SIZE),
  high: z.array(bound).min(1).max(MAX_SPACE_SIZE),
  shape: z.array(z.number().int().min(1).max(MAX_SPACE_SIZE)).min(1).max(8),
});
export type BoxJson = z.infer<typeof BoxJsonSchema>;

// Simulator → agent.
export const HelloSchema = z.object({
  type: z.literal('hello'),
  protocol: z.literal(PROTOCOL_NAME),
  version: z.number().int(),
  token: clearToken,
  /** The simulator has a token: its challenge, answered by the agent's `auth` proof. */
  nonce: hex64.optional(),
  num: z.number().int().min(1).max(MAX_COPIES),
  observationSpace: BoxJsonSchema,
  actionSpace: BoxJsonSchema,
  maxEpisodeSteps: z.number().int().min(1).max(1e9),
  tasks: TaskSpaceSchema,
  name: z.string().max(256).optional(),
  /** The simulator can read and write binary frames. */
  binary: z.boolean().optional(),
  /** Real hardware behind the bridge: a stop request halts it at once (no more steps) rather than finishing the meta-batch. */
  hardware: z.boolean().optional(),
});
const OkSchema = z.object({ type: z.literal('ok'), id: requestId });
const ObsSchema = z.object({ type: z.literal('obs'), id: requestId, obs: floats });
const StepResultSchema = z.object({
  type: z.literal('step_result'),
  id: requestId,
  obs: floats,
  reward: z.array(maybeFloat).max(MAX_COPIES),
  terminated: z.array(z.boolean()).max(MAX_COPIES),
  truncated: z.array(z.boolean()).max(MAX_COPIES),
});
/** Proof of the token (both directions; ./auth.ts says who sends it when). */
const AuthSchema = z.object({ type: z.literal('auth'), proof: hex64 });
const ErrorSchema = z.object({ type: z.literal('error'), id: requestId.optional(), code: z.string().max(64), message: z.string().max(4096) });

// Agent → simulator.
const WelcomeSchema = z.object({
  type: z.literal('welcome'),
  protocol: z.literal(PROTOCOL_NAME),
  version: z.literal(PROTOCOL_VERSION),
  token: clearToken,
  /** The agent has a token: its challenge, answered by the simulator's `auth` proof. */
  nonce: hex64.optional(),
  /** Step requests and their results (and reset results) go as binary frames from now on. */
  binary: z.boolean(),
});
const RefusedSchema = z.object({ type: z.literal('refused'), code: z.string().max(64), message: z.string().max(4096) });
const SetTasksSchema = z.object({ type: z.literal('set_tasks'), id: requestId, tasks: z.array(z.unknown()).min(1).max(MAX_COPIES) });
// Any safe integer: copies are seeded with deriveSeed(seed, i), which takes it modulo 2^32 itself.
const ResetSchema = z.object({ type: z.literal('reset'), id: requestId, seed: z.number().int().optional() });
const StepSchema = z.object({ type: z.literal('step'), id: requestId, actions: z.array(z.number()).min(1).max(MAX_COPIES * MAX_SPACE_SIZE) });
const StopSchema = z.object({ type: z.literal('stop'), id: requestId });
const CloseSchema = z.object({ type: z.literal('close') });

export const SimMessageSchema = z.discriminatedUnion('type', [HelloSchema, AuthSchema, OkSchema, ObsSchema, StepResultSchema, ErrorSchema]);
export const AgentMessageSchema = z.discriminatedUnion('type', [WelcomeSchema, AuthSchema, RefusedSchema, SetTasksSchema, ResetSchema, StepSchema, StopSchema, CloseSchema]);

export type Hello = z.infer<typeof HelloSchema>;
export type SimMessage = z.infer<typeof SimMessageSchema>;
export type AgentMessage = z.infer<typeof AgentMessageSchema>;
export type Welcome = z.infer<typeof WelcomeSchema>;

const SIM_TYPES = ['hello', 'auth', 'ok', 'obs', 'step_result', 'error'];
const AGENT_TYPES = ['welcome', 'auth', 'refused', 'set_tasks', 'reset', 'step', 'stop', 'close'];

/** Why a message was refused; `id` when the message carried a usable request id. */
export interface ParseFailure {
  ok: false;
  code: ErrorCode;
  reason: string;
  id?: number;
}
export type ParseResult<M> = { ok: true; msg: M } | ParseFailure;

/** Byte length of a text or binary message as ws hands it over. */
export function messageBytes(data: string | Uint8Array | ArrayBuffer | readonly Uint8Array[]): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (Array.isArray(data)) return data.reduce((a, b) => a + b.byteLength, 0);
  return (data as Uint8Array | ArrayBuffer).byteLength;
}

/** A request id found in a message that otherwise failed, so the refusal can be matched. */
function salvageId(raw: unknown): number | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const id = (raw as { id?: unknown }).id;
  return requestId.safeParse(id).success ? (id as number) : undefined;
}

/**
 * Parses one message; the reason of a failure quotes the peer (JSON.parse cites the text, a path
 * names its keys), so it is sanitized here, before it reaches an error message or a log.
 */
function parseWith<M>(schema: z.ZodType<M>, types: string[], from: string, text: string, maxBytes: number): ParseResult<M> {
  const r = parseUnsanitized(schema, types, from, text, maxBytes);
  return r.ok ? r : { ...r, reason: sanitizePeerText(r.reason, 1_000) };
}

function parseUnsanitized<M>(schema: z.ZodType<M>, types: string[], from: string, text: string, maxBytes: number): ParseResult<M> {
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) return { ok: false, code: 'too_large', reason: `message of ${bytes} bytes exceeds the limit of ${maxBytes}` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, code: 'bad_json', reason: `not JSON: ${(e as Error).message}` };
  }
  const id = salvageId(raw);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, code: 'bad_message', reason: `expected a JSON object, got ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}` };
  }
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string' || !types.includes(type)) {
    const shown = typeof type === 'string' ? `'${type.slice(0, 40)}'` : String(type);
    return { ok: false, code: 'unknown_type', reason: `unknown message type ${shown} from the ${from}; expected one of ${types.join(', ')}`, id };
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(message)';
    return { ok: false, code: 'bad_message', reason: `${type}.${path}: ${issue.message}`, id };
  }
  return { ok: true, msg: r.data };
}

/** Parses a text message sent by a simulator (what the agent receives). */
export function parseSimMessage(text: string, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): ParseResult<SimMessage> {
  return parseWith(SimMessageSchema as z.ZodType<SimMessage>, SIM_TYPES, 'simulator', text, maxBytes);
}

/** Parses a text message sent by an agent (what the simulator receives). */
export function parseAgentMessage(text: string, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): ParseResult<AgentMessage> {
  return parseWith(AgentMessageSchema as z.ZodType<AgentMessage>, AGENT_TYPES, 'agent', text, maxBytes);
}

/** A Box as JSON: ±Infinity bounds become "inf" / "-inf" (JSON has no infinities). */
export function boxToJson(box: Box): BoxJson {
  const enc = (x: number) => (x === Infinity ? 'inf' : x === -Infinity ? '-inf' : x);
  return { low: Array.from(box.low, enc), high: Array.from(box.high, enc), shape: [...box.shape] };
}

/** The Box a validated BoxJson describes; throws naming `where` if sizes or bounds disagree. */
export function boxFromJson(json: BoxJson, where: string): Box {
  const dec = (x: number | string) => (x === 'inf' ? Infinity : x === '-inf' ? -Infinity : (x as number));
  const size = json.shape.reduce((a, b) => a * b, 1);
  if (size > MAX_SPACE_SIZE) throw new Error(`${where}: shape ${JSON.stringify(json.shape)} has ${size} entries, more than ${MAX_SPACE_SIZE}`);
  if (json.low.length !== size || json.high.length !== size) {
    throw new Error(`${where}: shape ${JSON.stringify(json.shape)} needs ${size} bounds, got ${json.low.length} low and ${json.high.length} high`);
  }
  const low = json.low.map(dec);
  const high = json.high.map(dec);
  const bad = low.findIndex((l, i) => !(l <= high[i]));
  if (bad >= 0) throw new Error(`${where}: low ≤ high fails at entry ${bad} (${json.low[bad]} > ${json.high[bad]})`);
  return new Box(low, high, json.shape);
}

/** A JSON float array (null = NaN/±Infinity on the sender's side) as Float32Array. */
export function floatsFromJson(xs: readonly (number | null)[]): Float32Array {
  const out = new Float32Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = xs[i] === null ? NaN : (xs[i] as number);
  return out;
}

/** Serialises a message (typed arrays must already be plain arrays). */
export function encodeMessage(msg: SimMessage | AgentMessage): string {
  return JSON.stringify(msg);
}

/** A close reason that fits the WebSocket limit of 123 bytes (ws throws on longer ones). */
export function closeReason(text: string): string {
  let s = text.slice(0, 123);
  while (Buffer.byteLength(s) > 123) s = s.slice(0, -1);
  return s;
}
