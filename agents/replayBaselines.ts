/**
 * The continual-learning baselines that MER is compared with, over the same items and item
 * gradients g(θ, item) as MER (agents/continualUpdate.ts). Each takes batches B_1 … B_s whose
 * last item is the current task's and whose others were replayed from memory, and a step η:
 *
 *   ER      experience replay, one step per batch on the batch mean:
 *             θ ← θ − η · (1/|B|) Σ_{i∈B} g(θ, i)
 *   A-GEM   averaged gradient episodic memory: with g = g(θ, current) and the reference
 *           g_ref = (1/|R|) Σ_{i∈R} g(θ, i) over the replayed items R of the batch,
 *             g̃ = g − (g·g_ref / g_ref·g_ref) g_ref   if g·g_ref < 0,   else g̃ = g
 *             θ ← θ − η g̃                 (no replayed items: g̃ = g)
 *   L2      online steps anchored to the starting parameters θ_0 (an isotropic EWC):
 *             θ ← θ − η (g(θ, current) + λ (θ − θ_0))     per batch, replayed items unused
 *
 * All in float64 on plain arrays; the result is float32 like θ. A non-finite result throws.
 * `clipNorm(g, c)` = g · min(1, c/‖g‖) bounds one item's step (c = 0: no clip), for every method.
 */
import { NumericError } from '../src/core/errors.ts';
import type { ReplayItem } from './continualUpdate.ts';

export type ItemGradient = (theta: Float32Array, item: ReplayItem) => Float64Array;

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
}

function step(theta: Float32Array, direction: Float64Array, lr: number, what: string): Float32Array {
  const next = Float32Array.from(theta, (x, j) => x - lr * direction[j]);
  if (!next.every(Number.isFinite)) throw new NumericError(`${what}: non-finite parameters after a step`);
  return next;
}

/** g scaled down to L2 norm `max` if longer (max 0: g itself). */
export function clipNorm(g: Float64Array, max: number): Float64Array {
  if (!(max > 0)) return g;
  const norm = Math.sqrt(dot(g, g));
  return norm > max ? Float64Array.from(g, (x) => (x * max) / norm) : g;
}

/** Mean of the items' gradients at θ (zeros for no items). */
export function meanGradient(theta: Float32Array, items: ReplayItem[], grad: ItemGradient): Float64Array {
  const mean = new Float64Array(theta.length);
  for (const item of items) {
    const g = grad(theta, item);
    for (let j = 0; j < mean.length; j++) mean[j] += g[j] / items.length;
  }
  return mean;
}

/** ER: one step per batch on the mean gradient of its items. */
export function erUpdate(theta: Float32Array, batches: ReplayItem[][], grad: ItemGradient, lr: number): Float32Array {
  let current = theta;
  for (const batch of batches) current = step(current, meanGradient(current, batch, grad), lr, 'ER');
  return current;
}

/** A-GEM's projection: g, or g without its component against g_ref when they conflict. */
export function agemProject(g: Float64Array, ref: Float64Array): Float64Array {
  const gr = dot(g, ref);
  const rr = dot(ref, ref);
  if (!(gr < 0) || !(rr > 0)) return g;
  return Float64Array.from(g, (x, j) => x - (gr / rr) * ref[j]);
}

/** A-GEM: per batch, the current item's gradient projected against the replayed items' mean. */
export function agemUpdate(theta: Float32Array, batches: ReplayItem[][], grad: ItemGradient, lr: number): Float32Array {
  let current = theta;
  for (const batch of batches) {
    const item = batch[batch.length - 1];
    const ref = meanGradient(current, batch.slice(0, -1), grad);
    current = step(current, agemProject(grad(current, item), ref), lr, 'A-GEM');
  }
  return current;
}

/** L2 to θ_0: per batch, a step on the current item's gradient plus λ (θ − θ_0). */
export function l2Update(theta: Float32Array, batches: ReplayItem[][], grad: ItemGradient, lr: number, lambda: number, theta0: Float32Array): Float32Array {
  let current = theta;
  for (const batch of batches) {
    const g = grad(current, batch[batch.length - 1]);
    const at = current;
    current = step(current, Float64Array.from(g, (x, j) => x + lambda * (at[j] - theta0[j])), lr, 'L2');
  }
  return current;
}
