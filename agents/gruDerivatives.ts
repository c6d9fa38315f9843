/**
 * Derivatives of the GRU policy's means (agents/gru.ts) at fixed parameters θ, for TRPO: the
 * forward pass is run once and its activations kept; then
 *     jvp(v)  = J_μ v     forward mode: the tangent ḣ_t carried along the sequence,
 *     vjp(c)  = J_μᵀ c    reverse mode: backpropagation through time,
 * both with plain tensor ops and no gradient tape (tfjs's tape costs ~9 forward passes here;
 * these cost ~1.5 each). J_μ is the Jacobian of all the means μ_{b,t} [B, L, A] with respect to θ;
 * the logStd entries of its columns are zero.
 *
 * Per step, with the cached z, r, n, h_{t−1} (see gru.ts for the equations):
 *   forward   ż|ṙ = σ'(a_zr) ⊙ (x Ẇ_zr + ḃ_zr + ḣ U_zr + h U̇_zr)
 *             ṅ = (1 − n²) ⊙ (x Ẇ_n + ḃ_n + (ṙ ⊙ h + r ⊙ ḣ) U_n + (r ⊙ h) U̇_n)
 *             ḣ_t = ṅ + ż ⊙ (h − n) + z ⊙ (ḣ − ṅ),   μ̇_t = ḣ_t W_o + h_t Ẇ_o + ḃ_o
 *   reverse   g = c_t W_oᵀ + g_{t+1→t}; ā_n = g ⊙ (1 − z) ⊙ (1 − n²); ā_z = g ⊙ (h − n) ⊙ z(1 − z)
 *             ḡ_rh = ā_n U_nᵀ; ā_r = ḡ_rh ⊙ h ⊙ r(1 − r)
 *             g_{t→t−1} = g ⊙ z + ḡ_rh ⊙ r + [ā_z | ā_r] U_zrᵀ
 * and the weight gradients are summed over all steps at once (one matMul each), e.g.
 * ∇U_zr = Σ_t h_{t−1}ᵀ [ā_z | ā_r]. Inputs, cotangents and tangents are lists of L per-step
 * tensors [B, ·]: slicing a step out of a larger tensor costs far more than a step's arithmetic.
 */
import * as tf from '@tensorflow/tfjs';
import { type GruSpec, type StepInputs, gruInputDim, gruShapes, numGruParams } from './gru.ts';

/** θ's tensors with W_x and b split into their z|r and n columns. */
interface GateWeights {
  wzr: tf.Tensor;
  wn: tf.Tensor;
  bzr: tf.Tensor;
  bn: tf.Tensor;
  uzr: tf.Tensor;
  un: tf.Tensor;
  wo: tf.Tensor;
  bo: tf.Tensor;
}

/** Gate weights of a flat vector (host slicing: no tensor ops). */
function gateWeights(spec: GruSpec, flat: ArrayLike<number>): GateWeights {
  const [I, U, A] = [gruInputDim(spec), spec.hidden, spec.actDim];
  const sh = gruShapes(spec);
  let k = 0;
  const take = (n: number) => {
    const out = Float32Array.from({ length: n }, (_, i) => flat[k + i]);
    k += n;
    return out;
  };
  const wx = take(I * 3 * U);
  const uzr = tf.tensor2d(take(U * 2 * U), sh.uzr as [number, number]);
  const un = tf.tensor2d(take(U * U), [U, U]);
  const b = take(3 * U);
  const wo = tf.tensor2d(take(U * A), [U, A]);
  const bo = tf.tensor1d(take(A));
  const cols = (from: number, to: number) => Float32Array.from({ length: I * (to - from) }, (_, i) => wx[Math.floor(i / (to - from)) * 3 * U + from + (i % (to - from))]);
  return {
    wzr: tf.tensor2d(cols(0, 2 * U), [I, 2 * U]),
    wn: tf.tensor2d(cols(2 * U, 3 * U), [I, U]),
    bzr: tf.tensor1d(b.subarray(0, 2 * U)),
    bn: tf.tensor1d(b.subarray(2 * U)),
    uzr,
    un,
    wo,
    bo,
  };
}

const disposeWeights = (w: GateWeights) => tf.dispose(Object.values(w));

/** What one step keeps for the derivatives (a type alias, so that tf.tidy can return it). */
type StepCache = {
  hPrev: tf.Tensor; // h_{t−1} [B, U] (zeros at t = 0)
  z: tf.Tensor;
  r: tf.Tensor;
  rh: tf.Tensor; // r ⊙ h_{t−1}
  h: tf.Tensor;
  hn: tf.Tensor; // h_{t−1} − n
  dzr: tf.Tensor; // σ'(a_zr) = zr ⊙ (1 − zr) [B, 2U]
  dn: tf.Tensor; // 1 − n²
  kn: tf.Tensor; // (1 − z) ⊙ (1 − n²)
  kz: tf.Tensor; // (h_{t−1} − n) ⊙ z(1 − z)
  kr: tf.Tensor; // h_{t−1} ⊙ r(1 − r)
};

/** The GRU linearized at θ on fixed input sequences. Owns its tensors: call dispose(). */
export class GruLinearization {
  readonly rows: number;
  readonly steps: number;
  private readonly w: GateWeights;
  private readonly cache: StepCache[] = [];
  private readonly kept: tf.Tensor[];
  private readonly xT: tf.Tensor; // [I, L·B]: the inputs of all steps, transposed
  private readonly hPrevT: tf.Tensor; // [U, L·B]
  private readonly rhT: tf.Tensor;
  private readonly hT: tf.Tensor;
  private readonly uzrT: tf.Tensor;
  private readonly unT: tf.Tensor;
  private readonly woT: tf.Tensor;
  /** Means of every step, [B, A] each (plain ops: equal to gruMeans up to float32 rounding). */
  readonly means: tf.Tensor[];

  constructor(readonly spec: GruSpec, theta: ArrayLike<number>, private readonly inputs: StepInputs) {
    if (theta.length !== numGruParams(spec)) throw new Error(`GruLinearization: ${theta.length} parameters for a spec that has ${numGruParams(spec)}`);
    this.steps = inputs.length;
    this.rows = inputs[0].shape[0];
    const U = spec.hidden;
    this.w = gateWeights(spec, theta);
    const w = this.w;
    const all = tf.tidy(() => {
      let hPrev = tf.zeros([this.rows, U]);
      const out: StepCache[] = [];
      for (const x of inputs) {
        const zr = tf.sigmoid(tf.add(tf.add(tf.matMul(x, w.wzr), w.bzr), tf.matMul(hPrev, w.uzr)));
        const [z, r] = tf.split(zr, 2, 1);
        const rh = tf.mul(r, hPrev);
        const n = tf.tanh(tf.add(tf.add(tf.matMul(x, w.wn), w.bn), tf.matMul(rh, w.un)));
        const hn = tf.sub(hPrev, n);
        const h = tf.add(n, tf.mul(z, hn));
        const dn = tf.sub(1, tf.mul(n, n));
        out.push({
          hPrev, z, r, rh, h, hn, dn,
          dzr: tf.mul(zr, tf.sub(1, zr)),
          kn: tf.mul(tf.sub(1, z), dn),
          kz: tf.mul(hn, tf.mul(z, tf.sub(1, z))),
          kr: tf.mul(hPrev, tf.mul(r, tf.sub(1, r))),
        });
        hPrev = h;
      }
      const T = (xs: tf.Tensor[]) => tf.transpose(tf.concat(xs, 0));
      const means = out.map((c) => tf.add(tf.matMul(c.h, w.wo), w.bo));
      return {
        out,
        means,
        xT: T(inputs),
        hPrevT: T(out.map((c) => c.hPrev)),
        rhT: T(out.map((c) => c.rh)),
        hT: T(out.map((c) => c.h)),
        uzrT: tf.transpose(w.uzr),
        unT: tf.transpose(w.un),
        woT: tf.transpose(w.wo),
      };
    });
    this.cache = all.out;
    this.means = all.means;
    ({ xT: this.xT, hPrevT: this.hPrevT, rhT: this.rhT, hT: this.hT, uzrT: this.uzrT, unT: this.unT, woT: this.woT } = all);
    this.kept = [...all.out.flatMap((c) => Object.values(c)), ...all.means, all.xT, all.hPrevT, all.rhT, all.hT, all.uzrT, all.unT, all.woT];
  }

  /** J_μ v: the means' derivative along v (flat, θ's layout), one [B, A] tensor per step. */
  jvp(v: ArrayLike<number>): tf.Tensor[] {
    const dw = gateWeights(this.spec, v);
    const w = this.w;
    try {
      return tf.tidy(() => {
        let dh: tf.Tensor | null = null;
        const out: tf.Tensor[] = [];
        this.inputs.forEach((x, t) => {
          const c = this.cache[t];
          let azr = tf.add(tf.add(tf.matMul(x, dw.wzr), dw.bzr), tf.matMul(c.hPrev, dw.uzr));
          if (dh) azr = tf.add(azr, tf.matMul(dh, w.uzr));
          const dzr = tf.mul(c.dzr, azr);
          const [dz, dr] = tf.split(dzr, 2, 1);
          let drh = tf.mul(dr, c.hPrev);
          if (dh) drh = tf.add(drh, tf.mul(c.r, dh));
          const an = tf.add(tf.add(tf.add(tf.matMul(x, dw.wn), dw.bn), tf.matMul(drh, w.un)), tf.matMul(c.rh, dw.un));
          const dn = tf.mul(c.dn, an);
          // ḣ = ṅ + ż ⊙ (h − n) + z ⊙ (ḣ − ṅ)
          const carried: tf.Tensor = dh ? tf.mul(c.z, tf.sub(dh, dn)) : tf.neg(tf.mul(c.z, dn));
          dh = tf.add(tf.add(dn, tf.mul(dz, c.hn)), carried);
          out.push(tf.add(tf.add(tf.matMul(dh, w.wo), tf.matMul(c.h, dw.wo)), dw.bo));
        });
        return out;
      });
    } finally {
      disposeWeights(dw);
    }
  }

  /** J_μᵀ c for cotangents c (one [B, A] tensor per step), flat in θ's layout (logStd entries 0). */
  vjp(cs: tf.Tensor[]): Float64Array {
    if (cs.length !== this.steps) throw new Error(`vjp: ${cs.length} cotangents for ${this.steps} steps`);
    const grads = tf.tidy(() => {
      const azrs: tf.Tensor[] = [];
      const ans: tf.Tensor[] = [];
      let carry: tf.Tensor | null = null;
      for (let t = this.steps - 1; t >= 0; t--) {
        const c = this.cache[t];
        const gOut = tf.matMul(cs[t], this.woT);
        const g: tf.Tensor = carry ? tf.add(gOut, carry) : gOut;
        const an = tf.mul(g, c.kn);
        const grh = tf.matMul(an, this.unT);
        const azr = tf.concat([tf.mul(g, c.kz), tf.mul(grh, c.kr)], 1);
        carry = tf.add(tf.add(tf.mul(g, c.z), tf.mul(grh, c.r)), tf.matMul(azr, this.uzrT));
        azrs.push(azr);
        ans.push(an);
      }
      // Rows in step order, as in the cached transposes.
      const AZR = tf.concat(azrs.reverse(), 0);
      const AN = tf.concat(ans.reverse(), 0);
      const C = tf.concat(cs, 0);
      return [
        tf.concat([tf.matMul(this.xT, AZR), tf.matMul(this.xT, AN)], 1), // W_x [I, 3U]
        tf.matMul(this.hPrevT, AZR), // U_zr
        tf.matMul(this.rhT, AN), // U_n
        tf.concat([tf.sum(AZR, 0), tf.sum(AN, 0)]), // b
        tf.matMul(this.hT, C), // W_o
        tf.sum(C, 0), // b_o
      ];
    });
    const out = new Float64Array(numGruParams(this.spec));
    let k = 0;
    for (const g of grads) {
      out.set(g.dataSync(), k);
      k += g.size;
    }
    tf.dispose(grads);
    return out; // the last actDim entries (logStd) stay 0
  }

  dispose(): void {
    disposeWeights(this.w);
    tf.dispose(this.kept);
  }
}
