/** The host policy (sampling) against the tensor policy (learning), and its blocked pass against row by row. */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { HostPolicy } from '../agents/hostPolicy.ts';
import { type PolicySpec, initParams, meanOf, toParams } from '../agents/policy.ts';
import { Rng } from '../src/core/rng.ts';

describe('HostPolicy', () => {
  for (const activation of ['tanh', 'relu'] as const) {
    it(`${activation}: four rows at a time give the row-by-row means bit for bit, and match the tensor policy`, async () => {
      await tf.setBackend('cpu');
      const spec: PolicySpec = { obsDim: 17, actDim: 6, hidden: [32, 24], activation, initStd: 1 };
      const rng = new Rng(5);
      const flat = initParams(spec, rng);
      for (let i = 0; i < flat.length; i++) flat[i] += rng.range(-0.1, 0.1); // non-zero biases too
      const rows = 11; // two blocks of four and three single rows
      const obs = Float32Array.from({ length: rows * spec.obsDim }, () => rng.range(-3, 3));
      const policy = new HostPolicy(spec, flat);
      const blocked = new Float32Array(rows * spec.actDim);
      policy.mean(obs, rows, blocked);
      const single = new Float32Array(rows * spec.actDim);
      for (let r = 0; r < rows; r++) policy.mean(obs.subarray(r * spec.obsDim), 1, single, r * spec.actDim);
      expect(Array.from(blocked)).toEqual(Array.from(single));
      const ref = tf.tidy(() => meanOf(spec, toParams(spec, flat), tf.tensor2d(obs, [rows, spec.obsDim])).dataSync());
      for (let i = 0; i < ref.length; i++) expect(blocked[i]).toBeCloseTo(ref[i], 4);
    });
  }
});
