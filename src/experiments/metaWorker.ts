/**
 * worker_threads entry computing one shard of the MAML-TRPO outer objective for a MetaWorkerPool
 * (src/experiments/outerObjective.ts): it holds a MetaObjective over its tasks and answers per-task
 * parts, which the main thread combines in task order.
 */
import { parentPort } from 'node:worker_threads';
import { MetaObjective, type MetaObjectiveOptions } from '../../agents/maml.ts';
import { taskDataFromArrays } from '../../agents/taskData.ts';
import { toFlat } from '../../agents/policy.ts';
import { initBackend } from '../tensor/backend.ts';
import { type Reply, serializeError } from '../core/workerProtocol.ts';
import type { MetaRequest } from './outerObjective.ts';

if (parentPort === null) throw new Error('src/experiments/metaWorker.ts is a worker_threads entry; start it with new Worker(...)');
const port = parentPort;

let options: MetaObjectiveOptions | null = null;
let obj: MetaObjective | null = null;

function objective(): MetaObjective {
  if (obj === null) throw new Error('metaWorker: no meta-batch has begun');
  return obj;
}

function end(): null {
  obj?.dispose();
  obj = null;
  return null;
}

async function handle(m: MetaRequest): Promise<unknown> {
  switch (m.type) {
    case 'init':
      await initBackend(m.backend);
      options = m.options;
      return null;
    case 'begin':
      if (options === null) throw new Error('metaWorker: begin before init');
      end();
      obj = new MetaObjective(options, m.theta, m.numTasks);
      return null;
    case 'inner': {
      const o = objective();
      o.addInnerStep(m.data.map(taskDataFromArrays));
      return o.adapted().map((P) => toFlat(P));
    }
    case 'valid':
      objective().setValidation(m.data.map(taskDataFromArrays));
      return null;
    case 'gradient':
      return objective().metaGradientParts();
    case 'lossAtOld':
      return objective().lossAtOldParts();
    case 'fvp':
      return objective().fisherParts(m.v);
    case 'evaluate':
      return objective().evaluateParts(m.theta);
    case 'end':
      return end();
  }
}

// Requests are handled one at a time, in order.
let queue: Promise<void> = Promise.resolve();
port.on('message', (m: MetaRequest) => {
  queue = queue.then(async () => {
    let reply: Reply;
    try {
      reply = { id: m.id, ok: true, value: await handle(m) };
    } catch (e) {
      reply = { id: m.id, ok: false, error: serializeError(e) };
    }
    port.postMessage(reply);
  });
});
