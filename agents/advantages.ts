/**
 * Returns and advantages on the host in float64, over an EpisodeBatch's padded rows (E·H).
 */
import type { EpisodeBatch } from '../src/core/episodes.ts';

/** Discounted reward-to-go at every real step (padding rows stay 0); no bootstrap. */
export function discountedReturns(b: EpisodeBatch, gamma: number): Float64Array {
  const H = b.horizon;
  const out = new Float64Array(b.numEpisodes * H);
  for (let e = 0; e < b.numEpisodes; e++) {
    let g = 0;
    for (let t = b.lengths[e] - 1; t >= 0; t--) {
      g = b.rewards[e * H + t] + gamma * g;
      out[e * H + t] = g;
    }
  }
  return out;
}

/**
 * Generalized advantage estimation: δ_t = r_t + γ V_{t+1} − V_t, A_t = δ_t + γλ A_{t+1}.
 * V after an episode's last step is `b.lastValues[e]` — the bootstrap for a truncated episode,
 * 0 for a terminated one (see EpisodeBatch.finishPath).
 */
export function gae(b: EpisodeBatch, values: Float64Array, gamma: number, lambda: number): Float64Array {
  const H = b.horizon;
  const out = new Float64Array(b.numEpisodes * H);
  for (let e = 0; e < b.numEpisodes; e++) {
    let next = b.lastValues[e];
    let a = 0;
    for (let t = b.lengths[e] - 1; t >= 0; t--) {
      const i = e * H + t;
      const delta = b.rewards[i] + gamma * next - values[i];
      a = delta + gamma * lambda * a;
      out[i] = a;
      next = values[i];
    }
  }
  return out;
}

/**
 * Normalizes `x` to zero mean and unit variance over the real steps of each group of
 * `episodesPerGroup` consecutive episodes (one group per task), in place.
 */
export function normalizePerGroup(b: EpisodeBatch, x: Float64Array, episodesPerGroup: number): Float64Array {
  const H = b.horizon;
  for (let g0 = 0; g0 < b.numEpisodes; g0 += episodesPerGroup) {
    const g1 = Math.min(g0 + episodesPerGroup, b.numEpisodes);
    let n = 0;
    let s = 0;
    let s2 = 0;
    for (let e = g0; e < g1; e++) for (let t = 0; t < b.lengths[e]; t++) {
      const v = x[e * H + t];
      n++;
      s += v;
      s2 += v * v;
    }
    const mean = s / Math.max(n, 1);
    const std = Math.sqrt(Math.max(s2 / Math.max(n, 1) - mean * mean, 0));
    for (let e = g0; e < g1; e++) for (let t = 0; t < b.lengths[e]; t++) x[e * H + t] = (x[e * H + t] - mean) / (std + 1e-8);
  }
  return x;
}
