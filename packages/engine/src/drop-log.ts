/**
 * Counts malformed SIP the engine could not answer and logs it without letting a flood flood the log: the
 * first `burst` drops of a window are logged one by one, the rest of the window only as one summary line at
 * its end ("malformed SIP messages dropped (rate-limited)", with the count suppressed and the total).
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from './clock.js';

export interface DropLogOptions {
  clock: Clock;
  logger?: Logger;
  /** Drops logged one by one per window (default 5). */
  burst?: number;
  /** Window length in ms (default 10 s). */
  intervalMs?: number;
}

export interface DropCounts {
  /** Every drop since start. */
  total: number;
  /** Per stable code (BAD_START_LINE, MISSING_HEADER, MALFORMED_STREAM ...). */
  byCode: Record<string, number>;
}

export class DropLog {
  private readonly opts: Required<Omit<DropLogOptions, 'logger'>> & { logger?: Logger };
  private readonly counts: DropCounts = { total: 0, byCode: {} };
  private windowStart = -Infinity;
  private inWindow = 0;
  private suppressed = 0;
  private suppressedCodes: Record<string, number> = {};
  private timer: TimerHandle | undefined;

  constructor(opts: DropLogOptions) {
    this.opts = { burst: 5, intervalMs: 10_000, ...opts };
  }

  get total(): number {
    return this.counts.total;
  }

  snapshot(): DropCounts {
    return { total: this.counts.total, byCode: { ...this.counts.byCode } };
  }

  drop(code: string, remote: { address: string; port: number }, detail: string, transport?: string): void {
    this.counts.total++;
    this.counts.byCode[code] = (this.counts.byCode[code] ?? 0) + 1;
    const now = this.opts.clock.now();
    if (now - this.windowStart >= this.opts.intervalMs) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow < this.opts.burst) {
      this.inWindow++;
      this.opts.logger?.info({ code, remote, transport, reason: detail.slice(0, 200), dropped: this.counts.total }, 'malformed SIP message dropped');
      return;
    }
    this.suppressed++;
    this.suppressedCodes[code] = (this.suppressedCodes[code] ?? 0) + 1;
    if (this.timer === undefined) {
      this.timer = this.opts.clock.setTimeout(() => this.flush(), Math.max(0, this.windowStart + this.opts.intervalMs - now));
    }
  }

  /** Logs the summary of what was suppressed so far (also called on close). */
  flush(): void {
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.suppressed === 0) return;
    this.opts.logger?.warn(
      { suppressed: this.suppressed, codes: this.suppressedCodes, dropped: this.counts.total },
      'malformed SIP messages dropped (rate-limited)',
    );
    this.suppressed = 0;
    this.suppressedCodes = {};
  }
}
