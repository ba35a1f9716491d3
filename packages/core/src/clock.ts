/**
 * Injected time source for the core: call control, takeover and the HA controller.
 * Every timer (call timers, heartbeat interval, path deadlines, start-up wait, retries)
 * goes through a Clock so the state machines are tested deterministically with
 * ManualClock. Core must not import the engine, so it has its own copy of the interface.
 */
export type TimerHandle = unknown;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
  /**
   * Runs `fn` after the I/O that is already pending has been read (Node: setImmediate,
   * whose check phase follows the poll phase). A timer that fires after a stall runs in
   * the timers phase, BEFORE the datagrams queued during the stall are read; a decision
   * that depends on "nothing arrived" must wait for this. Optional: without it the
   * callback runs at once.
   */
  afterIo?(fn: () => void): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    // HA timers must never keep a process alive on their own.
    t.unref();
    return t;
  },
  clearTimeout(h) {
    if (h !== undefined && h !== null) clearTimeout(h as NodeJS.Timeout);
  },
  afterIo(fn) {
    setImmediate(fn);
  },
};

interface ManualTimer {
  id: number;
  due: number;
  fn: () => void;
}

/** Lets pending promise callbacks (and their follow-ups) run. */
export async function flushMicrotasks(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A deterministic clock for tests. Timers due at the same instant run in scheduling
 * order. `advance()` is synchronous; `tick()` also lets promise callbacks run after
 * every timer, which the controller's async actions need.
 *
 * It models one turn of Node's event loop per instant: every timer due (timers phase),
 * then the I/O queued with `queueIo()` (poll phase), then the `afterIo()` callbacks
 * (check phase). `stall(ms)` moves time on without running anything, like a blocked
 * event loop: the overdue timers then fire late, before the queued I/O is read.
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Map<number, ManualTimer>();
  private io: Array<() => void> = [];
  private immediates: Array<() => void> = [];

  constructor(opts: { start?: number } = {}) {
    this.current = opts.start ?? 0;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    if (!Number.isFinite(ms) || ms < 0) ms = 0;
    const id = ++this.seq;
    this.timers.set(id, { id, due: this.current + ms, fn });
    return id;
  }

  clearTimeout(h: TimerHandle): void {
    if (typeof h === 'number') this.timers.delete(h);
  }

  afterIo(fn: () => void): void {
    this.immediates.push(fn);
  }

  /** Queues an I/O event (e.g. a datagram in a socket buffer): it runs in the next poll phase. */
  queueIo(fn: () => void): void {
    this.io.push(fn);
  }

  /** A blocked event loop: time passes, nothing runs (overdue timers fire late on the next advance/tick). */
  stall(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('ManualClock.stall: ms must be a finite number >= 0');
    this.current += ms;
  }

  /** Poll then check phase: queued I/O, then afterIo callbacks (including those they add). */
  private runIoAndImmediates(): void {
    while (this.io.length > 0 || this.immediates.length > 0) {
      const io = this.io;
      this.io = [];
      for (const fn of io) fn();
      const im = this.immediates;
      this.immediates = [];
      for (const fn of im) fn();
    }
  }

  /** Number of pending timers (for leak checks). */
  get pending(): number {
    return this.timers.size;
  }

  private nextDue(target: number): ManualTimer | undefined {
    let next: ManualTimer | undefined;
    for (const t of this.timers.values()) {
      if (t.due <= target && (next === undefined || t.due < next.due || (t.due === next.due && t.id < next.id))) next = t;
    }
    return next;
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('ManualClock.advance: ms must be a finite number >= 0');
    const target = this.current + ms;
    for (let next = this.nextDue(target); next; next = this.nextDue(target)) {
      this.timers.delete(next.id);
      // An overdue timer (after stall()) fires late: time does not go back.
      this.current = Math.max(this.current, next.due);
      next.fn();
      if (!this.dueNow()) this.runIoAndImmediates();
    }
    this.current = target;
    this.runIoAndImmediates();
  }

  /** Another timer is due at the current instant (same timers phase). */
  private dueNow(): boolean {
    return this.nextDue(this.current) !== undefined;
  }

  /** Like advance(), but flushes microtasks before and after every timer. */
  async tick(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('ManualClock.tick: ms must be a finite number >= 0');
    const target = this.current + ms;
    await flushMicrotasks();
    for (let next = this.nextDue(target); next; next = this.nextDue(target)) {
      this.timers.delete(next.id);
      this.current = Math.max(this.current, next.due);
      next.fn();
      await flushMicrotasks();
      if (!this.dueNow()) {
        this.runIoAndImmediates();
        await flushMicrotasks();
      }
    }
    this.current = target;
    this.runIoAndImmediates();
    await flushMicrotasks();
  }
}
