/**
 * The policy on the host, without tfjs: its spec and a float64 forward pass of the Gaussian MLP's
 * mean (`HostPolicy`), for sampling. Kept apart from policy.ts (tensors, learning) so that sampling
 * worker threads can act without loading tfjs. Parameters are laid out as in policy.ts: for each
 * layer W_l [in, out] and b_l [out], then logStd [actDim], flat and row-major.
 */

export type Activation = 'tanh' | 'relu';

export interface PolicySpec {
  obsDim: number;
  actDim: number;
  /** Hidden layer widths, e.g. [64, 64]. */
  hidden: number[];
  activation: Activation;
  /** Initial standard deviation of the action noise: one for all dimensions, or one per dimension. */
  initStd: number | number[];
}

/**
 * A policy's mean network on the host in float64, for sampling: many small forward passes,
 * where a plain loop beats dispatching tensor ops. Weights are stored transposed so each output
 * is a contiguous dot product.
 */
export class HostPolicy {
  private readonly layers: { nin: number; nout: number; wt: Float64Array; b: Float64Array }[] = [];
  private readonly bufA: Float64Array;
  private readonly bufB: Float64Array;
  readonly std: Float64Array;

  constructor(readonly spec: PolicySpec, flat: ArrayLike<number>) {
    const sizes = [spec.obsDim, ...spec.hidden, spec.actDim];
    let k = 0;
    for (let l = 0; l + 1 < sizes.length; l++) {
      const [nin, nout] = [sizes[l], sizes[l + 1]];
      const wt = new Float64Array(nin * nout);
      for (let i = 0; i < nin; i++) for (let j = 0; j < nout; j++) wt[j * nin + i] = flat[k + i * nout + j];
      k += nin * nout;
      const b = Float64Array.from({ length: nout }, (_, j) => flat[k + j]);
      k += nout;
      this.layers.push({ nin, nout, wt, b });
    }
    this.std = Float64Array.from({ length: spec.actDim }, (_, j) => Math.exp(flat[k + j]));
    const maxW = Math.max(...sizes);
    this.bufA = new Float64Array(maxW);
    this.bufB = new Float64Array(maxW);
  }

  /** Means for `rows` observations starting at row 0 of `obs`, written at `out[outOffset…]`. */
  mean(obs: ArrayLike<number>, rows: number, out: Float32Array, outOffset = 0): void {
    const { obsDim, actDim } = this.spec;
    const relu = this.spec.activation === 'relu';
    const last = this.layers.length - 1;
    for (let r = 0; r < rows; r++) {
      let x = this.bufA;
      let y = this.bufB;
      for (let i = 0; i < obsDim; i++) x[i] = obs[r * obsDim + i];
      for (let l = 0; l <= last; l++) {
        const { nin, nout, wt, b } = this.layers[l];
        for (let j = 0; j < nout; j++) {
          let s = b[j];
          const off = j * nin;
          for (let i = 0; i < nin; i++) s += wt[off + i] * x[i];
          y[j] = l === last ? s : relu ? (s > 0 ? s : 0) : Math.tanh(s);
        }
        const t = x;
        x = y;
        y = t;
      }
      for (let j = 0; j < actDim; j++) out[outOffset + r * actDim + j] = x[j];
    }
  }
}

