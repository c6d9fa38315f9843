/**
 * How a lane of env copies acts: copy c follows the policy of its task, taskOf[c], with its own
 * noise stream, a = μ_θ(o) + σ ⊙ ε, ε ~ N(0, I) drawn from noise[c]. Runs of consecutive copies
 * with the same task share one forward pass. The same function acts on the main thread and in
 * the sampling workers, so both give the same episodes bit for bit.
 */
import type { Rng } from '../core/rng.ts';
import type { HostPolicy, PolicySpec } from '../../agents/hostPolicy.ts';

/** Actions (copies × actDim) for observations (copies × obsDim). */
export type Actor = (obs: Float32Array) => Float32Array;

export function makeActor(spec: PolicySpec, policies: HostPolicy[], taskOf: ArrayLike<number>, noise: Rng[]): Actor {
  const A = spec.actDim;
  const n = taskOf.length;
  const runs: { from: number; to: number; task: number }[] = [];
  for (let c = 0; c < n; c++) {
    if (c > 0 && taskOf[c] === taskOf[c - 1]) runs[runs.length - 1].to = c + 1;
    else runs.push({ from: c, to: c + 1, task: taskOf[c] });
  }
  return (obs) => {
    const out = new Float32Array(n * A);
    for (const { from, to, task } of runs) {
      const policy = policies[task];
      policy.mean(obs.subarray(from * spec.obsDim), to - from, out, from * A);
      for (let c = from; c < to; c++) for (let j = 0; j < A; j++) out[c * A + j] += policy.std[j] * noise[c].normal();
    }
    return out;
  };
}
