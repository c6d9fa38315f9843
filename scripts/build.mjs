#!/usr/bin/env node
// Compiles the library and CLI to dist/ (JavaScript + .d.ts) for the npm package: `npm run build`,
// run by `prepare` (npm install in a checkout, npm pack). Plain Node, no shell: works everywhere.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
// Loader of TypeScript worker entries (a user's .ts worker URL); plain .mjs, not compiled.
mkdirSync(join(root, 'dist/src/streams'), { recursive: true });
copyFileSync(join(root, 'src/streams/tsWorkerBootstrap.mjs'), join(root, 'dist/src/streams/tsWorkerBootstrap.mjs'));
// bin/metarl.mjs runs dist/ only when it is newer than every source file (see there).
writeFileSync(join(root, 'dist/.built'), `${new Date().toISOString()}\n`);
