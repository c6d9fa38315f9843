/**
 * `metarl train` and `metarl serve`: resolve the config (preset ← --config ← --set ← flags), or
 * take a resumed run's own, then meta-train with progress on stderr and the run folder as the one
 * line on stdout. The config is resolved and checked before tfjs and the envs are loaded, so a
 * bad flag or file answers at once.
 */
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { ConfigError } from './core/errors.ts';
import { ALGOS, type Algo, type Config, readConfigFile, resolveConfig } from './io/config.ts';
import { parseSetting } from './io/configCli.ts';
import { readToken, withoutSecrets } from './io/secrets.ts';
import { loadRunCheckpoint } from './io/checkpoint.ts';
import { createRunDir, envSlug, experimentName, prepareOut } from './io/runDir.ts';
import { CONTINUAL_DEFAULTS, validateContinual } from './continual/config.ts';
import { importEnvModule, importRunEnvModule } from '../envs/envModule.ts';
import { fileURLToPath } from 'node:url';

export interface TrainFlags {
  env: string;
  preset: string;
  config?: string;
  set?: string[];
  printConfig?: boolean;
  /** With printConfig: resolve and check only, print nothing. */
  quiet?: boolean;
  envModule?: string;
  seed?: number;
  seeds?: string;
  algo?: string;
  reptileStepSize?: number;
  rl2Hidden?: number;
  rl2Episodes?: number;
  out?: string;
  resume?: string;
  init?: string;
  backend?: string;
  numBatches?: number;
  firstOrder?: boolean;
  hvpSubsample?: number;
  workers?: number;
  modelFile?: string;
  actionScale?: number;
  host?: string;
  port?: number;
  token?: string;
  tokenFile?: string;
  /** Serve a live dashboard of the run (src/dashboard/), on `dashboardPort` (default 0: any free port). */
  dashboard?: boolean;
  dashboardPort?: number;
}

/** Flags that would change what a resumed run computes: it takes them from its folder instead. */
const FIXED_ON_RESUME = ['env', 'envModule', 'algo', 'reptileStepSize', 'rl2Hidden', 'rl2Episodes', 'preset', 'config', 'set', 'seed', 'hvpSubsample', 'firstOrder', 'modelFile', 'actionScale', 'init', 'out'] as const;
const flagName = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export async function runTrain(flags: TrainFlags, cmd?: Command): Promise<{ runDir: string; cfg: Config; theta: Float32Array; stopped: boolean }> {
  const token = readToken({ tokenFile: flags.tokenFile, token: flags.token, warn: (line) => process.stderr.write(`${line}\n`) });
  const bridge = flags.host !== undefined || flags.port !== undefined || token !== undefined ? { host: flags.host, port: flags.port, token } : undefined;
  if (flags.resume !== undefined) {
    const clash = FIXED_ON_RESUME.filter((k) => cmd?.getOptionValueSource(k) === 'cli');
    if (clash.length > 0) throw new ConfigError('--resume', `continues the run with its own settings; drop ${clash.map(flagName).join(', ')} (only --num-batches, --workers, --backend and the bridge connection may change)`);
  }
  // A run on a user's env names the module that registers it: import it before its config is read.
  for (const dir of [flags.resume, flags.init]) if (dir !== undefined) await importRunEnvModule(dir);
  checkAlgoFlags(flags, cmd);
  const resumed = flags.resume === undefined ? null : loadRunCheckpoint(flags.resume, '--resume');
  // One file may also hold a `continual:` section (for metarl continual): checked, not used here.
  const { continual: section, ...file } = flags.config ? readConfigFile(flags.config) : {};
  if (section !== undefined) validateContinual({ ...CONTINUAL_DEFAULTS, ...(section as object) });
  for (const s of flags.set ?? []) parseSetting(s, file); // preset ← file ← --set ← flags
  const envModule = flags.envModule ?? (typeof file.envModule === 'string' ? file.envModule : undefined);
  // Saved as an absolute path, so that resume, eval and the workers find it from any folder.
  if (envModule !== undefined && !resumed) file.envModule = fileURLToPath(await importEnvModule(envModule));
  const cfg = resumed ? { ...resumed.config, backend: (flags.backend ?? resumed.config.backend) as Config['backend'] } : resolveConfig(flags.preset, file, {
    env: flags.env,
    seed: flags.seed,
    out: flags.out,
    backend: flags.backend,
    numBatches: flags.numBatches,
    firstOrder: flags.firstOrder,
    hvpSubsample: flags.hvpSubsample,
    algo: flags.algo,
    reptileStepSize: flags.reptileStepSize,
    rl2Hidden: flags.rl2Hidden,
    rl2Episodes: flags.rl2Episodes,
    workers: flags.workers,
    modelFile: flags.modelFile,
    actionScale: flags.actionScale,
    bridge,
  });
  if (flags.printConfig) {
    if (!flags.quiet) process.stdout.write(toYaml(withoutSecrets(cfg)));
    return { runDir: '', cfg, theta: new Float32Array(0), stopped: false };
  }
  if (!resumed) prepareOut(cfg.out); // before the backend and the env: a bad --out fails at once
  const [{ describeBackend, initBackend }, { episodeProgress, interruptFlag, progressReporter }, { train }, { envKind }] = await Promise.all([
    import('./tensor/backend.ts'),
    import('./cliProgress.ts'),
    import('./experiments/train.ts'),
    import('./experiments/envSource.ts'),
  ]);
  const backend = await initBackend(cfg.backend);
  process.stderr.write(`backend: ${describeBackend(backend)}\n`);
  // A dashboard beside the run (its stop button stops this run as Ctrl-C does); ends with the run.
  const dash = flags.dashboard ? await import('./dashboard/command.ts') : undefined;
  const dashboard = await dash?.startTrainDashboard({ out: cfg.out, env: cfg.env, seed: cfg.seed, runDir: flags.resume, port: flags.dashboardPort, log: (line) => process.stderr.write(`${line}\n`) });
  const progress = progressReporter('meta-training', flags.numBatches ?? cfg.numBatches);
  const stop = interruptFlag();
  const signal = dash && dashboard ? dash.eitherSignal(stop.signal, dashboard.stopSignal) : stop.signal;
  try {
    const r = await train(cfg, {
      backend,
      resumeDir: flags.resume,
      resume: resumed ? { numBatches: flags.numBatches, workers: flags.workers, backend: flags.backend as Config['backend'] | undefined, bridge: bridge && resolveConfig('pytorch-maml-rl', { bridge: resumed.config.bridge }, { bridge }).bridge } : undefined,
      initDir: flags.init,
      log: (line) => process.stderr.write(`${line}\n`),
      onBatch: (b, _total, m) => progress.update(b, m),
      // Simulators in this process: within the bar (or a line every 10 s in a log); robots and
      // remote simulators: a line per round of episodes (a robot's meta-batch takes minutes).
      onEpisodes: envKind(cfg.env) === 'builtin' ? (b, done, total) => progress.episodes(b, done, total) : episodeProgress(flags.numBatches ?? cfg.numBatches),
      signal,
    });
    progress.stop();
    process.stderr.write(`${r.stopped ? 'stopped' : 'done'} after ${r.batchesDone} meta-batches; run folder ${r.runDir}\n`);
    process.stdout.write(`${r.runDir}\n`); // the one line on stdout: RUN=$(metarl train …)
    return { runDir: r.runDir, cfg: r.config, theta: r.theta, stopped: r.stopped };
  } finally {
    progress.stop();
    stop.dispose();
    await dashboard?.close();
  }
}

/** `--seeds 1,2,3` or `--seeds 1-5`: distinct whole numbers ≥ 0. */
export function parseSeeds(text: string): number[] {
  const range = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text);
  const seeds = range ? Array.from({ length: Math.max(0, Number(range[2]) - Number(range[1]) + 1) }, (_, i) => Number(range[1]) + i) : text.split(',').map((x) => (x.trim() === '' ? NaN : Number(x.trim())));
  if (seeds.length === 0 || !seeds.every((s) => Number.isInteger(s) && s >= 0)) throw new ConfigError('--seeds', `expected whole numbers ≥ 0 separated by commas (1,2,3) or a range (1-5), got '${text}'`);
  if (new Set(seeds).size !== seeds.length) throw new ConfigError('--seeds', `repeated seed in '${text}'`);
  return seeds;
}

/**
 * `metarl train --seeds 1,2,3`: one run per seed, one after another, in one group folder
 * `{out}/{env}__maml-trpo__seeds-1-2-3__{time}/`, so that `metarl plot GROUP/*` draws their mean
 * and interval. Prints each run folder on stdout as it finishes. A stop request ends the group
 * after the run in progress has checkpointed.
 */
export async function runSeeds(flags: TrainFlags & { seeds: string }, cmd?: Command): Promise<{ runDirs: string[]; stopped: boolean }> {
  if (flags.seed !== undefined) throw new ConfigError('--seeds', 'give --seed or --seeds, not both');
  if (flags.resume !== undefined) throw new ConfigError('--seeds', 'a group is resumed run by run: metarl train --resume GROUP/RUN');
  const seeds = parseSeeds(flags.seeds);
  // Resolve once (the seed aside) so that a bad flag fails before the first run starts.
  const probe = await runTrain({ ...flags, seed: seeds[0], printConfig: true, quiet: true }, cmd);
  const group = createRunDir(probe.cfg.out, `${envSlug(probe.cfg.env)}__${experimentName(probe.cfg)}__seeds-${seeds.join('-')}`);
  const runDirs: string[] = [];
  for (const seed of seeds) {
    process.stderr.write(`seed ${seed} (${runDirs.length + 1} of ${seeds.length}) in ${group}\n`);
    const r = await runTrain({ ...flags, seed, out: group }, cmd);
    if (r.runDir) runDirs.push(r.runDir);
    if (r.stopped) return { runDirs, stopped: true };
  }
  return { runDirs, stopped: false };
}

/** Flags that only some meta-learners use: given with another, an error naming where they apply. */
const ONLY_FOR: Record<string, readonly Algo[]> = {
  hvpSubsample: ['maml', 'meta-sgd', 'rl2'],
  firstOrder: ['maml', 'meta-sgd'],
  reptileStepSize: ['reptile'],
  rl2Hidden: ['rl2'],
  rl2Episodes: ['rl2'],
};

function checkAlgoFlags(flags: TrainFlags, cmd?: Command): void {
  const algo = (flags.algo ?? 'maml') as Algo;
  for (const [key, owners] of Object.entries(ONLY_FOR)) {
    if (owners.includes(algo) || cmd?.getOptionValueSource(key) !== 'cli') continue;
    throw new ConfigError('--algo', `${flagName(key)} applies to --algo ${owners.join(' or ')}, not ${algo} (allowed --algo: ${ALGOS.join(', ')})`);
  }
}
