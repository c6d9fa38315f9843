/**
 * `metarl`: meta-train, evaluate and try out the agent.
 *   metarl train --env navigation [--preset P] [--config f.yaml] [--seed N] [--out DIR] [--resume DIR]
 *   metarl eval --run DIR [--tasks 100] [--steps 3] [--step-sizes a,b] [--task-source paper|sampled]
 *   metarl plot RUN [RUN...] [--out DIR]
 *   metarl dashboard [RUN...] [--host H] [--port P] [--token-file F]
 *   metarl quickstart            (what `npm start` runs: a short training, then an evaluation)
 * Exit codes: 0 done, 2 invalid input, 3 numerical failure (NaN/Inf), 130 interrupted, 1 other.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { ConfigError, HaltedError, NumericError } from './core/errors.ts';
import { BACKENDS } from './tensor/backendNames.ts';
import { ALGOS, PRESET_NAMES, envHelp } from './io/config.ts';
import { describeFields } from './io/configCli.ts';
import { CONTINUAL_METHODS, SCHEDULES } from './continual/types.ts';
import { describeContinualFields } from './continual/config.ts';
import type { TrainFlags } from './cliTrain.ts';
import type { ContinualFlags } from './cliContinual.ts';
import { type EvalFlags, stepSizes } from './cliEval.ts';

const num = (field: string) => (v: string) => {
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x)) throw new ConfigError(field, `expected a number, got '${v}'`);
  return x;
};

/**
 * This package's version, from its package.json: the first one above this file (src/ when run from
 * the sources, dist/src/ when compiled).
 */
function packageVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'metarl' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not there: look one folder up
    }
  }
  return 'unknown';
}

export function buildProgram(): Command {
  const program = new Command('metarl')
    .description('Continual meta-reinforcement learning: MAML-TRPO on built-in simulators.')
    .version(packageVersion(), '--version', 'print the version and exit')
    .exitOverride()
    .showHelpAfterError(false);

  const trainOptions = (cmd: Command, envDefault: string | null): Command => {
    // No commander default: an env set in --config must win over an unset flag.
    if (envDefault !== null) cmd.option('--env <name>', `${envHelp()} (default ${envDefault})`);
    return cmd
      .addOption(new Option('--preset <name>', 'starting settings').choices(PRESET_NAMES).default('pytorch-maml-rl'))
      .option('--config <file>', 'YAML file of config fields overriding the preset (fields below)')
      .option('--set <key=value>', 'set a config field, after --config (repeatable; YAML values; nested keys: bridge.port=9000, hidden=[64,64])', (v: string, all: string[]) => [...all, v], [] as string[])
      .option('--print-config', 'print the resolved config as YAML (valid --config input) and exit')
      .option('--env-module <file>', 'a .ts or .js file that registers your own env with register() (docs/custom-envs.md); then --env <its name>')
      .option('--seed <n>', 'random seed', num('--seed'))
      .option('--seeds <list>', 'one run per seed (1,2,3 or 1-5) in one group folder; then metarl plot GROUP/* draws mean and interval')
      .option('--out <dir>', 'folder for run folders (default runs)')
      .option('--resume <dir>', 'continue the run in this folder from its last checkpoint')
      .option('--init <run>', 'start from this run\'s meta-parameters (e.g. pretrained/navigation) instead of a random init')
      .addOption(new Option('--backend <name>', 'tensor backend').choices([...BACKENDS]))
      .option('--num-batches <n>', 'meta-batches to train', num('--num-batches'))
      .addOption(new Option('--algo <name>', 'meta-learner: maml (second-order, TRPO outer step), reptile, meta-sgd (learned inner step sizes) or rl2 (recurrent policy); docs/algorithms.md').choices([...ALGOS]))
      .option('--reptile-step-size <e>', 'reptile: outer step size ε (default 0.1)', num('--reptile-step-size'))
      .option('--rl2-hidden <n>', 'rl2: units of the GRU policy (default 64)', num('--rl2-hidden'))
      .option('--rl2-episodes <n>', 'rl2: episodes per trial, the hidden state kept across them (default 2)', num('--rl2-episodes'))
      .option('--first-order', 'first-order MAML (no second-order terms)')
      .option('--hvp-subsample <f>', 'fraction of episodes in the KL Hessian-vector product', num('--hvp-subsample'))
      .option('--workers <n>', 'worker threads (0 = main thread; built-in envs default: one per core, or METARL_WORKERS)', num('--workers'))
      .option('--model-file <file>', 'MJCF file replacing the built-in half-cheetah model')
      .option('--action-scale <s>', 'the policy acts in [-s, s], mapped onto the env\'s control range', num('--action-scale'))
      .option('--token-file <file>', 'bridge: file whose first line is the shared secret the simulator must present (or set METARL_TOKEN); never written to the run folder')
      .option('--token <secret>', 'bridge: the shared secret itself (visible in the process list: prefer --token-file or METARL_TOKEN)')
      .option('--dashboard', 'serve a live dashboard of this run on 127.0.0.1 (URL on stderr; it ends with the run; docs/dashboard.md)')
      .option('--dashboard-port <n>', 'port of --dashboard (default 0: any free port)', num('--dashboard-port'))
      .addHelpText('after', `\nConfig fields (YAML keys):\n${describeFields()}`)
      .action(async function (this: Command, flags: TrainFlags) {
        const { runSeeds, runTrain } = await import('./cliTrain.ts');
        const given = envDefault === null ? { ...flags, env: 'serve' } : flags;
        const r = given.seeds !== undefined ? await runSeeds({ ...given, seeds: given.seeds }, this) : await runTrain(given, this);
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
    .option('--env <name>', `${envHelp()} (default navigation)`)
    .addOption(new Option('--preset <name>', 'starting settings of the env and policy').choices(PRESET_NAMES).default('pytorch-maml-rl'))
    .option('--config <file>', 'YAML: training-config fields (env, policy, inner loop) and a `continual:` mapping of the fields below')
    .option('--env-module <file>', 'a .ts or .js file that registers your own env with register() (docs/custom-envs.md)')
    .option('--print-config', 'print the resolved settings as YAML (training fields and the continual: section; valid --config input) and exit')
    .option('--schedule <name>', `task sequence: ${SCHEDULES.join(', ')}`)
    .option('--methods <list>', `comma-separated: ${CONTINUAL_METHODS.join(', ')}`)
    .option('--seeds <n>', 'number of seeds', num('--seeds'))
    .option('--tune <steps>', 'instead of one run: one run per step size (comma-separated, e.g. 0.002,0.01,0.05) on held-out seeds (default --seed-base 101), then print each method\'s step of best final return as a continual: section with methodLr')
    .option('--eval-unadapted', 'also keep the returns before adaptation of every evaluation (R0) and report their metrics')
    .option('--ci <level>', 'confidence level of the intervals over seeds, e.g. 0.9 (default 0.95; needs at least 5 seeds)', num('--ci'))
    .option('--seed-base <n>', 'first seed (default 1): seeds seed-base … seed-base + seeds − 1', num('--seed-base'))
    .option('--tasks <n>', 'tasks in the sequence', num('--tasks'))
    .option('--init <run>', 'start every method from this meta-training run\'s parameters')
    .option('--out <dir>', 'folder for run folders (default runs)')
    .option('--resume <run>', 'go on with a stopped run from its last finished task (its settings come from the run folder)')
    .addOption(new Option('--backend <name>', 'tensor backend').choices([...BACKENDS]))
    .addHelpText('after', `\nContinual fields (YAML keys under continual:):\n${describeContinualFields()}`)
    .action(async function (this: Command, o: ContinualFlags) {
      const { continualCommand } = await import('./cliContinual.ts');
      await continualCommand(o, this);
    });

  program
    .command('plot')
    .description('draw figures (SVG, PNG) of run folders: a continual run\'s report from its results.json, or meta-training curves (metrics.jsonl) and the adaptation evaluation (eval.json) of training runs')
    .argument('<runs...>', 'a continual run folder, or one or more training run folders (several: seeds of one setting)')
    .option('--out <dir>', 'folder for the figures of training runs (default RUN/plots; required with several runs)')
    .option('--trajectories', 'navigation runs: also draw the mean policy\'s paths to four goals before and after 1–3 adaptation steps (the MAML paper\'s Fig. 2; needs the backend, takes seconds)')
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
    .action(async (runs: string[], o: { out?: string; trajectories?: boolean }) => {
      const { plotKind, plotTrainingRuns } = await import('./experiments/trainingFigures.ts');
      if (plotKind(runs, o.out) === 'continual') {
        const { plotRun } = await import('./continual/report.ts');
        const files = await plotRun(runs[0]);
        console.log(`wrote ${files.length} files in ${runs[0]}`);
        return;
      }
      for (const path of await plotTrainingRuns(runs, o.out)) console.log(`wrote ${path}`);
      if (o.trajectories) {
        const [{ loadRunCheckpoint }, { initBackend }, { plotTrajectories }, { join }] = await Promise.all([import('./io/checkpoint.ts'), import('./tensor/backend.ts'), import('./experiments/trajectories.ts'), import('node:path')]);
        for (const run of runs) {
          const ck = loadRunCheckpoint(run, 'run');
          await initBackend(ck.config.backend);
          for (const path of await plotTrajectories(ck, runs.length === 1 ? (o.out ?? join(run, 'plots')) : join(o.out!, `trajectories-${run.replace(/[^A-Za-z0-9._-]+/g, '_')}`))) console.log(`wrote ${path}`);
        }
      }
    });

  program
    .command('dashboard')
    .description('live dashboard of run folders in a browser: training curves, the continual R matrix, adaptation on the navigation plane, env counters (docs/dashboard.md)')
    .argument('[runs...]', 'training or continual run folders (default: the run folders under ./runs)')
    .option('--host <addr>', 'interface to bind (default 127.0.0.1: this machine only; any other needs a token)')
    .option('--port <n>', 'port (default 8766; 0 = any free port)', num('--port'))
    .option('--token-file <file>', 'file whose first line is the token the page must present when --host is not loopback (or set METARL_TOKEN)')
    .action(async (runs: string[], o: { host?: string; port?: number; tokenFile?: string }) => {
      const { dashboardCommand } = await import('./dashboard/command.ts');
      await dashboardCommand(runs, o);
    });

  program
    .command('eval')
    .description('returns after 0..K adaptation steps on new tasks, for a trained run')
    .requiredOption('--run <dir>', 'run folder with a checkpoint')
    .option('--tasks <n>', 'number of new tasks (the paper evaluates 40)', num('--tasks'), 100)
    .option('--steps <k>', 'adaptation steps (rl2: trials of k + 1 episodes, the return of each episode reported)', num('--steps'), 3)
    .option('--seed <n>', 'seed for the evaluation tasks and noise', num('--seed'), 1_000_003)
    .option('--step-sizes <list>', 'size of adaptation step 1, 2, … comma-separated, the last repeating (default: the run\'s evalStepSizes, else fastLr)', stepSizes)
    .option('--episodes <n>', 'episodes per task and step (default: the run\'s evalEpisodesPerTask, else episodesPerTask)', num('--episodes'))
    .option('--env <name>', 'fail unless the run\'s policy is for this env')
    .addOption(new Option('--task-source <which>', 'sampled new tasks (with --seed), or the MAML paper\'s test tasks (its scripts\' np.random.seed(1) draws); default: the run\'s evalTasks (paper preset: paper)').choices(['sampled', 'paper']))
    .addOption(new Option('--backend <name>', 'tensor backend (default: the run\'s)').choices([...BACKENDS]))
    .action(async (o: EvalFlags) => {
      const { runEval } = await import('./cliEval.ts');
      await runEval(o);
    });

  program
    .command('quickstart')
    .description('short meta-training on navigation, then an adaptation evaluation (npm start)')
    .option('--out <dir>', 'folder for run folders', 'runs')
    .addOption(new Option('--backend <name>', 'tensor backend').choices([...BACKENDS]).default('auto'))
    .action(async (o: { out: string; backend: string }) => {
      const [{ runTrain }, { runEval }] = await Promise.all([import('./cliTrain.ts'), import('./cliEval.ts')]);
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
