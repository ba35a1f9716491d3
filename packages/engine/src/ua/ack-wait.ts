/**
 * UAS side of a 2xx to INVITE: retransmit it until the ACK arrives (RFC 3261 §13.3.1.4).
 */
import type { Clock, TimerHandle } from '../clock.js';

export enum AckWaitState {
  Waiting = 'waiting',
  Acked = 'acked',
  TimedOut = 'timed-out',
  Cancelled = 'cancelled',
}

const LEGAL: Record<AckWaitState, AckWaitState[]> = {
  [AckWaitState.Waiting]: [AckWaitState.Acked, AckWaitState.TimedOut, AckWaitState.Cancelled],
  [AckWaitState.Acked]: [],
  [AckWaitState.TimedOut]: [],
  [AckWaitState.Cancelled]: [],
};

export interface AckWaitOptions {
  clock: Clock;
  t1: number;
  t2: number;
  retransmit: () => void;
  onTimeout: () => void;
}

export class AckWait {
  private _state = AckWaitState.Waiting;
  private interval: number;
  private timerG: TimerHandle | undefined;
  private timerH: TimerHandle | undefined;
  private readonly opts: AckWaitOptions;

  constructor(opts: AckWaitOptions) {
    this.opts = opts;
    this.interval = opts.t1;
    // §13.3.1.4: "The 2xx response is passed to the transport with an interval that
    // starts at T1 seconds and doubles for each retransmission until it reaches T2 seconds."
    this.timerG = opts.clock.setTimeout(() => this.fireG(), this.interval);
    // §13.3.1.4: "If the server retransmits the 2xx response for 64*T1 seconds without
    // receiving an ACK, the dialog is confirmed, but the session SHOULD be terminated."
    this.timerH = opts.clock.setTimeout(() => this.fireH(), 64 * opts.t1);
  }

  get state(): AckWaitState {
    return this._state;
  }

  private transition(to: AckWaitState): boolean {
    if (!LEGAL[this._state].includes(to)) return false;
    this._state = to;
    if (to !== AckWaitState.Waiting) {
      this.opts.clock.clearTimeout(this.timerG);
      this.opts.clock.clearTimeout(this.timerH);
      this.timerG = this.timerH = undefined;
    }
    return true;
  }

  /** §13.3.1.4: "Response retransmissions cease when an ACK request for the response is received." */
  ack(): boolean {
    return this.transition(AckWaitState.Acked);
  }

  cancel(): void {
    this.transition(AckWaitState.Cancelled);
  }

  private fireG(): void {
    if (this._state !== AckWaitState.Waiting) return;
    try {
      this.opts.retransmit();
    } catch {
      /* a failed send is retried at the next interval */
    }
    this.interval = Math.min(this.interval * 2, this.opts.t2);
    this.timerG = this.opts.clock.setTimeout(() => this.fireG(), this.interval);
  }

  private fireH(): void {
    if (this.transition(AckWaitState.TimedOut)) this.opts.onTimeout();
  }
}
