/** Absurd local sizes fail at once with one line naming the field, before anything is allocated. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSizes } from '../src/experiments/budget.ts';
import { resolveConfig } from '../src/io/config.ts';

describe('size budget', () => {
  const GiB = 2 ** 30;
  it.each([
    [{ hidden: [30000, 30000] }, /^hidden: \[30000, 30000\] gives 9\.\d+e\+8 parameters; allowed up to 2e\+7/],
    [{ hidden: [2000, 2000], metaBatchSize: 500 }, /^hidden: .*metaBatchSize 500 needs about [\d.]+ GiB of parameter copies; allowed 1\.0 GiB/],
    [{ episodesPerTask: 100_000_000 }, /^episodesPerTask: metaBatchSize 20 × episodesPerTask 100000000 episodes of horizon 100 need about [\d.]+ TiB/],
    [{ workers: 100_000 }, /^workers: 100000 threads on \d+ cores; allowed up to \d+/],
  ])('%j', (patch, message) => {
    const cfg = resolveConfig('pytorch-maml-rl', patch);
    expect(() => checkSizes(cfg, 2, 2, GiB)).toThrow(message);
  });

  it('the presets fit', () => {
    for (const [preset, env] of [['paper', 'cheetah-velocity'], ['pytorch-maml-rl', 'navigation'], ['paper', 'cheetah-direction']] as const) {
      const cfg = resolveConfig(preset, { env });
      expect(() => checkSizes(cfg, 20, 6, 4 * GiB)).not.toThrow();
    }
  });

  it('metarl train refuses them in well under a second of its own work (exit 2, one line)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'metarl-budget-'));
    writeFileSync(join(dir, 'big.yaml'), 'episodesPerTask: 100000000\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'train', '--config', join(dir, 'big.yaml'), '--out', dir], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^error: episodesPerTask: metaBatchSize 20 × episodesPerTask 100000000/);
  });
});
