/**
 * `metarl`: meta-train, evaluate and try out the agent.
 *   metarl train --env navigation [--preset P] [--config f.yaml] [--seed N] [--out DIR] [--resume DIR]
 *   metarl eval --run DIR [--tasks 100] [--steps 3] [--step-sizes a,b] [--task-source paper|sampled]
 *   metarl plot RUN [RUN...] [--out DIR]
 *   metarl quickstart            (what `npm start` runs: a short training, then an evaluation)
 * Exit codes: 0 done, 2 invalid input, 3 numerical failure (NaN/Inf), 130 interrupted, 1 other.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, HaltedError, NumericError } from './core/errors.ts';
import { episodeProgress, interruptFlag, progressReporter } from './cliProgress.ts';
import { BACKENDS, describeBackend, initBackend } from './tensor/backend.ts';
import { ENV_HELP, PRESET_NAMES, type Config, describeFields, parseSetting, readConfigFile, resolveConfig } from './io/config.ts';
import { readFileSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import { readToken, withoutSecrets } from './io/secrets.ts';
import { train } from './experiments/train.ts';
import { loadRunCheckpoint } from './io/checkpoint.ts';
import { prepareOut } from './io/runDir.ts';
import { envKind } from './experiments/envSource.ts';
import { type EvalFlags, runEval, stepSizes } from './cliEval.ts';
import { resumeContinual, runContinual } from './experiments/continual.ts';
import { describeContinualFields, printSummary, taskProgress } from './cliContinual.ts';
import { loadState } from './experiments/continualState.ts';
import { plotRun } from './experiments/continualReport.ts';
import { plotKind, plotTrainingRuns } from './experiments/trainingFigures.ts';
import { CONTINUAL_DEFAULTS, parseMethods, validateContinual } from './experiments/continualConfig.ts';
import { CONTINUAL_METHODS, SCHEDULES } from './experiments/continualTypes.ts';

const num = (field: string) => (v: string) => {
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x)) throw new ConfigError(field, `expected a number, got '${v}'`);
  return x;
};

interface TrainFlags {
  env: string;
  preset: string;
  config?: string;
  set?: string[];
  printConfig?: boolean;
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

/** This package's version, from its package.json (read when asked: --version). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Flags that would change what a resumed run computes: it takes them from its folder instead. */
const FIXED_ON_RESUME = ['env', 'preset', 'config', 'set', 'seed', 'hvpSubsample', 'firstOrder', 'modelFile', 'actionScale', 'init', 'out'] as const;
const flagName = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

async function runTrain(flags: TrainFlags, cmd?: Command): Promise<{ runDir: string; cfg: Config; theta: Float32Array; stopped: boolean }> {
  const token = readToken({ tokenFile: flags.tokenFile, token: flags.token, warn: (line) => process.stderr.write(`${line}\n`) });
  const bridge = flags.host !== undefined || flags.port !== undefined || token !== undefined ? { host: flags.host, port: flags.port, token } : undefined;
  if (flags.resume !== undefined) {
    const clash = FIXED_ON_RESUME.filter((k) => cmd?.getOptionValueSource(k) === 'cli');
    if (clash.length > 0) throw new ConfigError('--resume', `continues the run with its own settings; drop ${clash.map(flagName).join(', ')} (only --num-batches, --workers, --backend and the bridge connection may change)`);
  }
  const resumed = flags.resume === undefined ? null : loadRunCheckpoint(flags.resume, '--resume');
  const file = flags.config ? readConfigFile(flags.config) : {};
  for (const s of flags.set ?? []) parseSetting(s, file); // preset ← file ← --set ← flags
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
  const backend = await initBackend(cfg.backend);
  process.stderr.write(`backend: ${describeBackend(backend)}\n`);
  const progress = progressReporter('meta-training');
  const stop = interruptFlag();
  try {
    const r = await train(cfg, {
      backend,
      resumeDir: flags.resume,
      resume: resumed ? { numBatches: flags.numBatches, workers: flags.workers, backend: flags.backend as Config['backend'] | undefined, bridge: bridge && resolveConfig('pytorch-maml-rl', { bridge: resumed.config.bridge }, { bridge }).bridge } : undefined,
      initDir: flags.init,
      log: (line) => process.stderr.write(`${line}\n`),
      onBatch: (b, total, m) => progress.update(b, total, m),
      // Robots and remote simulators: a line per round of episodes (a robot's meta-batch takes minutes).
      onEpisodes: envKind(cfg.env) === 'builtin' ? undefined : episodeProgress(flags.numBatches ?? cfg.numBatches),
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

export function buildProgram(): Command {
  const program = new Command('metarl')
    .description('Continual meta-reinforcement learning: MAML-TRPO on built-in simulators.')
    .version(packageVersion(), '--version', 'print the version and exit')
    .exitOverride()
    .showHelpAfterError(false);

  const trainOptions = (cmd: Command, envDefault: string | null): Command => {
    // No commander default: an env set in --config must win over an unset flag.
    if (envDefault !== null) cmd.option('--env <name>', `${ENV_HELP} (default ${envDefault})`);
    return cmd
      .addOption(new Option('--preset <name>', 'starting settings').choices(PRESET_NAMES).default('pytorch-maml-rl'))
      .option('--config <file>', 'YAML file of config fields overriding the preset (fields below)')
      .option('--set <key=value>', 'set a config field, after --config (repeatable; YAML values; nested keys: bridge.port=9000, hidden=[64,64])', (v: string, all: string[]) => [...all, v], [] as string[])
      .option('--print-config', 'print the resolved config as YAML (valid --config input) and exit')
      .option('--seed <n>', 'random seed', num('--seed'))
      .option('--out <dir>', 'folder for run folders (default runs)')
      .option('--resume <dir>', 'continue the run in this folder from its last checkpoint')
      .option('--init <run>', 'start from this run\'s meta-parameters (e.g. pretrained/navigation) instead of a random init')
      .addOption(new Option('--backend <name>', 'tensor backend').choices([...BACKENDS]))
      .option('--num-batches <n>', 'meta-batches to train', num('--num-batches'))
      .option('--first-order', 'first-order MAML (no second-order terms)')
      .option('--hvp-subsample <f>', 'fraction of episodes in the KL Hessian-vector product', num('--hvp-subsample'))
      .option('--workers <n>', 'worker threads (0 = main thread; cheetah default: one per core)', num('--workers'))
      .option('--model-file <file>', 'MJCF file replacing the built-in half-cheetah model')
      .option('--action-scale <s>', 'the policy acts in [-s, s], mapped onto the env\'s control range', num('--action-scale'))
      .option('--token-file <file>', 'bridge: file whose first line is the shared secret the simulator must present (or set METARL_TOKEN); never written to the run folder')
      .option('--token <secret>', 'bridge: the shared secret itself (visible in the process list: prefer --token-file or METARL_TOKEN)')
      .addHelpText('after', `\nConfig fields (YAML keys):\n${describeFields()}`)
      .action(async function (this: Command, flags: TrainFlags) {
        const r = await runTrain(envDefault === null ? { ...flags, env: 'serve' } : flags, this);
        if (r.stopped) process.exitCode = 130;
      });
  };

  trainOptions(program.command('train').description('meta-train a policy (MAML-TRPO) and save checkpoints in a run folder'), 'navigation');
  trainOptions(
    program
      .command('serve')
      .description('meta-train on a simulator that dials the agent over WebSocket (metarl-bridge/1, docs/bridge-protocol.md)')
      .option('--host <addr>', 'interface to bind (default 127.0.0.1: this machine only)')
      .option('--port <n>', 'port to listen on (default 8765; 0 = any free port)', num('--port')),
    null,
  );

  program
    .command('continual')
    .description('continual task adaptation: methods (frozen, finetune, online, replay, mer) over a task sequence, with metrics and a report (docs/continual.md)')
    .option('--env <name>', `${ENV_HELP} (default navigation)`)
    .addOption(new Option('--preset <name>', 'starting settings of the env and policy').choices(PRESET_NAMES).default('pytorch-maml-rl'))
    .option('--config <file>', 'YAML: training-config fields (env, policy, inner loop) and a `continual:` mapping of the fields below')
    .option('--schedule <name>', `task sequence: ${SCHEDULES.join(', ')}`)
    .option('--methods <list>', `comma-separated: ${CONTINUAL_METHODS.join(', ')}`)
    .option('--seeds <n>', 'number of seeds', num('--seeds'))
    .option('--tasks <n>', 'tasks in the sequence', num('--tasks'))
    .option('--init <run>', 'start every method from this meta-training run\'s parameters')
    .option('--out <dir>', 'folder for run folders (default runs)')
    .option('--resume <run>', 'go on with a stopped run from its last finished task (its settings come from the run folder)')
    .addOption(new Option('--backend <name>', 'tensor backend').choices([...BACKENDS]))
    .addHelpText('after', `\nContinual fields (YAML keys under continual:):\n${describeContinualFields()}`)
    .action(async function (this: Command, o: { env?: string; preset: string; config?: string; schedule?: string; methods?: string; seeds?: number; tasks?: number; init?: string; out?: string; resume?: string; backend?: string }) {
      if (o.resume !== undefined) {
        const clash = ['env', 'preset', 'config', 'schedule', 'methods', 'seeds', 'tasks', 'init', 'out'].filter((k) => this.getOptionValueSource(k) === 'cli');
        if (clash.length > 0) throw new ConfigError('--resume', `takes every setting from the run folder; drop ${clash.map((k) => `--${k}`).join(', ')}`);
        const { continual: c, backend: was } = loadState(o.resume);
        const backend = await initBackend((o.backend ?? was) as Config['backend']);
        process.stderr.write(`backend: ${describeBackend(backend)}\n`);
        const r = await resumeContinual(o.resume, { backend, log: (line) => process.stderr.write(`${line}\n`), onTask: taskProgress(c) });
        printSummary(r.results);
        process.stderr.write(`run folder ${r.runDir}\n`);
        return;
      }
      const file = o.config ? readConfigFile(o.config) : {};
      const { continual: section, ...trainFields } = file as Record<string, unknown>;
      const cfg = resolveConfig(o.preset, trainFields, { env: o.env, out: o.out, backend: o.backend });
      const defined = Object.fromEntries(Object.entries({ schedule: o.schedule, methods: o.methods === undefined ? undefined : parseMethods(o.methods), seeds: o.seeds, tasks: o.tasks, init: o.init }).filter(([, v]) => v !== undefined));
      const c = validateContinual({ ...CONTINUAL_DEFAULTS, ...((section as Record<string, unknown>) ?? {}), ...defined });
      const backend = await initBackend(cfg.backend);
      process.stderr.write(`backend: ${describeBackend(backend)}\n`);
      const r = await runContinual(cfg, c, { backend, log: (line) => process.stderr.write(`${line}\n`), onTask: taskProgress(c) });
      printSummary(r.results);
      process.stderr.write(`run folder ${r.runDir}\n`);
    });

  program
    .command('plot')
    .description('draw figures (SVG, PNG) of run folders: a continual run\'s report from its results.json, or meta-training curves (metrics.jsonl) and the adaptation evaluation (eval.json) of training runs')
    .argument('<runs...>', 'a continual run folder, or one or more training run folders (several: seeds of one setting)')
    .option('--out <dir>', 'folder for the figures of training runs (default RUN/plots; required with several runs)')
    .addHelpText(
      'after',
      [
        '',
        'Training runs (written by metarl train) give:',
        '  training-returns.svg|png        mean return before / after adaptation vs meta-batch',
        '  training-returns-steps.svg|png  the same vs cumulative environment steps',
        '  adaptation.svg|png              eval.json: mean return ± standard error after 0..K steps,',
        '                                  with the MAML paper\'s Fig. 5 points where it has them',
        'Several runs: the curves are the mean over runs with a 95 % Student-t band, over the batches',
        'every run has reached; the adaptation figure has one series per run.',
      ].join('\n'),
    )
    .action(async (runs: string[], o: { out?: string }) => {
      if (plotKind(runs, o.out) === 'continual') {
        const files = await plotRun(runs[0]);
        console.log(`wrote ${files.length} files in ${runs[0]}`);
        return;
      }
      for (const path of await plotTrainingRuns(runs, o.out)) console.log(`wrote ${path}`);
    });

  program
    .command('eval')
    .description('returns after 0..K adaptation steps on new tasks, for a trained run')
    .requiredOption('--run <dir>', 'run folder with a checkpoint')
    .option('--tasks <n>', 'number of new tasks (the paper evaluates 40)', num('--tasks'), 100)
    .option('--steps <k>', 'adaptation steps', num('--steps'), 3)
    .option('--seed <n>', 'seed for the evaluation tasks and noise', num('--seed'), 1_000_003)
    .option('--step-sizes <list>', 'size of adaptation step 1, 2, … comma-separated, the last repeating (default: the run\'s evalStepSizes, else fastLr)', stepSizes)
    .option('--episodes <n>', 'episodes per task and step (default: the run\'s evalEpisodesPerTask, else episodesPerTask)', num('--episodes'))
    .option('--env <name>', 'fail unless the run\'s policy is for this env')
    .addOption(new Option('--task-source <which>', 'sampled new tasks (with --seed), or the MAML paper\'s test tasks (its scripts\' np.random.seed(1) draws); default: the run\'s evalTasks (paper preset: paper)').choices(['sampled', 'paper']))
    .addOption(new Option('--backend <name>', 'tensor backend (default: the run\'s)').choices([...BACKENDS]))
    .action(async (o: EvalFlags) => {
      await runEval(o);
    });

  program
    .command('quickstart')
    .description('short meta-training on navigation, then an adaptation evaluation (npm start)')
    .option('--out <dir>', 'folder for run folders', 'runs')
    .addOption(new Option('--backend <name>', 'tensor backend').choices([...BACKENDS]).default('auto'))
    .action(async (o: { out: string; backend: string }) => {
      const r = await runTrain({ env: 'navigation', preset: 'quick', out: o.out, backend: o.backend });
      if (r.stopped) {
        process.exitCode = 130;
        return;
      }
      const ev = await runEval({ run: r.runDir, tasks: 40, steps: 3, seed: 1_000_003 });
      const gain = ev.mean[1] - ev.mean[0];
      console.log(`one adaptation step changes the mean return by ${gain >= 0 ? '+' : ''}${gain.toFixed(2)} (${gain > 0 ? 'improvement' : 'no improvement'})`);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0) return 0;
      return 2; // commander already printed the one-line reason
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof NumericError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 3;
    }
    if (e instanceof HaltedError) {
      process.stderr.write(`${e.message}\n`);
      return 130;
    }
    process.stderr.write(`error: ${(e as Error).message ?? e}\n`);
    return 1;
  }
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*\//, ''));
if (isMain) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
