/**
 * Meta-Experience-Replay memory: a fixed-capacity reservoir of transitions held as tensors on the
 * active tfjs backend (on the GPU when a GPU backend is active), for MER's replayed batches.
 *
 * Reservoir sampling (REFERENCE §4, Vitter's Algorithm R as MER's code does it): `age` counts every
 * transition ever offered; while the memory has room a transition is appended, otherwise
 * p ~ U{0, …, age} (age = transitions offered before this one) and slot p is replaced if
 * p < capacity. After N offers every transition offered so far is held with probability capacity/N.
 *
 * Storage, per field, preallocated at construction (C = capacity):
 *     obs [C, obsDim] f32, actions [C, actDim] f32, advantages [C] f32, logProbs [C] f32,
 *     taskIds [C] int32
 * Rows [0, size) hold transitions. There is no host-side mirror of the contents: an offer decides
 * the slots on the host, then writes each field with one `tensorScatterUpdate` (tfjs tensors are
 * immutable, so this makes a new device tensor and frees the old one: one device-side copy of the
 * storage per offer, no host↔device transfer of the whole memory). The only host state is one
 * mark byte per slot that `sample` uses to draw distinct indices.
 * `bytesPerTransition` = 4·(obsDim + actDim + 2) + 4 (task id) + 1 (mark): 117 at cheetah sizes.
 * A host mirror was tried for sampling (JS gather, then upload) and was no faster on wasm: the
 * cost of a large sample is the random reads of rows, wherever they live (scripts/bench-memory.ts).
 *
 * Nothing here is random except through the `Rng` the caller passes, so offers and samples are
 * deterministic for a seed; `toJSON` / `fromJSON` hold everything else (capacity, age, contents).
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, assertFinite } from '../src/core/errors.ts';
import type { Rng } from '../src/core/rng.ts';
import { base64ToFloat32, base64ToInt32, float32ToBase64, int32ToBase64 } from './merMemoryCodec.ts';

export interface ReplayMemoryOptions {
  /** Maximum number of transitions held (≥ 1). */
  capacity: number;
  obsDim: number;
  actDim: number;
}

/** n transitions as host arrays (n = advantages.length), e.g. straight from an EpisodeBatch. */
export interface TransitionBatch {
  obs: Float32Array; // [n × obsDim]
  actions: Float32Array; // [n × actDim]
  advantages: Float32Array; // [n]
  /** log π_b(a|s) of the action under the policy that collected it (for importance weights). */
  logProbs: Float32Array; // [n]
  /** One task id per row, or one id for every row. */
  taskIds: Int32Array | number; // [n] or scalar
}

/** k transitions drawn from the memory, as tensors the caller owns (and disposes). */
export interface SampledTransitions {
  obs: tf.Tensor2D; // [k, obsDim]
  actions: tf.Tensor2D; // [k, actDim]
  advantages: tf.Tensor1D; // [k]
  logProbs: tf.Tensor1D; // [k]
  taskIds: tf.Tensor1D; // [k] int32
}

/** Checkpoint form: rows [0, size) of every field, little-endian base64 (bit-exact, −0 included). */
export interface ReplayMemoryJSON {
  version: 1;
  capacity: number;
  obsDim: number;
  actDim: number;
  age: number;
  size: number;
  obs: string;
  actions: string;
  advantages: string;
  logProbs: string;
  taskIds: string;
}

type FieldName = keyof SampledTransitions;
const FIELDS: readonly FieldName[] = ['obs', 'actions', 'advantages', 'logProbs', 'taskIds'];

export class ReplayMemory {
  readonly capacity: number;
  readonly obsDim: number;
  readonly actDim: number;
  private ageCount = 0;
  private storage: Record<FieldName, tf.Tensor> | null;
  /** One mark per slot for `sample`'s rejection draw; all zero between calls. */
  private readonly taken: Uint8Array;

  constructor(opts: ReplayMemoryOptions) {
    this.capacity = positiveInt('memory.capacity', opts.capacity, 2 ** 31 - 1);
    this.obsDim = positiveInt('memory.obsDim', opts.obsDim, 2 ** 20);
    this.actDim = positiveInt('memory.actDim', opts.actDim, 2 ** 20);
    const C = this.capacity;
    this.storage = {
      obs: tf.keep(tf.zeros([C, this.obsDim], 'float32')),
      actions: tf.keep(tf.zeros([C, this.actDim], 'float32')),
      advantages: tf.keep(tf.zeros([C], 'float32')),
      logProbs: tf.keep(tf.zeros([C], 'float32')),
      taskIds: tf.keep(tf.zeros([C], 'int32')),
    };
    this.taken = new Uint8Array(C);
  }

  /** Transitions ever offered. */
  get age(): number {
    return this.ageCount;
  }

  /** Transitions held: min(age, capacity). */
  get size(): number {
    return Math.min(this.ageCount, this.capacity);
  }

  /** Bytes used per slot of capacity: device storage plus the host mark byte. */
  get bytesPerTransition(): number {
    return 4 * (this.obsDim + this.actDim + 2) + 4 + 1;
  }

  /**
   * Offers every row of `batch`, in order, to the reservoir (one `rng` draw per row once full).
   * Validates everything before changing anything, so a rejected batch leaves the memory as it was.
   */
  offer(batch: TransitionBatch, rng: Rng): void {
    const storage = this.live();
    const n = this.checkBatch(batch);
    // Decide every row's slot on the host first; a later row replacing the same slot wins.
    const rowOfSlot = new Map<number, number>();
    let age = this.ageCount;
    for (let r = 0; r < n; r++, age++) {
      if (age < this.capacity) {
        rowOfSlot.set(age, r);
      } else {
        const p = rng.int(age + 1); // uniform in [0, age]
        if (p < this.capacity) rowOfSlot.set(p, r);
      }
    }
    this.ageCount = age;
    const m = rowOfSlot.size;
    if (m === 0) return;

    const slots = new Int32Array(m);
    const rows = new Int32Array(m);
    let w = 0;
    for (const [slot, row] of rowOfSlot) {
      slots[w] = slot;
      rows[w++] = row;
    }
    const updates: Record<FieldName, Float32Array | Int32Array> = {
      obs: gatherRows(batch.obs, this.obsDim, rows, new Float32Array(m * this.obsDim)),
      actions: gatherRows(batch.actions, this.actDim, rows, new Float32Array(m * this.actDim)),
      advantages: gatherRows(batch.advantages, 1, rows, new Float32Array(m)),
      logProbs: gatherRows(batch.logProbs, 1, rows, new Float32Array(m)),
      taskIds: typeof batch.taskIds === 'number' ? new Int32Array(m).fill(batch.taskIds) : gatherRows(batch.taskIds, 1, rows, new Int32Array(m)),
    };
    for (const f of FIELDS) {
      const old = storage[f];
      // keep(): the new storage must outlive any tf.tidy the caller wrapped around offer().
      storage[f] = tf.keep(
        tf.tidy(() => {
          const idx = tf.tensor2d(slots, [m, 1], 'int32');
          const upd = f === 'obs' || f === 'actions' ? tf.tensor2d(updates[f], [m, old.shape[1]!], old.dtype) : tf.tensor1d(updates[f], old.dtype);
          return tf.tensorScatterUpdate(old, idx, upd);
        }),
      );
      old.dispose();
    }
  }

  /**
   * k transitions drawn uniformly without replacement (k ≤ size), in random order; consumes at
   * least k `rng` draws (a deterministic number for a given Rng state).
   * Indices are drawn on the host (see drawIndices); each field is then one `tf.gatherND`.
   */
  sample(k: number, rng: Rng): SampledTransitions {
    const storage = this.live();
    const size = this.size;
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`ReplayMemory.sample: k must be an integer ≥ 0, got ${k}`);
    if (k > size) throw new RangeError(`ReplayMemory.sample: cannot draw k = ${k} transitions without replacement from a memory holding size = ${size}`);
    const picked = this.drawIndices(k, size, rng);
    return tf.tidy(() => {
      // gatherND with [k, 1] row indices, not tf.gather: on wasm, gather of a [100k, 20] tensor
      // took ~22 ms for 6400 rows against ~0.2 ms for gatherND (measured, tfjs 4.22).
      const idx = tf.tensor2d(picked, [k, 1], 'int32');
      return {
        obs: tf.gatherND(storage.obs, idx) as tf.Tensor2D,
        actions: tf.gatherND(storage.actions, idx) as tf.Tensor2D,
        advantages: tf.gatherND(storage.advantages, idx) as tf.Tensor1D,
        logProbs: tf.gatherND(storage.logProbs, idx) as tf.Tensor1D,
        taskIds: tf.gatherND(storage.taskIds, idx) as tf.Tensor1D,
      };
    });
  }

  /** Capacity, age and the held rows, bit-exact (reads the device storage once). */
  toJSON(): ReplayMemoryJSON {
    const storage = this.live();
    const size = this.size;
    const rowsOf = (f: FieldName, width: number) => (storage[f].dataSync() as Float32Array | Int32Array).subarray(0, size * width);
    return {
      version: 1,
      capacity: this.capacity,
      obsDim: this.obsDim,
      actDim: this.actDim,
      age: this.ageCount,
      size,
      obs: float32ToBase64(rowsOf('obs', this.obsDim) as Float32Array),
      actions: float32ToBase64(rowsOf('actions', this.actDim) as Float32Array),
      advantages: float32ToBase64(rowsOf('advantages', 1) as Float32Array),
      logProbs: float32ToBase64(rowsOf('logProbs', 1) as Float32Array),
      taskIds: int32ToBase64(rowsOf('taskIds', 1) as Int32Array),
    };
  }

  /** Rebuilds a memory from `toJSON()` output on the active backend; checks every size first. */
  static fromJSON(json: ReplayMemoryJSON): ReplayMemory {
    if (json === null || typeof json !== 'object' || json.version !== 1) {
      throw new Error(`ReplayMemory.fromJSON: expected a version 1 memory, got version ${(json as { version?: unknown } | null)?.version}`);
    }
    const C = positiveInt('memory.capacity', json.capacity, 2 ** 31 - 1);
    const obsDim = positiveInt('memory.obsDim', json.obsDim, 2 ** 20);
    const actDim = positiveInt('memory.actDim', json.actDim, 2 ** 20);
    if (!Number.isSafeInteger(json.age) || json.age < 0 || json.size !== Math.min(json.age, C)) {
      throw new Error(`ReplayMemory.fromJSON: age ${json.age} and size ${json.size} are inconsistent with capacity ${C} (size must be min(age, capacity))`);
    }
    const size = json.size;
    // Decode and check everything before allocating tensors, so a bad checkpoint leaks nothing.
    const decoded: Record<FieldName, Float32Array | Int32Array> = {
      obs: padTo(base64ToFloat32(json.obs), size * obsDim, C * obsDim, 'obs'),
      actions: padTo(base64ToFloat32(json.actions), size * actDim, C * actDim, 'actions'),
      advantages: padTo(base64ToFloat32(json.advantages), size, C, 'advantages'),
      logProbs: padTo(base64ToFloat32(json.logProbs), size, C, 'logProbs'),
      taskIds: padTo(base64ToInt32(json.taskIds), size, C, 'taskIds'),
    };
    const mem = new ReplayMemory({ capacity: C, obsDim, actDim });
    const storage = mem.live();
    for (const f of FIELDS) {
      const old = storage[f];
      storage[f] = tf.keep(tf.tensor(decoded[f], old.shape, old.dtype));
      old.dispose();
    }
    mem.ageCount = json.age;
    return mem;
  }

  /** Frees the device storage; the memory cannot be used afterwards. */
  dispose(): void {
    if (this.storage === null) return;
    for (const f of FIELDS) this.storage[f].dispose();
    this.storage = null;
  }

  private live(): Record<FieldName, tf.Tensor> {
    if (this.storage === null) throw new Error('ReplayMemory: used after dispose()');
    return this.storage;
  }

  /**
   * k distinct indices uniform in [0, size), in random order. For k ≤ size/4 by rejection against a
   * mark per slot (expected draws < 1.15 k, and no O(size) work); otherwise by a partial
   * Fisher–Yates over a fresh identity array (O(size), which is then at most 4k).
   */
  private drawIndices(k: number, size: number, rng: Rng): Int32Array {
    const picked = new Int32Array(k);
    if (4 * k <= size) {
      const taken = this.taken;
      for (let i = 0; i < k; ) {
        const j = rng.int(size);
        if (taken[j] === 0) {
          taken[j] = 1;
          picked[i++] = j;
        }
      }
      for (let i = 0; i < k; i++) taken[picked[i]] = 0; // leave the marks clear for the next draw
      return picked;
    }
    const order = new Int32Array(size);
    for (let i = 0; i < size; i++) order[i] = i;
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(size - i);
      picked[i] = order[j];
      order[j] = order[i];
    }
    return picked;
  }

  /** Checks the batch's lengths, finiteness and task ids; returns its row count n. */
  private checkBatch(b: TransitionBatch): number {
    const n = b.advantages.length;
    const expect = (name: string, got: number, want: number, how: string) => {
      if (got !== want) throw new RangeError(`ReplayMemory.offer: ${name} has ${got} values; expected ${how} = ${want} (n = advantages.length = ${n})`);
    };
    expect('obs', b.obs.length, n * this.obsDim, `n × obsDim = ${n} × ${this.obsDim}`);
    expect('actions', b.actions.length, n * this.actDim, `n × actDim = ${n} × ${this.actDim}`);
    expect('logProbs', b.logProbs.length, n, 'n');
    if (typeof b.taskIds === 'number') {
      if (!Number.isInteger(b.taskIds) || b.taskIds < -(2 ** 31) || b.taskIds >= 2 ** 31) {
        throw new RangeError(`ReplayMemory.offer: taskIds must be an int32 (or an Int32Array of n), got ${b.taskIds}`);
      }
    } else {
      expect('taskIds', b.taskIds.length, n, 'n');
    }
    assertFinite('ReplayMemory.offer: obs', b.obs);
    assertFinite('ReplayMemory.offer: actions', b.actions);
    assertFinite('ReplayMemory.offer: advantages', b.advantages);
    assertFinite('ReplayMemory.offer: logProbs', b.logProbs);
    return n;
  }
}

/** out[i·width …] = src[rows[i]·width …] for every i. */
function gatherRows<A extends Float32Array | Int32Array>(src: ArrayLike<number> & { subarray(a: number, b: number): A }, width: number, rows: Int32Array, out: A): A {
  for (let i = 0; i < rows.length; i++) out.set(src.subarray(rows[i] * width, (rows[i] + 1) * width), i * width);
  return out;
}

function positiveInt(field: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new ConfigError(field, `must be an integer in [1, ${max}], got ${v}`);
  return v;
}

/** Checks a decoded field has `want` values and returns it zero-padded to `total`. */
function padTo<A extends Float32Array | Int32Array>(a: A, want: number, total: number, name: string): A {
  if (a.length !== want) throw new Error(`ReplayMemory.fromJSON: field ${name} holds ${a.length} values; expected ${want}`);
  if (a instanceof Float32Array) assertFinite(`ReplayMemory.fromJSON: ${name}`, a);
  const out = new (a.constructor as new (n: number) => A)(total);
  out.set(a);
  return out;
}
