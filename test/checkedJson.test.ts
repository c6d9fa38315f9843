/**
 * checkpoint.json and state.json are refused, with one line naming the file and field, when they
 * are cut, edited or hold values no run writes: string or negative or fractional counters, null
 * parameters, an all-zero generator state. Files of the version before checksums still load.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHECKPOINT_FILE, loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint.ts';
import { resolveConfig } from '../src/io/config.ts';
import { ConfigError } from '../src/core/errors.ts';
import { Rng } from '../src/core/rng.ts';
import { STATE_FILE, loadState, saveState } from '../src/continual/state.ts';
import { CONTINUAL_DEFAULTS, validateContinual } from '../src/continual/config.ts';

const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

/** A checkpoint folder; returns a function that rewrites its payload (with a valid checksum unless told). */
function checkpointDir() {
  const dir = mkdtempSync(join(tmpdir(), 'metarl-ck-'));
  saveCheckpoint(dir, { batch: 3, theta: Float32Array.of(0.5, -1, 2), rng: new Rng(7).getState(), config: resolveConfig('pytorch-maml-rl'), backend: 'wasm' });
  const path = join(dir, CHECKPOINT_FILE);
  const payload = () => {
    const { checksum: _c, ...rest } = JSON.parse(readFileSync(path, 'utf8'));
    return rest as Record<string, unknown>;
  };
  const rewrite = (p: Record<string, unknown>, { checksum = true } = {}) => {
    const text = JSON.stringify(p);
    writeFileSync(path, checksum ? `${text.slice(0, -1)},"checksum":"${sha(text)}"}` : text);
  };
  return { dir, path, payload, rewrite };
}

const failure = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
};

describe('checkpoint.json: checksum and schema', () => {
  it('round-trips, and refuses a file changed after it was written', () => {
    const c = checkpointDir();
    expect(Array.from(loadCheckpoint(c.dir).theta)).toEqual([0.5, -1, 2]);
    writeFileSync(c.path, readFileSync(c.path, 'utf8').replace('"batch":3', '"batch":4'));
    const e = failure(() => loadCheckpoint(c.dir));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toMatch(/^--resume: .*checkpoint\.json fails its checksum/);
    writeFileSync(c.path, readFileSync(c.path, 'utf8').slice(0, 40)); // cut
    expect(failure(() => loadCheckpoint(c.dir)).message).toMatch(/^--resume: cannot read .*checkpoint\.json/);
  });

  it.each([
    ['batch', '1', /batch: expected number/],
    ['batch', -1, /batch: expected a whole number ≥ 0/],
    ['batch', 1.5, /batch: expected a whole number/],
    ['theta', [0.5, null, 2], /theta\.1: expected number/],
    ['theta', [true, 1, 2], /theta\.0: expected number/],
    ['rng', [0, 0, 0, 0], /rng: an all-zero generator state is invalid/],
    ['rng', [1, 2, 3], /rng: /],
    ['extra', 1, /unrecognized key/i],
  ])('refuses %s = %j (with a valid checksum), naming the field', (key, value, message) => {
    const c = checkpointDir();
    c.rewrite({ ...c.payload(), [key]: value });
    const e = failure(() => loadCheckpoint(c.dir, '--run'));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toMatch(/^--run: .*checkpoint\.json: /);
    expect(e.message).toMatch(message);
  });

  it('loads a version-1 file (no checksum) with the same schema; a version-2 file needs its checksum', () => {
    const c = checkpointDir();
    c.rewrite({ ...c.payload(), version: 1 }, { checksum: false });
    expect(loadCheckpoint(c.dir).batch).toBe(3);
    c.rewrite({ ...c.payload(), version: 1, batch: '1' }, { checksum: false });
    expect(failure(() => loadCheckpoint(c.dir)).message).toMatch(/batch: expected number/);
    c.rewrite({ ...c.payload(), version: 2, batch: 3 }, { checksum: false });
    expect(failure(() => loadCheckpoint(c.dir)).message).toMatch(/has no checksum/);
    c.rewrite({ ...c.payload(), version: 7 });
    expect(failure(() => loadCheckpoint(c.dir)).message).toMatch(/has version 7; this metarl reads versions 1 and 2/);
  });
});

describe('state.json: checksum and schema', () => {
  const state = () => {
    const dir = mkdtempSync(join(tmpdir(), 'metarl-state-'));
    const run = { method: 'online', seed: 1, R: [[1]], b: [0], random: [0], oracle: [1], returnsBefore: [0], returnsAfter: [[1]] };
    saveState(dir, {
      config: resolveConfig('pytorch-maml-rl'),
      continual: validateContinual({ ...CONTINUAL_DEFAULTS }),
      backend: 'wasm',
      theta0: null,
      tasks: [{ goal: [0, 0] }],
      done: [],
      progress: { seed: 1, refs: { b: [0], random: [0] }, finished: [], current: { method: 'online', next: 1, theta: Float32Array.of(1, 2), rng: new Rng(1).getState(), memoryRng: new Rng(2).getState(), memory: null, run } },
    });
    return join(dir, STATE_FILE);
  };

  it('round-trips, and refuses a negative counter or a changed file', () => {
    const path = state();
    const dir = join(path, '..');
    expect(loadState(dir).progress!.current!.next).toBe(1);
    const { checksum: _c, ...p } = JSON.parse(readFileSync(path, 'utf8'));
    p.progress.current.next = -2;
    const text = JSON.stringify(p);
    writeFileSync(path, `${text.slice(0, -1)},"checksum":"${sha(text)}"}`);
    expect(failure(() => loadState(dir)).message).toMatch(/^--resume: .*state\.json: progress\.current\.next: expected a whole number ≥ 0/);
    writeFileSync(path, `${text.slice(0, -1)},"checksum":"${sha('x')}"}`);
    expect(failure(() => loadState(dir)).message).toMatch(/fails its checksum/);
  });
});
