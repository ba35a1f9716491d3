/**
 * Liveness of one heartbeat path — one state machine per path:
 *   Unknown ──heard──► Up ──(interval × misses of silence)──► Down ──heard──► Up
 * The deadline timer runs on the injected Clock.
 *
 * Stall-aware: silence is only counted while this node's own event loop could have
 * heard something.
 *  - A deadline timer that fires more than `stallToleranceMs` after it was due means
 *    this node's loop was stalled (busy or not scheduled): the peer's heartbeats of
 *    that time may sit unread in the socket, or the peer was not scheduled either.
 *    That silence is not the peer's: the window starts again (`onStall` reports it).
 *  - A deadline that fires on time still waits for the pending I/O (clock.afterIo: in
 *    Node the timers phase runs before the poll phase), and the path goes down only if
 *    nothing was heard meanwhile.
 */
import type { Clock, TimerHandle } from './clock.js';
import { HaError } from './errors.js';
import type { PathNetwork } from './heartbeat.js';

export enum PathState {
  /** Nothing heard on this path since start. */
  Unknown = 'unknown',
  Up = 'up',
  Down = 'down',
}

export class PathLiveness {
  readonly name: string;
  readonly network: PathNetwork;
  private readonly clock: Clock;
  private readonly timeoutMs: number;
  private readonly onChange: (p: PathLiveness, from: PathState, reason: string) => void;
  #state = PathState.Unknown;
  #lastHeardAt: number | undefined;
  private readonly stallToleranceMs: number;
  private readonly onStall: ((p: PathLiveness, lateMs: number) => void) | undefined;
  private timer: TimerHandle | undefined;
  /** Bumped on every arm/disarm: a deferred check of an older window does nothing. */
  private gen = 0;
  #stallsExcused = 0;

  constructor(opts: {
    name: string;
    network: PathNetwork;
    clock: Clock;
    /** interval × miss count */
    timeoutMs: number;
    /** A deadline that fires later than this after it was due is our own stall. Default: timeoutMs / 5 (one interval at 5 misses), at least 1 ms. */
    stallToleranceMs?: number;
    onChange: (p: PathLiveness, from: PathState, reason: string) => void;
    /** The deadline fired `lateMs` late: the window was restarted instead of counting the silence. */
    onStall?: (p: PathLiveness, lateMs: number) => void;
  }) {
    this.name = opts.name;
    this.network = opts.network;
    this.clock = opts.clock;
    this.timeoutMs = opts.timeoutMs;
    this.stallToleranceMs = Math.max(1, opts.stallToleranceMs ?? opts.timeoutMs / 5);
    this.onChange = opts.onChange;
    this.onStall = opts.onStall;
  }

  /** Deadlines that fired late (own stall) and restarted the window instead of counting. */
  get stallsExcused(): number {
    return this.#stallsExcused;
  }

  get state(): PathState {
    return this.#state;
  }

  get up(): boolean {
    return this.#state === PathState.Up;
  }

  get lastHeardAt(): number | undefined {
    return this.#lastHeardAt;
  }

  /** A valid heartbeat from the peer arrived on this path. */
  heard(): void {
    this.#lastHeardAt = this.clock.now();
    this.arm();
    if (this.#state !== PathState.Up) this.transition(PathState.Up, 'heartbeat received');
  }

  /** The peer said it is leaving: no need to wait for the misses. */
  forceDown(reason: string): void {
    this.disarm();
    if (this.#state === PathState.Up) this.transition(PathState.Down, reason);
  }

  stop(): void {
    this.disarm();
  }

  private arm(): void {
    this.disarm();
    const gen = this.gen;
    const due = this.clock.now() + this.timeoutMs;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (gen !== this.gen || this.#state !== PathState.Up) return;
      const lateMs = this.clock.now() - due;
      if (lateMs > this.stallToleranceMs) {
        // Our loop was stalled for lateMs: the peer's heartbeats of that time may still be
        // unread, or the whole host was starved. "When the node's own loop was stalled, do
        // not count that silence against the peer": start the window again.
        this.#stallsExcused++;
        this.arm();
        try {
          this.onStall?.(this, lateMs);
        } catch {
          /* a reporting hook never changes liveness */
        }
        return;
      }
      const check = (): void => {
        if (gen !== this.gen || this.#state !== PathState.Up) return; // heard meanwhile
        // "per-path liveness (interval default 100 ms, miss count default 3 → path down
        // after ~300 ms)" — counted after the pending I/O was read.
        this.transition(PathState.Down, `no heartbeat for ${this.timeoutMs} ms`);
      };
      if (this.clock.afterIo) this.clock.afterIo(check);
      else check();
    }, this.timeoutMs);
  }

  private disarm(): void {
    this.gen++;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private transition(to: PathState, reason: string): void {
    const from = this.#state;
    let ok: boolean;
    switch (from) {
      case PathState.Unknown:
        // The first heartbeat heard makes the path up.
        ok = to === PathState.Up;
        break;
      case PathState.Up:
        // "the peer counts as dead only when every path is silent" — each path goes
        // down on its own silence.
        ok = to === PathState.Down;
        break;
      case PathState.Down:
        ok = to === PathState.Up;
        break;
    }
    if (!ok) throw new HaError({ code: 'ERR_HA_ILLEGAL_TRANSITION', message: `illegal path transition ${from} -> ${to} on ${this.name}` });
    this.#state = to;
    this.onChange(this, from, reason);
  }
}
