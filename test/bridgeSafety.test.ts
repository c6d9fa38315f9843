/**
 * Safety of the metarl-bridge/1 agent side over loopback: a stalled agent sends `stop` within
 * stallTimeoutMs (+ 50 ms) of the last observation, the step rate is capped, and close() stops.
 */
import { describe, expect, it } from 'vitest';
import { RemoteVectorEnv } from '../src/bridge/remoteEnv.ts';
import { navSimOptions } from '../scripts/nav-sim.ts';
import { serveSimulator } from '../src/bridge/simServer.ts';
import { HaltedError } from '../src/core/errors.ts';

async function simWithStops() {
  const stops: number[] = [];
  const sim = await serveSimulator({ ...navSimOptions({ num: 2 }), onStop: () => void stops.push(performance.now()) });
  return { sim, stops };
}

const zeros = new Float32Array(4);

describe('bridge safety (agent side)', () => {
  it('sends stop within stallTimeoutMs + 50 ms when the agent stops stepping mid-episode; steady stepping never trips it', async () => {
    const { sim, stops } = await simWithStops();
    const env = await RemoteVectorEnv.connect(sim.url, { stallTimeoutMs: 150, stopOnShutdown: false });
    try {
      await env.setTasks([{ goal: [0.3, 0.3] }, { goal: [-0.2, 0.1] }]);
      await env.reset(1);
      await env.step(zeros);
      const lastObservation = performance.now();
      await new Promise((r) => setTimeout(r, 400));
      expect(stops).toHaveLength(1);
      const latency = stops[0] - lastObservation;
      expect(latency).toBeGreaterThanOrEqual(140);
      expect(latency).toBeLessThanOrEqual(200);
      expect(env.stats.stops).toBe(1);
      // Stepping again re-arms it; quick steps never trip it.
      for (let i = 0; i < 5; i++) await env.step(zeros);
      expect(stops).toHaveLength(1);
    } finally {
      await env.close();
      await sim.close();
    }
    expect(stops).toHaveLength(2); // close() stops too
  });

  it('hardware declared in the hello: halt() sends stop at once, no step after it, reset refuses (HaltedError)', async () => {
    const stops: number[] = [];
    let steps = 0;
    const opts = navSimOptions({ num: 2 });
    const sim = await serveSimulator({
      ...opts,
      hardware: true,
      makeEnv: () => {
        const env = opts.makeEnv();
        const step = env.step.bind(env);
        env.step = (a: Float32Array) => { steps++; return step(a); };
        return env;
      },
      onStop: () => void stops.push(performance.now()),
    });
    const env = await RemoteVectorEnv.connect(sim.url, { stopOnShutdown: false });
    try {
      expect(env.hardware).toBe(true);
      await env.setTasks([{ goal: [0.3, 0.3] }, { goal: [-0.2, 0.1] }]);
      await env.reset(1);
      await env.step(zeros);
      const pending = env.step(zeros); // in flight when the halt comes
      const t0 = performance.now();
      env.halt('test');
      const r = await pending;
      expect(Array.from(r.discarded!)).toEqual([1, 1]); // not a transition
      const after = await env.step(zeros);
      expect(Array.from(after.discarded!)).toEqual([0, 0]); // nothing was running any more
      await new Promise((res) => setTimeout(res, 50));
      expect(stops).toHaveLength(1);
      expect(stops[0] - t0).toBeLessThan(50);
      expect(steps).toBe(2); // the first step and the one already in flight; none after the halt
      await expect(env.reset(2)).rejects.toBeInstanceOf(HaltedError);
    } finally {
      await env.close();
      await sim.close();
    }
  });

  it('caps the step rate at maxRateHz', async () => {
    const { sim } = await simWithStops();
    const env = await RemoteVectorEnv.connect(sim.url, { maxRateHz: 50, stopOnShutdown: false });
    try {
      await env.setTasks([{ goal: [0.3, 0.3] }, { goal: [-0.2, 0.1] }]);
      await env.reset(1);
      const t0 = performance.now();
      for (let i = 0; i < 11; i++) await env.step(zeros);
      // 11 steps at ≤ 50 Hz: the last goes out ≥ 10 intervals (200 ms) after the first.
      expect(performance.now() - t0).toBeGreaterThanOrEqual(195);
    } finally {
      await env.close();
      await sim.close();
    }
  });
});
