#!/usr/bin/env node
// The `metarl` command. An installed package runs its compiled JavaScript (dist/). A checkout runs
// dist/ while it is newer than every source file (`npm run build`, also run by npm install), and
// otherwise the TypeScript sources through tsx, so that an edit is never hidden by a stale build.
// METARL_SOURCES=1 forces the sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist/.built');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (/\.[cm]?ts$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function useDist() {
  if (!existsSync(built)) return false;
  const sources = ['src', 'envs', 'agents'].map((d) => join(root, d)).filter((d) => existsSync(d));
  if (sources.length === 0) return true; // an installed package ships dist/ only
  if (process.env.METARL_SOURCES === '1') return false;
  const stamp = statSync(built).mtimeMs;
  return sources.every((d) => newestSource(d) <= stamp);
}

let main;
if (useDist()) {
  ({ main } = await import('../dist/src/cli.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli.ts'));
}
process.exit(await main(process.argv.slice(2)));
