/**
 * Message fields of the ROS env: reading a number out of an incoming message along a field path,
 * and writing an action value into an outgoing one. Paths come split by rosConfig.splitFieldPath
 * (`pose.pose.position.x` → ['pose', 'pose', 'position', 'x'], `ranges[0]` → ['ranges', 0]).
 */

/** Reads a field path out of a message: a finite number (booleans as 0/1), or why not. */
export function readField(msg: unknown, path: (string | number)[]): number | string {
  let v: unknown = msg;
  for (const key of path) {
    if (typeof v !== 'object' || v === null) return `no field ${path.join('.')}`;
    v = (v as Record<string | number, unknown>)[key];
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v === undefined) return `no field ${path.join('.')}`;
  if (typeof v !== 'number' || !Number.isFinite(v)) return `field ${path.join('.')} is ${JSON.stringify(v) ?? 'missing'}, not a finite number`;
  return v;
}

/** Writes `value` at `path` into `msg`, creating objects / arrays on the way. */
export function writeField(msg: Record<string, unknown>, path: (string | number)[], value: number): void {
  let o: Record<string | number, unknown> = msg;
  for (let i = 0; i < path.length - 1; i++) {
    const next = o[path[i]];
    if (typeof next !== 'object' || next === null) o[path[i]] = typeof path[i + 1] === 'number' ? [] : {};
    o = o[path[i]] as Record<string | number, unknown>;
  }
  o[path[path.length - 1]] = value;
}

/** The message carrying `action` in the config's fields, on a copy of the template. */
export function actionMessage(template: Record<string, unknown>, paths: (string | number)[][], action: ArrayLike<number>): Record<string, unknown> {
  const msg = structuredClone(template);
  paths.forEach((path, i) => writeField(msg, path, action[i]));
  return msg;
}
