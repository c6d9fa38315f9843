/**
 * NumPy's legacy global generator (`np.random.seed(s)` then `np.random.uniform`), reproduced so
 * that an evaluation can use exactly the test tasks of a Python reference: the MAML paper's
 * `test_maml_*.py` draw their 40 goals with `np.random.seed(1)`.
 *
 *   seeding     Mersenne Twister MT19937, key[0] = s, key[i] = 1812433253·(key[i−1] ⊕ key[i−1]≫30) + i
 *   next32      the standard MT19937 tempered output
 *   uniform     low + (high − low)·u with u = ((a ≫ 5)·2²⁶ + (b ≫ 6)) / 2⁵³, a and b two next32
 *
 * Only for reproducing reference task draws; the project's own randomness is src/core/rng.ts.
 */
const N = 624;
const M = 397;

export class NumpyLegacyRandom {
  private readonly mt = new Uint32Array(N);
  private index = N;

  /** As `np.random.seed(seed)` with an integer seed in [0, 2³²). */
  constructor(seed: number) {
    if (!(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) throw new Error(`NumpyLegacyRandom: seed must be an integer in [0, 2^32), got ${seed}`);
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      // 1812433253·prev mod 2³², split in 16-bit halves to stay exact in float64.
      this.mt[i] = ((((prev >>> 16) * 1812433253) << 16) + (prev & 0xffff) * 1812433253 + i) >>> 0;
    }
  }

  /** Next 32-bit output. */
  next32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `np.random.random_sample()`: a double in [0, 1) with 53 random bits. */
  randomSample(): number {
    const a = this.next32() >>> 5;
    const b = this.next32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `np.random.uniform(low, high, size=n)` (row-major for a shape of n entries). */
  uniform(low: number, high: number, n: number): number[] {
    return Array.from({ length: n }, () => low + (high - low) * this.randomSample());
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
      mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }
}
