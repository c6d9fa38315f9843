/**
 * What every meta-learner holds of its env (MetaLearner for maml, reptile and meta-sgd;
 * Rl2Learner for rl2): the env source with its sampler lanes, the task distribution, and the
 * robot-safety and bridge-counter plumbing that the training loop drives the same way for all.
 */
import type { AnyVectorEnv } from '../core/env.ts';
import type { Config } from '../io/config.ts';
import type { EnvSource, TaskSource } from './envSource.ts';
import { type BridgeStats, type BridgeVectorEnv, emptyStats } from '../bridge/bridgeEnv.ts';

export abstract class EnvLearner {
  protected constructor(
    readonly cfg: Config,
    protected readonly source: EnvSource,
  ) {}

  /** Spaces and task distribution of the env. */
  get taskSource(): TaskSource {
    return this.source.taskSource;
  }

  /** The sampler's vector envs (see makeSamplerLanes and EnvSource). */
  get lanes(): AnyVectorEnv<unknown>[] {
    return this.source.lanes;
  }

  /** Whether the env is a robot (BridgeVectorEnv.hardware): stop requests halt it at once. */
  get hardware(): boolean {
    return this.lanes.some((env) => (env as BridgeVectorEnv).hardware === true);
  }

  /** Halts every hardware lane: the stop action goes out now and no action follows. */
  halt(reason: string): void {
    for (const env of this.lanes) (env as BridgeVectorEnv).halt?.(reason);
  }

  /** Counters of the bridged lanes (rejected messages, stops, …), summed; null for built-in envs. */
  bridgeStats(): BridgeStats | null {
    const bridged = this.lanes.filter((env): env is BridgeVectorEnv => typeof (env as BridgeVectorEnv).stats === 'object');
    if (bridged.length === 0) return null;
    const sum = emptyStats();
    for (const env of bridged) for (const k of Object.keys(sum) as (keyof BridgeStats)[]) sum[k] += env.stats[k] ?? 0;
    return sum;
  }

  /** What the learner is connected to. */
  get envDescription(): string {
    return this.source.description;
  }

  /** The bridge counters' increase since `before` (a reading of bridgeStats), for a batch's metrics. */
  protected statsSince(before: BridgeStats | null): { env?: BridgeStats } {
    if (before === null) return {};
    const now = this.bridgeStats()!;
    const d = emptyStats();
    for (const k of Object.keys(d) as (keyof BridgeStats)[]) d[k] = now[k] - before[k];
    return { env: d };
  }

  async close(): Promise<void> {
    await this.source.close();
  }
}
