/** Append-only JSON-lines metric logs. */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic.ts';

export type MetricRecord = Record<string, number | string | boolean>;

export class JsonlLog {
  constructor(readonly path: string) {}

  append(rec: MetricRecord): void {
    appendFileSync(this.path, JSON.stringify(rec) + '\n');
  }

  read(): MetricRecord[] {
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as MetricRecord];
        } catch {
          return []; // a line cut by a crash mid-write
        }
      });
  }

  /** Keeps only the records for which `keep` holds (used on resume to drop batches redone). */
  truncate(keep: (r: MetricRecord) => boolean): void {
    const kept = this.read().filter(keep);
    writeFileAtomic(this.path, kept.map((r) => JSON.stringify(r) + '\n').join(''));
  }
}
