/**
 * A training run's logs: TensorBoard event files decoded with TensorFlow's own protobuf schema
 * (TFRecord framing and masked CRC-32C checked byte by byte), the CSV beside the JSONL, and a
 * resumed run that leaves no duplicate step and carries its totals on.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { maskedCrc32c, TfEventsWriter } from '../src/io/tfevents.ts';
import { RunLogs } from '../src/io/runLogs.ts';
import { resolveConfig } from '../src/io/config.ts';
import { train } from '../src/experiments/train.ts';

// tensorflow/core/util/event.proto and framework/summary.proto, the fields we write.
const SCHEMA = `
syntax = "proto3";
package tensorflow;
message Event { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3; bytes graph_def = 4; Summary summary = 5; } }
message Summary { message Value { string node_name = 7; string tag = 1; oneof value { float simple_value = 2; bytes image = 4; } } repeated Value value = 1; }
`;
const Event = protobuf.parse(SCHEMA).root.lookupType('tensorflow.Event');

interface DecodedEvent {
  wallTime: number;
  step?: number;
  fileVersion?: string;
  summary?: { value: { tag: string; simpleValue: number }[] };
}

/** Every record of an event file, its two CRCs checked, decoded as tensorflow.Event. */
function readEvents(path: string): DecodedEvent[] {
  const buf = readFileSync(path);
  const out: DecodedEvent[] = [];
  let at = 0;
  while (at < buf.length) {
    const len = Number(buf.readBigUInt64LE(at));
    expect(buf.readUInt32LE(at + 8)).toBe(maskedCrc32c(buf.subarray(at, at + 8)));
    const data = buf.subarray(at + 12, at + 12 + len);
    expect(buf.readUInt32LE(at + 12 + len)).toBe(maskedCrc32c(data));
    const e = Event.toObject(Event.decode(data), { longs: Number }) as DecodedEvent;
    out.push(e);
    at += 12 + len + 4;
  }
  expect(at).toBe(buf.length);
  return out;
}

const tbFiles = (dir: string) => readdirSync(join(dir, 'tb')).filter((f) => f.startsWith('events.out.tfevents.'));

describe('TensorBoard event files', () => {
  it('masks CRC-32C as TFRecord does (CRC-32C of "123456789" is 0xe3069283)', () => {
    const c = 0xe3069283;
    expect(maskedCrc32c(new TextEncoder().encode('123456789'))).toBe((((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0);
  });

  it('writes a file version, then one event per step with a simple_value per scalar', () => {
    const dir = mkdtempSync(join(tmpdir(), 'metarl-tb-'));
    const w = new TfEventsWriter(dir, 1_700_000_000.5);
    w.scalars(4000, { 'charts/return_after': -12.5, 'losses/kl': 0.0075, skipped: NaN }, 1_700_000_001);
    w.scalars(8000, { 'charts/return_after': -9.25 }, 1_700_000_002);
    const [first, ...rest] = readEvents(w.path);
    expect(first).toMatchObject({ wallTime: 1_700_000_000.5, fileVersion: 'brain.Event:2' });
    expect(rest.map((e) => e.step)).toEqual([4000, 8000]);
    expect(rest[0].wallTime).toBe(1_700_000_001);
    expect(rest[0].summary!.value.map((v) => v.tag)).toEqual(['charts/return_after', 'losses/kl']);
    expect(rest[0].summary!.value[0].simpleValue).toBe(-12.5);
    expect(rest[0].summary!.value[1].simpleValue).toBeCloseTo(0.0075, 7);
    expect(w.path).toMatch(/events\.out\.tfevents\.1700000000\./);
  });
});

describe('run logs', () => {
  it('keeps metrics.csv and the event file in step with metrics.jsonl, also when records are dropped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'metarl-logs-'));
    const logs = new RunLogs(dir);
    for (let b = 0; b < 3; b++) logs.append({ batch: b, 'charts/env_steps_total': 100 * (b + 1), 'charts/return_after': -b, 'losses/accepted': b !== 1 });
    expect(readFileSync(join(dir, 'metrics.csv'), 'utf8')).toBe('batch,charts/env_steps_total,charts/return_after,losses/accepted\r\n0,100,0,true\r\n1,200,-1,false\r\n2,300,-2,true\r\n');
    const reopened = new RunLogs(dir, (r) => (r.batch as number) < 2);
    expect(reopened.last()!.batch).toBe(1);
    expect(tbFiles(dir)).toHaveLength(1);
    const events = readEvents(join(dir, 'tb', tbFiles(dir)[0]));
    expect(events.slice(1).map((e) => e.step)).toEqual([100, 200]);
    expect(events[2].summary!.value.find((v) => v.tag === 'losses/accepted')!.simpleValue).toBe(0);
    expect(readFileSync(join(dir, 'metrics.csv'), 'utf8').split('\r\n')).toHaveLength(4); // header, 2 rows, ''
  });

  it('a training run logs cumulative env steps and wall time; a resume continues them with no duplicate step', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-logs-train-'));
    const cfg = resolveConfig('quick', { metaBatchSize: 2, episodesPerTask: 2, horizon: 20, numBatches: 3, checkpointEvery: 1, out });
    let calls = 0;
    const part = await train(cfg, { backend: 'wasm', shouldStop: () => calls++ >= 2 });
    const resumed = await train(cfg, { backend: 'wasm', resumeDir: part.runDir });
    expect(resumed.batchesDone).toBe(3);
    const records = readFileSync(join(part.runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const perBatch = 2 * 2 * 20 * 2; // tasks × episodes × horizon × (inner + validation sampling)
    expect(records.map((r) => r['charts/env_steps_total'])).toEqual([perBatch, 2 * perBatch, 3 * perBatch]);
    const wall = records.map((r) => r['time/wall_s']);
    expect(wall[1]).toBeGreaterThan(wall[0]);
    expect(wall[2]).toBeGreaterThan(wall[1]);
    const events = readEvents(join(part.runDir, 'tb', tbFiles(part.runDir)[0]));
    expect(events.slice(1).map((e) => e.step)).toEqual([perBatch, 2 * perBatch, 3 * perBatch]);
    expect(readFileSync(join(part.runDir, 'metrics.csv'), 'utf8').trim().split('\r\n')).toHaveLength(4);
  });
});
