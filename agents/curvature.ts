/**
 * Analytic curvature products for the Gaussian MLP policy of ./policy.ts on one task's batch,
 * by Pearlmutter's R-operator instead of nested tf.grads.
 *
 * Network (rows n = 1…N, layers l = 0…L−1, h_0 = obs):
 *     z_l = h_l W_l + b_l,   h_{l+1} = σ(z_l) (hidden),   μ = z_{L−1} (linear output),  s = logStd.
 * Inner (VPG) loss with c_n = w_n A_n and r = μ − a:
 *     L = Σ_n c_n [ ½ Σ_j r_nj² e^{−2s_j} + Σ_j s_j ] + const
 *     ∂L/∂μ = G := c e^{−2s} r,        ∂L/∂s_j = Σ_n c_n − K_j,   K_j := Σ_n G_nj r_nj
 *     ∂²L/∂μ² = C := c e^{−2s},   ∂²L/∂s_j∂μ_nj = −2 G_nj,   ∂²L/∂s_j² = 2 K_j.
 * KL(old ‖ π_θ) = Σ_n w_n Σ_j [s_j − s°_j + (e^{2s°_j} + (μ°_nj − μ_nj)²) e^{−2s_j}/2 − ½]; at θ = θ_old
 * (μ = μ°, s = s°) its Hessian is J_μᵀ diag(w e^{−2s}) J_μ on the network block, 2 Σ_n w_n on
 * the logStd diagonal, and the μ–s cross term 2 w (μ° − μ) e^{−2s} vanishes.
 *
 * Everything that does not depend on the direction v (activations, σ', σ''·∂L/∂h, backward
 * deltas, Wᵀ) is computed once at construction, so a product is a handful of plain 2-D
 * matMuls and elementwise ops. Transposes are explicit (matMul's transpose flags are ~10× slower
 * on wasm); each layer's W and b share one matMul through an appended column of ones, because
 * the flat layout of a layer, W [in, out] rows then b [out], is the matrix [W; b] of shape [in+1, out].
 */
import * as tf from '@tensorflow/tfjs';
import { type PolicySpec, numParams } from './policy.ts';

/** One task's batch (agents/maml.ts `TaskData` fits). `advantages` is needed only by the inner-loss products. */
export interface CurvatureData {
  obs: tf.Tensor; // [N, obsDim]
  actions: tf.Tensor; // [N, actDim]
  advantages?: tf.Tensor; // [N]
  weights: tf.Tensor; // [N]
}

interface Layer {
  nin: number;
  nout: number;
  /** Offset of this layer's [W; b] block in the flat vector. */
  off: number;
  hOnes: tf.Tensor2D; // [h_l, 1]   [N, nin+1]
  W: tf.Tensor2D; // [nin, nout]
  WT: tf.Tensor2D; // [nout, nin]
  /** σ'(z_l) for hidden layers. */
  dAct: tf.Tensor2D | null; // [N, nout]
}

/** Inner-loss quantities, built on first use (a Fisher-only instance never needs them). */
interface InnerCache {
  C: tf.Tensor2D; // c e^{−2s}                      [N, A]
  G: tf.Tensor2D; // ∂L/∂μ = C r                    [N, A]
  K: Float64Array; // Σ_n G_nj r_nj                 [A]
  /** δ_l = ∂L/∂z_l per layer. */
  delta: tf.Tensor2D[];
  /** Q_l = (∂L/∂h_{l+1}) ⊙ σ''(z_l) for hidden layers (null for relu, whose σ'' is 0). */
  Q: (tf.Tensor2D | null)[];
  grad: Float64Array;
}

/**
 * Curvature of one task's losses at fixed parameters θ (flat layout of ./policy.ts).
 * Owns the tensors it creates (not `data`); call `dispose()` when done.
 *
 * A sum over rows Σ_n x_n ⊗ y_n with y computed per product is taken as matMul(transpose(y), x)
 * with the constant x on the right: the wasm backend re-packs a matMul's right operand whenever
 * it is a new tensor (~4 ns per element) and caches it otherwise, which made the obvious
 * matMul(xᵀ, y) 1.5–3.5× slower than transposing y. The resulting [out, in+1] blocks are
 * transposed back while unpacking on the host.
 */
export class TaskCurvature {
  readonly numParams: number;
  readonly rows: number;
  private readonly layers: Layer[];
  private readonly actDim: number;
  private readonly sOff: number;
  private readonly ones: tf.Tensor2D; // [1, N], for column sums by matMul
  private readonly mu: tf.Tensor2D; // [N, A]
  private readonly fisherCoef: tf.Tensor2D; // w e^{−2s}  [N, A]
  private readonly weightSum: number;
  private inner: InnerCache | null = null;

  constructor(
    private readonly spec: PolicySpec,
    params: ArrayLike<number>,
    private readonly data: CurvatureData,
  ) {
    this.numParams = numParams(spec);
    if (params.length !== this.numParams) throw new Error(`TaskCurvature: params has ${params.length} entries, the policy has ${this.numParams}`);
    const N = data.obs.shape[0];
    const A = spec.actDim;
    checkShape('obs', data.obs, [N, spec.obsDim]);
    checkShape('actions', data.actions, [N, A]);
    checkShape('weights', data.weights, [N]);
    if (data.advantages) checkShape('advantages', data.advantages, [N]);
    this.rows = N;
    this.actDim = A;
    this.sOff = this.numParams - A;
    const theta = Float32Array.from(params);
    const e2 = new Float32Array(A);
    for (let j = 0; j < A; j++) e2[j] = Math.exp(-2 * theta[this.sOff + j]);

    const built = tidy(() => {
      const sizes = [spec.obsDim, ...spec.hidden, A];
      const onesCol = tf.ones([N, 1]);
      const layers: Layer[] = [];
      let h: tf.Tensor = data.obs;
      let off = 0;
      for (let l = 0; l + 1 < sizes.length; l++) {
        const nin = sizes[l];
        const nout = sizes[l + 1];
        const Wb = tf.tensor2d(theta.subarray(off, off + (nin + 1) * nout), [nin + 1, nout]);
        const W = tf.tensor2d(theta.subarray(off, off + nin * nout), [nin, nout]);
        const hOnes = tf.concat([h, onesCol], 1) as tf.Tensor2D;
        const z = tf.matMul(hOnes, Wb);
        let dAct: tf.Tensor2D | null = null;
        if (l + 2 < sizes.length) {
          if (spec.activation === 'tanh') {
            // tanh = 2σ(2z) − 1: the wasm backend's sigmoid is vectorized and ~8× faster than its
            // tanh (2000×64: 0.33 ms against 2.8 ms), within 2e-7 of it.
            h = tf.sub(tf.mul(tf.sigmoid(tf.mul(z, 2)), 2), 1);
            dAct = tf.sub(1, tf.square(h)) as tf.Tensor2D;
          } else {
            h = tf.relu(z);
            dAct = tf.cast(tf.greater(z, 0), 'float32') as tf.Tensor2D;
          }
        } else {
          h = z;
        }
        layers.push({ nin, nout, off, hOnes, W, WT: tf.transpose(W), dAct });
        off += (nin + 1) * nout;
      }
      const w = tf.reshape(data.weights, [N, 1]);
      const fisherCoef = tf.mul(w, tf.tensor2d(e2, [1, A])) as tf.Tensor2D;
      return { ones: tf.ones([1, N]) as tf.Tensor2D, layers, mu: h as tf.Tensor2D, fisherCoef, weightSum: tf.sum(w) };
    });
    this.ones = built.ones;
    this.layers = built.layers;
    this.mu = built.mu;
    this.fisherCoef = built.fisherCoef;
    this.weightSum = built.weightSum.dataSync()[0];
    built.weightSum.dispose();
  }

  /** Gradient of the inner loss −Σ_n w_n A_n log π(a_n|s_n) (flat). */
  innerGrad(): Float64Array {
    return Float64Array.from(this.innerCache().grad);
  }

  /** H v for the inner loss's exact Hessian H (network second derivatives and logStd terms included). */
  innerHvp(v: ArrayLike<number>): Float64Array {
    const ic = this.innerCache();
    const v32 = this.checkVector('innerHvp', v);
    const L = this.layers.length;
    const A = this.actDim;
    const vs2 = new Float32Array(A);
    for (let j = 0; j < A; j++) vs2[j] = 2 * v32[this.sOff + j];
    const parts = tf.tidy(() => {
      const { Rz, Rh } = this.rForward(v32);
      const Rmu = Rz[L - 1];
      // R(∂L/∂μ) = C ⊙ Rμ − 2 G ⊙ v_s;  Σ_n G ⊙ Rμ feeds the logStd block.
      const GRmu = tf.matMul(this.ones, tf.mul(ic.G, Rmu));
      let Rdelta: tf.Tensor = tf.sub(tf.mul(ic.C, Rmu), tf.mul(ic.G, tf.tensor2d(vs2, [1, A])));
      const out: tf.Tensor[] = [];
      for (let l = L - 1; l >= 0; l--) {
        const ly = this.layers[l];
        // R(∂L/∂[W;b]) = [h,1]ᵀ Rδ + [Rh,0]ᵀ δ.
        out.push(tf.matMul(tf.transpose(Rdelta), ly.hOnes));
        if (l === 0) break;
        out.push(tf.matMul(tf.transpose(Rh[l]), ic.delta[l]));
        const VT = tf.tensor2d(transposeBlock(v32, ly.off, ly.nin, ly.nout), [ly.nout, ly.nin]);
        const Rdh = tf.add(tf.matMul(Rdelta, ly.WT), tf.matMul(ic.delta[l], VT));
        const below = this.layers[l - 1];
        const q = ic.Q[l - 1];
        Rdelta = q ? tf.add(tf.mul(Rdh, below.dAct!), tf.mul(q, Rz[l - 1])) : tf.mul(Rdh, below.dAct!);
      }
      out.push(GRmu);
      return out;
    });
    const res = new Float64Array(this.numParams);
    const GRmu = this.unpack(parts, res, true).dataSync();
    for (let j = 0; j < A; j++) res[this.sOff + j] = vs2[j] * ic.K[j] - 2 * GRmu[j];
    tf.dispose(parts);
    return res;
  }

  /** F v with F the Hessian of Σ_n w_n KL(π_θ(old) ‖ π_θ) at θ = θ_old (the Fisher). */
  fisherVp(v: ArrayLike<number>): Float64Array {
    const v32 = this.checkVector('fisherVp', v);
    const L = this.layers.length;
    const parts = tf.tidy(() => {
      const { Rz } = this.rForward(v32);
      let u: tf.Tensor = tf.mul(this.fisherCoef, Rz[L - 1]);
      const out: tf.Tensor[] = [];
      for (let l = L - 1; l >= 0; l--) {
        const ly = this.layers[l];
        out.push(tf.matMul(tf.transpose(u), ly.hOnes));
        if (l > 0) u = tf.mul(tf.matMul(u, ly.WT), this.layers[l - 1].dAct!);
      }
      return out;
    });
    const res = new Float64Array(this.numParams);
    this.unpack(parts, res, false);
    tf.dispose(parts);
    for (let j = 0; j < this.actDim; j++) res[this.sOff + j] = 2 * this.weightSum * v32[this.sOff + j];
    return res;
  }

  dispose(): void {
    const ts: (tf.Tensor | null | undefined)[] = [this.ones, this.mu, this.fisherCoef];
    for (const ly of this.layers) ts.push(ly.hOnes, ly.W, ly.WT, ly.dAct);
    if (this.inner) ts.push(this.inner.C, this.inner.G, ...this.inner.delta, ...this.inner.Q);
    tf.dispose(ts.filter((t): t is tf.Tensor => t != null && !t.isDisposed));
    this.inner = null;
  }

  /** Rz_l = [h_l,1] [V_l; v_b] + Rh_l W_l,  Rh_{l+1} = σ'(z_l) ⊙ Rz_l  (Rh_0 = 0). Call inside tidy. */
  private rForward(v32: Float32Array): { Rz: tf.Tensor[]; Rh: tf.Tensor[] } {
    const Rz: tf.Tensor[] = [];
    const Rh: tf.Tensor[] = [];
    for (let l = 0; l < this.layers.length; l++) {
      const ly = this.layers[l];
      const Vb = tf.tensor2d(v32.subarray(ly.off, ly.off + (ly.nin + 1) * ly.nout), [ly.nin + 1, ly.nout]);
      let z = tf.matMul(ly.hOnes, Vb);
      if (l > 0) {
        Rh[l] = tf.mul(Rz[l - 1], this.layers[l - 1].dAct!);
        z = tf.add(z, tf.matMul(Rh[l], ly.W));
      }
      Rz.push(z);
    }
    return { Rz, Rh };
  }

  /**
   * Reads the network blocks of a product into `res`. `parts` holds, per layer, last first, a
   * transposed [W; b] block [nout, nin+1], then (`withW`, layers above the first) a W term
   * [nin, nout] to add. Returns the first part left over. (Reading parts one by one is cheaper
   * than concatenating them on the device.)
   */
  private unpack(parts: tf.Tensor[], res: Float64Array, withW: boolean): tf.Tensor {
    let k = 0;
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const { nin, nout, off } = this.layers[l];
      const bt = parts[k++].dataSync();
      for (let o = 0; o < nout; o++) for (let i = 0; i <= nin; i++) res[off + i * nout + o] = bt[o * (nin + 1) + i];
      if (withW && l > 0) {
        const w = parts[k++].dataSync();
        for (let i = 0; i < nin * nout; i++) res[off + i] += w[i];
      }
    }
    return parts[k];
  }

  private innerCache(): InnerCache {
    if (this.inner) return this.inner;
    const adv = this.data.advantages;
    if (!adv) throw new Error('TaskCurvature: inner-loss products need data.advantages');
    const N = this.rows;
    const L = this.layers.length;
    const built = tidy(() => {
      // c e^{−2s} = A ⊙ (w e^{−2s}).
      const C = tf.mul(tf.reshape(adv, [N, 1]), this.fisherCoef) as tf.Tensor2D;
      const r = tf.sub(this.mu, this.data.actions);
      const G = tf.mul(C, r) as tf.Tensor2D;
      const K = tf.matMul(this.ones, tf.mul(G, r));
      const cSum = tf.sum(tf.mul(this.data.weights, adv));
      const delta: tf.Tensor2D[] = [];
      const Q: (tf.Tensor2D | null)[] = [];
      const gradParts: tf.Tensor[] = [];
      delta[L - 1] = G;
      for (let l = L - 1; l >= 0; l--) {
        const ly = this.layers[l];
        gradParts.push(tf.matMul(tf.transpose(delta[l]), ly.hOnes));
        if (l === 0) break;
        const dh = tf.matMul(delta[l], ly.WT);
        const dAct = this.layers[l - 1].dAct!;
        delta[l - 1] = tf.mul(dh, dAct) as tf.Tensor2D;
        if (this.spec.activation === 'tanh') {
          // tanh'' = −2 tanh · tanh'; tanh(z_{l−1}) is this layer's input h_l, the first columns of hOnes.
          const t = tf.slice(ly.hOnes, [0, 0], [N, ly.nin]);
          Q[l - 1] = tf.mul(tf.mul(dh, t), tf.mul(dAct, -2)) as tf.Tensor2D;
        } else {
          Q[l - 1] = null;
        }
      }
      return { C, G, K, cSum, delta, Q, gradParts };
    });
    const K = Float64Array.from(built.K.dataSync());
    const cSum = built.cSum.dataSync()[0];
    const grad = new Float64Array(this.numParams);
    this.unpack(built.gradParts, grad, false);
    tf.dispose([built.K, built.cSum, ...built.gradParts]);
    for (let j = 0; j < this.actDim; j++) grad[this.sOff + j] = cSum - K[j];
    this.inner = { C: built.C, G: built.G, K, delta: built.delta, Q: built.Q, grad };
    return this.inner;
  }

  private checkVector(who: string, v: ArrayLike<number>): Float32Array {
    if (v.length !== this.numParams) throw new Error(`TaskCurvature.${who}: vector has ${v.length} entries, the policy has ${this.numParams}`);
    return v instanceof Float32Array ? v : Float32Array.from(v);
  }
}

/** tf.tidy for results mixing tensors and plain data (tfjs types admit only tensor containers; it keeps every tensor found). */
function tidy<R>(f: () => R): R {
  return tf.tidy(f as unknown as () => tf.TensorContainer) as unknown as R;
}

/** The W block [nin, nout] at `off`, transposed to [nout, nin]. */
function transposeBlock(v: Float32Array, off: number, nin: number, nout: number): Float32Array {
  const out = new Float32Array(nin * nout);
  for (let i = 0; i < nin; i++) for (let o = 0; o < nout; o++) out[o * nin + i] = v[off + i * nout + o];
  return out;
}

function checkShape(name: string, t: tf.Tensor, want: number[]): void {
  if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
    throw new Error(`TaskCurvature: data.${name} has shape [${t.shape}], expected [${want}]`);
  }
}

/**
 * The KL Hessian-vector product of MAML-TRPO for one task, Jᵀ F J v with J = (I − α H_{k−1})…(I − α H_0):
 * `steps[i]` holds the inner loss at P_i on step i's train data, `fisher` the KL at the adapted P_k on
 * the validation data. With no steps (first-order MAML) it is F v.
 */
export function adaptedKlHvp(steps: TaskCurvature[], fisher: TaskCurvature, alpha: number, v: ArrayLike<number>): Float64Array {
  let u: Float64Array = Float64Array.from(v);
  const through = (c: TaskCurvature) => {
    const hu = c.innerHvp(u);
    for (let i = 0; i < u.length; i++) u[i] -= alpha * hu[i];
  };
  for (const c of steps) through(c);
  u = fisher.fisherVp(u);
  for (let i = steps.length - 1; i >= 0; i--) through(steps[i]);
  return u;
}
