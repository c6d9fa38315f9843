/** `metarl continual --tune`: the candidate list, and the choice of each method's step by mean ACC. */
import { describe, expect, it } from 'vitest';
import { chooseSteps, parseTuneList } from '../src/continual/tune.ts';
import type { ContinualResults } from '../src/continual/types.ts';

/** Runs whose last R row averages to the given final return (two seeds, two tasks each). */
const results = (finals: Record<string, number>) =>
  ({ runs: Object.entries(finals).flatMap(([method, f]) => [1, 2].map((seed) => ({ method, seed, R: [[0, 0], [f - 1, f + 1]] }))) }) as unknown as ContinualResults;

describe('step-size tuning', () => {
  it('picks, per method with a step size, the candidate of best raw final return (ties: the smaller step)', () => {
    const choice = chooseSteps([0.002, 0.01, 0.05], [results({ frozen: -50, online: -40, mer: -30 }), results({ frozen: -50, online: -35, mer: -30 }), results({ frozen: -50, online: -60, mer: -32 })]);
    expect(choice).toEqual([
      { method: 'online', lr: 0.01, acc: [-40, -35, -60] },
      { method: 'mer', lr: 0.002, acc: [-30, -30, -32] },
    ]);
  });

  it('passes over a step at which a method diverged (absent from that run), even the first one', () => {
    const choice = chooseSteps([0.01, 0.03, 0.1], [results({ mer: -30 }), results({ online: -35, mer: -20 }), results({ online: -25 })]);
    expect(choice).toEqual([
      { method: 'mer', lr: 0.03, acc: [-30, -20, -Infinity] },
      { method: 'online', lr: 0.1, acc: [-Infinity, -35, -25] },
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
