/**
 * Requests in flight on one connection: numbers them (1, 2, …), remembers what each one was, and
 * settles it once, from its reply, an error, its timeout or the end of the connection. A reply
 * for an id that is not in flight (never sent, already answered, timed out) is the caller's to
 * count as rejected.
 */

export type CallKind = 'set_tasks' | 'reset' | 'step' | 'stop';

interface Pending {
  kind: CallKind;
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class PendingCalls {
  private nextId = 1;
  private readonly calls = new Map<number, Pending>();

  constructor(
    /** Called when a call's timer expires, with the call's id and kind (the call is still pending). */
    private readonly onTimeout: (id: number, kind: CallKind) => void,
  ) {}

  get size(): number {
    return this.calls.size;
  }

  /** Registers a new call; `timeoutMs` starts now. */
  add<V>(kind: CallKind, timeoutMs: number): { id: number; promise: Promise<V> } {
    const id = this.nextId;
    // Ids stay within u32 (the binary header's field); wrapping after 4 billion calls is harmless.
    this.nextId = this.nextId >= 0xffff_ffff ? 1 : this.nextId + 1;
    let resolve!: (value: unknown) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<V>((res, rej) => {
      resolve = res as (value: unknown) => void;
      reject = rej;
    });
    const timer = setTimeout(() => this.onTimeout(id, kind), timeoutMs);
    timer.unref?.();
    this.calls.set(id, { kind, resolve, reject, timer });
    return { id, promise };
  }

  /** The kind of call `id` is, if it is in flight. */
  kindOf(id: number): CallKind | undefined {
    return this.calls.get(id)?.kind;
  }

  resolve(id: number, value: unknown): boolean {
    const p = this.take(id);
    p?.resolve(value);
    return p !== undefined;
  }

  reject(id: number, e: Error): boolean {
    const p = this.take(id);
    p?.reject(e);
    return p !== undefined;
  }

  /** Rejects every call in flight with the error `make` builds for it. */
  rejectAll(make: (id: number, kind: CallKind) => Error): void {
    for (const id of [...this.calls.keys()]) this.reject(id, make(id, this.calls.get(id)!.kind));
  }

  private take(id: number): Pending | undefined {
    const p = this.calls.get(id);
    if (p === undefined) return undefined;
    clearTimeout(p.timer);
    this.calls.delete(id);
    return p;
  }
}
