/**
 * The one atomic file writer: write a temporary file beside the target, fsync it, rename it over
 * the target. A crash or kill mid-write leaves the previous file whole (and a `.tmp-<pid>` file,
 * which the next run in that folder removes: runDir.removeStaleTemporaries).
 */
import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from 'node:fs';

/** Writes `data` to `path` atomically. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeFileSync(fd, data); // unlike writeSync, loops until every byte is written
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
