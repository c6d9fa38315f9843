/**
 * The lockstep control loop of the ROS env against the rosbridge test peer on loopback: each step
 * publishes a Twist on /cmd_vel and resolves on the next /odom. Reports steps/s and step latency
 * percentiles (p50/p90/p99, ms), and reset (call_service) latency, as text and as one JSON line.
 * The peer runs in a child process by default, like a real rosbridge server would.
 *
 *   npx tsx scripts/bench-rosbridge.ts [--steps 3000] [--episode 500] [--in-process]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RosEnv } from '../src/bridge/rosEnv.ts';
import { parseRosConfig } from '../src/bridge/rosConfig.ts';
import { readConfigFile } from '../src/io/config.ts';
import { RosbridgePeer } from '../test/support/rosbridgePeer.ts';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '3000' },
    episode: { type: 'string', default: '500' },
    'in-process': { type: 'boolean', default: false },
  },
});
const totalSteps = Number(args.steps);
const episodeSteps = Number(args.episode);
const peerPath = fileURLToPath(new URL('../test/support/rosbridgePeer.ts', import.meta.url));

/** Starts the peer (child process unless --in-process) and returns its URL and a stopper. */
async function startPeer(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (args['in-process']) {
    const peer = new RosbridgePeer();
    return { url: await peer.start(), stop: () => peer.stop() };
  }
  const script = `import { RosbridgePeer } from ${JSON.stringify(peerPath)};
    const peer = new RosbridgePeer(); console.log(await peer.start());
    process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`peer exited with ${code}`)));
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
  });
  // Closing its stdin ends the peer: no signal needed, and it also ends if we crash.
  return { url, stop: async () => { child.stdin!.end(); await new Promise((r) => child.once('exit', r)); } };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function main(): Promise<void> {
  const { url, stop } = await startPeer();
  const base = parseRosConfig(readConfigFile(fileURLToPath(new URL('../examples/diff-drive.yaml', import.meta.url)))).config as Record<string, unknown>;
  const plan = parseRosConfig({ ...base, url, mode: 'lockstep', rate_hz: undefined, max_episode_steps: episodeSteps, safety: { timeout_ms: 1000 } });
  const env = await RosEnv.connect(plan, { stopOnShutdown: true });
  env.setTasks([{ goal: [1, 1] }]);
  const latencies = new Float64Array(totalSteps);
  const resets: number[] = [];
  const action = Float32Array.of(0.2, 1); // a circle of radius 0.2 m: never reaches the goal
  let done = true;
  // Warm-up: JIT and socket buffers.
  await env.reset();
  for (let i = 0; i < 100; i++) await env.step(action);
  const t0 = performance.now();
  for (let i = 0; i < totalSteps; i++) {
    if (done) {
      const r0 = performance.now();
      await env.reset();
      resets.push(performance.now() - r0);
    }
    const s0 = performance.now();
    const r = await env.step(action);
    latencies[i] = performance.now() - s0;
    done = r.terminated[0] === 1 || r.truncated[0] === 1;
  }
  const elapsed = (performance.now() - t0) / 1000;
  await env.close();
  await stop();

  const sorted = latencies.slice().sort();
  const stepsPerSec = totalSteps / elapsed;
  const result = {
    bench: 'rosbridge',
    peer: args['in-process'] ? 'in-process' : 'child-process',
    steps: totalSteps,
    steps_per_s: Number(stepsPerSec.toFixed(1)),
    step_ms_p50: Number(percentile(sorted, 0.5).toFixed(3)),
    step_ms_p90: Number(percentile(sorted, 0.9).toFixed(3)),
    step_ms_p99: Number(percentile(sorted, 0.99).toFixed(3)),
    step_ms_max: Number(sorted[sorted.length - 1].toFixed(3)),
    reset_ms_median: Number((resets.slice().sort((a, b) => a - b)[Math.floor(resets.length / 2)] ?? NaN).toFixed(3)),
    resets: resets.length,
    rejected: env.stats.rejected,
    interrupted: env.stats.interruptedEpisodes,
  };
  console.log(`rosbridge lockstep loop (${result.peer} peer, loopback): ${totalSteps} steps in ${elapsed.toFixed(2)} s = ${result.steps_per_s} steps/s`);
  console.log(`  step latency ms: p50 ${result.step_ms_p50}  p90 ${result.step_ms_p90}  p99 ${result.step_ms_p99}  max ${result.step_ms_max}`);
  console.log(`  reset (stop + call_service + first odom) median ${result.reset_ms_median} ms over ${result.resets} resets`);
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
