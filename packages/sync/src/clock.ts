/**
 * Injected time source (same shape as the engine's Clock, kept local so that sync
 * depends on nothing of ours). `now()` is milliseconds since the epoch, with
 * sub-millisecond precision on the system clock so lag figures below 1 ms mean something.
 */
export type TimerHandle = unknown;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(h) {
    if (h !== undefined && h !== null) clearTimeout(h as NodeJS.Timeout);
  },
};
