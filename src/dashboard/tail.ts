/**
 * Reading a JSON-lines log as it grows: complete lines after a byte offset, numbered from 1, in
 * bounded chunks. A line longer than `maxLine` bytes is counted but not returned (so numbers stay
 * those of the file); a partial last line waits for its newline. When the file is replaced (a
 * resumed run rewrites metrics.jsonl atomically: a new inode) or shrinks, the reader says `reset`
 * and starts again from line 1.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

export interface TailLine {
  /** Line number in the file, from 1. */
  n: number;
  text: string;
}

export interface TailRead {
  /** The file was replaced or truncated: what was read before no longer holds. */
  reset: boolean;
  lines: TailLine[];
  /** More bytes are waiting (the read stopped at `maxBytes`). */
  more: boolean;
}

export interface TailOptions {
  /** Longest line returned, in bytes (default 64 KiB). */
  maxLine?: number;
  /** Most bytes read by one call (default 256 KiB). */
  maxBytes?: number;
}

const NEWLINE = 0x0a;

export class LineTail {
  private ino: number | undefined;
  private offset = 0;
  private lineNo = 0;
  private partial: Buffer[] = [];
  private partialLen = 0;
  /** Inside a line longer than maxLine: its bytes are dropped up to its newline. */
  private skipping = false;
  private readonly maxLine: number;
  private readonly maxBytes: number;

  /** `resolve` gives the file's checked real path now, or null when it is missing or not allowed. */
  constructor(
    private readonly resolve: () => string | null,
    o: TailOptions = {},
  ) {
    this.maxLine = o.maxLine ?? 64 * 1024;
    this.maxBytes = o.maxBytes ?? 256 * 1024;
  }

  /** Complete lines read so far. */
  get lines(): number {
    return this.lineNo;
  }

  /** Forgets everything read: the next read starts at line 1. */
  restart(): void {
    this.ino = undefined;
    this.offset = 0;
    this.lineNo = 0;
    this.partial = [];
    this.partialLen = 0;
    this.skipping = false;
  }

  /** Reads what was appended since the last call (at most maxBytes). */
  read(): TailRead {
    const path = this.resolve();
    if (path === null) return this.gone();
    let fd: number;
    try {
      // The real path, not followed if it has since become a symlink (checked by resolve()).
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return this.gone();
    }
    try {
      const st = fstatSync(fd);
      let reset = false;
      if ((this.ino !== undefined && st.ino !== this.ino) || st.size < this.offset) {
        reset = this.offset > 0 || this.lineNo > 0;
        this.restart();
      }
      this.ino = st.ino;
      const want = Math.min(st.size - this.offset, this.maxBytes);
      if (want <= 0) return { reset, lines: [], more: false };
      const buf = Buffer.allocUnsafe(want);
      const got = readSync(fd, buf, 0, want, this.offset);
      this.offset += got;
      return { reset, lines: this.split(buf.subarray(0, got)), more: this.offset < st.size };
    } finally {
      closeSync(fd);
    }
  }

  /** The file disappeared: a reset if anything had been read. */
  private gone(): TailRead {
    const reset = this.offset > 0 || this.lineNo > 0;
    if (reset) this.restart();
    return { reset, lines: [], more: false };
  }

  private split(chunk: Buffer): TailLine[] {
    const out: TailLine[] = [];
    let start = 0;
    while (start <= chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl === -1 ? chunk.length : nl;
      this.keep(chunk.subarray(start, end));
      if (nl === -1) break;
      this.lineNo++;
      if (!this.skipping) {
        const text = Buffer.concat(this.partial, this.partialLen).toString('utf8').replace(/\r$/, '');
        out.push({ n: this.lineNo, text });
      }
      this.partial = [];
      this.partialLen = 0;
      this.skipping = false;
      start = nl + 1;
    }
    return out;
  }

  /** Adds bytes of the current line, switching to skipping once it exceeds maxLine. */
  private keep(bytes: Buffer): void {
    if (this.skipping || bytes.length === 0) return;
    if (this.partialLen + bytes.length > this.maxLine) {
      this.skipping = true;
      this.partial = [];
      this.partialLen = 0;
      return;
    }
    this.partial.push(Buffer.from(bytes)); // a copy: the read buffer is not kept alive
    this.partialLen += bytes.length;
  }
}
