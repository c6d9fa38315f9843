/**
 * The JSON files a run reads back to go on — checkpoint.json and a continual state.json — written
 * atomically with a SHA-256 checksum of their payload, and read against a zod schema:
 *
 *   file = { …payload, checksum: "sha256:<hex of sha256(JSON.stringify(payload))>" }
 *
 * A file whose checksum does not match (a cut or edited file) or that fails the schema (a counter
 * "1" for 1, a negative or fractional batch, null parameters, an all-zero generator state) is
 * refused with one line naming the file and the field; nothing is loaded from it. The checksum
 * guards against damage, not against an attacker, who can recompute it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { writeFileAtomic } from './atomic.ts';

const checksumOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

/** Writes `payload` (a JSON object without `checksum`) with its checksum, atomically. */
export function writeChecked(path: string, payload: Record<string, unknown>): void {
  const text = JSON.stringify(payload);
  // The checksum goes last, so the payload's text is the file's text up to it.
  writeFileAtomic(path, `${text.slice(0, -1)}${text.length > 2 ? ',' : ''}"checksum":"${checksumOf(text)}"}`);
}

/** Formats a zod issue as `field.path: message`. */
function describe(issue: z.core.$ZodIssue): string {
  return `${issue.path.map(String).join('.') || '(file)'}: ${issue.message.replace(/^Invalid input: /, '')}`;
}

/**
 * Reads and checks a file written by writeChecked. `legacy` (optional) accepts files of an older
 * version that have no checksum (their schema still applies). Problems are ConfigErrors on `field`.
 */
export function readChecked<T>(path: string, schema: z.ZodType<T>, field: string, legacy?: { version: number; schema: z.ZodType<T> }): T {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(field, `cannot read ${path}: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(field, `${path} does not hold a JSON object`);
  const { checksum, ...payload } = raw as Record<string, unknown>;
  const isLegacy = legacy !== undefined && payload.version === legacy.version && checksum === undefined;
  if (!isLegacy) {
    if (typeof checksum !== 'string') throw new ConfigError(field, `${path} has no checksum (damaged, or not written by metarl)`);
    if (checksum !== checksumOf(JSON.stringify(payload))) throw new ConfigError(field, `${path} fails its checksum: the file was cut or changed after it was written`);
  }
  const r = (isLegacy ? legacy.schema : schema).safeParse(payload);
  if (!r.success) throw new ConfigError(field, `${path}: ${describe(r.error.issues[0])}`);
  return r.data;
}

// ---- schema pieces shared by checkpoint.json and state.json ----

const u32 = z.number().int().min(0).max(0xffff_ffff);
/** xoshiro128** state: four uint32 words, not all zero (a state it never leaves). */
export const RngStateSchema = z
  .tuple([u32, u32, u32, u32])
  .refine((s) => s.some((x) => x !== 0), 'an all-zero generator state is invalid');
export const count = z.number().int('expected a whole number').min(0, 'expected a whole number ≥ 0');
export const finiteArray = z.array(z.number().finite('expected finite numbers'));
export const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64');
