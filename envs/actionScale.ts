/**
 * Policy action space → env control, the way both references wrap their envs:
 *
 *   the policy acts in [−s, s]ⁿ;  c = clip(a, −s, s);  ctrl = low + (c + s)·(high − low)/(2s)
 *
 * so the box [−s, s] maps linearly onto the control range [low, high]. With s equal to the
 * control range's half-width (and a symmetric range) this is a plain clip.
 *   pytorch-maml-rl: `NormalizedActionWrapper(scale=10)` on the half-cheetah (s = 10 onto [−1, 1]:
 *     ctrl = a/10, so an untrained policy of std 1 drives controls of std 0.1); its navigation env
 *     clips the sample into [−0.1, 0.1] without rescaling (s = 0.1).
 *   MAML paper (rllab `normalize`): s = 1 onto the env's range: identity for the cheetah,
 *     ctrl = a/10 for navigation's [−0.1, 0.1].
 * Every cost on the control (the cheetah's 0.05·‖ctrl‖²) is charged on the mapped control.
 */
import { ConfigError, NumericError } from '../src/core/errors.ts';

export interface ActionMap {
  /** Half-width s of the policy's action box. */
  readonly scale: number;
  /** Lower and upper control limits (per dimension, or one for all). */
  readonly low: number;
  readonly high: number;
}

/** An action map onto [low, high]; `scale` undefined means the control range itself (a clip). */
export function actionMap(scale: number | undefined, low: number, high: number): ActionMap {
  if (!(high > low)) throw new Error(`actionMap: empty control range [${low}, ${high}]`);
  const s = scale ?? (high - low) / 2;
  if (!(Number.isFinite(s) && s > 0)) throw new ConfigError('actionScale', `must be a positive number, got ${scale}`);
  if (scale === undefined && low !== -high) throw new Error('actionMap: an asymmetric control range needs an explicit scale');
  return { scale: s, low, high };
}

/**
 * Maps `action` into `out` (same length) and returns Σ ctrl². `what` names the env in the error
 * for a non-finite entry, checked before clipping: a clip would hide a diverged policy.
 */
export function mapAction(m: ActionMap, action: ArrayLike<number>, out: { [i: number]: number; length: number }, what: string): number {
  const { scale: s, low, high } = m;
  // A box equal to the control range is a plain clip (no rounding from the affine map).
  const identity = low === -s && high === s;
  let sq = 0;
  for (let i = 0; i < out.length; i++) {
    const a = action[i];
    if (!Number.isFinite(a)) throw new NumericError(`${what}: action contains ${a} at index ${i}`);
    const c = a < -s ? -s : a > s ? s : a;
    // Same order of operations as pytorch-maml-rl's wrapper; rounding may leave u a hair
    // outside the range, so clip again after mapping as both references do.
    const u = identity ? c : low + ((c + s) * (high - low)) / (2 * s);
    const ctrl = u < low ? low : u > high ? high : u;
    out[i] = ctrl;
    sq += ctrl * ctrl;
  }
  return sq;
}
