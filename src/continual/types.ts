/**
 * Shapes shared by the continual-learning runner, its metrics and its report (issue: MER memory and
 * continual task-adaptation experiments). Returns are raw episode returns unless a name says
 * `normalized`: (R − random) / (oracle − random) per task (REFERENCE §5).
 */

/** The methods one runner compares. */
export const CONTINUAL_METHODS = ['frozen', 'finetune', 'online', 'replay', 'mer', 'er', 'agem', 'l2'] as const;

/** Methods that keep a replay memory. */
export const MEMORY_METHODS: readonly string[] = ['replay', 'mer', 'er', 'agem'];
export type ContinualMethod = (typeof CONTINUAL_METHODS)[number];

export const SCHEDULES = ['random', 'drift', 'blocks', 'cyclic'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

/** One method × one seed over a task sequence of T tasks (all arrays indexed by task position). */
export interface SeedRun {
  method: string;
  seed: number;
  /** R[i][j]: return on task j (after the usual k-step adaptation) once training went through task i; T × T. */
  R: number[][];
  /** b[j]: return on task j of the model before the sequence (same adaptation); T. */
  b: number[];
  /** Reference returns per task for normalization: a random (untrained) policy and an oracle (best known). */
  random: number[];
  oracle: number[];
  /** returnsBefore[i]: return on task i when it arrives, before adapting to it. */
  returnsBefore: number[];
  /** returnsAfter[i][s]: return on task i after s = 1 … K adaptation steps when it arrives. */
  returnsAfter: number[][];
  /** With evalUnadapted: R0[i][j], return on task j without adaptation once training went through task i (MER's retained accuracy). */
  R0?: number[][];
  /** With evalUnadapted: b0[j], θ_0's return on task j without adaptation. */
  b0?: number[];
}

/** Continual-learning metrics of one run, on normalized returns (REFERENCE §5). */
export interface ContinualMetrics {
  /** mean_j R[T][j] (MER's RA). */
  acc: number;
  /** Learning accuracy: mean_i R[i][i]. */
  la: number;
  /** Backward transfer: mean_{i<T} (R[T][i] − R[i][i]) (MER's BTI). */
  bwt: number;
  /** Forward transfer: mean_{i≥2} (R[i−1][i] − b_i). */
  fwt: number;
  /** mean_{i<T} max_{l<T} R[l][i] − R[T][i]. */
  forgetting: number;
  /** Continual World's variant: mean_{i<T} R[i][i] − R[T][i]. */
  forgettingCW: number;
}

export const METRIC_NAMES = ['acc', 'la', 'bwt', 'fwt', 'forgetting', 'forgettingCW'] as const satisfies readonly (keyof ContinualMetrics)[];

/** A bootstrap confidence interval over seeds. */
export interface Interval {
  mean: number;
  lo: number;
  hi: number;
  /** Confidence level, e.g. 0.95. */
  level: number;
  /** Number of seeds it summarizes. */
  n: number;
}

/** Everything a report needs: the runs, and per method the metrics' intervals over seeds. */
export interface ContinualResults {
  env: string;
  schedule: string;
  /** Task parameters in sequence order (plain JSON, e.g. { velocity: 0.4 }). */
  tasks: unknown[];
  /** Adaptation steps K used for R, returnsAfter and b. */
  adaptSteps: number;
  runs: SeedRun[];
  summary: Record<string, Record<keyof ContinualMetrics, Interval>>;
  /** Step size η each method with one used (metaLr, or its methodLr). */
  stepSizes?: Record<string, number>;
  /** Confidence level of the intervals (default 0.95). */
  ciLevel?: number;
}
