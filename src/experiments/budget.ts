/**
 * Sizes checked before anything is allocated, so that an absurd config (`hidden: [30000, 30000]`,
 * `episodesPerTask: 1e8`, `workers: 100000`) fails at once with one line saying what was asked and
 * what is allowed, instead of allocating until the process dies.
 *
 * Estimates (float32 = 4 bytes):
 *   episode buffers   (numSteps + 1) sampling phases × E episodes × H steps × (obs + act + 4)
 *                     floats, about 3 copies alive (host arrays, tensors, advantages);
 *   parameters        P = numParams; MAML holds one adapted copy per task and TRPO a few dozen
 *                     vectors of P, so P × (tasks + 32) floats.
 * The budget is half of this machine's memory (METARL_MEMORY_BUDGET_GB overrides it).
 */
import { availableParallelism, totalmem } from 'node:os';
import { ConfigError } from '../core/errors.ts';
import type { Config } from '../io/config.ts';

/** Largest policy the code is meant for (the MAML paper's is 12 thousand parameters). */
export const MAX_PARAMETERS = 20_000_000;
/** Worker threads beyond this many per core only slow things down. */
export const MAX_WORKERS_PER_CORE = 4;

export function memoryBudgetBytes(): number {
  const gb = Number(process.env.METARL_MEMORY_BUDGET_GB);
  return Number.isFinite(gb) && gb > 0 ? gb * 2 ** 30 : totalmem() / 2;
}

export function formatBytes(b: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) {
    b /= 1024;
    i++;
  }
  return `${b.toFixed(b >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Throws a ConfigError naming the field when the config's sizes do not fit. */
export function checkSizes(cfg: Config, obsDim: number, actDim: number, budget = memoryBudgetBytes()): void {
  const cores = availableParallelism();
  if (cfg.workers > MAX_WORKERS_PER_CORE * cores) {
    throw new ConfigError('workers', `${cfg.workers} threads on ${cores} cores; allowed up to ${MAX_WORKERS_PER_CORE * cores} (${MAX_WORKERS_PER_CORE} per core)`);
  }
  const sizes = [obsDim, ...cfg.hidden, actDim];
  let params = actDim;
  for (let l = 0; l + 1 < sizes.length; l++) params += sizes[l] * sizes[l + 1] + sizes[l + 1];
  if (params > MAX_PARAMETERS) {
    throw new ConfigError('hidden', `[${cfg.hidden.join(', ')}] gives ${params.toExponential(2)} parameters; allowed up to ${MAX_PARAMETERS.toExponential(0)}`);
  }
  const paramBytes = params * 4 * (cfg.metaBatchSize + 32);
  if (paramBytes > budget) {
    throw new ConfigError('hidden', `[${cfg.hidden.join(', ')}] with metaBatchSize ${cfg.metaBatchSize} needs about ${formatBytes(paramBytes)} of parameter copies; allowed ${formatBytes(budget)}`);
  }
  const episodes = cfg.metaBatchSize * cfg.episodesPerTask;
  const bufferBytes = (cfg.numSteps + 1) * episodes * cfg.horizon * (obsDim + actDim + 4) * 4 * 3;
  if (bufferBytes > budget) {
    throw new ConfigError('episodesPerTask', `metaBatchSize ${cfg.metaBatchSize} × episodesPerTask ${cfg.episodesPerTask} episodes of horizon ${cfg.horizon} need about ${formatBytes(bufferBytes)} of episode buffers; allowed ${formatBytes(budget)} (half this machine's memory; METARL_MEMORY_BUDGET_GB changes it)`);
  }
}
