/**
 * zod's validation issues in plain words for one-line errors: `expected a whole number, got 1.5`
 * rather than `Invalid input: expected int, received number`. Used by every schema the user's
 * input meets (config, continual config, robot config, checked files).
 */
import type { z } from 'zod';

const show = (x: unknown) => (typeof x === 'string' ? `'${x.slice(0, 60)}'` : JSON.stringify(x)?.slice(0, 60) ?? String(x));

/** The message of one issue, without its path. `input` is the offending value when known. */
export function plainIssue(issue: z.core.$ZodIssue, input?: unknown): string {
  const got = input === undefined ? '' : `, got ${show(input)}`;
  const i = issue as z.core.$ZodIssue & { expected?: string; minimum?: number | bigint; maximum?: number | bigint; inclusive?: boolean; origin?: string; format?: string };
  switch (i.code) {
    case 'invalid_type':
      if (input === undefined) return `required (${i.expected === 'int' ? 'a whole number' : `a ${i.expected}`})`;
      return `expected ${i.expected === 'int' ? 'a whole number' : i.expected === 'number' ? 'a number' : `a ${i.expected}`}${got}`;
    case 'too_small':
      if (i.origin === 'array') return `needs at least ${i.minimum} entr${Number(i.minimum) === 1 ? 'y' : 'ies'}${got}`;
      if (i.origin === 'string') return `must not be empty${got}`;
      return `must be ${i.inclusive === false ? '>' : '≥'} ${i.minimum}${got}`;
    case 'too_big':
      if (i.origin === 'array') return `allows at most ${i.maximum} entries`;
      if (i.origin === 'string') return `is longer than ${i.maximum} characters`;
      return `must be ${i.inclusive === false ? '<' : '≤'} ${i.maximum}${got}`;
    default:
      return i.message.replace(/^Invalid input: /, '') + (i.code === 'invalid_format' ? got : '');
  }
}

/** The value at `path` in `root`, if any (for "got …" in messages). */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}
