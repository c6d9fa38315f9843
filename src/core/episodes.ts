/**
 * A batch of episodes as struct-of-arrays typed arrays, padded to the horizon H.
 * Episode e's step t lives at row e·H + t. Rows at t ≥ lengths[e] are padding (zeros).
 *
 * `finishPath(e, lastValue)` records the value after the episode's last step: an episode cut
 * by the time limit bootstraps from it; a terminated one ignores it (nothing follows a terminal
 * state).
 */
export class EpisodeBatch {
  readonly obs: Float32Array; // E·H × obsDim
  readonly actions: Float32Array; // E·H × actDim
  readonly rewards: Float32Array; // E·H
  readonly lengths: Int32Array; // E
  readonly terminated: Uint8Array; // E: 1 when the episode ended in a terminal state
  readonly finalObs: Float32Array; // E × obsDim: observation after the last step
  readonly lastValues: Float32Array; // E: bootstrap value (0 when terminated)

  constructor(
    readonly numEpisodes: number,
    readonly horizon: number,
    readonly obsDim: number,
    readonly actDim: number,
  ) {
    const rows = numEpisodes * horizon;
    this.obs = new Float32Array(rows * obsDim);
    this.actions = new Float32Array(rows * actDim);
    this.rewards = new Float32Array(rows);
    this.lengths = new Int32Array(numEpisodes);
    this.terminated = new Uint8Array(numEpisodes);
    this.finalObs = new Float32Array(numEpisodes * obsDim);
    this.lastValues = new Float32Array(numEpisodes);
  }

  /** Sets the value that follows episode e's last step; forced to 0 for a terminated episode. */
  finishPath(e: number, lastValue: number): void {
    this.lastValues[e] = this.terminated[e] ? 0 : lastValue;
  }

  /** Mask (1 for real steps, 0 for padding), E·H entries. */
  mask(): Float32Array {
    const m = new Float32Array(this.numEpisodes * this.horizon);
    for (let e = 0; e < this.numEpisodes; e++) m.fill(1, e * this.horizon, e * this.horizon + this.lengths[e]);
    return m;
  }

  /** Undiscounted return of each episode. */
  episodeReturns(): Float64Array {
    const out = new Float64Array(this.numEpisodes);
    for (let e = 0; e < this.numEpisodes; e++) {
      let s = 0;
      for (let t = 0; t < this.lengths[e]; t++) s += this.rewards[e * this.horizon + t];
      out[e] = s;
    }
    return out;
  }

  /** Mean undiscounted return over the batch. */
  meanReturn(): number {
    const r = this.episodeReturns();
    return r.reduce((a, b) => a + b, 0) / r.length;
  }

  /** Episodes [from, to) as a new batch (copies). */
  slice(from: number, to: number): EpisodeBatch {
    const b = new EpisodeBatch(to - from, this.horizon, this.obsDim, this.actDim);
    const H = this.horizon;
    b.obs.set(this.obs.subarray(from * H * this.obsDim, to * H * this.obsDim));
    b.actions.set(this.actions.subarray(from * H * this.actDim, to * H * this.actDim));
    b.rewards.set(this.rewards.subarray(from * H, to * H));
    b.lengths.set(this.lengths.subarray(from, to));
    b.terminated.set(this.terminated.subarray(from, to));
    b.finalObs.set(this.finalObs.subarray(from * this.obsDim, to * this.obsDim));
    b.lastValues.set(this.lastValues.subarray(from, to));
    return b;
  }

  /** Episodes of several batches (same horizon and dimensions), in order, as one batch. */
  static concat(parts: EpisodeBatch[]): EpisodeBatch {
    if (parts.length === 1) return parts[0];
    const [h, o, a] = [parts[0].horizon, parts[0].obsDim, parts[0].actDim];
    if (parts.some((p) => p.horizon !== h || p.obsDim !== o || p.actDim !== a)) {
      throw new Error('EpisodeBatch.concat: batches differ in horizon or dimensions');
    }
    const b = new EpisodeBatch(parts.reduce((n, p) => n + p.numEpisodes, 0), h, o, a);
    let e = 0;
    for (const p of parts) {
      b.obs.set(p.obs, e * h * o);
      b.actions.set(p.actions, e * h * a);
      b.rewards.set(p.rewards, e * h);
      b.lengths.set(p.lengths, e);
      b.terminated.set(p.terminated, e);
      b.finalObs.set(p.finalObs, e * o);
      b.lastValues.set(p.lastValues, e);
      e += p.numEpisodes;
    }
    return b;
  }
}
