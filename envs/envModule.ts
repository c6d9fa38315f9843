/**
 * `--env-module ./my-env.ts` (config `envModule`): imports a user's module whose top level calls
 * `register()`, in the main thread and in every sampling worker. TypeScript modules load through
 * tsx (a dependency) when the process is not already running under it; the envs the module
 * registers are tagged with its URL so that worker threads can import it too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../src/core/errors.ts';
import { claimModule, envNames } from './registry.ts';

let tsxRegistered = false;

/** The module's file URL: a path is taken relative to `cwd`; a file: URL as it is. */
export function envModuleUrl(spec: string, cwd = process.cwd()): string {
  if (spec.startsWith('file:')) return spec;
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec) && !/^[a-z]:[\\/]/i.test(spec)) throw new ConfigError('envModule', `'${spec}' must be a file path or a file: URL`);
  const path = isAbsolute(spec) ? spec : resolve(cwd, spec);
  if (!existsSync(path)) throw new ConfigError('envModule', `no such file: ${path}`);
  return pathToFileURL(path).href;
}

const isTypeScript = (href: string) => /\.[cm]?ts$/.test(new URL(href).pathname);

/**
 * Imports the module once per thread (Node caches it) and returns its URL. Names it registers
 * without a `module` of their own get this one. A module that fails to load is a ConfigError
 * naming it and the cause.
 */
export async function importEnvModule(spec: string, cwd?: string): Promise<string> {
  const href = envModuleUrl(spec, cwd);
  const before = new Set(envNames());
  // Compiled (this file is .js), nothing loads TypeScript yet: tsx's hooks must be in place before
  // the first import, since Node remembers a failed one. Under tsx (sources, vitest) they are.
  if (isTypeScript(href) && !isTypeScript(import.meta.url) && !tsxRegistered) {
    const { register } = await import('tsx/esm/api');
    register();
    tsxRegistered = true;
  }
  try {
    await import(href);
  } catch (e) {
    throw loadError(href, e);
  }
  for (const name of envNames()) if (!before.has(name)) claimModule(name, href);
  return href;
}

function loadError(href: string, e: unknown): ConfigError {
  if (e instanceof ConfigError) return e;
  return new ConfigError('envModule', `${new URL(href).pathname} failed to load: ${(e as Error)?.message?.split('\n')[0] ?? String(e)}`);
}

/**
 * Imports the env module named in a run folder's config.yaml, if any, so that the run's config
 * (whose `env` it registers) can be validated. A folder without one, or unreadable, is left to
 * the checkpoint loader to report.
 */
export async function importRunEnvModule(dir: string): Promise<void> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(join(dir, 'config.yaml'), 'utf8'));
  } catch {
    return;
  }
  const spec = (raw as { envModule?: unknown } | null)?.envModule;
  if (typeof spec === 'string' && spec !== '') await importEnvModule(spec, dir);
}
