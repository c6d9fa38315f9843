/**
 * Secrets of a run (the bridge token): where they come from — a file, the environment, or, with a
 * warning, the command line, which every user of the machine can read in the process list — and
 * their removal from everything written to disk.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../core/errors.ts';

/**
 * The config as it may be written to disk (config.yaml, checkpoint.json, state.json): secrets
 * removed. A run that needs its token gets it again from METARL_TOKEN or --token-file.
 */
export function withoutSecrets<T extends { bridge?: unknown }>(cfg: T): T {
  const bridge = cfg.bridge as Record<string, unknown> | undefined;
  if (!bridge || bridge.token === undefined) return cfg;
  const { token: _secret, ...rest } = bridge;
  return { ...cfg, bridge: rest };
}

/**
 * The bridge token from, in order, `--token-file` (first line of the file), the METARL_TOKEN
 * environment variable, or `--token` (visible to every user in the process list: warned about).
 */
export function readToken(o: { tokenFile?: string; token?: string; warn?: (line: string) => void }): string | undefined {
  if (o.tokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(o.tokenFile, 'utf8');
    } catch (e) {
      throw new ConfigError('--token-file', `cannot read ${o.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const token = text.split(/\r?\n/)[0].trim();
    if (token === '') throw new ConfigError('--token-file', `${o.tokenFile} is empty; put the shared secret on its first line`);
    return token;
  }
  if (o.token !== undefined) {
    o.warn?.('warning: --token is visible to every user in the process list; prefer --token-file FILE or the METARL_TOKEN environment variable');
    return o.token;
  }
  const env = process.env.METARL_TOKEN;
  return env !== undefined && env !== '' ? env : undefined;
}
