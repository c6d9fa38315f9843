/**
 * metarl as a library: `import { register, train, evaluate } from 'metarl'`.
 *
 * - Environments: `register` your own (sync or async `step`), `make` / `makeVector` any env by
 *   name, the Gymnasium-shaped types, `Box`, and the JSON task spaces (docs/custom-envs.md).
 * - Runs: `train`, `evaluate`, the continual experiment (`runContinual`, `resumeContinual`).
 * - The algorithms one meta-batch at a time: `MetaLearner` (maml, reptile, meta-sgd) and
 *   `Rl2Learner` (rl2), started from `initMetaParams` with an `Rng` (docs/algorithms.md).
 * - The WebSocket bridge (metarl-bridge/1, docs/bridge-protocol.md): the agent's side
 *   (`RemoteVectorEnv` dials a simulator, `AgentServer` waits for one) and the simulator's
 *   (`serveSimulator`, `dialAgent`).
 *
 * The API page (docs/api/) is generated from these exports' TSDoc with `npm run docs:api`.
 */

// Environments
export { register, unregister, make, makeVector, prepareEnv, envNames, ENV_NAMES, type EnvName, type EnvOptions, type EnvFactory, type RegisterOptions } from '../envs/registry.ts';
export type { UserEnv, AnyTaskEnv } from '../envs/userEnv.ts';
export { importEnvModule } from '../envs/envModule.ts';
export type { Env, TaskEnv, ResetResult, StepResult, VectorEnv, AnyVectorEnv, VectorStepResult } from './core/env.ts';
export { Box } from './core/spaces.ts';
export { Rng, deriveSeed, type RngState } from './core/rng.ts';
export { type TaskSpace, type TaskField, parseTaskSpace, sampleTasks } from './bridge/taskSpace.ts';

// Runs
export { train, evaluate, type TrainSettings, type EvaluateSettings, type TrainResult, type EvalResult, type BatchMetrics } from './api.ts';
export { type Config, type PresetName, PRESETS, PRESET_NAMES, resolveConfig, validateConfig } from './io/config.ts';
export { loadRunCheckpoint, type Checkpoint } from './io/checkpoint.ts';
export { initBackend } from './tensor/backend.ts';
export { BACKENDS, type BackendName } from './tensor/backendNames.ts';
export { ConfigError, NumericError, HaltedError } from './core/errors.ts';

// The algorithms
export { MetaLearner } from './experiments/metaBatch.ts';
export { Rl2Learner } from './experiments/rl2Learner.ts';
export { initMetaParams, metaParamCount } from './experiments/metaParams.ts';
export { initParams, numParams, type PolicySpec } from '../agents/policy.ts';
export { initGruParams, numGruParams, type GruSpec } from '../agents/gru.ts';
export { withLearnedStep, splitLearnedStep } from '../agents/metaSgd.ts';
export { ALGOS, type Algo } from './io/config.ts';

// Continual task adaptation
export { runContinual, resumeContinual, type ContinualRunOptions } from './continual/run.ts';
export { CONTINUAL_DEFAULTS, validateContinual, type ContinualConfig } from './continual/config.ts';
export type { ContinualResults } from './continual/types.ts';

// The bridge
export { RemoteVectorEnv } from './bridge/remoteEnv.ts';
export { AgentServer, type AgentServerOptions } from './bridge/agentServer.ts';
export { serveSimulator, dialAgent, type SimulatorServer } from './bridge/simServer.ts';
export type { SimulatorOptions } from './bridge/simSession.ts';
