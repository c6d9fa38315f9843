/**
 * A training run's metrics, one record per meta-batch, in three formats side by side:
 *   metrics.jsonl             the record of truth, appended (a resumed run first drops the
 *                             records of the meta-batches it will redo);
 *   metrics.csv               the same records as CSV, rewritten from the JSONL after each one;
 *   tb/events.out.tfevents.*  TensorBoard scalars, one event per record at step = cumulative env
 *                             steps (CleanRL's global_step), rewritten from the JSONL when a run
 *                             starts or resumes, so a resume leaves no duplicate steps.
 * `tensorboard --logdir runs` shows every run; pandas and spreadsheets read the CSV.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { JsonlLog, type MetricRecord } from './jsonl.ts';
import { writeFileAtomic } from './atomic.ts';
import { recordsToCsv } from './csv.ts';
import { TfEventsWriter } from './tfevents.ts';

export const METRICS_FILE = 'metrics.jsonl';
export const METRICS_CSV = 'metrics.csv';
export const TB_DIR = 'tb';

/** The TensorBoard step of a record: its cumulative env steps, else its batch number. */
const stepOf = (r: MetricRecord) => Number(r['charts/env_steps_total'] ?? r.batch);

/** The numeric fields of a record as TensorBoard scalars (booleans as 0/1), without the step fields. */
function scalarsOf(r: MetricRecord): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(r)) {
    if (k === 'batch') continue;
    if (typeof v === 'number') out[k] = v;
    else if (typeof v === 'boolean') out[k] = v ? 1 : 0;
  }
  return out;
}

export class RunLogs {
  private readonly jsonl: JsonlLog;
  private readonly records: MetricRecord[];
  private readonly tb: TfEventsWriter;

  /** Opens the logs of `runDir`, keeping the records for which `keep` holds. */
  constructor(
    private readonly runDir: string,
    keep: (r: MetricRecord) => boolean = () => true,
  ) {
    this.jsonl = new JsonlLog(join(runDir, METRICS_FILE));
    this.jsonl.truncate(keep);
    this.records = this.jsonl.read();
    const tbDir = join(runDir, TB_DIR);
    if (existsSync(tbDir)) for (const f of readdirSync(tbDir)) if (f.startsWith('events.out.tfevents.')) rmSync(join(tbDir, f));
    mkdirSync(tbDir, { recursive: true });
    this.tb = new TfEventsWriter(tbDir);
    for (const r of this.records) this.tb.scalars(stepOf(r), scalarsOf(r), Number(r['time/unix'] ?? Date.now() / 1000));
    this.writeCsv();
  }

  /** Sum of a numeric field over the records (e.g. env steps of runs logged before totals existed). */
  sum(key: string): number {
    return this.records.reduce((s, r) => s + (typeof r[key] === 'number' ? (r[key] as number) : 0), 0);
  }

  /** The last record kept or appended. */
  last(): MetricRecord | undefined {
    return this.records.at(-1);
  }

  append(r: MetricRecord): void {
    this.jsonl.append(r);
    this.records.push(r);
    this.tb.scalars(stepOf(r), scalarsOf(r), Number(r['time/unix'] ?? Date.now() / 1000));
    this.writeCsv();
  }

  private writeCsv(): void {
    writeFileAtomic(join(this.runDir, METRICS_CSV), recordsToCsv(this.records));
  }
}
