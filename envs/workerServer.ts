/**
 * The vector-env side of the worker protocol (src/core/workerProtocol.ts), kept apart from the
 * worker entry (envs/worker.ts) so that tests can wrap it. Requests are handled strictly in
 * arrival order, even though `init` is asynchronous (it awaits `prepareEnv`): a `setTasks` sent
 * right after `init` must find the env built.
 */
import type { Box } from '../src/core/spaces.ts';
import type { VectorEnv } from '../src/core/env.ts';
import type { BoxData, InitInfo, Reply, Request } from '../src/core/workerProtocol.ts';
import { serializeError } from '../src/core/workerProtocol.ts';
import { type EnvOptions, makeVector, prepareEnv } from './registry.ts';

export type PostReply = (reply: Reply, transfer: ArrayBuffer[]) => void;

function boxData(b: Box): BoxData {
  return { low: b.low, high: b.high, shape: [...b.shape] };
}

/** A request type served by a worker entry beyond the env's own (e.g. `rollout`, with a policy). */
export type ExtraHandler = (msg: Request, env: VectorEnv) => { value: unknown; transfer: ArrayBuffer[] } | Promise<{ value: unknown; transfer: ArrayBuffer[] }>;

/**
 * Returns the message handler of one worker: it builds the env on `init` and serves it, and
 * hands request types it does not know to `extra` (a worker entry outside envs/ adds the policy).
 */
export function createVectorEnvServer(post: PostReply, extra: Partial<Record<Request['type'], ExtraHandler>> = {}): (msg: Request) => void {
  let env: VectorEnv | null = null;
  let queue: Promise<void> = Promise.resolve();

  const need = (): VectorEnv => {
    if (env === null) throw new Error('vector-env worker: the env is not initialised (send init first)');
    return env;
  };

  const handle = async (msg: Request): Promise<{ value: unknown; transfer: ArrayBuffer[] }> => {
    switch (msg.type) {
      case 'init': {
        await prepareEnv(msg.name);
        env = makeVector(msg.name, msg.num, msg.options as EnvOptions, msg.indexOffset);
        const info: InitInfo = {
          num: env.num,
          observationSpace: boxData(env.observationSpace),
          actionSpace: boxData(env.actionSpace),
          maxEpisodeSteps: env.maxEpisodeSteps,
        };
        return { value: info, transfer: [] };
      }
      case 'setTasks':
        need().setTasks(msg.tasks);
        return { value: null, transfer: [] };
      case 'reset': {
        const obs = need().reset(msg.seed);
        return { value: obs, transfer: [obs.buffer as ArrayBuffer] };
      }
      case 'step': {
        const r = need().step(msg.actions);
        // SyncVectorEnv returns fresh arrays each step, so their buffers can be given away.
        return { value: r, transfer: [r.obs.buffer, r.reward.buffer, r.terminated.buffer, r.truncated.buffer] as ArrayBuffer[] };
      }
      case 'close':
        env?.close();
        env = null;
        return { value: null, transfer: [] };
      default: {
        const handler = extra[(msg as { type: Request['type'] }).type];
        if (handler) return handler(msg, need());
        throw new Error(`vector-env worker: unknown request ${JSON.stringify((msg as { type?: unknown }).type)}`);
      }
    }
  };

  return (msg: Request) => {
    queue = queue.then(async () => {
      try {
        const { value, transfer } = await handle(msg);
        post({ id: msg.id, ok: true, value }, transfer);
      } catch (e) {
        // Env errors (NumericError, ConfigError, …) go back to the caller; the worker lives on
        // until the main thread decides to close it.
        post({ id: msg.id, ok: false, error: serializeError(e) }, []);
      }
    });
  };
}
