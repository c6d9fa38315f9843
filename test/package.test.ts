/**
 * The npm package as a user gets it: `npm pack` of a copy of the project, `npm install` of the
 * tarball in an empty folder, then examples/custom-env (a TypeScript user env and a script that
 * imports `train` and `evaluate` from 'metarl') type-checks with `tsc --noEmit` and trains for two
 * meta-batches, and the installed `metarl` command answers. Packages come from npm's cache
 * (filled by the project's own install) where it has them.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve('.');
const PACKAGE_FILES = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs', 'src', 'envs', 'agents', 'bin', 'docs', 'examples', 'README.md', 'LICENSE'];
const version = (pkg: string) => (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
const npm = (args: string[], cwd: string) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', timeout: 240_000 });

describe('npm package', () => {
  it('packs, installs into an empty folder, type-checks and trains the custom-env example, and runs the metarl command', () => {
    // Pack a copy, so that the build (`prepare`) never touches this checkout's dist/.
    const copy = mkdtempSync(join(tmpdir(), 'metarl-pack-src-'));
    for (const f of PACKAGE_FILES) cpSync(join(root, f), join(copy, f), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
    const dest = mkdtempSync(join(tmpdir(), 'metarl-pack-'));
    npm(['pack', '--pack-destination', dest], copy);
    const tarball = readdirSync(dest).find((f) => /^metarl-.*\.tgz$/.test(f));
    expect(tarball).toBeDefined();
    const listing = execFileSync('tar', ['tzf', join(dest, tarball!)], { encoding: 'utf8' }).split('\n');
    expect(listing).toContain('package/dist/src/index.js');
    expect(listing).toContain('package/dist/src/index.d.ts');
    expect(listing).toContain('package/dist/src/experiments/samplerWorker.js');
    expect(listing.filter((f) => /^package\/(test|scripts|src|envs|agents)\//.test(f))).toEqual([]);

    const user = mkdtempSync(join(tmpdir(), 'metarl-user-'));
    writeFileSync(join(user, 'package.json'), JSON.stringify({ name: 'my-experiment', private: true, type: 'module' }));
    npm(['install', '--prefer-offline', join(dest, tarball!), `@types/node@${version('@types/node')}`, `typescript@${version('typescript')}`], user);
    cpSync(join(user, 'node_modules/metarl/examples/custom-env'), user, { recursive: true });

    const tsc = spawnSync(join(user, 'node_modules/.bin/tsc'), ['--noEmit', '-p', '.'], { cwd: user, encoding: 'utf8', timeout: 120_000 });
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);

    const run = spawnSync(join(user, 'node_modules/.bin/tsx'), ['train.ts', '2'], { cwd: user, encoding: 'utf8', timeout: 180_000 });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { runDir: string; batches: number; meanReturnAfterSteps: number[] };
    expect(result.batches).toBe(2);
    expect(result.meanReturnAfterSteps).toHaveLength(3);
    expect(result.meanReturnAfterSteps.every(Number.isFinite)).toBe(true);
    expect(readFileSync(join(user, result.runDir, 'config.yaml'), 'utf8')).toMatch(/envModule: .*point-mass\.ts/);

    const metarl = join(user, 'node_modules/.bin/metarl');
    const help = spawnSync(metarl, ['--help'], { cwd: user, encoding: 'utf8', timeout: 60_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/train \[options\]/);
    // The installed command trains the user's env from its module, with sampling workers (compiled workers load the .ts module through tsx).
    const cliRun = spawnSync(metarl, ['train', '--env-module', 'point-mass.ts', '--env', 'point-mass', '--preset', 'quick', '--num-batches', '1', '--workers', '2', '--backend', 'wasm'], { cwd: user, encoding: 'utf8', timeout: 120_000 });
    expect(cliRun.status, cliRun.stderr).toBe(0);
    expect(cliRun.stdout.trim()).toMatch(/^runs\/point-mass__maml-trpo__1__/);
  }, 400_000);
});
