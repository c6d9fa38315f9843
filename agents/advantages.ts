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
 * How steps are averaged in a task's losses and in advantage normalization:
 *   'step'     every real step weighs the same (rllab: means over the concatenated samples);
 *   'episode'  the mean over episodes of each episode's mean (pytorch-maml-rl's `weighted_mean`),
 *              so a step of a short (terminated) episode weighs more. Equal for equal lengths.
 */
export type StepWeighting = 'step' | 'episode';

/**
 * Weight of each row (E·H) in a weighted sum that gives the mean over the real steps of episodes
 * [from, to), under `weighting`; padding rows get 0. The weights sum to 1.
 */
export function stepWeights(b: EpisodeBatch, from: number, to: number, weighting: StepWeighting): Float64Array {
  const H = b.horizon;
  const w = new Float64Array((to - from) * H);
  let steps = 0;
  for (let e = from; e < to; e++) steps += b.lengths[e];
  // Empty episodes (a robot's first step discarded) hold no steps and carry no weight.
  let episodes = 0;
  for (let e = from; e < to; e++) if (b.lengths[e] > 0) episodes++;
  episodes = Math.max(episodes, 1);
  for (let e = from; e < to; e++) {
    const n = b.lengths[e];
    const each = weighting === 'episode' ? 1 / (n * episodes) : 1 / steps;
    w.fill(n > 0 ? each : 0, (e - from) * H, (e - from) * H + n);
  }
  return w;
}

/**
 * Normalizes `x` to zero mean and unit variance over the real steps of each group of
 * `episodesPerGroup` consecutive episodes (one group per task), in place. Mean and variance are
 * taken with `weighting` ('episode': pytorch-maml-rl's `weighted_normalize`).
 */
export function normalizePerGroup(b: EpisodeBatch, x: Float64Array, episodesPerGroup: number, weighting: StepWeighting = 'step'): Float64Array {
  const H = b.horizon;
  for (let g0 = 0; g0 < b.numEpisodes; g0 += episodesPerGroup) {
    const g1 = Math.min(g0 + episodesPerGroup, b.numEpisodes);
    const w = stepWeights(b, g0, g1, weighting);
    let mean = 0;
    for (let e = g0; e < g1; e++) for (let t = 0; t < b.lengths[e]; t++) mean += w[(e - g0) * H + t] * x[e * H + t];
    let variance = 0;
    for (let e = g0; e < g1; e++) for (let t = 0; t < b.lengths[e]; t++) variance += w[(e - g0) * H + t] * (x[e * H + t] - mean) ** 2;
    const std = Math.sqrt(variance);
    for (let e = g0; e < g1; e++) for (let t = 0; t < b.lengths[e]; t++) x[e * H + t] = (x[e * H + t] - mean) / (std + 1e-8);
  }
  return x;
}
