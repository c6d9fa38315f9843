/**
 * Binary frames of `metarl-bridge/1` for the hot path (step requests, step results, reset
 * observations), used when both sides agreed on `binary: true` in hello/welcome. Layout (all
 * little-endian; docs/bridge-protocol.md has the byte table):
 *
 *   0  magic "MRLB" (4 bytes)   4  version u8 (1)   5  kind u8   6  reserved u16 (0)
 *   8  id u32                   12 n u16 (copies)   14 dim u16 (row width)
 *   16 payload:
 *      kind 1 step:        actions f32[n·dim]
 *      kind 2 step_result: obs f32[n·dim], reward f32[n], terminated u8[n], truncated u8[n]
 *      kind 3 obs:         obs f32[n·dim]            (the answer to a reset)
 *
 * Decoding checks every header field and that the frame length is exactly what n and dim imply,
 * so a truncated or padded frame is refused rather than read past its end.
 */
import type { VectorStepResult } from '../core/env.ts';

export const FRAME_MAGIC = 0x424c524d; // "MRLB" read as a little-endian u32
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 16;
export const FRAME_KINDS = { step: 1, step_result: 2, obs: 3 } as const;
export type FrameKind = keyof typeof FRAME_KINDS;

export type Frame =
  | { kind: 'step'; id: number; n: number; dim: number; actions: Float32Array }
  | { kind: 'obs'; id: number; n: number; dim: number; obs: Float32Array }
  | ({ kind: 'step_result'; id: number; n: number; dim: number } & VectorStepResult);

export type FrameResult = { ok: true; frame: Frame } | { ok: false; reason: string; id?: number };

/** Payload bytes after the header for a frame of this kind. */
export function framePayloadBytes(kind: FrameKind, n: number, dim: number): number {
  return kind === 'step_result' ? 4 * n * dim + 4 * n + 2 * n : 4 * n * dim;
}

function header(kind: FrameKind, id: number, n: number, dim: number): { bytes: Uint8Array; view: DataView } {
  if (!(Number.isInteger(id) && id >= 1 && id <= 0xffff_ffff)) throw new Error(`frame: id must be an integer in [1, 2^32), got ${id}`);
  if (!(Number.isInteger(n) && n >= 1 && n <= 0xffff)) throw new Error(`frame: n must be an integer in [1, 65535], got ${n}`);
  if (!(Number.isInteger(dim) && dim >= 1 && dim <= 0xffff)) throw new Error(`frame: dim must be an integer in [1, 65535], got ${dim}`);
  const bytes = new Uint8Array(FRAME_HEADER_BYTES + framePayloadBytes(kind, n, dim));
  const view = new DataView(bytes.buffer);
  view.setUint32(0, FRAME_MAGIC, true);
  view.setUint8(4, FRAME_VERSION);
  view.setUint8(5, FRAME_KINDS[kind]);
  view.setUint16(6, 0, true);
  view.setUint32(8, id, true);
  view.setUint16(12, n, true);
  view.setUint16(14, dim, true);
  return { bytes, view };
}

function writeF32(view: DataView, at: number, xs: ArrayLike<number>): number {
  for (let i = 0; i < xs.length; i++) view.setFloat32(at + 4 * i, xs[i], true);
  return at + 4 * xs.length;
}

function readF32(view: DataView, at: number, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(at + 4 * i, true);
  return out;
}

function checkLength(what: string, xs: ArrayLike<number>, expected: number): void {
  if (xs.length !== expected) throw new Error(`frame: ${what} has ${xs.length} entries, expected ${expected}`);
}

/** A step request: n rows of dim actions. */
export function encodeStepFrame(id: number, actions: Float32Array, n: number, dim: number): Uint8Array {
  checkLength('actions', actions, n * dim);
  const { bytes, view } = header('step', id, n, dim);
  writeF32(view, FRAME_HEADER_BYTES, actions);
  return bytes;
}

/** A reset answer: n rows of dim observations. */
export function encodeObsFrame(id: number, obs: Float32Array, n: number, dim: number): Uint8Array {
  checkLength('obs', obs, n * dim);
  const { bytes, view } = header('obs', id, n, dim);
  writeF32(view, FRAME_HEADER_BYTES, obs);
  return bytes;
}

/** A step answer: observations (n × dim), rewards and the two flag rows (0/1 bytes). */
export function encodeStepResultFrame(id: number, r: VectorStepResult, n: number, dim: number): Uint8Array {
  checkLength('obs', r.obs, n * dim);
  checkLength('reward', r.reward, n);
  checkLength('terminated', r.terminated, n);
  checkLength('truncated', r.truncated, n);
  const { bytes, view } = header('step_result', id, n, dim);
  const flagsAt = writeF32(view, writeF32(view, FRAME_HEADER_BYTES, r.obs), r.reward);
  for (let i = 0; i < n; i++) {
    bytes[flagsAt + i] = r.terminated[i] ? 1 : 0;
    bytes[flagsAt + n + i] = r.truncated[i] ? 1 : 0;
  }
  return bytes;
}

const KIND_BY_CODE: Record<number, FrameKind | undefined> = { 1: 'step', 2: 'step_result', 3: 'obs' };

/** Decodes and checks one binary frame; never throws, never reads outside `data`. */
export function decodeFrame(data: Uint8Array, maxBytes = Infinity): FrameResult {
  if (data.byteLength > maxBytes) return { ok: false, reason: `frame of ${data.byteLength} bytes exceeds the limit of ${maxBytes}` };
  if (data.byteLength < FRAME_HEADER_BYTES) return { ok: false, reason: `frame of ${data.byteLength} bytes is shorter than the ${FRAME_HEADER_BYTES}-byte header` };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint32(0, true) !== FRAME_MAGIC) return { ok: false, reason: 'frame does not start with the magic "MRLB"' };
  const id = view.getUint32(8, true);
  const withId = (reason: string): FrameResult => (id >= 1 ? { ok: false, reason, id } : { ok: false, reason });
  const version = view.getUint8(4);
  if (version !== FRAME_VERSION) return withId(`frame version ${version} is not ${FRAME_VERSION}`);
  const kind = KIND_BY_CODE[view.getUint8(5)];
  if (kind === undefined) return withId(`unknown frame kind ${view.getUint8(5)} (1 step, 2 step_result, 3 obs)`);
  if (view.getUint16(6, true) !== 0) return withId('reserved header bytes 6–7 are not zero');
  if (id === 0) return { ok: false, reason: 'frame id 0 is not a valid request id' };
  const n = view.getUint16(12, true);
  const dim = view.getUint16(14, true);
  if (n === 0 || dim === 0) return withId(`frame has n = ${n} and dim = ${dim}; both must be at least 1`);
  const expected = FRAME_HEADER_BYTES + framePayloadBytes(kind, n, dim);
  if (data.byteLength !== expected) return withId(`${kind} frame for n = ${n}, dim = ${dim} must be ${expected} bytes, got ${data.byteLength}`);
  const rows = readF32(view, FRAME_HEADER_BYTES, n * dim);
  if (kind === 'step') return { ok: true, frame: { kind, id, n, dim, actions: rows } };
  if (kind === 'obs') return { ok: true, frame: { kind, id, n, dim, obs: rows } };
  const rewardAt = FRAME_HEADER_BYTES + 4 * n * dim;
  const reward = readF32(view, rewardAt, n);
  const flagsAt = rewardAt + 4 * n;
  const terminated = data.slice(flagsAt, flagsAt + n);
  const truncated = data.slice(flagsAt + n, flagsAt + 2 * n);
  for (let i = 0; i < n; i++) {
    if (terminated[i] > 1 || truncated[i] > 1) return withId(`flag bytes must be 0 or 1; copy ${i} has terminated ${terminated[i]}, truncated ${truncated[i]}`);
  }
  return { ok: true, frame: { kind, id, n, dim, obs: rows, reward, terminated: new Uint8Array(terminated), truncated: new Uint8Array(truncated) } };
}
