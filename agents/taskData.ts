/**
 * One task's batch of episodes for the learners: N = episodes × horizon rows (padding included,
 * with weight 0), as tensors (`TaskData`) or as plain arrays to send to a worker thread
 * (`TaskArrays`). A weighted sum with `weights` is the mean over the real steps.
 */
import * as tf from '@tensorflow/tfjs';

/** One task's batch of episodes as tensors: N = episodes × horizon rows (padding included). */
export interface TaskData {
  obs: tf.Tensor; // [N, obsDim]
  actions: tf.Tensor; // [N, actDim]
  advantages: tf.Tensor; // [N]
  /** mask / (number of real steps): a weighted sum with these is the mean over real steps. */
  weights: tf.Tensor; // [N]
}

/** One task's data as plain arrays, e.g. to send to a worker thread; `rows` = N. */
export interface TaskArrays {
  rows: number;
  obs: Float32Array; // N × obsDim
  actions: Float32Array; // N × actDim
  advantages: Float32Array;
  weights: Float32Array;
}

export function taskDataFromArrays(a: TaskArrays): TaskData {
  const N = a.rows;
  return {
    obs: tf.tensor2d(a.obs, [N, a.obs.length / N]),
    actions: tf.tensor2d(a.actions, [N, a.actions.length / N]),
    advantages: tf.tensor1d(a.advantages),
    weights: tf.tensor1d(a.weights),
  };
}

export function disposeTaskData(ds: TaskData[]): void {
  for (const d of ds) tf.dispose([d.obs, d.actions, d.advantages, d.weights]);
}


/** The first ⌈fraction · rows⌉ rows of a task's data, reweighted to a mean over that subset. */
export function subsampleTaskData(d: TaskData, fraction: number): TaskData {
  return tf.tidy(() => {
    const N = d.obs.shape[0];
    const n = Math.max(1, Math.ceil(fraction * N));
    const w = tf.slice(d.weights, 0, n);
    const total = tf.sum(w);
    // All-padding subsets keep zero weight rather than dividing by zero.
    const weights = tf.div(w, tf.maximum(total, 1e-12));
    return {
      obs: tf.slice(d.obs, 0, n),
      actions: tf.slice(d.actions, 0, n),
      advantages: tf.slice(d.advantages, 0, n),
      weights,
    };
  });
}

