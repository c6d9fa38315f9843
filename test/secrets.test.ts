/** The bridge token never reaches the run folder or argv: read from a file or the environment, redacted on save. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readConfigFile, resolveConfig } from '../src/io/config.ts';
import { readToken } from '../src/io/secrets.ts';
import { train } from '../src/experiments/train.ts';
import { loadCheckpoint } from '../src/io/checkpoint.ts';

const SECRET = 's3cr3t-7f1d-token';

describe('secrets', () => {
  it('a run with a bridge token writes it nowhere in its folder; config.yaml says how to give it again', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-secret-'));
    const cfg = resolveConfig('quick', { numBatches: 1, metaBatchSize: 2, episodesPerTask: 2, horizon: 10, out, bridge: { token: SECRET } });
    expect(cfg.bridge.token).toBe(SECRET);
    const r = await train(cfg, { backend: 'wasm' });
    // Every file of the folder, sub-folders (tb/ event files) included.
    const files = readdirSync(r.runDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(files.map((e) => e.name)).toEqual(expect.arrayContaining(['config.yaml', 'metrics.csv']));
    for (const e of files) expect(readFileSync(join(e.parentPath, e.name)).toString('latin1'), e.name).not.toContain(SECRET);
    expect(readFileSync(join(r.runDir, 'config.yaml'), 'utf8')).toMatch(/# bridge\.token: not saved \(a secret\); give it again with --token-file FILE or METARL_TOKEN/);
    expect(loadCheckpoint(r.runDir).config.bridge.token).toBeUndefined();
    expect(resolveConfig('pytorch-maml-rl', readConfigFile(join(r.runDir, 'config.yaml'))).bridge.token).toBeUndefined();
  }, 30_000);

  it('reads the token from --token-file, else METARL_TOKEN; --token works with a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'metarl-tok-'));
    writeFileSync(join(dir, 'token'), `${SECRET}\n`);
    writeFileSync(join(dir, 'empty'), '\n');
    const before = process.env.METARL_TOKEN;
    try {
      process.env.METARL_TOKEN = 'from-env';
      expect(readToken({ tokenFile: join(dir, 'token') })).toBe(SECRET);
      expect(readToken({})).toBe('from-env');
      const warnings: string[] = [];
      expect(readToken({ token: 'on-argv', warn: (l) => warnings.push(l) })).toBe('on-argv');
      expect(warnings[0]).toMatch(/visible to every user in the process list/);
      delete process.env.METARL_TOKEN;
      expect(readToken({})).toBeUndefined();
      expect(() => readToken({ tokenFile: join(dir, 'empty') })).toThrow(/^--token-file: .* is empty/);
      expect(() => readToken({ tokenFile: join(dir, 'missing') })).toThrow(/^--token-file: cannot read .*ENOENT/);
    } finally {
      if (before === undefined) delete process.env.METARL_TOKEN;
      else process.env.METARL_TOKEN = before;
    }
  });
});
