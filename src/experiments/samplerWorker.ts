/**
 * worker_threads entry of the meta-learner's sampling workers: the vector-env worker
 * (envs/workerServer.ts) plus `rollout`, which runs a whole episode of its copies with the policy
 * on the worker's own thread — θ comes once per sampling phase, episodes go back once, and no
 * step waits for the main thread. It acts with the same actor as the main thread
 * (src/experiments/actor.ts), so episodes are identical bit for bit for any worker count.
 * Loads no tfjs (the policy here is agents/hostPolicy.ts).
 */
import { parentPort } from 'node:worker_threads';
import { lastValueFrom } from 'rxjs';
import type { AnyVectorEnv } from '../core/env.ts';
import { Rng } from '../core/rng.ts';
import type { Request, RolloutParts } from '../core/workerProtocol.ts';
import { rollout$, toEpisodes } from '../streams/rollout.ts';
import { HostPolicy } from '../../agents/hostPolicy.ts';
import { createVectorEnvServer } from '../../envs/workerServer.ts';
import { makeActor } from './actor.ts';

async function rollout(msg: Request, env: AnyVectorEnv): Promise<{ value: RolloutParts; transfer: ArrayBuffer[] }> {
  if (msg.type !== 'rollout') throw new Error(`sampler worker: expected rollout, got ${msg.type}`);
  const { spec, params, taskOf, noiseSeeds, resetSeed } = msg;
  if (taskOf.length !== env.num || noiseSeeds.length !== env.num) throw new Error(`sampler worker: ${taskOf.length} tasks and ${noiseSeeds.length} noise seeds for ${env.num} copies`);
  const policies = params.map((p) => new HostPolicy(spec, p));
  const act = makeActor(spec, policies, taskOf, noiseSeeds.map((s) => new Rng(s)));
  const b = await lastValueFrom(rollout$(env, act, { seed: resetSeed }).pipe(toEpisodes(env.num, env.maxEpisodeSteps, spec.obsDim, spec.actDim)));
  const value: RolloutParts = { obs: b.obs, actions: b.actions, rewards: b.rewards, lengths: b.lengths, terminated: b.terminated, finalObs: b.finalObs };
  return { value, transfer: [b.obs.buffer, b.actions.buffer, b.rewards.buffer, b.lengths.buffer, b.terminated.buffer, b.finalObs.buffer] as ArrayBuffer[] };
}

if (parentPort === null) throw new Error('samplerWorker.ts is a worker_threads entry; start it with new Worker(...)');
const port = parentPort;
port.on('message', createVectorEnvServer((reply, transfer) => port.postMessage(reply, transfer), { rollout }) as (msg: Request) => void);
