/**
 * The robot config of the ROS env (YAML): where observations come from (topic fields or mathjs
 * expressions over them), which topic and message fields actions go to, reward and termination
 * expressions, the task distribution, reset, timing mode and safety limits.
 *
 * `parseRosConfig` validates it with zod and compiles every expression once; any problem is a
 * ConfigError naming the field path (`observation.2.expr`, `action.low`) and what is allowed.
 * Expressions run in a restricted mathjs: only the names the config defines, an allowlist of
 * math functions, and no assignments, function definitions or property access.
 */
import { plainIssue, valueAt } from '../io/zodText.ts';
import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { create, all, type MathNode, type EvalFunction } from 'mathjs';
import { ConfigError } from '../core/errors.ts';
import { parseTaskSpace, type TaskSpace } from './taskSpace.ts';
import { robotKeysToSnake } from './rosKeys.ts';

const name = z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'must be a name of letters, digits and _ starting with a letter');
const rosName = z.string().regex(/^\/?[A-Za-z~][A-Za-z0-9_/~]*$/, 'must be a ROS name like /odom');
const rosType = z.string().regex(/^[A-Za-z][A-Za-z0-9_]*\/(msg\/|srv\/)?[A-Za-z][A-Za-z0-9_]*$/, 'must be a ROS type like nav_msgs/Odometry');
const fieldPath = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+|\[\d+\])*$/, 'must be a message field path like pose.pose.position.x or ranges[0]')
  // Writing an action into `__proto__.x` would change every object in the process.
  .refine((p) => !/(^|\.)(__proto__|constructor|prototype)(\.|\[|$)/.test(p), 'must not name __proto__, constructor or prototype');
const posInt = z.number().int().positive();
const finite = z.number().finite();

const ObservationEntrySchema = z
  .object({
    name: name.describe('name of the entry, usable in expressions'),
    topic: rosName.optional().describe('topic the value is read from'),
    type: rosType.optional().describe('message type of the topic'),
    field: fieldPath.optional().describe('path of the numeric field in the message'),
    expr: z.string().min(1).max(2000).optional().describe('mathjs expression over earlier entries and task parameters'),
    hidden: z.boolean().default(false).describe('available to expressions but not part of the policy observation'),
  })
  .strict()
  .superRefine((e, ctx) => {
    const fromTopic = e.topic !== undefined || e.type !== undefined || e.field !== undefined;
    if (fromTopic && e.expr !== undefined) ctx.addIssue({ code: 'custom', message: 'give either topic+type+field or expr, not both' });
    else if (!fromTopic && e.expr === undefined) ctx.addIssue({ code: 'custom', message: 'needs topic, type and field, or expr' });
    else if (fromTopic) for (const k of ['topic', 'type', 'field'] as const) if (e[k] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: `missing (an entry read from a topic needs topic, type and field)` });
  });

export const RosConfigSchema = z
  .object({
    url: z.string().regex(/^wss?:\/\/\S+$/, 'must be a ws:// or wss:// URL like ws://localhost:9090').describe('rosbridge server'),
    mode: z.enum(['lockstep', 'realtime']).describe('required: lockstep (a simulator that answers every command: a step ends on its answer) or realtime (a robot: steps at rate_hz)'),
    rate_hz: z.number().positive().max(1000).optional().describe('realtime mode: control rate'),
    max_episode_steps: posInt.describe('episode time limit in steps'),
    trigger_topic: rosName.optional().describe('lockstep: topic whose next message ends a step (default: the first observation topic)'),
    sync: z.enum(['all', 'trigger']).default('all').describe('lockstep: a step waits for a message newer than the action on every observation topic (all) or on trigger_topic only (trigger: the other topics may be one step old)'),
    observation: z.array(ObservationEntrySchema).min(1).max(256).describe('observation entries, in order'),
    action: z
      .object({
        topic: rosName.describe('topic actions are published on'),
        type: rosType.describe('its message type'),
        fields: z.array(fieldPath).min(1).max(64).describe('message field of each action dimension'),
        low: z.array(finite).describe('lower bound of each action dimension'),
        high: z.array(finite).describe('upper bound of each action dimension'),
        stop_action: z.array(finite).describe('action that stops the robot (sent by the watchdog, on disconnect and on exit)'),
        template: z.record(z.string(), z.unknown()).default({}).describe('message the action fields are written into (other fields keep these values)'),
      })
      .strict(),
    reward: z.string().min(1).max(2000).describe('mathjs expression: reward of a step'),
    termination: z.string().min(1).max(2000).optional().describe('mathjs expression: the episode ends (terminated) when true'),
    tasks: z.unknown().optional().describe('task distribution (see taskSpace.ts): fields drawn from boxes or lists'),
    reset: z
      .object({
        service: rosName.optional().describe('service called to reset (e.g. /reset_robot)'),
        topic: rosName.optional().describe('or: topic published to reset'),
        type: rosType.describe('service or message type'),
        request: z.record(z.string(), z.unknown()).default({}).describe('service arguments or message'),
        timeout_ms: posInt.default(5000).describe('wait for the reset and the first fresh observation'),
      })
      .strict()
      .refine((r) => (r.service === undefined) !== (r.topic === undefined), 'give exactly one of service or topic')
      .optional()
      .describe('how to reset the robot (omit: episodes start where the robot is)'),
    safety: z
      .object({
        timeout_ms: posInt.default(500).describe('send stop_action when no observation (or no action) comes within this time'),
        max_rate_hz: z.number().positive().optional().describe('maximum command rate'),
      })
      .strict()
      .default({ timeout_ms: 500 }),
    connection: z
      .object({
        request_timeout_ms: posInt.default(5000).describe('connect and service-call timeout'),
        step_timeout_ms: posInt.default(2000).describe('a step waiting longer for its observation ends the episode as truncated'),
        reconnect_initial_ms: posInt.default(100).describe('first reconnect delay (doubles up to reconnect_max_ms)'),
        reconnect_max_ms: posInt.default(5000).describe('longest reconnect delay'),
        reconnect_wait_ms: posInt.default(30000).describe('reset waits this long for a lost connection to come back'),
        max_message_bytes: posInt.default(10_000_000).describe('largest message accepted or sent'),
        ping_interval_ms: z.number().int().min(0).default(2000).describe('WebSocket ping period; a link silent for two periods is dropped and reconnected (0 = off)'),
        throttle_rate_ms: z.number().int().min(0).default(0).describe('rosbridge throttle_rate of observation subscriptions'),
        queue_length: z.number().int().min(0).default(1).describe('rosbridge queue_length of observation subscriptions'),
      })
      .strict()
      .default({ request_timeout_ms: 5000, step_timeout_ms: 2000, reconnect_initial_ms: 100, reconnect_max_ms: 5000, reconnect_wait_ms: 30000, max_message_bytes: 10_000_000, ping_interval_ms: 2000, throttle_rate_ms: 0, queue_length: 1 }),
  })
  .strict();

export type RosConfig = z.infer<typeof RosConfigSchema>;

/** An observation entry ready to use: a topic field (path split) or a compiled expression. */
export type ObservationSource =
  | { name: string; hidden: boolean; topic: string; type: string; path: (string | number)[] }
  | { name: string; hidden: boolean; expr: EvalFunction };

export interface RosPlan {
  config: RosConfig;
  tasks: TaskSpace;
  observation: ObservationSource[];
  /** Action fields split into paths, in action-dimension order. */
  actionPaths: (string | number)[][];
  reward: EvalFunction;
  termination: EvalFunction | null;
  triggerTopic: string;
}

/** Splits `a.b[2].c` or `a.b.2.c` into ['a', 'b', 2, 'c']. */
export function splitFieldPath(path: string): (string | number)[] {
  return path.replace(/\[(\d+)\]/g, '.$1').split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

// predictable: sqrt(-1) gives NaN rather than a complex number, so results stay plain numbers.
const math = create(all, { predictable: true });
/** Functions expressions may call; everything else (import, evaluate, parse, …) is refused. */
const ALLOWED_FUNCTIONS = new Set(['abs', 'sqrt', 'cbrt', 'exp', 'log', 'log10', 'log2', 'pow', 'sin', 'cos', 'tan', 'asin', 'acos', 'atan', 'atan2', 'sinh', 'cosh', 'tanh', 'min', 'max', 'hypot', 'norm', 'sign', 'floor', 'ceil', 'round', 'fix', 'mod', 'square', 'cube', 'dot', 'sum', 'mean', 'not', 'and', 'or', 'xor', 'isNaN']);
const CONSTANTS = new Set(['pi', 'e', 'true', 'false', 'Infinity', 'tau']);
const ALLOWED_NODES = new Set(['ConstantNode', 'SymbolNode', 'OperatorNode', 'ParenthesisNode', 'FunctionNode', 'ConditionalNode', 'AccessorNode', 'IndexNode', 'ArrayNode']);

/** Parses and checks an expression against the names it may use; compiles it once. */
export function compileExpression(field: string, text: string, names: ReadonlySet<string>): EvalFunction {
  let root: MathNode;
  try {
    root = math.parse(text);
  } catch (e) {
    throw new ConfigError(field, `cannot parse expression: ${(e as Error).message}`);
  }
  root.traverse((node, path, parent) => {
    if (!ALLOWED_NODES.has(node.type)) throw new ConfigError(field, `${node.type.replace(/Node$/, '').toLowerCase()} not allowed in expressions ('${node.toString()}')`);
    if (node.type === 'FunctionNode') {
      const fn = (node as unknown as { fn: MathNode }).fn;
      const fname = fn.type === 'SymbolNode' ? (fn as unknown as { name: string }).name : '';
      if (!ALLOWED_FUNCTIONS.has(fname)) throw new ConfigError(field, `function '${fn.toString()}' not allowed; allowed: ${[...ALLOWED_FUNCTIONS].join(', ')}`);
    } else if (node.type === 'SymbolNode' && !(parent?.type === 'FunctionNode' && path === 'fn')) {
      const sym = (node as unknown as { name: string }).name;
      if (!names.has(sym) && !CONSTANTS.has(sym)) throw new ConfigError(field, `unknown name '${sym}'; allowed: ${[...names].join(', ')}`);
    } else if (node.type === 'IndexNode') {
      // Only numeric indices like goal[1]: a string index would be property access.
      for (const d of (node as unknown as { dimensions: MathNode[] }).dimensions) {
        if (d.type !== 'ConstantNode' || typeof (d as unknown as { value: unknown }).value !== 'number') throw new ConfigError(field, `only constant numeric indices allowed ('${node.toString()}')`);
      }
    }
  });
  return root.compile();
}

/** Evaluates a compiled expression to a number (booleans count as 0/1); throws naming `what` otherwise. */
export function evaluateNumber(expr: EvalFunction, scope: Map<string, unknown>, what: string): number {
  const v: unknown = expr.evaluate(scope);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v !== 'number') throw new Error(`${what} gave ${math.typeOf(v)}, not a number`);
  return v;
}

/** Puts a task's parameters into an expression scope: scalars by name, vectors as `name` and `name_0`… */
export function addTaskToScope(scope: Map<string, unknown>, task: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(task)) {
    scope.set(k, v);
    if (Array.isArray(v)) v.forEach((x, i) => scope.set(`${k}_${i}`, x));
  }
}

function taskNames(tasks: TaskSpace): string[] {
  return Object.entries(tasks).flatMap(([k, f]) => ('low' in f && Array.isArray(f.low) ? [k, ...f.low.map((_, i) => `${k}_${i}`)] : [k]));
}

/** A task of the space's lower corner / first choices: for trial evaluations at load time. */
function exampleTask(tasks: TaskSpace): Record<string, unknown> {
  return Object.fromEntries(Object.entries(tasks).map(([k, f]) => [k, 'choices' in f ? f.choices[0] : f.low]));
}

/** Field names of each object in the config, for "unknown field" errors ('' is the top level). */
const ALLOWED_KEYS: Record<string, string[]> = {
  '': Object.keys(RosConfigSchema.shape),
  observation: ['name', 'topic', 'type', 'field', 'expr', 'hidden'],
  action: ['topic', 'type', 'fields', 'low', 'high', 'stop_action', 'template'],
  reset: ['service', 'topic', 'type', 'request', 'timeout_ms'],
  safety: ['timeout_ms', 'max_rate_hz'],
  connection: ['request_timeout_ms', 'step_timeout_ms', 'reconnect_initial_ms', 'reconnect_max_ms', 'reconnect_wait_ms', 'max_message_bytes', 'ping_interval_ms', 'throttle_rate_ms', 'queue_length'],
};

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): ConfigError {
  const field = issue.path.map(String).join('.') || '(config)';
  if (issue.code === 'invalid_value' && 'values' in issue) return new ConfigError(field, `invalid value; allowed: ${(issue.values as unknown[]).join(', ')}`);
  if (issue.code === 'unrecognized_keys') {
    const parent = issue.path.map(String).join('.');
    const allowed = ALLOWED_KEYS[String(issue.path[0] ?? '')] ?? [];
    return new ConfigError((issue as { keys: string[] }).keys.map((k) => (parent ? `${parent}.${k}` : k)).join(', '), `unknown field; allowed: ${allowed.join(', ')}`);
  }
  return new ConfigError(field, plainIssue(issue, valueAt(raw, issue.path)));
}

/** Validates a config object and compiles its expressions. */
export function parseRosConfig(given: unknown): RosPlan {
  const raw = robotKeysToSnake(given); // rateHz or rate_hz: one file may hold train and robot sections
  // No default: lockstep on a real robot would wait for answers it never sends, realtime on a
  // lockstep simulator would step a frozen world. The user says which one this is.
  if (typeof raw === 'object' && raw !== null && (raw as { mode?: unknown }).mode === undefined) {
    throw new ConfigError('mode', 'required: realtime (a robot or free-running simulator, steps at rate_hz) or lockstep (a simulator that publishes one observation per command)');
  }
  const r = RosConfigSchema.safeParse(raw);
  if (!r.success) throw describeIssue(r.error.issues[0], raw);
  const config = r.data;
  const a = config.action;
  const dims = a.fields.length;
  for (const k of ['low', 'high', 'stop_action'] as const) {
    if (a[k].length !== dims) throw new ConfigError(`action.${k}`, `has ${a[k].length} entries; action.fields has ${dims}`);
  }
  a.low.forEach((l, i) => { if (!(l <= a.high[i])) throw new ConfigError('action.low', `entry ${i} is above action.high`); });
  a.stop_action.forEach((s, i) => { if (!(s >= a.low[i] && s <= a.high[i])) throw new ConfigError('action.stop_action', `entry ${i} (${s}) is outside [low, high]`); });
  if (config.mode === 'realtime' && config.rate_hz === undefined) throw new ConfigError('rate_hz', 'required when mode is realtime');
  const tasks = config.tasks === undefined ? {} : parseTaskSpace(config.tasks, 'tasks');

  const reserved = new Set(['action', 't', ...CONSTANTS, ...ALLOWED_FUNCTIONS, ...Array.from({ length: dims }, (_, i) => `action_${i}`)]);
  const defined = new Set<string>(taskNames(tasks));
  for (const n of defined) if (reserved.has(n)) throw new ConfigError(`tasks.${n}`, `'${n}' is reserved in expressions`);
  const scope = new Map<string, unknown>();
  addTaskToScope(scope, exampleTask(tasks));
  const observation: ObservationSource[] = config.observation.map((e, i) => {
    const where = `observation.${i}`;
    if (reserved.has(e.name) || defined.has(e.name)) throw new ConfigError(`${where}.name`, `'${e.name}' is already used or reserved`);
    let src: ObservationSource;
    if (e.expr !== undefined) {
      const expr = compileExpression(`${where}.expr`, e.expr, defined);
      trial(`${where}.expr`, expr, scope);
      src = { name: e.name, hidden: e.hidden, expr };
    } else {
      src = { name: e.name, hidden: e.hidden, topic: e.topic!, type: e.type!, path: splitFieldPath(e.field!) };
    }
    defined.add(e.name);
    scope.set(e.name, 0);
    return src;
  });
  if (!observation.some((o) => !o.hidden)) throw new ConfigError('observation', 'every entry is hidden; the policy needs at least one');
  const topics = observation.flatMap((o) => ('topic' in o ? [o] : []));
  if (topics.length === 0) throw new ConfigError('observation', 'needs at least one entry read from a topic');
  for (const o of topics) {
    const other = topics.find((p) => p.topic === o.topic && p.type !== o.type);
    if (other) throw new ConfigError('observation', `topic ${o.topic} given with two types (${o.type}, ${other.type})`);
  }
  const triggerTopic = config.trigger_topic ?? topics[0].topic;
  if (!topics.some((o) => o.topic === triggerTopic)) throw new ConfigError('trigger_topic', `${triggerTopic} is not an observation topic; allowed: ${[...new Set(topics.map((o) => o.topic))].join(', ')}`);

  const stepNames = new Set([...defined, 'action', 't', ...Array.from({ length: dims }, (_, i) => `action_${i}`)]);
  scope.set('action', a.stop_action.slice());
  a.stop_action.forEach((x, i) => scope.set(`action_${i}`, x));
  scope.set('t', 0);
  const reward = compileExpression('reward', config.reward, stepNames);
  trial('reward', reward, scope);
  const termination = config.termination === undefined ? null : compileExpression('termination', config.termination, stepNames);
  if (termination) trial('termination', termination, scope);
  return { config, tasks, observation, actionPaths: a.fields.map(splitFieldPath), reward, termination, triggerTopic };
}

/** Evaluates once on placeholder values so that wrong arity, bad indices or non-numbers fail at load. */
function trial(field: string, expr: EvalFunction, scope: Map<string, unknown>): void {
  try {
    evaluateNumber(expr, scope, 'expression');
  } catch (e) {
    throw new ConfigError(field, (e as Error).message);
  }
}

