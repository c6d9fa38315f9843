/**
 * The test tasks of the MAML paper's evaluation (cbfinn/maml_rl `maml_examples/test_maml_*.py`):
 * goals drawn right after `np.random.seed(1)`, reproduced bit for bit with NumPy's legacy generator.
 *   cheetah-velocity    v* = uniform(0, 2, n)
 *   cheetah-direction   the same draws, read as a direction: −1 below 1.0, +1 from 1.0 on
 *                       (rllab's `HalfCheetahEnvRandDirec.reset`)
 *   navigation          goal = uniform(−0.5, 0.5, (n, 2)), row by row
 * `metarl eval --paper-tasks` evaluates on these, so a comparison with Fig. 5 uses its tasks.
 */
import { ConfigError } from '../core/errors.ts';
import { NumpyLegacyRandom } from '../core/numpyRandom.ts';

export const PAPER_TASK_SEED = 1;

export function paperTestTasks(env: string, n: number): unknown[] {
  const rng = new NumpyLegacyRandom(PAPER_TASK_SEED);
  switch (env) {
    case 'cheetah-velocity':
      return rng.uniform(0, 2, n).map((velocity) => ({ velocity }));
    case 'cheetah-direction':
      return rng.uniform(0, 2, n).map((g) => ({ direction: g < 1 ? -1 : 1 }));
    case 'navigation': {
      const u = rng.uniform(-0.5, 0.5, 2 * n);
      return Array.from({ length: n }, (_, i) => ({ goal: [u[2 * i], u[2 * i + 1]] }));
    }
    default:
      throw new ConfigError('--paper-tasks', `the MAML paper has no test tasks for env ${env}; it has them for navigation, cheetah-velocity and cheetah-direction`);
  }
}
