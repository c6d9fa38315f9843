/**
 * TensorBoard event files, written without TensorFlow. A file is a sequence of TFRecords,
 *
 *   uint64 length (little-endian) · uint32 masked_crc32c(length bytes) · data · uint32 masked_crc32c(data)
 *   masked(c) = ((c >>> 15) | (c << 17)) + 0xa282ead8   (mod 2^32; CRC-32C, Castagnoli)
 *
 * whose data are serialized `tensorflow.Event` messages (only the fields written here):
 *
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; }
 *
 * The first record carries file_version "brain.Event:2"; then one Event per step, with one Value
 * per scalar. Files are named events.out.tfevents.<unix seconds>.<host> (TensorBoard reads every
 * such file in a folder). Records are appended synchronously, so each is whole once written.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Crc32c } from '@aws-crypto/crc32c';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

const MASK_DELTA = 0xa282ead8;

function crc32c(bytes: Uint8Array): number {
  const c = new Crc32c();
  c.update(bytes);
  return c.digest();
}

/** TFRecord's masked CRC-32C. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return (((c >>> 15) | (c << 17)) + MASK_DELTA) >>> 0;
}

/** One TFRecord around `data`. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/** A serialized Event: wall time, step, and either a file version or scalar values. */
export function encodeEvent(e: { wallTime: number; step?: number; fileVersion?: string; scalars?: Record<string, number> }): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.Bit64).double(e.wallTime);
  if (e.step !== undefined) w.tag(2, WireType.Varint).int64(e.step);
  if (e.fileVersion !== undefined) w.tag(3, WireType.LengthDelimited).string(e.fileVersion);
  if (e.scalars !== undefined) {
    w.tag(5, WireType.LengthDelimited).fork();
    for (const [tag, value] of Object.entries(e.scalars)) {
      w.tag(1, WireType.LengthDelimited).fork();
      w.tag(1, WireType.LengthDelimited).string(tag);
      w.tag(2, WireType.Bit32).float(value);
      w.join();
    }
    w.join();
  }
  return w.finish();
}

/** Appends scalar summaries to one event file in `dir` (the folder must exist). */
export class TfEventsWriter {
  readonly path: string;

  constructor(dir: string, now = Date.now() / 1000) {
    this.path = join(dir, `events.out.tfevents.${Math.floor(now)}.${hostname().replace(/[^\w.-]/g, '_')}`);
    writeFileSync(this.path, tfRecord(encodeEvent({ wallTime: now, fileVersion: 'brain.Event:2' })));
  }

  /** One Event at `step` with a value per finite scalar (TensorBoard tags, e.g. `charts/return_after`). */
  scalars(step: number, values: Record<string, number>, wallTime = Date.now() / 1000): void {
    const finite = Object.fromEntries(Object.entries(values).filter(([, v]) => Number.isFinite(v)));
    appendFileSync(this.path, tfRecord(encodeEvent({ wallTime, step, scalars: finite })));
  }
}
