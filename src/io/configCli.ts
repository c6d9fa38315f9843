/**
 * The config as the command line sees it: `--help`'s field list (type, allowed values, default,
 * description, from the schema) and `--set key=value` (a dotted path and a YAML value).
 */
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import { ConfigSchema, PRESETS, type PresetName } from './config.ts';

/** `--help`'s field list: name, type and allowed values, default (the preset's), description. */
export function describeFields(preset: PresetName = 'pytorch-maml-rl'): string {
  const defaults = PRESETS[preset] as Record<string, unknown>;
  return Object.entries(ConfigSchema.shape)
    .map(([k, s]) => {
      const d = defaults[k];
      const shown = d === undefined ? '' : ` [default ${typeof d === 'object' ? JSON.stringify(d) : String(d)}]`;
      return `  ${k.padEnd(22)} ${typeOf(s as z.ZodType).padEnd(18)} ${(s as z.ZodType).description ?? ''}${k === 'bridge' || k === 'robot' ? '' : shown}`;
    })
    .join('\n');
}

/** A field's type in words: number, whole number, true|false, one of a|b, list of …, mapping. */
function typeOf(s: z.ZodType): string {
  const def = (s as unknown as { def: { type: string; innerType?: z.ZodType; element?: z.ZodType; entries?: Record<string, string>; checks?: { _zod: { def: { format?: string } } }[] } }).def;
  switch (def.type) {
    case 'optional':
    case 'default':
      return typeOf(def.innerType!);
    case 'number':
      return def.checks?.some((c) => c._zod.def.format === 'safeint' || c._zod.def.format === 'int32') ? 'whole number' : 'number';
    case 'boolean':
      return 'true|false';
    case 'enum':
      return Object.values(def.entries ?? {}).join('|');
    case 'array':
      return `list of ${typeOf(def.element!)}s`;
    case 'object':
    case 'record':
      return 'mapping';
    default:
      return def.type;
  }
}

/**
 * `--set key=value`: a dotted key (`bridge.port=9000`, `hidden=[64,64]`) and a YAML value, as a
 * partial config to merge over the file's. The key is checked against the config's fields.
 */
export function parseSetting(text: string, into: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ConfigError('--set', `expected key=value (e.g. fastLr=0.05 or bridge.port=9000), got '${text}'`);
  const path = text.slice(0, eq).trim().split('.');
  if (path.some((p) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p))) throw new ConfigError('--set', `'${text.slice(0, eq)}' is not a field path`);
  let value: unknown;
  try {
    value = parseYaml(text.slice(eq + 1));
  } catch (e) {
    throw new ConfigError('--set', `${path.join('.')}: value is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  let o = into;
  for (let i = 0; i < path.length - 1; i++) {
    const next = o[path[i]];
    o = o[path[i]] = typeof next === 'object' && next !== null && !Array.isArray(next) ? (next as Record<string, unknown>) : {};
  }
  o[path[path.length - 1]] = value;
  return into;
}
