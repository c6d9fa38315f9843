/**
 * The robot config's own keys are snake_case (ROS's convention: `rate_hz`, `stop_action`); the
 * training config's are camelCase. So that one YAML file can hold both without a second naming
 * rule to remember, the robot section accepts either spelling of its own keys: `rateHz` is read
 * as `rate_hz`. Only the config's keys are renamed — never the ROS message fields inside
 * `action.template` or `reset.request`, which are the robot's own names. Giving both spellings
 * of one key is an error naming the two.
 */
import { ConfigError } from '../core/errors.ts';

/** Objects of the robot config whose keys are the config's own (path '' is the top level). */
const OWN_KEYS_IN = ['', 'action', 'reset', 'safety', 'connection'];

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function renameKeys(o: Record<string, unknown>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const s = snake(k);
    if (s in out) throw new ConfigError(where ? `${where}.${s}` : s, `given twice, as ${s} and ${k}; keep one`);
    out[s] = v;
  }
  return out;
}

const isMapping = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The robot config with camelCase keys of its own renamed to snake_case (a new object). */
export function robotKeysToSnake(raw: unknown): unknown {
  if (!isMapping(raw)) return raw;
  const top = renameKeys(raw, '');
  for (const section of OWN_KEYS_IN.slice(1)) if (isMapping(top[section])) top[section] = renameKeys(top[section], section);
  return top;
}
