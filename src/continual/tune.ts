/**
 * Step-size tuning for `metarl continual --tune η1,η2,…`: one continual run per candidate η (every
 * method at that η, on held-out seeds), then, per method, the η with the best final return: the
 * raw episode return after the whole sequence, mean_j R[T−1][j], averaged over those seeds (ties:
 * the smaller η). Raw, not normalized: each run normalizes by its own references (a best-seen
 * oracle grows with the step), so normalized ACC does not compare across runs — on navigation
 * blocks it picked 0.005 for replay where every raw return said 0.05. The choice goes to `methodLr` of the runs that are reported, which
 * use other seeds, so no method is judged on the seeds its step was picked on. Each method runs
 * on its own at each η, so one that diverges (non-finite parameters or actions) loses that η alone.
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
  /** Mean final return at each candidate, in the candidates' order. */
  acc: number[];
}

/** A method's final return in a run: mean over seeds of mean_j R[T−1][j] (raw returns). */
export function finalReturn(r: ContinualResults, method: string): number {
  const runs = r.runs.filter((x) => x.method === method);
  if (runs.length === 0) return -Infinity;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return mean(runs.map((x) => mean(x.R[x.R.length - 1])));
}

/**
 * Per tunable method present in any run: the candidate with the best final return. A method
 * missing from a candidate's run (it diverged there) has −∞ at that candidate.
 */
export function chooseSteps(candidates: number[], results: ContinualResults[]): TuneChoice[] {
  const methods = [...new Set(results.flatMap((r) => r.runs.map((x) => x.method)))].filter((m) => TUNABLE.includes(m));
  return methods.map((method) => {
    const acc = results.map((r) => finalReturn(r, method));
    let best = 0;
    for (let k = 1; k < acc.length; k++) if (acc[k] > acc[best] || (acc[k] === acc[best] && candidates[k] < candidates[best])) best = k;
    return { method, lr: candidates[best], acc };
  });
}
