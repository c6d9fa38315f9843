/**
 * The shipped meta-trained policies (pretrained/<env>/, docs/reproducing.md): each folder is
 * complete, loads as a run folder for its env, and one adaptation step improves its mean return on
 * the first of the MAML paper's test tasks — what `metarl eval --run pretrained/<env>` and
 * `metarl continual --init pretrained/<env>` start from on a fresh clone.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../src/tensor/backend.ts';
import { loadRunCheckpoint } from '../src/io/checkpoint.ts';
import { evaluateAdaptation } from '../src/experiments/evaluate.ts';
import { paperTestTasks } from '../src/experiments/paperTasks.ts';
import { ENV_NAMES } from '../envs/registry.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('pretrained policies', () => {
  it.each([...ENV_NAMES])('%s: complete folder, and one adaptation step improves the return', async (env) => {
    const dir = join('pretrained', env);
    for (const f of ['checkpoint.json', 'config.yaml', 'metrics.jsonl', 'eval.json']) expect(existsSync(join(dir, f)), `${dir}/${f}`).toBe(true);
    const ck = loadRunCheckpoint(dir, '--run', env);
    expect(ck.batch).toBeGreaterThan(0);
    const shipped = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8'));
    expect(shipped.env).toBe(env);
    expect(shipped.mean[1]).toBeGreaterThan(shipped.mean[0]);
    const tasks = 4;
    const r = await evaluateAdaptation(ck.config, ck.theta, { tasks, steps: 1, seed: 11, episodesPerTask: 10, taskList: paperTestTasks(env, tasks) });
    expect(r.perTask[0]).toHaveLength(tasks);
    expect(r.mean[1]).toBeGreaterThan(r.mean[0]);
  });
});
