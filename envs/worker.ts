/**
 * worker_threads entry serving one slice of a vector env (copies indexOffset … indexOffset+num−1)
 * to a `WorkerVectorEnv` in the main thread. See src/core/workerProtocol.ts for the messages.
 */
import { parentPort } from 'node:worker_threads';
import type { Request } from '../src/core/workerProtocol.ts';
import { createVectorEnvServer } from './workerServer.ts';

if (parentPort === null) throw new Error('envs/worker.ts is a worker_threads entry; start it with new Worker(...)');
const port = parentPort;
port.on('message', createVectorEnvServer((reply, transfer) => port.postMessage(reply, transfer)) as (msg: Request) => void);
