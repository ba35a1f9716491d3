/**
 * Liveness of one heartbeat path — one state machine per path:
 *   Unknown ──heard──► Up ──(interval × misses of silence)──► Down ──heard──► Up
 * The deadline timer runs on the injected Clock.
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
  private timer: TimerHandle | undefined;

  constructor(opts: {
    name: string;
    network: PathNetwork;
    clock: Clock;
    /** interval × miss count */
    timeoutMs: number;
    onChange: (p: PathLiveness, from: PathState, reason: string) => void;
  }) {
    this.name = opts.name;
    this.network = opts.network;
    this.clock = opts.clock;
    this.timeoutMs = opts.timeoutMs;
    this.onChange = opts.onChange;
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
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      // "per-path liveness (interval default 100 ms, miss count default 3 → path down
      // after ~300 ms)"
      if (this.#state === PathState.Up) this.transition(PathState.Down, `no heartbeat for ${this.timeoutMs} ms`);
    }, this.timeoutMs);
  }

  private disarm(): void {
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
