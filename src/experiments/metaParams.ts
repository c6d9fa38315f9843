/**
 * The vector each meta-learner trains and checkpoints (`theta` in checkpoints and the API):
 *   maml, reptile   θ, the policy's D parameters (agents/policy.ts layout);
 *   meta-sgd        φ = [θ; α], 2D entries: the policy, then its learned inner step sizes (α
 *                   starts at fastLr; agents/metaSgd.ts).
 */
import { ConfigError } from '../core/errors.ts';
import type { Rng } from '../core/rng.ts';
import type { Config } from '../io/config.ts';
import { type PolicySpec, initParams, numParams } from '../../agents/policy.ts';
import { withLearnedStep } from '../../agents/metaSgd.ts';

type AlgoConfig = Pick<Config, 'algo' | 'fastLr'>;

/** Entries of the trained vector. */
export function metaParamCount(cfg: AlgoConfig, spec: PolicySpec): number {
  return cfg.algo === 'meta-sgd' ? 2 * numParams(spec) : numParams(spec);
}

/** A fresh start: the policy's initialization (and α = fastLr for meta-sgd). */
export function initMetaParams(cfg: AlgoConfig, spec: PolicySpec, rng: Rng): Float32Array {
  const theta = initParams(spec, rng);
  return cfg.algo === 'meta-sgd' ? withLearnedStep(theta, cfg.fastLr) : theta;
}

/**
 * Another run's trained vector as this run's start (`--init`): the same kind, or a policy θ
 * (maml, reptile) starting a meta-sgd run with α = fastLr. Anything else is a one-line error.
 */
export function adoptMetaParams(theirs: Float32Array, cfg: AlgoConfig, spec: PolicySpec, what: string, field = '--init'): Float32Array {
  const D = numParams(spec);
  const want = metaParamCount(cfg, spec);
  if (theirs.length === want) return theirs;
  if (cfg.algo === 'meta-sgd' && theirs.length === D) return withLearnedStep(theirs, cfg.fastLr);
  const kinds = cfg.algo === 'meta-sgd' ? `${want} (policy and learned step sizes) or ${D} (a policy alone)` : `${want}`;
  throw new ConfigError(field, `${what} holds ${theirs.length} parameters; this ${cfg.algo} run needs ${kinds} (same env, observation and action sizes, hidden and activation?)`);
}
