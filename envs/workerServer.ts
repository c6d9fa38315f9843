/**
 * The vector-env side of the worker protocol (src/core/workerProtocol.ts), kept apart from the
 * worker entry (envs/worker.ts) so that tests can wrap it. Requests are handled strictly in
 * arrival order, even though `init` is asynchronous (it awaits `prepareEnv`): a `setTasks` sent
 * right after `init` must find the env built.
 */
import type { Box } from '../src/core/spaces.ts';
import type { AnyVectorEnv } from '../src/core/env.ts';
import type { BoxData, InitInfo, Reply, Request } from '../src/core/workerProtocol.ts';
import { serializeError } from '../src/core/workerProtocol.ts';
import { type EnvOptions, makeVector, prepareEnv } from './registry.ts';
import { importEnvModule } from './envModule.ts';

export type PostReply = (reply: Reply, transfer: ArrayBuffer[]) => void;

function boxData(b: Box): BoxData {
  return { low: b.low, high: b.high, shape: [...b.shape] };
}

/** A request type served by a worker entry beyond the env's own (e.g. `rollout`, with a policy). */
export type ExtraHandler = (msg: Request, env: AnyVectorEnv) => { value: unknown; transfer: ArrayBuffer[] } | Promise<{ value: unknown; transfer: ArrayBuffer[] }>;

/**
 * Returns the message handler of one worker: it builds the env on `init` and serves it, and
 * hands request types it does not know to `extra` (a worker entry outside envs/ adds the policy).
 */
export function createVectorEnvServer(post: PostReply, extra: Partial<Record<Request['type'], ExtraHandler>> = {}): (msg: Request) => void {
  let env: AnyVectorEnv | null = null;
  let queue: Promise<void> = Promise.resolve();

  const need = (): AnyVectorEnv => {
    if (env === null) throw new Error('vector-env worker: the env is not initialised (send init first)');
    return env;
  };

  const handle = async (msg: Request): Promise<{ value: unknown; transfer: ArrayBuffer[] }> => {
    switch (msg.type) {
      case 'init': {
        if (msg.envModule !== undefined) await importEnvModule(msg.envModule);
        await prepareEnv(msg.name);
        const made = makeVector(msg.name, msg.num, msg.options as EnvOptions, msg.indexOffset);
        env = made;
        const info: InitInfo = {
          num: made.num,
          observationSpace: boxData(made.observationSpace),
          actionSpace: boxData(made.actionSpace),
          maxEpisodeSteps: made.maxEpisodeSteps,
        };
        return { value: info, transfer: [] };
      }
      case 'setTasks':
        await need().setTasks(msg.tasks);
        return { value: null, transfer: [] };
      case 'reset': {
        const obs = await need().reset(msg.seed);
        return { value: obs, transfer: [obs.buffer as ArrayBuffer] };
      }
      case 'step': {
        const r = await need().step(msg.actions);
        // Vector envs return fresh arrays each step, so their buffers can be given away.
        return { value: r, transfer: [r.obs.buffer, r.reward.buffer, r.terminated.buffer, r.truncated.buffer] as ArrayBuffer[] };
      }
      case 'close':
        await env?.close();
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
