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
  /** Four rows side by side (row k at k·width) for the blocked pass. */
  private readonly width: number;
  private readonly blockA: Float64Array;
  private readonly blockB: Float64Array;
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
    this.width = maxW;
    this.blockA = new Float64Array(4 * maxW);
    this.blockB = new Float64Array(4 * maxW);
  }

  /** Means for `rows` observations starting at row 0 of `obs`, written at `out[outOffset…]`. */
  mean(obs: ArrayLike<number>, rows: number, out: Float32Array, outOffset = 0): void {
    let r = 0;
    // Four rows at a time: each weight is loaded once for four dot products. Every output is still
    // b_j + Σ_i w_ji x_i summed in i order, so the result is the same bit for bit as row by row.
    for (; r + 4 <= rows; r += 4) this.mean4(obs, r, out, outOffset);
    for (; r < rows; r++) this.mean1(obs, r, out, outOffset);
  }

  private mean1(obs: ArrayLike<number>, r: number, out: Float32Array, outOffset: number): void {
    const { obsDim, actDim } = this.spec;
    const relu = this.spec.activation === 'relu';
    const last = this.layers.length - 1;
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

  private mean4(obs: ArrayLike<number>, r: number, out: Float32Array, outOffset: number): void {
    const { obsDim, actDim } = this.spec;
    const relu = this.spec.activation === 'relu';
    const last = this.layers.length - 1;
    const W = this.width;
    let x = this.blockA;
    let y = this.blockB;
    for (let k = 0; k < 4; k++) for (let i = 0; i < obsDim; i++) x[k * W + i] = obs[(r + k) * obsDim + i];
    for (let l = 0; l <= last; l++) {
      const { nin, nout, wt, b } = this.layers[l];
      for (let j = 0; j < nout; j++) {
        let s0 = b[j];
        let s1 = s0;
        let s2 = s0;
        let s3 = s0;
        const off = j * nin;
        for (let i = 0; i < nin; i++) {
          const w = wt[off + i];
          s0 += w * x[i];
          s1 += w * x[W + i];
          s2 += w * x[2 * W + i];
          s3 += w * x[3 * W + i];
        }
        if (l === last) {
          y[j] = s0;
          y[W + j] = s1;
          y[2 * W + j] = s2;
          y[3 * W + j] = s3;
        } else if (relu) {
          y[j] = s0 > 0 ? s0 : 0;
          y[W + j] = s1 > 0 ? s1 : 0;
          y[2 * W + j] = s2 > 0 ? s2 : 0;
          y[3 * W + j] = s3 > 0 ? s3 : 0;
        } else {
          y[j] = Math.tanh(s0);
          y[W + j] = Math.tanh(s1);
          y[2 * W + j] = Math.tanh(s2);
          y[3 * W + j] = Math.tanh(s3);
        }
      }
      const t = x;
      x = y;
      y = t;
    }
    for (let k = 0; k < 4; k++) for (let j = 0; j < actDim; j++) out[outOffset + (r + k) * actDim + j] = x[k * W + j];
  }
}

