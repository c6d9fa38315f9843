/**
 * The adaptation page's server side: for a navigation run, adapt the checkpoint's θ toward a goal
 * the user clicked with 1–3 policy-gradient steps (the evaluation's adaptation,
 * src/experiments/trajectories.ts) and return the mean policy's paths before and after each step.
 * One request at a time for the whole dashboard (tfjs has one engine per process, and a request
 * takes seconds of CPU): a request that arrives while one runs is refused (BusyError → 429).
 * tfjs and the trajectory code are loaded on the first request, so a dashboard that only shows
 * curves never loads them.
 */
import { statSync } from 'node:fs';
import { ConfigError } from '../core/errors.ts';
import { type Checkpoint, loadRunCheckpoint } from '../io/checkpoint.ts';
import { type RunEntry, runFilePath } from './runs.ts';

export interface AdaptRequest {
  goal: [number, number];
  /** Adaptation steps, 1–3. */
  steps: number;
  seed: number;
}

export interface AdaptPath {
  /** 'θ (no adaptation)', 'after 1 step', … */
  step: string;
  points: [number, number][];
}

export interface AdaptResult {
  goal: [number, number];
  steps: number;
  /** Meta-batches behind the checkpoint adapted. */
  batch: number;
  paths: AdaptPath[];
  seconds: number;
}

/** Points of the trajectories as src/experiments/trajectories.ts gives them. */
type TrajectoryPoints = { step: string; t: number; x: number; y: number }[];
export type TrajectoryFn = (ck: Checkpoint, goals: number[][], steps: number, seed: number) => Promise<TrajectoryPoints>;

/** Another adaptation is running. */
export class BusyError extends Error {
  constructor() {
    super('an adaptation is running; try again when it is done');
    this.name = 'BusyError';
  }
}

/** Goals beyond this are off the navigation plane the page draws (tasks are drawn in ±0.5). */
export const GOAL_LIMIT = 1;

/** Checks a request body `{goal: [x, y], steps?: 1–3, seed?}`; a ConfigError names the problem. */
export function parseAdaptRequest(body: unknown): AdaptRequest {
  const b = (body ?? {}) as { goal?: unknown; steps?: unknown; seed?: unknown };
  const g = b.goal;
  if (!Array.isArray(g) || g.length !== 2 || !g.every((v) => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= GOAL_LIMIT)) {
    throw new ConfigError('goal', `expected [x, y] with |x|, |y| ≤ ${GOAL_LIMIT}`);
  }
  const steps = b.steps ?? 1;
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1 || steps > 3) throw new ConfigError('steps', 'expected 1, 2 or 3');
  const seed = b.seed ?? 1;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) throw new ConfigError('seed', 'expected a whole number ≥ 0');
  return { goal: [g[0] as number, g[1] as number], steps, seed };
}

/** Points grouped into one path per adaptation step, in the order given. */
export function groupPaths(points: TrajectoryPoints): AdaptPath[] {
  const paths = new Map<string, [number, number][]>();
  for (const p of [...points].sort((a, b) => a.t - b.t)) {
    const path = paths.get(p.step) ?? [];
    path.push([p.x, p.y]);
    paths.set(p.step, path);
  }
  const order = [...new Set(points.map((p) => p.step))];
  return order.map((step) => ({ step, points: paths.get(step)! }));
}

/** The default: the evaluation's trajectories, with the backend the run names (loaded lazily). */
async function defaultTrajectories(ck: Checkpoint, goals: number[][], steps: number, seed: number): Promise<TrajectoryPoints> {
  const [{ initBackend }, { navigationTrajectories }] = await Promise.all([import('../tensor/backend.ts'), import('../experiments/trajectories.ts')]);
  await initBackend(ck.config.backend);
  return navigationTrajectories(ck, goals, steps, seed);
}

export class Adapter {
  private running = false;
  private readonly cache = new Map<string, { mtimeMs: number; ck: Checkpoint }>();

  constructor(private readonly trajectories: TrajectoryFn = defaultTrajectories) {}

  get busy(): boolean {
    return this.running;
  }

  /** Adapts the run's latest checkpoint (re-read when it changed: a run still training). */
  async adapt(run: RunEntry, req: AdaptRequest): Promise<AdaptResult> {
    if (this.running) throw new BusyError();
    this.running = true;
    const t0 = performance.now();
    try {
      const ck = this.checkpoint(run);
      if (ck.config.env !== 'navigation') throw new ConfigError('run', `adaptation is drawn for navigation runs; ${run.name} is ${ck.config.env}`);
      const points = await this.trajectories(ck, [req.goal], req.steps, req.seed);
      return { goal: req.goal, steps: req.steps, batch: ck.batch, paths: groupPaths(points), seconds: (performance.now() - t0) / 1000 };
    } finally {
      this.running = false;
    }
  }

  private checkpoint(run: RunEntry): Checkpoint {
    const path = runFilePath(run, 'checkpoint.json');
    if (path === null) throw new ConfigError('run', `${run.name} has no checkpoint.json`);
    const mtimeMs = statSync(path).mtimeMs;
    const hit = this.cache.get(run.dir);
    if (hit && hit.mtimeMs === mtimeMs) return hit.ck;
    const ck = loadRunCheckpoint(run.dir, 'run');
    this.cache.set(run.dir, { mtimeMs, ck });
    return ck;
  }
}
