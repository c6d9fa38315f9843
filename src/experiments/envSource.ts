/**
 * Where a run's episodes come from, by the config's `env`:
 *   a built-in name        in-process simulators, or worker threads with `workers` > 0;
 *   a registered name      the user's env (register(), --env-module), the same ways;
 *   ws://host:port         a simulator serving `metarl-bridge/1` (the agent dials it);
 *   serve                  the agent listens (`bridge.host`/`bridge.port`) and uses the first
 *                          simulator that dials it (`metarl serve`);
 *   ros                    one robot through a rosbridge server, described by `robot` (docs/ros.md);
 * Every source gives the policy's spaces, the task distribution and the sampler's lanes.
 */
import type { AnyVectorEnv } from '../core/env.ts';
import type { Box } from '../core/spaces.ts';
import type { Rng } from '../core/rng.ts';
import { isKnownEnv, make, prepareEnv } from '../../envs/registry.ts';
import { RemoteVectorEnv } from '../bridge/remoteEnv.ts';
import { AgentServer } from '../bridge/agentServer.ts';
import { parseRosConfig } from '../bridge/rosConfig.ts';
import { RosEnv } from '../bridge/rosEnv.ts';
import { ConfigError } from '../core/errors.ts';
import type { Config } from '../io/config.ts';
import { envOptions, makeSamplerLanes } from './metaBatch.ts';
import { checkSizes } from './budget.ts';

/** What the learner needs of an env family besides the sampler: spaces and tasks. */
export interface TaskSource {
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  sampleTasks(n: number, rng: Rng): unknown[];
}

export interface EnvSource {
  taskSource: TaskSource;
  lanes: AnyVectorEnv<unknown>[];
  /** What the run is connected to, for the log (e.g. `navigation×400 at ws://127.0.0.1:8765`). */
  description: string;
  close(): Promise<void>;
}

export type EnvKind = 'builtin' | 'remote' | 'serve' | 'ros';

export function envKind(env: string): EnvKind {
  if (isKnownEnv(env)) return 'builtin';
  if (env === 'serve') return 'serve';
  if (env === 'ros') return 'ros';
  return 'remote';
}

/** Opens the config's env for `numTasks` tasks per meta-batch. */
export async function openEnvSource(cfg: Config, numTasks: number, log: (line: string) => void = () => {}): Promise<EnvSource> {
  const kind = envKind(cfg.env);
  if (kind === 'builtin') {
    await prepareEnv(cfg.env);
    const taskEnv = make(cfg.env, envOptions(cfg));
    try {
      checkSizes(cfg, taskEnv.observationSpace.size, taskEnv.actionSpace.size); // before the copies exist
      const lanes = await makeSamplerLanes(cfg, numTasks);
      return {
        taskSource: taskEnv,
        lanes,
        description: cfg.env,
        close: async () => {
          taskEnv.close();
          await Promise.all(lanes.map((env) => env.close()));
        },
      };
    } catch (e) {
      taskEnv.close();
      throw e;
    }
  }
  if (kind === 'ros') {
    if (cfg.robot === undefined) throw new ConfigError('robot', 'env ros needs a robot description (give the robot YAML with --config; see docs/ros.md)');
    const plan = parseRosConfig(cfg.robot);
    const env = await RosEnv.connect(plan, { log });
    return { taskSource: env, lanes: [env], description: `robot at ${plan.config.url}`, close: () => env.close() };
  }
  const b = cfg.bridge;
  const options = { token: b.token, binary: b.binary, callTimeoutMs: b.callTimeoutMs, maxMessageBytes: b.maxMessageBytes, stallTimeoutMs: b.stallTimeoutMs, maxRateHz: b.maxRateHz, maxEpisodeBufferBytes: b.maxEpisodeBufferBytes };
  if (kind === 'remote') {
    const env = await RemoteVectorEnv.connect(cfg.env, options);
    return { taskSource: env, lanes: [env], description: `${env.name || 'simulator'} (${env.num} copies) at ${cfg.env}`, close: () => env.close() };
  }
  const server = await AgentServer.listen({ ...options, host: b.host, port: b.port });
  log(`waiting for a simulator at ${server.url} (up to ${Math.round(b.acceptTimeoutMs / 1000)} s)`);
  try {
    const env = await server.accept(b.acceptTimeoutMs);
    return {
      taskSource: env,
      lanes: [env],
      description: `${env.name || 'simulator'} (${env.num} copies) connected to ${server.url}`,
      close: async () => {
        await env.close();
        await server.close();
      },
    };
  } catch (e) {
    await server.close();
    throw e;
  }
}
