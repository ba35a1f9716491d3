/**
 * Injected time source for the HA controller. Every timer (heartbeat interval, path
 * deadlines, start-up wait, retries) goes through a Clock so the controller is tested
 * deterministically with ManualClock. Core must not import the engine, so this is the
 * HA layer's own small copy of the interface.
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
    // HA timers must never keep a process alive on their own.
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

/** Lets pending promise callbacks (and their follow-ups) run. */
export async function flushMicrotasks(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A deterministic clock for tests. Timers due at the same instant run in scheduling
 * order. `advance()` is synchronous; `tick()` also lets promise callbacks run after
 * every timer, which the controller's async actions need.
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
      this.current = next.due;
      next.fn();
    }
    this.current = target;
  }

  /** Like advance(), but flushes microtasks before and after every timer. */
  async tick(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('ManualClock.tick: ms must be a finite number >= 0');
    const target = this.current + ms;
    await flushMicrotasks();
    for (let next = this.nextDue(target); next; next = this.nextDue(target)) {
      this.timers.delete(next.id);
      this.current = next.due;
      next.fn();
      await flushMicrotasks();
    }
    this.current = target;
    await flushMicrotasks();
  }
}
