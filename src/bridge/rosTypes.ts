/**
 * Checks the config's message fields against the robot's own message definitions before anything
 * moves. rosbridge drops a publish whose fields its type lacks and only logs it (REFERENCE §6), so
 * a typo in `action.fields` would otherwise give a robot that never moves while training "works".
 * The definitions come from rosapi's `/rosapi/message_details` service (started by the standard
 * rosbridge launch files): a list of typedefs, each `{type, fieldnames, fieldtypes, fieldarraylen}`
 * (−1: not an array). Where rosapi does not answer, the check is skipped with a warning.
 */
import { ConfigError } from '../core/errors.ts';
import type { RosbridgeClient } from './rosbridge.ts';
import type { RosPlan } from './rosConfig.ts';

interface TypeDef { type: string; fieldnames: string[]; fieldtypes: string[]; fieldarraylen: number[] }

const NUMERIC = /^(float32|float64|u?int(8|16|32|64)|byte|char|bool|boolean|double|float|u?int)$/;
/** `geometry_msgs/msg/Twist` (ROS 2) and `geometry_msgs/Twist` name the same type. */
const norm = (t: string) => t.replace('/msg/', '/');

function parseTypedefs(values: unknown): Map<string, TypeDef> | null {
  const defs = (values as { typedefs?: unknown })?.typedefs;
  if (!Array.isArray(defs)) return null;
  const out = new Map<string, TypeDef>();
  for (const d of defs as TypeDef[]) {
    if (typeof d?.type !== 'string' || !Array.isArray(d.fieldnames) || !Array.isArray(d.fieldtypes)) return null;
    out.set(norm(d.type), d);
  }
  return out;
}

/** Why `path` is not a numeric field of `root`, or null if it is. */
export function fieldProblem(defs: Map<string, TypeDef>, root: string, path: (string | number)[]): string | null {
  let type = norm(root);
  let arrayLen = -1;
  for (let i = 0; i < path.length; i++) {
    const key = path[i];
    if (typeof key === 'number') {
      if (arrayLen === -1) return `${path.slice(0, i).join('.')} is not an array`;
      if (arrayLen > 0 && key >= arrayLen) return `index ${key} is beyond ${path.slice(0, i).join('.')}[${arrayLen}]`;
      arrayLen = -1;
      continue;
    }
    const def = defs.get(type);
    if (!def) return null; // a type rosapi did not describe: nothing to check against
    const k = def.fieldnames.indexOf(key);
    if (k < 0) return `${type} has no field ${key}${i > 0 ? ` (at ${path.slice(0, i).join('.')})` : ''}; it has ${def.fieldnames.join(', ')}`;
    type = norm(def.fieldtypes[k]);
    arrayLen = def.fieldarraylen?.[k] ?? -1;
  }
  if (arrayLen !== -1) return `${path.join('.')} is an array; name one entry, e.g. ${path.join('.')}[0]`;
  if (!NUMERIC.test(type)) return `${path.join('.')} is a ${type}, not a number`;
  return null;
}

/**
 * Checks every action field and every observation field; throws a ConfigError naming the first
 * wrong one. Resolves with a warning when rosapi cannot be asked.
 */
export async function checkFields(plan: RosPlan, client: RosbridgeClient, timeoutMs: number): Promise<string | null> {
  const c = plan.config;
  const wanted: { field: string; type: string; path: (string | number)[] }[] = [
    ...plan.actionPaths.map((path, i) => ({ field: `action.fields.${i}`, type: c.action.type, path })),
    ...plan.observation.flatMap((o, i) => ('topic' in o ? [{ field: `observation.${i}.field`, type: o.type, path: o.path }] : [])),
  ];
  const cache = new Map<string, Map<string, TypeDef>>();
  for (const w of wanted) {
    let defs = cache.get(w.type);
    if (!defs) {
      let values: unknown;
      try {
        values = await client.callService('/rosapi/message_details', { type: w.type }, timeoutMs);
      } catch (e) {
        return `could not check message fields against the robot's types (/rosapi/message_details: ${(e as Error).message}); a wrong field is then noticed only when its messages never arrive — start rosapi with rosbridge to have them checked`;
      }
      const parsed = parseTypedefs(values);
      if (!parsed) return 'could not check message fields: /rosapi/message_details answered in an unknown form';
      if (parsed.size === 0) throw new ConfigError(w.field.startsWith('action') ? 'action.type' : w.field.replace(/field$/, 'type'), `the robot does not know the type ${w.type}`);
      defs = parsed;
      cache.set(w.type, defs);
    }
    const problem = fieldProblem(defs, w.type, w.path);
    if (problem) throw new ConfigError(w.field, problem);
  }
  return null;
}
