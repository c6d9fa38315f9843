/** `metarl continual --tune`: the candidate list, and the choice of each method's step by mean ACC. */
import { describe, expect, it } from 'vitest';
import { chooseSteps, parseTuneList } from '../src/continual/tune.ts';
import type { ContinualResults, Interval } from '../src/continual/types.ts';

const iv = (mean: number): Interval => ({ mean, lo: mean, hi: mean, level: 0.95, n: 3 });
const results = (acc: Record<string, number>) => ({ summary: Object.fromEntries(Object.entries(acc).map(([m, a]) => [m, { acc: iv(a) }])) }) as unknown as ContinualResults;

describe('step-size tuning', () => {
  it('picks, per method with a step size, the candidate of best mean ACC (ties: the smaller step)', () => {
    const choice = chooseSteps([0.002, 0.01, 0.05], [results({ frozen: 0.5, online: 0.6, mer: 0.7 }), results({ frozen: 0.5, online: 0.65, mer: 0.7 }), results({ frozen: 0.5, online: 0.4, mer: 0.68 })]);
    expect(choice).toEqual([
      { method: 'online', lr: 0.01, acc: [0.6, 0.65, 0.4] },
      { method: 'mer', lr: 0.002, acc: [0.7, 0.7, 0.68] },
    ]);
  });

  it.each([
    ['0.01', /at least two/],
    ['0.01,-1', /expected positive step sizes/],
    ['0.01,0.01', /repeated step size/],
    ['', /expected positive step sizes/],
  ])('refuses --tune %j', (text, message) => {
    expect(() => parseTuneList(text)).toThrow(message);
  });
});
