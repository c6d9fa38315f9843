/** The ROS env on the simulated robot behind the rosbridge test peer: episodes, safety, reconnects, config errors. */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RosEnv } from '../src/bridge/rosEnv.ts';
import { parseRosConfig } from '../src/bridge/rosConfig.ts';
import { readConfigFile } from '../src/io/config.ts';
import { ConfigError, NumericError } from '../src/core/errors.ts';
import { Rng } from '../src/core/rng.ts';
import { RosbridgePeer, type PeerOptions } from './support/rosbridgePeer.ts';
import { lastValueFrom } from 'rxjs';
import { rollout$, toEpisodes } from '../src/streams/rollout.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The example config, pointed at the peer, in lockstep, with short test timeouts. */
function testConfig(url: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base = parseRosConfig(readConfigFile(fileURLToPath(new URL('../examples/diff-drive.yaml', import.meta.url)))).config as Record<string, unknown>;
  return {
    ...base, url, mode: 'lockstep', rate_hz: undefined, max_episode_steps: 20,
    safety: { timeout_ms: 200 },
    connection: { ...(base.connection as object), step_timeout_ms: 600, reconnect_initial_ms: 20, reconnect_max_ms: 100, reconnect_wait_ms: 3000, request_timeout_ms: 1000 },
    ...overrides,
  };
}

async function setup(overrides: Record<string, unknown> = {}, peerOptions: PeerOptions = {}) {
  const peer = new RosbridgePeer(peerOptions);
  const url = await peer.start();
  const env = await RosEnv.connect(parseRosConfig(testConfig(url, overrides)), { stopOnShutdown: false });
  cleanups.push(() => peer.stop(), () => env.close());
  return { peer, env };
}

const lastCommand = (peer: RosbridgePeer) => peer.commandsOn().at(-1)!.msg as { linear: { x: number }; angular: { z: number } };
const isStop = (c: { msg: Record<string, unknown> }) => (c.msg.linear as { x: number }).x === 0 && (c.msg.angular as { z: number }).z === 0;

describe('RosEnv (lockstep, simulated diff-drive robot)', () => {
  it('runs episodes: reset by service, rewards follow the expression, termination at the goal', { timeout: 5000 }, async () => {
    const { peer, env } = await setup();
    expect(env.observationSpace.size).toBe(5); // x, y, yaw, v, w (qz, qw hidden)
    env.setTasks([{ goal: [0.1, 0] }]);
    const obs0 = await env.reset();
    expect(peer.resets).toBe(1);
    expect(Array.from(obs0)).toEqual([0, 0, 0, 0, 0]);
    const rewards: number[] = [];
    let r;
    do {
      r = await env.step(Float32Array.of(0.25, 0));
      const { x, y } = peer.robot;
      rewards.push(r.reward[0]);
      expect(r.reward[0]).toBeCloseTo(-Math.hypot(x - 0.1, y), 5);
      expect(r.obs[0]).toBeCloseTo(x, 5);
    } while (!r.terminated[0] && !r.truncated[0]);
    expect(rewards.length).toBe(3); // x = 0.075 after 3 steps of 0.025: within 0.05 of the goal
    expect(r.terminated[0]).toBe(1);
    expect(await peer.until(() => isStop(peer.commandsOn().at(-1)!))).toBe(true); // the episode's end stops the robot
    await expect(env.step(Float32Array.of(0, 0))).rejects.toThrow(/call reset/);

    // Turning: yaw from the quaternion expression; then the time limit truncates.
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();
    expect(peer.resets).toBe(2);
    let steps = 0;
    do {
      r = await env.step(Float32Array.of(0, 1));
      steps++;
    } while (!r.terminated[0] && !r.truncated[0]);
    expect(steps).toBe(20);
    expect(r.truncated[0]).toBe(1);
    expect(r.obs[2]).toBeCloseTo(Math.atan2(Math.sin(peer.robot.theta), Math.cos(peer.robot.theta)), 4);
    expect(env.stats.interruptedEpisodes).toBe(0);
    const tasks = env.sampleTasks(50, new Rng(1));
    expect(tasks.every((t) => (t.goal as number[]).every((g) => g >= -1 && g <= 1))).toBe(true);
  });

  it('clips actions to the bounds (counted) and refuses NaN after stopping the robot', { timeout: 5000 }, async () => {
    const { peer, env } = await setup();
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();
    await env.step(Float32Array.of(5, -5));
    expect(lastCommand(peer)).toMatchObject({ linear: { x: 0.30000001192092896 }, angular: { z: -1.5 } });
    expect(env.stats.clippedActions).toBe(2);
    await expect(env.step(Float32Array.of(NaN, 0))).rejects.toBeInstanceOf(NumericError);
    expect(await peer.until(() => isStop(peer.commandsOn().at(-1)!))).toBe(true);
  });

  it('a reward that is not finite at run time stops the robot and throws a NumericError naming the step', { timeout: 5000 }, async () => {
    const { peer, env } = await setup({ reward: 'log(-x)' }); // NaN once x > 0
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();
    await expect(env.step(Float32Array.of(0.2, 0))).rejects.toThrow(/reward expression gave NaN at step 1/);
    expect(await peer.until(() => isStop(peer.commandsOn().at(-1)!))).toBe(true);
    await expect(env.step(Float32Array.of(0.2, 0))).rejects.toThrow(/call reset/);
  });

  it('watchdog: the stop action reaches the robot within timeout_ms + 50 ms of the last observation', { timeout: 8000 }, async () => {
    const { peer, env } = await setup();
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();
    const latencies: number[] = [];
    // (a) the robot goes silent while a step waits for its observation.
    await env.step(Float32Array.of(0.2, 0));
    peer.knobs.silent = true;
    const pending = env.step(Float32Array.of(0.2, 0.1));
    const nCmd = peer.commandsOn().length;
    await peer.until(() => peer.commandsOn().length > nCmd && isStop(peer.commandsOn().at(-1)!), 2000);
    latencies.push(peer.commandsOn().at(-1)!.at - peer.odomTimes.at(-1)!);
    const r = await pending; // no observation within step_timeout_ms: the episode ends, truncated
    expect(r.truncated[0]).toBe(1);
    expect(env.stats.interruptedEpisodes).toBe(1);
    // (b) the agent stalls between steps (lockstep: nothing arrives either).
    peer.knobs.silent = false;
    await env.reset();
    await env.step(Float32Array.of(0.2, 0));
    const lastObservation = peer.odomTimes.at(-1)!; // the stop's own odom reply comes after it
    const n2 = peer.commandsOn().length;
    await peer.until(() => peer.commandsOn().length > n2, 2000);
    expect(isStop(peer.commandsOn().at(-1)!)).toBe(true);
    latencies.push(peer.commandsOn().at(-1)!.at - lastObservation);
    console.log(`watchdog latency (last observation → stop received), timeout_ms 200: ${latencies.map((l) => l.toFixed(1)).join(', ')} ms`);
    for (const l of latencies) expect(l).toBeLessThanOrEqual(200 + 50);
    for (const l of latencies) expect(l).toBeGreaterThanOrEqual(195);
    // The watchdog does not repeat a stop already in force.
    const n3 = peer.commandsOn().length;
    await new Promise((res) => setTimeout(res, 500));
    expect(peer.commandsOn().length).toBe(n3);
    expect(env.stats.stops).toBeGreaterThanOrEqual(2); // the guard's stop is counted when its thread reports it
  });

  it('a lost connection ends the episode as truncated, stops the robot on reconnect, and the next episode works', { timeout: 8000 }, async () => {
    const { peer, env } = await setup();
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();
    const before = await env.step(Float32Array.of(0.2, 0));
    peer.knobs.silent = true; // the step's observation never comes: the drop interrupts it
    const pending = env.step(Float32Array.of(0.2, 0));
    await peer.until(() => peer.commandsOn().length >= 1 && !isStop(peer.commandsOn().at(-1)!));
    const connectionsBefore = peer.connections;
    peer.dropConnections();
    const r = await pending;
    expect(r.truncated[0]).toBe(1);
    expect(r.terminated[0]).toBe(0);
    expect(Array.from(r.obs)).toEqual(Array.from(before.obs)); // the last observation, nothing invented
    expect(Number.isFinite(r.reward[0])).toBe(true);
    expect(env.stats.interruptedEpisodes).toBe(1);
    peer.knobs.silent = false;
    const nCmd = peer.commandsOn().length;
    expect(await peer.until(() => peer.connections > connectionsBefore && peer.commandsOn().length > nCmd, 3000)).toBe(true);
    expect(isStop(peer.commandsOn()[nCmd])).toBe(true); // first command on the new connection
    expect(env.stats.reconnects).toBe(1);
    await env.reset();
    const ok = await env.step(Float32Array.of(0.2, 0));
    expect(ok.truncated[0]).toBe(0);
    expect(ok.obs[0]).toBeCloseTo(0.02, 5);
  });

  it('through rollout$: an episode cut by a disconnect keeps the steps it took and ends before the interrupted one (not stored)', { timeout: 5000 }, async () => {
    const { peer, env } = await setup();
    env.setTasks([{ goal: [1, 1] }]);
    const act = (_obs: Float32Array, t: number) => {
      if (t === 5) peer.dropConnections(); // the 6th step's answer never comes
      return Float32Array.of(0.2, 0);
    };
    const batch = await lastValueFrom(rollout$(env, act).pipe(toEpisodes(1, env.maxEpisodeSteps, env.observationSpace.size, 2)));
    expect(batch.lengths[0]).toBe(5); // step 6 did not happen as commanded: it is no transition
    expect(batch.terminated[0]).toBe(0); // truncated: the episode simply ends
    expect(batch.obs[4 * 5]).toBeCloseTo(0.08, 5); // x before step 5: four steps of 0.02
    expect(batch.finalObs[0]).toBeCloseTo(0.1, 5); // the observation after step 5
    expect(Array.from(batch.rewards.subarray(0, 5)).every((r) => r < 0)).toBe(true);
    expect(batch.rewards[5]).toBe(0); // nothing stored past the end
    expect(env.stats.interruptedEpisodes).toBe(1);
    expect(env.stats.discardedSteps).toBe(1);
  });

  it('a connection lost and regained between steps still ends the episode (the next step is truncated)', { timeout: 5000 }, async () => {
    const { peer, env } = await setup();
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();
    await env.step(Float32Array.of(0.2, 0));
    peer.dropConnections();
    expect(await peer.until(() => env.stats.reconnects === 1 && peer.commandsOn().length > 0 && isStop(peer.commandsOn().at(-1)!), 3000)).toBe(true);
    const nCmd = peer.commandsOn().length;
    const r = await env.step(Float32Array.of(0.3, 0));
    expect(r.truncated[0]).toBe(1);
    expect(peer.commandsOn().slice(nCmd).every(isStop)).toBe(true); // the interrupted episode's action never went out
    expect(env.stats.interruptedEpisodes).toBe(1);
  });

  it('a connection lost during a reset is retried after the reconnect, as one lost mid-step', { timeout: 8000 }, async () => {
    const { peer, env } = await setup();
    env.setTasks([{ goal: [1, 1] }]);
    peer.knobs.serviceDelayMs = 150; // the reset service is slow; the link drops while it runs
    const pending = env.reset();
    await peer.until(() => peer.resets === 1);
    peer.dropConnections();
    peer.knobs.serviceDelayMs = 0;
    const obs = await pending;
    expect(Array.from(obs)).toEqual([0, 0, 0, 0, 0]);
    expect(peer.resets).toBe(2); // asked again on the new connection
    expect(env.stats.reconnects).toBe(1);
    const r = await env.step(Float32Array.of(0.2, 0));
    expect(r.truncated[0]).toBe(0);
  });

  it('a missing observation field is named: messages arrive but are rejected (exit 2 from the CLI)', { timeout: 8000 }, async () => {
    const base = testConfig('ws://x') as { observation: Record<string, unknown>[] };
    const observation = base.observation.map((o, i) => (i === 1 ? { ...o, field: 'pose.pose.positon.y' } : o));
    const peer = new RosbridgePeer();
    const url = await peer.start();
    peer.knobs.rosapi = false; // no type check at connect: the field fails when messages come
    const env = await RosEnv.connect(parseRosConfig(testConfig(url, { observation, reset: { service: '/reset_robot', type: 'std_srvs/Empty', request: {}, timeout_ms: 500 }, connection: { ...(testConfig(url).connection as object), request_timeout_ms: 300 } })), { stopOnShutdown: false });
    cleanups.push(() => peer.stop(), () => env.close());
    env.setTasks([{ goal: [1, 1] }]);
    const err = await env.reset().catch((e: Error) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^observation\.1\.field: messages on \/odom arrive but are rejected \(\d+ so far\): no field pose\.pose\.positon\.y; check the field against nav_msgs\/Odometry/);
  });

  it('lockstep with two observation topics: sync all waits for both; sync trigger leaves the other one step old', { timeout: 8000 }, async () => {
    const run = async (sync: 'all' | 'trigger') => {
      const peer = new RosbridgePeer();
      const url = await peer.start();
      peer.knobs.lateTopicMs = 5; // a second sensor answers 5 ms after the first
      const base = testConfig(url) as { observation: Record<string, unknown>[] };
      const observation = [...base.observation, { name: 'x_late', topic: '/odom_late', type: 'nav_msgs/Odometry', field: 'pose.pose.position.x' }];
      const env = await RosEnv.connect(parseRosConfig(testConfig(url, { observation, trigger_topic: '/odom', sync })), { stopOnShutdown: false });
      cleanups.push(() => peer.stop(), () => env.close());
      env.setTasks([{ goal: [1, 1] }]);
      await env.reset();
      let stale = 0;
      for (let i = 0; i < 8; i++) {
        const r = await env.step(Float32Array.of(0.2, 0));
        if (Math.abs(r.obs[5] - r.obs[0]) > 1e-6) stale++; // x from the late topic vs x from the trigger
      }
      return stale;
    };
    expect(await run('all')).toBe(0);
    expect(await run('trigger')).toBe(8); // every step: the second topic still holds the previous step's value
  });

  it('resets by topic, waiting out the advertise race instead of repeating the reset', { timeout: 5000 }, async () => {
    const peer = new RosbridgePeer();
    const url = await peer.start();
    Object.assign(peer.knobs, { dropFirstPublish: true, dropWindowMs: 100 }); // lost if sent within 100 ms of advertise
    const env = await RosEnv.connect(parseRosConfig(testConfig(url, { reset: { topic: '/reset', type: 'std_msgs/Empty', request: {} } })), { stopOnShutdown: false });
    cleanups.push(() => peer.stop(), () => env.close());
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();
    expect(peer.resets).toBe(1);
    await env.step(Float32Array.of(0.3, 0));
    await env.reset();
    await new Promise((r) => setTimeout(r, 100));
    expect(peer.resets).toBe(2); // exactly one reset per reset(): no resend
    expect(peer.commandsOn('/reset').length).toBe(2);
  });

  it('without a reset config, lockstep episodes start from where the robot is', { timeout: 5000 }, async () => {
    const { peer, env } = await setup({ reset: undefined });
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();
    await env.step(Float32Array.of(0.3, 0));
    const obs = await env.reset();
    expect(peer.resets).toBe(0);
    expect(obs[0]).toBeCloseTo(0.03, 5);
  });

  it('realtime mode ends the episode when the robot stops publishing (stale data is not stored)', { timeout: 5000 }, async () => {
    const { peer, env } = await setup({ mode: 'realtime', rate_hz: 50, max_episode_steps: 500 }, { mode: 'rate', rateHz: 100, dt: 0.01 });
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();
    await env.step(Float32Array.of(0.1, 0));
    peer.knobs.silent = true;
    let r;
    let stored = 0;
    const t0 = performance.now();
    do {
      r = await env.step(Float32Array.of(0.1, 0));
      if (!r.discarded) stored++;
    } while (!r.truncated[0] && performance.now() - t0 < 3000);
    const lastOdom = peer.odomTimes.at(-1)!;
    expect(r.truncated[0]).toBe(1);
    expect(r.discarded?.[0]).toBe(1); // the step that found the data stale is not a transition
    // The watchdog (timeout_ms 200) stopped the robot, and the next tick ended the episode.
    expect(performance.now() - lastOdom).toBeGreaterThan(195);
    expect(performance.now() - lastOdom).toBeLessThan(200 + 2 * 20 + 50);
    expect(stored).toBeLessThanOrEqual(Math.ceil(250 / 20)); // steps before the silence was noticed
    expect(env.stats.interruptedEpisodes).toBe(1);
    expect(env.stats.stops).toBeGreaterThanOrEqual(1);
    // The watchdog's stop came at timeout_ms, and no action went out after it.
    await new Promise((res) => setTimeout(res, 100));
    const cmds = peer.commandsOn();
    const firstStop = cmds.findIndex((c) => c.at > lastOdom && isStop(c));
    expect(firstStop).toBeGreaterThan(0);
    expect(cmds[firstStop].at - lastOdom).toBeGreaterThanOrEqual(195);
    expect(cmds[firstStop].at - lastOdom).toBeLessThanOrEqual(200 + 50);
    expect(cmds.slice(firstStop).every(isStop)).toBe(true);
  });

  it('sends the stop action on close and from the shutdown path', { timeout: 5000 }, async () => {
    const { peer, env } = await setup();
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();
    await env.step(Float32Array.of(0.2, 0.3));
    env.shutdown();
    await peer.until(() => isStop(peer.commandsOn().at(-1)!));
    expect(isStop(peer.commandsOn().at(-1)!)).toBe(true);
    await env.step(Float32Array.of(0.2, 0.3));
    expect(isStop(peer.commandsOn().at(-1)!)).toBe(false);
    await env.close();
    expect(await peer.until(() => isStop(peer.commandsOn().at(-1)!))).toBe(true);
  });

  it('sends the stop action when the process crashes or gets SIGTERM (child processes, onShutdown hook)', { timeout: 20000 }, async () => {
    /** Runs a child that connects, drives one step, prints "drove", then meets its end `fate`. */
    const runChild = async (fate: 'crash' | 'sigterm') => {
      const peer = new RosbridgePeer();
      const url = await peer.start();
      cleanups.push(() => peer.stop());
      const config = JSON.stringify(testConfig(url, { safety: { timeout_ms: 5000 } })); // no watchdog stop in the way
      const script = `
        import { RosEnv } from ${JSON.stringify(fileURLToPath(new URL('../src/bridge/rosEnv.ts', import.meta.url)))};
        import { parseRosConfig } from ${JSON.stringify(fileURLToPath(new URL('../src/bridge/rosConfig.ts', import.meta.url)))};
        const env = await RosEnv.connect(parseRosConfig(JSON.parse(process.env.ROS_CONFIG)));
        env.setTasks([{ goal: [1, 1] }]);
        await env.reset();
        await env.step(Float32Array.of(0.2, 0.4));
        console.log('drove');
        if (process.env.FATE === 'crash') setTimeout(() => { throw new Error('simulated crash'); }, 10);
        else setInterval(() => {}, 1000);`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, ROS_CONFIG: config, FATE: fate }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      // Signals go only to this child, which we started; never to the test process.
      child.stdout!.on('data', (d: Buffer) => { if (fate === 'sigterm' && d.toString().includes('drove')) child.kill('SIGTERM'); });
      const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('exit', (c, sig) => r([c, sig])));
      await peer.until(() => peer.commandsOn().length > 0 && isStop(peer.commandsOn().at(-1)!), 1000);
      return { code, signal, stderr, cmds: peer.commandsOn() };
    };
    const [crash, term] = await Promise.all([runChild('crash'), runChild('sigterm')]);
    expect(crash.stderr).toMatch(/simulated crash/);
    expect(crash.code).not.toBe(0);
    expect(term.signal).toBe('SIGTERM'); // nobody else handled it: the default action followed the stop
    for (const r of [crash, term]) {
      expect(r.cmds.some((c) => !isStop(c))).toBe(true); // the child did drive
      expect(isStop(r.cmds.at(-1)!)).toBe(true); // and its last word was the stop
    }
  });

  it('counts malformed observations as rejected and keeps going', { timeout: 5000 }, async () => {
    const { peer, env } = await setup();
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();
    peer.publish('/odom', { pose: { pose: { position: { x: 'a lot' } } } });
    peer.publish('/odom', { nothing: 1 });
    peer.sendRaw('{"op":"publish","topic":"/odom","msg":{"pose":NaN}}');
    await peer.until(() => env.stats.rejected >= 3);
    expect(env.stats.rejected).toBe(3);
    const r = await env.step(Float32Array.of(0.2, 0));
    expect(r.obs[0]).toBeCloseTo(0.02, 5);
  });

  it('realtime mode steps at rate_hz on a robot streaming /odom', { timeout: 5000 }, async () => {
    const { env } = await setup({ mode: 'realtime', rate_hz: 50 }, { mode: 'rate', rateHz: 100, dt: 0.01 });
    env.setTasks([{ goal: [1, 1] }]);
    await env.reset();
    const t0 = performance.now();
    let last;
    for (let i = 0; i < 10; i++) last = await env.step(Float32Array.of(0.3, 0));
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThan(180);
    expect(elapsed).toBeLessThan(600);
    expect(last!.obs[0]).toBeGreaterThan(0.03); // the robot moved while we stepped
  });
});

describe('message fields checked against the robot\'s types (rosapi)', () => {
  it('refuses a wrong field or type at connect, naming the config field; warns when rosapi is absent', { timeout: 10_000 }, async () => {
    const peer = new RosbridgePeer();
    const url = await peer.start();
    cleanups.push(() => peer.stop());
    const connectWith = async (patch: Record<string, unknown>) => {
      const lines: string[] = [];
      const env = await RosEnv.connect(parseRosConfig(testConfig(url, patch)), { stopOnShutdown: false, log: (l) => lines.push(l) }).catch((e: Error) => e);
      if (!(env instanceof Error)) await env.close();
      return { env, lines };
    };
    const base = testConfig(url) as { observation: Record<string, unknown>[]; action: Record<string, unknown> };
    const ok = await connectWith({});
    expect(ok.env).toBeInstanceOf(RosEnv);
    expect(ok.lines).toEqual([]);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ observation: base.observation.map((o, i) => (i === 5 ? { ...o, field: 'twist.twist.linear.v' } : o)) }, /^observation\.5\.field: geometry_msgs\/Vector3 has no field v \(at twist\.twist\.linear\)/],
      [{ observation: base.observation.map((o, i) => (i === 0 ? { ...o, field: 'pose.covariance' } : o)) }, /^observation\.0\.field: pose\.covariance is an array; name one entry/],
      [{ observation: base.observation.map((o, i) => (i === 0 ? { ...o, field: 'header.frame_id' } : o)) }, /^observation\.0\.field: header\.frame_id is a string, not a number/],
      [{ action: { ...base.action, type: 'geometry_msgs/Twizt' } }, /^action\.type: the robot does not know the type geometry_msgs\/Twizt/],
    ];
    for (const [patch, message] of cases) {
      const { env } = await connectWith(patch);
      expect(env).toBeInstanceOf(ConfigError);
      expect((env as Error).message).toMatch(message);
    }
    peer.knobs.rosapi = false;
    const { env, lines } = await connectWith({ connection: { ...(testConfig(url).connection as object), request_timeout_ms: 300 } });
    expect(env).toBeInstanceOf(RosEnv);
    expect(lines.join('\n')).toMatch(/^warning: could not check message fields .*\/rosapi\/message_details/);
  });
});

describe('ROS config errors name the field', () => {
  const base = () => testConfig('ws://127.0.0.1:9090');
  it.each([
    [{ mode: 'fast' }, /^mode: invalid value; allowed: lockstep, realtime/],
    [{ mode: undefined }, /^mode: required: realtime \(a robot/],
    [{ reward: '-dist(x, goal)' }, /^reward: function 'dist' not allowed/],
    [{ reward: '-sqrt(x^2 + z^2)' }, /^reward: unknown name 'z'; allowed: .*x/],
    [{ termination: 'x = 1' }, /^termination: assignment not allowed/],
    [{ reward: '-sqrt(x^2' }, /^reward: cannot parse/],
    [{ url: 'http://robot' }, /^url: must be a ws:/],
    [{ mode: 'realtime' }, /^rate_hz: required when mode is realtime/],
    [{ colour: 'red' }, /^colour: unknown field; allowed: url, mode, rate_hz/],
    [{ max_episode_steps: 0 }, /^max_episode_steps:/],
    [{ trigger_topic: '/scan' }, /^trigger_topic: \/scan is not an observation topic; allowed: \/odom/],
    [{ tasks: { goal: { low: [0, 0], high: [1] } } }, /^tasks\.goal: low and high differ/],
  ])('%j', (patch, message) => {
    const err = (() => { try { parseRosConfig({ ...base(), ...patch }); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
  });

  it('names nested fields: action bounds, observation entries', () => {
    const b = base() as { action: Record<string, unknown>; observation: Record<string, unknown>[] };
    expect(() => parseRosConfig({ ...b, action: { ...b.action, low: [-1] } })).toThrow(/^action\.low: has 1 entries; action\.fields has 2/);
    expect(() => parseRosConfig({ ...b, action: { ...b.action, stop_action: [9, 0] } })).toThrow(/^action\.stop_action: entry 0/);
    expect(() => parseRosConfig({ ...b, action: { ...b.action, fields: ['linear.x', '__proto__.polluted'] } })).toThrow(/^action\.fields\.1: must not name __proto__/);
    expect(() => parseRosConfig({ ...b, action: { ...b.action, speed: 1 } })).toThrow(/^action\.speed: unknown field; allowed: topic, type, fields/);
    const obs = [...b.observation];
    obs[4] = { name: 'yaw', expr: 'import("fs")' };
    expect(() => parseRosConfig({ ...b, observation: obs })).toThrow(/^observation\.4\.expr: function 'import' not allowed/);
    obs[4] = { name: 'yaw', expr: 'v * 2' }; // v comes later in the list
    expect(() => parseRosConfig({ ...b, observation: obs })).toThrow(/^observation\.4\.expr: unknown name 'v'/);
    obs[4] = { name: 'yaw', topic: '/odom', type: 'nav_msgs/Odometry' };
    expect(() => parseRosConfig({ ...b, observation: obs })).toThrow(/^observation\.4\.field: missing/);
    obs[4] = { name: 'yaw', topic: '/odom', type: 'Odometry', field: 'a' };
    expect(() => parseRosConfig({ ...b, observation: obs })).toThrow(/^observation\.4\.type: must be a ROS type/);
  });
});
