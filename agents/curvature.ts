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
 * deltas, transposes) is computed once at construction, so a product is a handful of plain 2-D
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
  hOnes: tf.Tensor2D; // [h_l, 1]            [N, nin+1]
  hOnesT: tf.Tensor2D; // its transpose      [nin+1, N]
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
  /** δ_l = ∂L/∂z_l and its transpose, per layer. */
  delta: tf.Tensor2D[];
  deltaT: tf.Tensor2D[];
  /** Q_l = (∂L/∂h_{l+1}) ⊙ σ''(z_l) for hidden layers (null for relu, whose σ'' is 0). */
  Q: (tf.Tensor2D | null)[];
  grad: Float64Array;
}

/**
 * Curvature of one task's losses at fixed parameters θ (flat layout of ./policy.ts).
 * Owns the tensors it creates (not `data`); call `dispose()` when done.
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

    const built = tf.tidy(() => {
      const sizes = [spec.obsDim, ...spec.hidden, A];
      const ones = tf.ones([1, N]) as tf.Tensor2D;
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
            h = tf.tanh(z);
            dAct = tf.sub(1, tf.square(h)) as tf.Tensor2D;
          } else {
            h = tf.relu(z);
            dAct = tf.cast(tf.greater(z, 0), 'float32') as tf.Tensor2D;
          }
        } else {
          h = z;
        }
        layers.push({ nin, nout, off, hOnes, hOnesT: tf.transpose(hOnes), W, WT: tf.transpose(W), dAct });
        off += (nin + 1) * nout;
      }
      const w = tf.reshape(data.weights, [N, 1]);
      const fisherCoef = tf.mul(w, tf.tensor2d(e2, [1, A])) as tf.Tensor2D;
      return { ones, layers, mu: h as tf.Tensor2D, fisherCoef, weightSum: tf.sum(w) };
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
        // R(∂L/∂[W;b]) = [h,1]ᵀ Rδ + [Rh,0]ᵀ δ; the second term is read back as δᵀ Rh and transposed on the host.
        out.push(tf.matMul(ly.hOnesT, Rdelta));
        if (l === 0) break;
        out.push(tf.matMul(ic.deltaT[l], Rh[l]));
        const VT = tf.tensor2d(transposeBlock(v32, ly.off, ly.nin, ly.nout), [ly.nout, ly.nin]);
        const Rdh = tf.add(tf.matMul(Rdelta, ly.WT), tf.matMul(ic.delta[l], VT));
        const below = this.layers[l - 1];
        const q = ic.Q[l - 1];
        Rdelta = q ? tf.add(tf.mul(Rdh, below.dAct!), tf.mul(q, Rz[l - 1])) : tf.mul(Rdh, below.dAct!);
      }
      out.push(GRmu);
      return tf.concat(out.map((t) => tf.reshape(t, [-1])));
    });
    const buf = parts.dataSync();
    parts.dispose();
    const res = new Float64Array(this.numParams);
    let k = 0;
    for (let l = L - 1; l >= 0; l--) {
      const ly = this.layers[l];
      const n = (ly.nin + 1) * ly.nout;
      for (let i = 0; i < n; i++) res[ly.off + i] = buf[k + i];
      k += n;
      if (l === 0) break;
      // buf holds (δᵀ Rh) [nout, nin]; add its transpose to the W rows.
      for (let o = 0; o < ly.nout; o++) for (let i = 0; i < ly.nin; i++) res[ly.off + i * ly.nout + o] += buf[k + o * ly.nin + i];
      k += ly.nin * ly.nout;
    }
    for (let j = 0; j < A; j++) res[this.sOff + j] = vs2[j] * ic.K[j] - 2 * buf[k + j];
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
        out.push(tf.matMul(ly.hOnesT, u));
        if (l > 0) u = tf.mul(tf.matMul(u, ly.WT), this.layers[l - 1].dAct!);
      }
      return tf.concat(out.map((t) => tf.reshape(t, [-1])));
    });
    const buf = parts.dataSync();
    parts.dispose();
    const res = new Float64Array(this.numParams);
    let k = 0;
    for (let l = L - 1; l >= 0; l--) {
      const ly = this.layers[l];
      const n = (ly.nin + 1) * ly.nout;
      for (let i = 0; i < n; i++) res[ly.off + i] = buf[k + i];
      k += n;
    }
    for (let j = 0; j < this.actDim; j++) res[this.sOff + j] = 2 * this.weightSum * v32[this.sOff + j];
    return res;
  }

  dispose(): void {
    const ts: (tf.Tensor | null)[] = [this.ones, this.mu, this.fisherCoef];
    for (const ly of this.layers) ts.push(ly.hOnes, ly.hOnesT, ly.W, ly.WT, ly.dAct);
    if (this.inner) ts.push(this.inner.C, this.inner.G, ...this.inner.delta, ...this.inner.deltaT, ...this.inner.Q);
    tf.dispose(ts.filter((t): t is tf.Tensor => t !== null && !t.isDisposed));
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

  private innerCache(): InnerCache {
    if (this.inner) return this.inner;
    const adv = this.data.advantages;
    if (!adv) throw new Error('TaskCurvature: inner-loss products need data.advantages');
    const N = this.rows;
    const A = this.actDim;
    const L = this.layers.length;
    const fc = this.fisherCoef; // w e^{−2s}; c e^{−2s} = A ⊙ fc
    const built = tf.tidy(() => {
      const C = tf.mul(tf.reshape(adv, [N, 1]), fc) as tf.Tensor2D;
      const r = tf.sub(this.mu, this.data.actions);
      const G = tf.mul(C, r) as tf.Tensor2D;
      const K = tf.matMul(this.ones, tf.mul(G, r));
      const cSum = tf.sum(tf.mul(this.data.weights, adv));
      const delta: tf.Tensor2D[] = [];
      const deltaT: tf.Tensor2D[] = [];
      const Q: (tf.Tensor2D | null)[] = [];
      const gradParts: tf.Tensor[] = [];
      delta[L - 1] = G;
      for (let l = L - 1; l >= 0; l--) {
        const ly = this.layers[l];
        gradParts.push(tf.reshape(tf.matMul(ly.hOnesT, delta[l]), [-1]));
        if (l === 0) break;
        deltaT[l] = tf.transpose(delta[l]);
        const dh = tf.matMul(delta[l], ly.WT);
        const dAct = this.layers[l - 1].dAct!;
        delta[l - 1] = tf.mul(dh, dAct) as tf.Tensor2D;
        // tanh'' = −2 tanh · tanh'; tanh(z_{l−1}) is this layer's input h_l, the first columns of hOnes.
        if (this.spec.activation === 'tanh') {
          const t = tf.slice(ly.hOnes, [0, 0], [N, ly.nin]);
          Q[l - 1] = tf.mul(tf.mul(dh, t), tf.mul(dAct, -2)) as tf.Tensor2D;
        } else {
          Q[l - 1] = null;
        }
      }
      return { C, G, K, cSum, delta, deltaT, Q, grad: tf.concat(gradParts) };
    });
    const K = Float64Array.from(built.K.dataSync());
    const cSum = built.cSum.dataSync()[0];
    const gbuf = built.grad.dataSync();
    tf.dispose([built.K, built.cSum, built.grad]);
    const grad = new Float64Array(this.numParams);
    let k = 0;
    for (let l = L - 1; l >= 0; l--) {
      const ly = this.layers[l];
      const n = (ly.nin + 1) * ly.nout;
      for (let i = 0; i < n; i++) grad[ly.off + i] = gbuf[k + i];
      k += n;
    }
    for (let j = 0; j < A; j++) grad[this.sOff + j] = cSum - K[j];
    this.inner = { C: built.C, G: built.G, K, delta: built.delta, deltaT: built.deltaT, Q: built.Q, grad };
    return this.inner;
  }

  private checkVector(who: string, v: ArrayLike<number>): Float32Array {
    if (v.length !== this.numParams) throw new Error(`TaskCurvature.${who}: vector has ${v.length} entries, the policy has ${this.numParams}`);
    return v instanceof Float32Array ? v : Float32Array.from(v);
  }
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
  let u = Float64Array.from(v);
  const through = (c: TaskCurvature) => {
    const hu = c.innerHvp(u);
    for (let i = 0; i < u.length; i++) u[i] -= alpha * hu[i];
  };
  for (const c of steps) through(c);
  u = fisher.fisherVp(u);
  for (let i = steps.length - 1; i >= 0; i--) through(steps[i]);
  return u;
}
