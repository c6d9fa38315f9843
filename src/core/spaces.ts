/** A box in R^n with per-dimension bounds (Gymnasium's `Box`). Bounds may be ±Infinity. */
export class Box {
  readonly shape: readonly number[];
  readonly low: Float64Array;
  readonly high: Float64Array;

  constructor(low: number | ArrayLike<number>, high: number | ArrayLike<number>, shape: readonly number[]) {
    this.shape = shape;
    const n = shape.reduce((a, b) => a * b, 1);
    this.low = typeof low === 'number' ? new Float64Array(n).fill(low) : Float64Array.from(low);
    this.high = typeof high === 'number' ? new Float64Array(n).fill(high) : Float64Array.from(high);
    if (this.low.length !== n || this.high.length !== n) {
      throw new Error(`Box: bounds have ${this.low.length}/${this.high.length} entries, shape needs ${n}`);
    }
  }

  /** Number of scalar entries. */
  get size(): number {
    return this.low.length;
  }

  /** Whether every entry of `x` lies within the bounds. */
  contains(x: ArrayLike<number>): boolean {
    if (x.length !== this.size) return false;
    for (let i = 0; i < x.length; i++) if (!(x[i] >= this.low[i] && x[i] <= this.high[i])) return false;
    return true;
  }

  /** Clips `x` into the box in place (row-major, repeated every `size` entries for batches). */
  clipInPlace(x: Float32Array | Float64Array): void {
    const n = this.size;
    for (let i = 0; i < x.length; i++) {
      const j = i % n;
      if (x[i] < this.low[j]) x[i] = this.low[j];
      else if (x[i] > this.high[j]) x[i] = this.high[j];
    }
  }
}
