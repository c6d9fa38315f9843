/**
 * The meta-learner comparison of the README (issue 17): every `--algo` on each task, the same
 * env-step budget per run, several seeds, then returns on new tasks after 0, 1 and 3 adaptation
 * steps (gradient steps for maml, reptile and meta-sgd; episodes of a trial for rl2, whose
 * "after s" is the return of episode s + 1).
 *
 *   npx tsx scripts/compare-algos.ts [--envs navigation,cheetah-velocity,cheetah-direction]
 *       [--algos maml,reptile,meta-sgd,rl2] [--seeds 1-3] [--out benchmarks/algorithms]
 *
 * Budget: the `quick` preset's settings per env (navigation: 10 tasks × 10 episodes × 100 steps;
 * cheetah: the same with horizon 100) and BUDGET[env] nominal env steps (episodes × horizon) per
 * run; each learner gets as many meta-batches as fit (a batch costs tasks × episodes × horizon ×
 * (inner steps + 1), or × episodes per trial for rl2). Results go to `{out}/results.json` after
 * every run (a rerun skips the runs it holds, so the comparison can span sessions) and the table
 * to `{out}/table.md`. Each learner's untrained start (its seed's initialization, evaluated the same
 * way) is a row with 0 meta-batches.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluate, train } from '../src/api.ts';
import { ALGOS, type Algo, type Config, resolveConfig } from '../src/io/config.ts';
import { writeFileAtomic } from '../src/io/atomic.ts';
import { Rng } from '../src/core/rng.ts';
import { make, prepareEnv } from '../envs/registry.ts';
import { envOptions, policySpecOf } from '../src/experiments/metaBatch.ts';
import { gruSpecOf } from '../src/experiments/rl2Learner.ts';
import { initMetaParams } from '../src/experiments/metaParams.ts';
import type { TaskSource } from '../src/experiments/envSource.ts';

const BUDGET: Record<string, number> = { navigation: 400_000, 'cheetah-velocity': 400_000, 'cheetah-direction': 400_000 };
const EVAL = { tasks: 20, steps: 3, seed: 1_000_003 };
const SHOWN = [0, 1, 3];

interface Row {
  env: string;
  algo: Algo;
  seed: number;
  batches: number;
  envSteps: number;
  trainSeconds: number;
  /** Mean return over the evaluation's tasks after s = 0 … 3 steps (rl2: episode s + 1). */
  returns: number[];
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

function seedList(text: string): number[] {
  const m = /^(\d+)-(\d+)$/.exec(text);
  return m ? Array.from({ length: Number(m[2]) - Number(m[1]) + 1 }, (_, i) => Number(m[1]) + i) : text.split(',').map(Number);
}

/** The parameters a run of this config starts from (train draws them from Rng(seed) first). */
async function untrained(cfg: Config): Promise<Float32Array> {
  await prepareEnv(cfg.env);
  const env = make(cfg.env, envOptions(cfg));
  const source = env as unknown as TaskSource;
  const spec = cfg.algo === 'rl2' ? gruSpecOf(cfg, source) : policySpecOf(cfg, source);
  env.close();
  return initMetaParams(cfg, spec, new Rng(cfg.seed));
}

/** Nominal env steps of one meta-batch. */
export function stepsPerBatch(c: Config): number {
  const phases = c.algo === 'rl2' ? c.rl2Episodes : c.numSteps + 1;
  return c.metaBatchSize * c.episodesPerTask * c.horizon * phases;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function sd(xs: number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(xs.length - 1, 1));
}

function table(rows: Row[], envs: string[], algos: Algo[]): string {
  const lines = [
    '| task | algorithm | env steps per run | meta-batches | after 0 | after 1 | after 3 | seeds |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const env of envs) {
    for (const algo of algos) {
      for (const trained of [false, true]) {
        // maml, reptile and meta-sgd start from the same MLP (α = fastLr): one untrained row for them.
        const sameStart = !trained && algo !== 'maml' && algo !== 'rl2' && algos.includes('maml');
        const rs = rows.filter((r) => r.env === env && r.algo === algo && r.batches > 0 === trained);
        if (rs.length === 0 || sameStart) continue;
        const cell = (s: number) => {
          const xs = rs.map((r) => r.returns[s]);
          return `${mean(xs).toFixed(1)} ± ${sd(xs).toFixed(1)}`;
        };
        const name = trained ? algo : algo === 'maml' ? 'untrained MLP (maml, reptile, meta-sgd)' : `untrained ${algo}`;
        lines.push(`| ${env} | ${name} | ${(rs[0].envSteps / 1000).toFixed(0)}k | ${rs[0].batches} | ${SHOWN.map(cell).join(' | ')} | ${rs.length} |`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const envs = arg('envs', 'navigation,cheetah-velocity,cheetah-direction').split(',');
  const algos = arg('algos', ALGOS.join(',')).split(',') as Algo[];
  const seeds = seedList(arg('seeds', '1-3'));
  const out = arg('out', 'benchmarks/algorithms');
  mkdirSync(out, { recursive: true });
  const file = join(out, 'results.json');
  const rows: Row[] = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { rows: Row[] }).rows : [];
  for (const env of envs) {
    for (const algo of algos) {
      for (const seed of seeds) {
        const probe = resolveConfig('quick', {}, { env, algo, seed, out: join(out, 'runs') });
        if (!rows.some((r) => r.env === env && r.algo === algo && r.seed === seed && r.batches === 0)) {
          const start = await evaluate({ config: probe, theta: await untrained(probe) }, EVAL);
          rows.push({ env, algo, seed, batches: 0, envSteps: 0, trainSeconds: 0, returns: start.mean });
          writeFileAtomic(file, JSON.stringify({ budget: BUDGET, eval: EVAL, preset: 'quick', rows }, null, 1));
        }
        if (rows.some((r) => r.env === env && r.algo === algo && r.seed === seed && r.batches > 0)) continue;
        const batches = Math.max(1, Math.floor(BUDGET[env] / stepsPerBatch(probe)));
        const t0 = performance.now();
        const run = await train({ env, algo, seed, preset: 'quick', numBatches: batches, out: join(out, 'runs') });
        const trainSeconds = (performance.now() - t0) / 1000;
        const ev = await evaluate(run.runDir, EVAL);
        rows.push({ env, algo, seed, batches, envSteps: batches * stepsPerBatch(run.config), trainSeconds, returns: ev.mean });
        process.stderr.write(`${env} ${algo} seed ${seed}: ${batches} batches in ${trainSeconds.toFixed(0)} s; after 0/1/3: ${SHOWN.map((s) => ev.mean[s].toFixed(1)).join(' / ')}\n`);
        writeFileAtomic(file, JSON.stringify({ budget: BUDGET, eval: EVAL, preset: 'quick', rows }, null, 1));
      }
    }
  }
  const text = table(rows, envs, algos);
  writeFileAtomic(join(out, 'table.md'), text);
  process.stdout.write(text);
}

await main();
