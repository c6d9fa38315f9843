/** The command line a user expects: --version, --set, --print-config, the run folder on stdout, plain errors with full field paths. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readConfigFile, resolveConfig } from '../src/io/config.ts';
import { parseSetting } from '../src/io/configCli.ts';
import { parseRosConfig } from '../src/bridge/rosConfig.ts';

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
    expect(r.stderr).toMatch(/^meta-training 1\/1: return before -?\d+\.\d after -?\d+\.\d \(\d+\.\d s, ETA 0s\)$/m);
    expect(r.stderr).not.toContain('\r'); // a log file gets plain lines
    expect(existsSync(join(lines[0], 'checkpoint.json'))).toBe(true);
  });

  it('--help lists each field with its type, allowed values and default', () => {
    const r = cli('train', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ {2}activation +tanh\|relu +hidden activation of the policy MLP \[default tanh\]$/m);
    expect(r.stdout).toMatch(/^ {2}metaBatchSize +whole number +tasks per meta-batch \[default 20\]$/m);
    expect(r.stdout).toMatch(/^ {2}hidden +list of whole numbers .*\[default \[64,64\]\]$/m);
    expect(r.stdout).toMatch(/--env-module <file>/);
  });

  it('--help, --version and config errors answer without loading tfjs or the training code', () => {
    const probe = (args: string[]) => {
      const code = `const { main } = await import('./src/cli.ts'); const rc = await main(${JSON.stringify(args)}); process.stdout.write('\\n' + JSON.stringify({ rc, tf: '_tfengine' in globalThis }));`;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { rc: number; tf: boolean };
    };
    expect(probe(['--help'])).toEqual({ rc: 0, tf: false });
    expect(probe(['train', '--help'])).toEqual({ rc: 0, tf: false });
    expect(probe(['--version'])).toEqual({ rc: 0, tf: false });
    expect(probe(['train', '--set', 'seed=1.5'])).toEqual({ rc: 2, tf: false });
    expect(probe(['eval', '--run', '/no/such/run'])).toEqual({ rc: 2, tf: false });
  });

  it('one YAML file holds the training fields, a continual: section and a robot: section (either key spelling)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'metarl-onefile-'));
    const file = join(dir, 'all.yaml');
    const robot = readConfigFile('examples/diff-drive.yaml');
    // The robot section in camelCase, as the rest of the file.
    const camel = { ...robot, rateHz: robot.rate_hz, maxEpisodeSteps: robot.max_episode_steps, triggerTopic: robot.trigger_topic, action: { ...(robot.action as object), stopAction: (robot.action as { stop_action: unknown }).stop_action } };
    for (const k of ['rate_hz', 'max_episode_steps', 'trigger_topic']) delete (camel as Record<string, unknown>)[k];
    delete (camel.action as Record<string, unknown>).stop_action;
    writeFileSync(file, JSON.stringify({ env: 'ros', fastLr: 0.05, continual: { schedule: 'drift', tasks: 7 }, robot: camel }));
    const train = cli('train', '--config', file, '--print-config');
    expect(train.status, train.stderr).toBe(0);
    const printed = parseYaml(train.stdout);
    expect(printed.fastLr).toBe(0.05);
    expect(printed.continual).toBeUndefined();
    expect(parseRosConfig(printed.robot).config).toEqual(parseRosConfig(robot).config);
    const continual = cli('continual', '--config', file, '--print-config');
    expect(continual.status, continual.stderr).toBe(0);
    expect(parseYaml(continual.stdout)).toMatchObject({ env: 'ros', fastLr: 0.05, continual: { schedule: 'drift', tasks: 7 } });
    // A bad continual section fails train too, naming the field; both spellings of one key are refused.
    writeFileSync(file, JSON.stringify({ continual: { schedule: 'sometimes' } }));
    expect(lastError(cli('train', '--config', file, '--print-config'))).toMatch(/^error: schedule: invalid value; allowed: /);
    expect(() => parseRosConfig({ ...robot, rateHz: 5 })).toThrow(/^rate_hz: given twice, as rate_hz and rateHz; keep one$/);
  });

  it('--seeds runs one run per seed into one group folder, prints each, and plot draws the group', () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-seeds-'));
    const r = cli('train', '--preset', 'quick', '--seeds', '1-2', '--num-batches', '1', '--set', 'metaBatchSize=2', '--set', 'episodesPerTask=2', '--set', 'horizon=20', '--backend', 'wasm', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const runs = r.stdout.trim().split('\n');
    expect(runs).toHaveLength(2);
    expect(runs[0]).toMatch(/navigation__maml-trpo__seeds-1-2__\d{8}T\d{6}\/navigation__maml-trpo__1__/);
    expect(runs[1]).toMatch(/navigation__maml-trpo__seeds-1-2__\d{8}T\d{6}\/navigation__maml-trpo__2__/);
    const p = cli('plot', ...runs, '--out', join(out, 'figures'));
    expect(p.status, p.stderr).toBe(0);
    expect(existsSync(join(out, 'figures', 'training-returns.png'))).toBe(true);
    expect(lastError(cli('train', '--seeds', '1,1', '--print-config'))).toMatch(/^error: --seeds: repeated seed in '1,1'$/);
    expect(lastError(cli('train', '--seed', '3', '--seeds', '1,2'))).toMatch(/^error: --seeds: give --seed or --seeds, not both$/);
  });

  it('parseSetting builds nested objects and refuses a bad path', () => {
    expect(parseSetting('bridge.port=9000', parseSetting('hidden=[8]'))).toEqual({ hidden: [8], bridge: { port: 9000 } });
    expect(() => parseSetting('a..b=1')).toThrow(/^--set: 'a\.\.b' is not a field path/);
  });
});
