/**
 * The vector each meta-learner trains and checkpoints (`theta` in checkpoints and the API):
 *   maml, reptile   θ, the policy's D parameters (agents/policy.ts layout);
 *   meta-sgd        φ = [θ; α], 2D entries: the policy, then its learned inner step sizes (α
 *                   starts at fastLr; agents/metaSgd.ts);
 *   rl2             the GRU policy's parameters (agents/gru.ts layout).
 */
import { ConfigError } from '../core/errors.ts';
import type { Rng } from '../core/rng.ts';
import type { Config } from '../io/config.ts';
import { type PolicySpec, initParams, numParams } from '../../agents/policy.ts';
import { withLearnedStep } from '../../agents/metaSgd.ts';
import { type GruSpec, initGruParams, numGruParams } from '../../agents/gru.ts';

type AlgoConfig = Pick<Config, 'algo' | 'fastLr'>;

/** A learner's policy: the MLP of maml, reptile and meta-sgd, or RL²'s GRU (cfg.algo tells which). */
export type AnySpec = PolicySpec | GruSpec;

/** Entries of the trained vector. */
export function metaParamCount(cfg: AlgoConfig, spec: AnySpec): number {
  if (cfg.algo === 'rl2') return numGruParams(spec as GruSpec);
  return cfg.algo === 'meta-sgd' ? 2 * numParams(spec as PolicySpec) : numParams(spec as PolicySpec);
}

/** A fresh start: the policy's initialization (and α = fastLr for meta-sgd). */
export function initMetaParams(cfg: AlgoConfig, spec: AnySpec, rng: Rng): Float32Array {
  if (cfg.algo === 'rl2') return initGruParams(spec as GruSpec, rng);
  const theta = initParams(spec as PolicySpec, rng);
  return cfg.algo === 'meta-sgd' ? withLearnedStep(theta, cfg.fastLr) : theta;
}

/**
 * Another run's trained vector as this run's start (`--init`): the same kind, or a policy θ
 * (maml, reptile) starting a meta-sgd run with α = fastLr. Anything else is a one-line error.
 */
export function adoptMetaParams(theirs: Float32Array, cfg: AlgoConfig, spec: AnySpec, what: string, field = '--init'): Float32Array {
  const want = metaParamCount(cfg, spec);
  if (theirs.length === want) return theirs;
  if (cfg.algo === 'rl2') throw new ConfigError(field, `${what} holds ${theirs.length} parameters; this rl2 run's GRU has ${want} (an rl2 run with the same env and rl2Hidden?)`);
  const D = numParams(spec as PolicySpec);
  if (cfg.algo === 'meta-sgd' && theirs.length === D) return withLearnedStep(theirs, cfg.fastLr);
  const kinds = cfg.algo === 'meta-sgd' ? `${want} (policy and learned step sizes) or ${D} (a policy alone)` : `${want}`;
  throw new ConfigError(field, `${what} holds ${theirs.length} parameters; this ${cfg.algo} run needs ${kinds} (same env, observation and action sizes, hidden and activation?)`);
}
