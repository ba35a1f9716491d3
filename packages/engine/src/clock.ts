/**
 * Injected time source. Every timer in the engine's state machines goes through a
 * Clock so tests drive time with ManualClock and never sleep.
 *
 *   interface Clock { now(): number; setTimeout(fn, ms): TimerHandle; clearTimeout(h): void }
 *   const systemClock: Clock            // Date.now + global timers (unref'd)
 *   class ManualClock implements Clock  // advance(ms) runs due timers in due-time order
 */

export type TimerHandle = unknown;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    // Protocol timers must never keep a process alive on their own.
    t.unref();
    return t;
  },
  clearTimeout(h) {
    if (h !== undefined && h !== null) clearTimeout(h as NodeJS.Timeout);
  },
};

interface ManualTimer {
  id: number;
  due: number;
  fn: () => void;
}

/**
 * A deterministic clock for tests. Timers scheduled for the same instant run in the
 * order they were scheduled; a timer scheduled by a running timer with a due time
 * inside the advanced window runs within the same advance() call.
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Map<number, ManualTimer>();

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

  /** Number of pending timers (for leak tests). */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('ManualClock.advance: ms must be a finite number >= 0');
    const target = this.current + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.timers.values()) {
        if (t.due <= target && (next === undefined || t.due < next.due || (t.due === next.due && t.id < next.id))) next = t;
      }
      if (next === undefined) break;
      this.timers.delete(next.id);
      this.current = next.due;
      next.fn();
    }
    this.current = target;
  }
}
