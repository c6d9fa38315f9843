/**
 * A robot stops when told to: the `metarl` command and the ROS env in child processes, driving the
 * simulated robot behind the rosbridge test peer in this process, whose record of every command it
 * received (with its arrival time) is the independent monitor. Ctrl-C, a second Ctrl-C, a blocked
 * event loop, and an action field rosbridge cannot deliver.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { parseRosConfig } from '../src/bridge/rosConfig.ts';
import { readConfigFile } from '../src/io/config.ts';
import { RosbridgePeer, type ReceivedCommand } from './support/rosbridgePeer.ts';

const cli = ['--import', 'tsx', 'src/cli.ts'];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const isStop = (c: ReceivedCommand) => (c.msg.linear as { x: number }).x === 0 && (c.msg.angular as { z?: number }).z === 0;

/** The example robot, pointed at the peer, lockstep, with short timeouts. */
function robot(url: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base = parseRosConfig(readConfigFile(fileURLToPath(new URL('../examples/diff-drive.yaml', import.meta.url)))).config as Record<string, unknown>;
  const r: Record<string, unknown> = {
    ...base, url, mode: 'lockstep', max_episode_steps: 50,
    safety: { timeout_ms: 200 },
    connection: { ...(base.connection as object), step_timeout_ms: 1000, request_timeout_ms: 2000 },
    ...overrides,
  };
  delete r.rate_hz;
  return r;
}

async function startPeer(): Promise<RosbridgePeer> {
  const peer = new RosbridgePeer();
  await peer.start();
  cleanups.push(() => peer.stop());
  return peer;
}

interface Run { child: ChildProcess; out: string; stderr: () => string; exited: Promise<{ code: number | null; at: number }> }

/** `metarl train --env ros` on a small meta-batch (2 tasks × 2 episodes), in a child process. */
function trainOnRobot(robotConfig: Record<string, unknown>, numBatches = 3): Run {
  const out = mkdtempSync(join(tmpdir(), 'metarl-robot-'));
  const file = join(out, 'robot.yaml');
  writeFileSync(file, toYaml({ env: 'ros', metaBatchSize: 2, episodesPerTask: 2, hidden: [8], workers: 0, robot: robotConfig }));
  const child = spawn(process.execPath, [...cli, 'train', '--config', file, '--num-batches', String(numBatches), '--backend', 'wasm', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => void child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; at: number }>((r) => child.on('exit', (code) => r({ code, at: performance.now() })));
  return { child, out, stderr: () => stderr, exited };
}

/** The non-zero commands that arrived more than `graceMs` after the first stop at or after `since`. */
function movesAfterStop(cmds: ReceivedCommand[], since: number, graceMs: number): { stopAt: number; late: ReceivedCommand[] } {
  const stop = cmds.find((c) => c.at >= since && isStop(c));
  expect(stop, 'a stop command after the signal').toBeDefined();
  return { stopAt: stop!.at, late: cmds.filter((c) => c.at > stop!.at + graceMs && !isStop(c)) };
}

/**
 * Trains on the peer's robot, sends `signals` once it drives (well into sampling, motion commands
 * flowing), waits for the exit and for anything still in flight, and returns what the robot saw.
 */
async function signalWhileDriving(signals: NodeJS.Signals[]) {
  const peer = await startPeer();
  const run = trainOnRobot(robot(peer.url), 50);
  expect(await peer.until(() => peer.commandsOn().filter((c) => !isStop(c)).length > 60, 40_000)).toBe(true);
  const sentAt = performance.now();
  for (const sig of signals) run.child.kill(sig);
  const { code, at } = await run.exited;
  await new Promise((r) => setTimeout(r, 300)); // anything still in flight arrives
  const cmds = peer.commandsOn();
  return { run, code, exitAfterMs: at - sentAt, cmds, ...movesAfterStop(cmds, sentAt, 50), sentAt };
}

describe('a robot stops when told to (metarl train --env ros, child processes)', () => {
  it('Ctrl-C halts at once: a stop, no motion command after it, a checkpoint, exit 130', { timeout: 60_000 }, async () => {
    const { run, code, exitAfterMs, cmds, stopAt, late, sentAt } = await signalWhileDriving(['SIGINT']);
    console.log(`Ctrl-C → stop at the robot ${(stopAt - sentAt).toFixed(1)} ms; process exit after ${exitAfterMs.toFixed(0)} ms; motion commands > 50 ms after the stop: ${late.length}`);
    expect(late).toEqual([]);
    expect(isStop(cmds.at(-1)!)).toBe(true);
    expect(code).toBe(130);
    const runDir = join(run.out, readdirSync(run.out).find((d) => d.startsWith('ros__'))!);
    expect(existsSync(join(runDir, 'checkpoint.json'))).toBe(true);
    // The interrupted meta-batch is not in the series: every logged batch finished.
    const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').filter(Boolean);
    const ck = JSON.parse(readFileSync(join(runDir, 'checkpoint.json'), 'utf8')) as { batch: number };
    expect(ck.batch).toBe(lines.length);
  });

  it('a second Ctrl-C exits at once and still ends with a stop', { timeout: 60_000 }, async () => {
    const { code, cmds, late } = await signalWhileDriving(['SIGINT', 'SIGINT']);
    expect(late).toEqual([]);
    expect(isStop(cmds.at(-1)!)).toBe(true);
    expect(code).toBe(130);
  });

  it('SIGTERM halts like Ctrl-C', { timeout: 60_000 }, async () => {
    const { code, late } = await signalWhileDriving(['SIGTERM']);
    expect(late).toEqual([]);
    expect(code).toBe(130);
  });

  it('a wrong action field is refused at start (exit 2) when rosapi can describe the type', { timeout: 30_000 }, async () => {
    const peer = await startPeer();
    const r = robot(peer.url) as { action: Record<string, unknown> };
    const run = trainOnRobot({ ...r, action: { ...r.action, fields: ['linear.x', 'angular.q'] } }, 3);
    const { code } = await run.exited;
    expect(code).toBe(2);
    expect(run.stderr()).toMatch(/error: action\.fields\.1: geometry_msgs\/Vector3 has no field q \(at angular\); it has x, y, z/);
    expect(peer.commandsOn().filter((c) => !isStop(c))).toEqual([]); // nothing moved
  });

  it('without rosapi, an action field rosbridge cannot deliver stops the run with exit 2 naming action.fields', { timeout: 60_000 }, async () => {
    const peer = await startPeer();
    peer.knobs.rosapi = false;
    const r = robot(peer.url) as { action: Record<string, unknown> };
    const t0 = performance.now();
    const run = trainOnRobot({ ...r, action: { ...r.action, fields: ['linear.x', 'angular.q'] } }, 3);
    const { code, at } = await run.exited;
    const seconds = (at - t0) / 1000;
    console.log(`bad action field: exit ${code} after ${seconds.toFixed(1)} s; ${peer.droppedPublishes} publishes dropped by the peer; ${run.stderr().trim().split('\n').at(-1)}`);
    expect(code).toBe(2);
    expect(run.stderr()).toMatch(/error: action\.fields: 5 episodes in a row, no message on \/odom answered an action on \/cmd_vel/);
    expect(run.stderr()).toMatch(/angular\.q/);
    expect(run.stderr()).toMatch(/warning: could not check message fields/);
    // Five episodes of one timed-out step each (step_timeout_ms 1000), plus start-up.
    expect(seconds).toBeLessThan(Math.max(5 * 1.5, 10) + 8);
  });
});

describe('the stop guard does not share the agent\'s event loop', () => {
  it('an event loop blocked for 2 s gets the guard\'s stop within timeout_ms + 50 ms, and no action overrides it', { timeout: 30_000 }, async () => {
    const peer = await startPeer();
    const config = JSON.stringify(robot(peer.url, { safety: { timeout_ms: 200 } }));
    const script = `
      import { RosEnv } from ${JSON.stringify(fileURLToPath(new URL('../src/bridge/rosEnv.ts', import.meta.url)))};
      import { parseRosConfig } from ${JSON.stringify(fileURLToPath(new URL('../src/bridge/rosConfig.ts', import.meta.url)))};
      const env = await RosEnv.connect(parseRosConfig(JSON.parse(process.env.ROS_CONFIG)));
      env.setTasks([{ goal: [1, 1] }]);
      await env.reset();
      for (let i = 0; i < 5; i++) await env.step(Float32Array.of(0.2, 0.4));
      console.log('blocking');
      const end = performance.now() + 2000;
      while (performance.now() < end) {} // a long synchronous computation: no timer, no socket
      const r = await env.step(Float32Array.of(0.2, 0.4)); // after the block: must not drive
      console.log(JSON.stringify({ discarded: r.discarded?.[0] ?? 0, truncated: r.truncated[0], stops: env.stats.stops }));
      await env.close();
      process.exit(0);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, ROS_CONFIG: config }, stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => void child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const cmds = peer.commandsOn();
    const lastMove = cmds.filter((c) => !isStop(c)).at(-1)!;
    const guardStop = cmds.find((c) => c.at > lastMove.at && isStop(c))!;
    // The heartbeat's last beat was when the fifth step's answer came, right after the last move.
    const latency = guardStop.at - lastMove.at;
    console.log(`blocked loop: guard's stop ${latency.toFixed(1)} ms after the last command (timeout_ms 200)`);
    expect(latency).toBeGreaterThanOrEqual(195);
    expect(latency).toBeLessThanOrEqual(200 + 50);
    // Nothing but stops after it: the step after the block was discarded, not sent.
    expect(cmds.filter((c) => c.at > guardStop.at).every(isStop)).toBe(true);
    expect(cmds.filter((c) => !isStop(c)).length).toBe(5);
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { discarded: number; truncated: number; stops: number };
    expect(result).toMatchObject({ discarded: 1, truncated: 1 });
    expect(result.stops).toBeGreaterThanOrEqual(1);
  });
});
