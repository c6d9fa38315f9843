/**
 * `metarl continual`: settings from the preset, the config file's train fields and `continual:`
 * section, and the flags (or a stopped run's folder), checked before tfjs and the envs load; then
 * one progress line per finished task and the summary table with the paired comparisons against
 * mer.
 */
import type { Command } from 'commander';
import type { TaskRecord } from './continual/run.ts';
import { MIN_SEEDS_FOR_CI, pairedWithMer } from './continual/reportText.ts';
import { CONTINUAL_DEFAULTS, type ContinualConfig, initRunSettings, parseMethods, validateContinual } from './continual/config.ts';
import type { ContinualResults, Interval } from './continual/types.ts';
import { loadState } from './continual/state.ts';
import { type Config, readConfigFile, resolveConfig } from './io/config.ts';
import { ConfigError, NumericError } from './core/errors.ts';
import { TUNABLE, chooseSteps, parseTuneList } from './continual/tune.ts';
import { stringify as toYaml } from 'yaml';
import { withoutSecrets } from './io/secrets.ts';
import { importEnvModule, importRunEnvModule } from '../envs/envModule.ts';
import { fileURLToPath } from 'node:url';

export interface ContinualFlags {
  env?: string;
  preset: string;
  config?: string;
  schedule?: string;
  methods?: string;
  seeds?: number;
  seedBase?: number;
  evalUnadapted?: boolean;
  ci?: number;
  tune?: string;
  tasks?: number;
  init?: string;
  out?: string;
  resume?: string;
  backend?: string;
  envModule?: string;
  printConfig?: boolean;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

export async function continualCommand(o: ContinualFlags, cmd: Command): Promise<void> {
  if (o.resume !== undefined) {
    const clash = ['env', 'envModule', 'preset', 'config', 'schedule', 'methods', 'seeds', 'seedBase', 'evalUnadapted', 'tune', 'tasks', 'init', 'out'].filter((k) => cmd.getOptionValueSource(k) === 'cli');
    if (clash.length > 0) throw new ConfigError('--resume', `takes every setting from the run folder; drop ${clash.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`);
    await importRunEnvModule(o.resume);
    const { continual: c, backend: was } = loadState(o.resume);
    const [{ describeBackend, initBackend }, { resumeContinual }] = await Promise.all([import('./tensor/backend.ts'), import('./continual/run.ts')]);
    const backend = await initBackend((o.backend ?? was) as Config['backend']);
    log(`backend: ${describeBackend(backend)}`);
    const r = await resumeContinual(o.resume, { backend, log, onTask: taskProgress(c) });
    printSummary(r.results);
    log(`run folder ${r.runDir}`);
    return;
  }
  const file = o.config ? readConfigFile(o.config) : {};
  const { continual: section, ...trainFields } = file as Record<string, unknown>;
  const envModule = o.envModule ?? (typeof trainFields.envModule === 'string' ? trainFields.envModule : undefined);
  if (envModule !== undefined) trainFields.envModule = fileURLToPath(await importEnvModule(envModule));
  const init = o.init ?? (section as { init?: unknown } | undefined)?.init;
  if (typeof init === 'string') await importRunEnvModule(init);
  // preset ← the init run's env and policy settings ← the file ← the flags
  if (typeof init === 'string') Object.assign(trainFields, { ...initRunSettings(init), ...trainFields });
  const cfg = resolveConfig(o.preset, trainFields, { env: o.env, out: o.out, backend: o.backend });
  const defined = Object.fromEntries(Object.entries({ schedule: o.schedule, methods: o.methods === undefined ? undefined : parseMethods(o.methods), seeds: o.seeds, seedBase: o.seedBase, evalUnadapted: o.evalUnadapted, ciLevel: o.ci, tasks: o.tasks, init: o.init }).filter(([, v]) => v !== undefined));
  // Tuning runs on held-out seeds (101, … unless --seed-base says otherwise), away from reported ones.
  const tuning = o.tune === undefined ? null : parseTuneList(o.tune);
  if (tuning && defined.seedBase === undefined && (section as { seedBase?: unknown } | undefined)?.seedBase === undefined) defined.seedBase = 101;
  const c = validateContinual({ ...CONTINUAL_DEFAULTS, ...((section as Record<string, unknown>) ?? {}), ...defined });
  // Intervals asked for (a level given) but too few seeds to compute them: refused before any work.
  const askedCi = o.ci !== undefined || (section as { ciLevel?: unknown } | undefined)?.ciLevel !== undefined;
  if (askedCi && c.seeds < MIN_SEEDS_FOR_CI) throw new ConfigError(o.ci !== undefined ? '--ci' : 'ciLevel', `confidence intervals need at least ${MIN_SEEDS_FOR_CI} seeds; this run has ${c.seeds} (use --seeds ${MIN_SEEDS_FOR_CI} or more, or drop the level)`);
  if (tuning && !c.methods.some((m) => TUNABLE.includes(m))) throw new ConfigError('--tune', `none of the methods has a step size to tune; use some of ${TUNABLE.join(', ')}`);
  if (o.printConfig) {
    process.stdout.write(toYaml({ ...withoutSecrets(cfg), continual: c }));
    return;
  }
  const [{ describeBackend, initBackend }, { runContinual }] = await Promise.all([import('./tensor/backend.ts'), import('./continual/run.ts')]);
  const backend = await initBackend(cfg.backend);
  log(`backend: ${describeBackend(backend)}`);
  if (tuning) {
    const results: ContinualResults[] = [];
    const tuned = c.methods.filter((m) => TUNABLE.includes(m));
    for (const lr of tuning) {
      log(`tuning: every method at step size ${lr} (seeds ${c.seedBase}…${c.seedBase + c.seeds - 1})`);
      const runs: ContinualResults['runs'] = [];
      for (const method of tuned) {
        // One run per method: a method that diverges at this step loses this step alone.
        const one = { ...c, methods: [method], metaLr: lr, methodLr: {} };
        try {
          const r = await runContinual(cfg, one, { backend, log, onTask: taskProgress(one) });
          log(`run folder ${r.runDir}`);
          runs.push(...r.results.runs);
        } catch (e) {
          if (!(e instanceof NumericError)) throw e;
          log(`  ${method} at step size ${lr} diverged (${e.message}): not a candidate`);
        }
      }
      results.push({ env: cfg.env, schedule: c.schedule, tasks: [], adaptSteps: c.adaptSteps, runs, summary: {} });
    }
    const choice = chooseSteps(tuning, results);
    for (const t of choice) log(`  ${t.method.padEnd(7)} final return at ${tuning.map((lr, k) => `${lr}: ${t.acc[k].toFixed(2)}`).join(', ')} → ${t.lr}`);
    // stdout: the continual: section to use for the reported runs (valid --config input).
    process.stdout.write(toYaml({ continual: { methodLr: Object.fromEntries(choice.map((t) => [t.method, t.lr])) } }));
    return;
  }
  const r = await runContinual(cfg, c, { backend, log, onTask: taskProgress(c) });
  printSummary(r.results);
  log(`run folder ${r.runDir}`);
}

/** One progress line per finished task (the count goes on where a resumed run left off). */
export function taskProgress(c: ContinualConfig): (t: TaskRecord) => void {
  const total = c.seeds * c.methods.length * c.tasks;
  return (t) => {
    const done = (t.seed - c.seedBase) * c.methods.length * c.tasks + (c.methods as string[]).indexOf(t.method) * c.tasks + t.task + 1;
    process.stderr.write(`continual ${done}/${total}: seed ${t.seed} ${t.method} task ${t.task + 1}/${c.tasks}: return before ${t.returnBefore.toFixed(1)} after ${t.returnsAfter.at(-1)!.toFixed(1)} (${t.seconds.toFixed(1)} s)\n`);
  };
}

export function printSummary(r: ContinualResults): void {
  const pct = `${+((r.ciLevel ?? 0.95) * 100).toFixed(1)}%`;
  console.log(`continual ${r.env}, ${r.schedule} schedule, ${r.tasks.length} tasks: metrics on normalized returns, mean [${pct} CI] over seeds (no CI below ${MIN_SEEDS_FOR_CI} seeds)`);
  const fmt = (iv: Interval) => (iv.n < MIN_SEEDS_FOR_CI ? `${iv.mean.toFixed(3)} (n=${iv.n}, no CI)` : `${iv.mean.toFixed(3)} [${iv.lo.toFixed(3)}, ${iv.hi.toFixed(3)}]`);
  for (const [method, m] of Object.entries(r.summary)) {
    console.log(`  ${method.padEnd(9)} ACC ${fmt(m.acc)}  LA ${fmt(m.la)}  BWT ${fmt(m.bwt)}  FWT ${fmt(m.fwt)}  forgetting ${fmt(m.forgetting)}`);
  }
  const pairs = pairedWithMer(r);
  if (pairs.length > 0) console.log(`paired by seed, mean difference [${pct} CI]:`);
  for (const { other, d } of pairs) {
    console.log(`  mer − ${other.padEnd(9)} ACC ${fmt(d.acc)}  LA ${fmt(d.la)}  forgetting ${fmt(d.forgetting)}`);
  }
}
