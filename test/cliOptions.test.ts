/** The command line a user expects: --version, --set, --print-config, the run folder on stdout, plain errors with full field paths. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseSetting, resolveConfig } from '../src/io/config.ts';

const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8', timeout: 120_000 });
const lastError = (r: ReturnType<typeof cli>) => r.stderr.trim().split('\n').at(-1);

describe('metarl command line', () => {
  it('--version prints the package version', () => {
    const r = cli('--version');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  it('--set (nested keys, YAML values) and --print-config give valid --config input', () => {
    const r = cli('train', '--preset', 'paper', '--set', 'fastLr=0.05', '--set', 'bridge.port=9000', '--set', 'hidden=[32, 16]', '--print-config');
    expect(r.status).toBe(0);
    const printed = parseYaml(r.stdout);
    expect(printed).toEqual(resolveConfig('paper', { fastLr: 0.05, bridge: { port: 9000 }, hidden: [32, 16] }));
    expect(resolveConfig('pytorch-maml-rl', printed)).toEqual(printed);
  });

  it.each([
    [['--set', 'bridge.prot=9'], /^error: bridge\.prot: unknown field; allowed in bridge: host, port, token/],
    [['--set', 'seed=1.5'], /^error: seed: expected a whole number, got 1\.5$/],
    [['--set', 'activation=sigmoid'], /^error: activation: invalid value "sigmoid"; allowed: tanh, relu$/],
    [['--set', 'fastLr'], /^error: --set: expected key=value/],
    [['--set', 'maxKl=-1'], /^error: maxKl: must be > 0, got -1$/],
  ])('%j exits 2 with one plain line naming the full field path', (args, message) => {
    const r = cli('train', ...args, '--print-config');
    expect(r.status).toBe(2);
    expect(lastError(r)).toMatch(message);
  });

  it('train prints the run folder, and only that, on stdout', () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-stdout-'));
    const r = cli('train', '--preset', 'quick', '--num-batches', '1', '--set', 'metaBatchSize=2', '--set', 'episodesPerTask=2', '--backend', 'wasm', '--out', out);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0].startsWith(out)).toBe(true);
    expect(existsSync(join(lines[0], 'checkpoint.json'))).toBe(true);
  });

  it('parseSetting builds nested objects and refuses a bad path', () => {
    expect(parseSetting('bridge.port=9000', parseSetting('hidden=[8]'))).toEqual({ hidden: [8], bridge: { port: 9000 } });
    expect(() => parseSetting('a..b=1')).toThrow(/^--set: 'a\.\.b' is not a field path/);
  });
});
