/**
 * Step-size tuning for `metarl continual --tune η1,η2,…`: one continual run per candidate η (every
 * method at that η, on held-out seeds), then, per method, the η with the best mean ACC over those
 * seeds (ties: the smaller η). The choice goes to `methodLr` of the runs that are reported, which
 * use other seeds, so no method is judged on the seeds its step was picked on.
 */
import { ConfigError } from '../core/errors.ts';
import type { ContinualResults } from './types.ts';

/** Methods whose update has a step size (frozen and finetune have none). */
export const TUNABLE = ['online', 'replay', 'mer', 'er', 'agem', 'l2'];

/** `--tune 0.002,0.01,0.05`: positive numbers, at least two, no repeats. */
export function parseTuneList(text: string): number[] {
  const xs = text.split(',').map((x) => Number(x.trim()));
  if (text.trim() === '' || !xs.every((x) => Number.isFinite(x) && x > 0)) throw new ConfigError('--tune', `expected positive step sizes separated by commas (e.g. 0.002,0.01,0.05), got '${text}'`);
  if (xs.length < 2) throw new ConfigError('--tune', 'give at least two step sizes to choose from');
  if (new Set(xs).size !== xs.length) throw new ConfigError('--tune', `repeated step size in '${text}'`);
  return xs;
}

export interface TuneChoice {
  method: string;
  lr: number;
  /** Mean ACC at each candidate, in the candidates' order. */
  acc: number[];
}

/** Per tunable method present in the runs: the candidate with the best mean ACC. */
export function chooseSteps(candidates: number[], results: ContinualResults[]): TuneChoice[] {
  const methods = Object.keys(results[0]?.summary ?? {}).filter((m) => TUNABLE.includes(m));
  return methods.map((method) => {
    const acc = results.map((r) => r.summary[method]?.acc.mean ?? -Infinity);
    let best = 0;
    for (let k = 1; k < acc.length; k++) if (acc[k] > acc[best] || (acc[k] === acc[best] && candidates[k] < candidates[best])) best = k;
    return { method, lr: candidates[best], acc };
  });
}
