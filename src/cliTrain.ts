/**
 * `metarl train` and `metarl serve`: resolve the config (preset ← --config ← --set ← flags), or
 * take a resumed run's own, then meta-train with progress on stderr and the run folder as the one
 * line on stdout. The config is resolved and checked before tfjs and the envs are loaded, so a
 * bad flag or file answers at once.
 */
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { ConfigError } from './core/errors.ts';
import { type Config, parseSetting, readConfigFile, resolveConfig } from './io/config.ts';
import { readToken, withoutSecrets } from './io/secrets.ts';
import { loadRunCheckpoint } from './io/checkpoint.ts';
import { prepareOut } from './io/runDir.ts';
import { CONTINUAL_DEFAULTS, validateContinual } from './continual/config.ts';
import { importEnvModule, importRunEnvModule } from '../envs/envModule.ts';
import { fileURLToPath } from 'node:url';

export interface TrainFlags {
  env: string;
  preset: string;
  config?: string;
  set?: string[];
  printConfig?: boolean;
  envModule?: string;
  seed?: number;
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
}

/** Flags that would change what a resumed run computes: it takes them from its folder instead. */
const FIXED_ON_RESUME = ['env', 'envModule', 'preset', 'config', 'set', 'seed', 'hvpSubsample', 'firstOrder', 'modelFile', 'actionScale', 'init', 'out'] as const;
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
    workers: flags.workers,
    modelFile: flags.modelFile,
    actionScale: flags.actionScale,
    bridge,
  });
  if (flags.printConfig) {
    process.stdout.write(toYaml(withoutSecrets(cfg)));
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
  const progress = progressReporter('meta-training', flags.numBatches ?? cfg.numBatches);
  const stop = interruptFlag();
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
      signal: stop.signal,
    });
    progress.stop();
    process.stderr.write(`${r.stopped ? 'stopped' : 'done'} after ${r.batchesDone} meta-batches; run folder ${r.runDir}\n`);
    process.stdout.write(`${r.runDir}\n`); // the one line on stdout: RUN=$(metarl train …)
    return { runDir: r.runDir, cfg: r.config, theta: r.theta, stopped: r.stopped };
  } finally {
    progress.stop();
    stop.dispose();
  }
}
