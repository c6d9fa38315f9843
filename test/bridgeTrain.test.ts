/**
 * Meta-training over the WebSocket bridge against the reference navigation simulator gives the
 * same series and parameters as in-process navigation for the same seed (lockstep), with the
 * agent dialling the simulator (`--env ws://…`) and with the simulator dialling the agent (`serve`).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/tensor/backend.ts';
import { resolveConfig } from '../src/io/config.ts';
import { JsonlLog } from '../src/io/jsonl.ts';
import { METRICS_FILE, train } from '../src/experiments/train.ts';
import { dialAgent } from '../src/bridge/simServer.ts';
import { navSimOptions, startNavSim } from '../scripts/nav-sim.ts';
import { readConfigFile } from '../src/io/config.ts';
import { RosbridgePeer } from './support/rosbridgePeer.ts';
import { fileURLToPath } from 'node:url';

beforeAll(async () => {
  await initBackend('wasm');
});

// 4 tasks × 5 episodes = 20 copies: one simulator of 20 copies holds the whole batch in one round.
const tiny = (out: string, extra: Record<string, unknown> = {}) =>
  resolveConfig('pytorch-maml-rl', { metaBatchSize: 4, episodesPerTask: 5, numBatches: 2, cgIters: 5, out, ...extra });

/** A run's metrics without timings; `env/` counters (bridged runs only) on request. */
function series(runDir: string, { counters = true } = {}) {
  return new JsonlLog(join(runDir, METRICS_FILE)).read().map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith('time/') && (counters || !k.startsWith('env/')))));
}

describe('training over the bridge', () => {
  it('matches in-process navigation when the agent dials the reference simulator', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-bridge-train-'));
    const local = await train(tiny(join(out, 'local')), { backend: 'wasm' });
    const sim = await startNavSim({ num: 20 });
    try {
      const lines: string[] = [];
      const remote = await train(tiny(join(out, 'remote'), { env: sim.url }), { backend: 'wasm', log: (l) => lines.push(l) });
      expect(lines.join('\n')).toContain(`at ${sim.url}`);
      expect(remote.runDir).toMatch(/ws-127\.0\.0\.1-\d+__maml-trpo__1__/);
      expect(series(remote.runDir, { counters: false })).toEqual(series(local.runDir));
      expect(series(remote.runDir)[0]).toMatchObject({ 'env/rejected': 0, 'env/reconnects': 0, 'env/interrupted_episodes': 0 });
      expect(Array.from(remote.theta)).toEqual(Array.from(local.theta));
    } finally {
      await sim.close();
    }
  }, 60_000);

  it('matches it too when the simulator dials the agent (serve), in rounds for a smaller simulator', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metarl-bridge-serve-'));
    const local = await train(tiny(join(out, 'local')), { backend: 'wasm' });
    let dialled: Promise<unknown> | null = null;
    const log = (line: string) => {
      const url = /waiting for a simulator at (ws:\/\/\S+)/.exec(line)?.[1];
      if (url) dialled = dialAgent(url, navSimOptions({ num: 20 }));
    };
    const served = await train(tiny(join(out, 'served'), { env: 'serve', bridge: { port: 0 } }), { backend: 'wasm', log });
    expect(dialled).not.toBeNull();
    await dialled; // the session ends when the agent closes
    expect(series(served.runDir, { counters: false })).toEqual(series(local.runDir));

    // A simulator of 3 copies serves the 20 episodes in 7 rounds: same episodes counted, training proceeds.
    const sim = await startNavSim({ num: 3 });
    try {
      const small = await train(tiny(join(out, 'small'), { env: sim.url, numBatches: 1 }), { backend: 'wasm' });
      const [row] = series(small.runDir);
      expect(row['charts/env_steps']).toBeGreaterThan(0);
      expect(Number.isFinite(row['charts/return_after'] as number)).toBe(true);
    } finally {
      await sim.close();
    }
  }, 60_000);

  it('meta-trains on a robot behind rosbridge (env ros): episodes one after another, stop action at the end', async () => {
    const peer = new RosbridgePeer();
    const url = await peer.start();
    try {
      const robot = readConfigFile(fileURLToPath(new URL('../examples/diff-drive.yaml', import.meta.url)));
      const out = mkdtempSync(join(tmpdir(), 'metarl-ros-train-'));
      const cfg = tiny(out, {
        env: 'ros',
        metaBatchSize: 2,
        episodesPerTask: 2,
        numBatches: 1,
        robot: { ...robot, url, mode: 'lockstep', rate_hz: undefined, max_episode_steps: 10 },
      });
      const run = await train(cfg, { backend: 'wasm' });
      const [row] = series(run.runDir);
      // 2 tasks × 2 episodes × 10 steps, before and after adaptation.
      expect(row['charts/env_steps']).toBe(80);
      expect(Number.isFinite(row['charts/return_before'] as number)).toBe(true);
      // The bridge's counters of the meta-batch: a clean run, clipped actions from initStd 1 on ±0.3 m/s.
      expect(row).toMatchObject({ 'env/stops': 0, 'env/interrupted_episodes': 0, 'env/discarded_steps': 0, 'env/reconnects': 0, 'env/rejected': 0 });
      expect(row['env/clipped_actions']).toBeGreaterThan(0);
      const commands = peer.commandsOn();
      expect(commands.length).toBeGreaterThanOrEqual(80);
      const last = commands.at(-1)!.msg as { linear: { x: number }; angular: { z: number } };
      expect([last.linear.x, last.angular.z]).toEqual([0, 0]);
    } finally {
      await peer.stop();
    }
  }, 60_000);
});
