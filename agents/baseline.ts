/**
 * Linear feature baseline: V(s_t) = w · [s, s², τ, τ², τ³, 1] with τ = t/100, fit by ridge
 * regression to the discounted returns of one task's episodes. The ridge term starts at 1e-5 and
 * grows ×10 whenever the solve fails or gives non-finite weights (up to 5 tries), as the reference
 * implementations do. rllab clips s to ±10 in the features (`obsClip: 10`); pytorch-maml-rl does
 * not (`obsClip: 0`, the default).
 */
import { lusolve } from 'mathjs';
import type { EpisodeBatch } from '../src/core/episodes.ts';
import { NumericError } from '../src/core/errors.ts';

export interface BaselineOptions {
  /** First ridge term (×10 on each failed solve). */
  ridge?: number;
  /** Clip observations to ±obsClip in the features; 0: no clip. */
  obsClip?: number;
}

function features(obs: ArrayLike<number>, off: number, d: number, t: number, clip: number, out: Float64Array): void {
  for (let i = 0; i < d; i++) {
    const x = obs[off + i];
    const o = clip > 0 ? Math.max(-clip, Math.min(clip, x)) : x;
    out[i] = o;
    out[d + i] = o * o;
  }
  const tau = t / 100;
  out[2 * d] = tau;
  out[2 * d + 1] = tau * tau;
  out[2 * d + 2] = tau * tau * tau;
  out[2 * d + 3] = 1;
}

export class LinearFeatureBaseline {
  readonly dim: number;
  weights: Float64Array;
  readonly initialRidge: number;
  readonly obsClip: number;

  constructor(readonly obsDim: number, o: BaselineOptions = {}) {
    this.initialRidge = o.ridge ?? 1e-5;
    this.obsClip = o.obsClip ?? 0;
    this.dim = 2 * obsDim + 4;
    this.weights = new Float64Array(this.dim);
  }

  /** Fits to `targets` (E·H rows) over episodes [from, to) of `b`. */
  fit(b: EpisodeBatch, targets: Float64Array, from = 0, to = b.numEpisodes): void {
    const k = this.dim;
    const xtx = new Float64Array(k * k);
    const xty = new Float64Array(k);
    const f = new Float64Array(k);
    const H = b.horizon;
    for (let e = from; e < to; e++) {
      for (let t = 0; t < b.lengths[e]; t++) {
        const row = e * H + t;
        features(b.obs, row * this.obsDim, this.obsDim, t, this.obsClip, f);
        const y = targets[row];
        for (let i = 0; i < k; i++) {
          xty[i] += f[i] * y;
          for (let j = 0; j <= i; j++) xtx[i * k + j] += f[i] * f[j];
        }
      }
    }
    for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) xtx[j * k + i] = xtx[i * k + j];
    let ridge = this.initialRidge;
    for (let attempt = 0; attempt < 5; attempt++, ridge = ridge > 0 ? ridge * 10 : 1e-5) {
      const A: number[][] = [];
      for (let i = 0; i < k; i++) {
        A.push(Array.from(xtx.subarray(i * k, (i + 1) * k)));
        A[i][i] += ridge;
      }
      try {
        const w = (lusolve(A, Array.from(xty)) as number[][]).map((r) => r[0]);
        if (w.every(Number.isFinite)) {
          this.weights = Float64Array.from(w);
          return;
        }
      } catch {
        // singular: retry with a larger ridge term
      }
    }
    throw new NumericError('baseline fit failed: the feature matrix stays singular with ridge up to 0.1 (are observations finite?)');
  }

  /** Values at every real step of episodes [from, to) (written into `out`, E·H rows). */
  predict(b: EpisodeBatch, out: Float64Array, from = 0, to = b.numEpisodes): void {
    const f = new Float64Array(this.dim);
    const H = b.horizon;
    for (let e = from; e < to; e++) {
      for (let t = 0; t < b.lengths[e]; t++) {
        features(b.obs, (e * H + t) * this.obsDim, this.obsDim, t, this.obsClip, f);
        out[e * H + t] = dot(f, this.weights);
      }
    }
  }

  /** Value of episode e's final observation (after its last step), for bootstrapping. */
  predictFinal(b: EpisodeBatch, e: number): number {
    const f = new Float64Array(this.dim);
    features(b.finalObs, e * this.obsDim, this.obsDim, b.lengths[e], this.obsClip, f);
    return dot(f, this.weights);
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
