/**
 * SIP traffic loss (ha.sipTrafficLoss): an active node that is alive (heartbeats fine) but
 * receives no SIP any more — its SIP NIC's switch port drops inbound frames, a firewall
 * change, a stale ARP entry upstream, a wedged engine socket — hands over to a healthy peer.
 *
 * The rule, on the active only, over the cumulative count of SIP requests the engine
 * received (sampled every `stepMs`), with W = windowMs:
 *  - armed:  the window before the last one, (now-2W, now-W], saw >= minRequests requests;
 *  - lost:   armed and the last whole window, (now-W, now], saw none at all.
 * A pair whose traffic fades (night) below minRequests per window before it stops never
 * arms, so it never switches over. The history starts when the node becomes active: a new
 * active needs 2W of its own history, with traffic, before the rule can fire (anti-flap).
 * Once lost, the state stays lost until a request arrives again (the decision to switch
 * over is retried while lost, e.g. when the peer becomes ready).
 *
 * `decideSipTraffic` is the pure decision; `SipTrafficMonitor` samples on the injected clock.
 */
import type { Clock, TimerHandle } from './clock.js';

export interface SipTrafficSample {
  /** Clock time of the sample. */
  at: number;
  /** Cumulative SIP requests received by the engine. */
  total: number;
}

export interface SipTrafficRuleOptions {
  /** Length of a window (ms). */
  windowMs: number;
  /** Requests the window before a silent one must have had for the rule to fire. */
  minRequests: number;
}

export type SipTrafficState =
  /** Less than two windows of history since this node became active (or since the samples resumed). */
  | 'learning'
  /** Not armed: too little traffic in the window before the last. */
  | 'idle'
  /** Armed and traffic flows. */
  | 'armed'
  /** Armed, then a whole window without a single request: inbound SIP is lost. */
  | 'lost';

export interface SipTrafficDecision {
  state: SipTrafficState;
  /** Requests in (now-W, now]; null while learning. */
  lastWindow: number | null;
  /** Requests in (now-2W, now-W]; null while learning. */
  prevWindow: number | null;
  /** True on the step where the state became 'lost' (not on later 'lost' steps). */
  fire: boolean;
}

export interface SipTrafficInput extends SipTrafficRuleOptions {
  /** Samples, oldest first, all taken while this node was active. */
  samples: readonly SipTrafficSample[];
  /** The previous decision's state (stickiness of 'lost'); undefined at the start. */
  previous?: SipTrafficState;
}

/** The cumulative total at time t: the newest sample taken at or before t. */
function totalAt(samples: readonly SipTrafficSample[], t: number): number | undefined {
  let v: number | undefined;
  for (const s of samples) {
    if (s.at > t) break;
    v = s.total;
  }
  return v;
}

/** The rule (see the file comment), as a pure function of the samples. */
export function decideSipTraffic(i: SipTrafficInput): SipTrafficDecision {
  const last = i.samples[i.samples.length - 1];
  if (!last) return { state: 'learning', lastWindow: null, prevWindow: null, fire: false };
  const now = last.at;
  const atW = totalAt(i.samples, now - i.windowMs);
  const at2W = totalAt(i.samples, now - 2 * i.windowMs);
  if (atW === undefined || at2W === undefined) return { state: 'learning', lastWindow: null, prevWindow: null, fire: false };
  const lastWindow = last.total - atW;
  const prevWindow = atW - at2W;
  if (lastWindow > 0) {
    return { state: prevWindow >= i.minRequests || lastWindow >= i.minRequests ? 'armed' : 'idle', lastWindow, prevWindow, fire: false };
  }
  // A whole window without a single request.
  if (i.previous === 'lost') return { state: 'lost', lastWindow, prevWindow, fire: false };
  if (prevWindow >= i.minRequests) return { state: 'lost', lastWindow, prevWindow, fire: true };
  return { state: 'idle', lastWindow, prevWindow, fire: false };
}

export interface SipTrafficMonitorOptions extends SipTrafficRuleOptions {
  clock: Clock;
  /** The engine's cumulative inbound request count; undefined (or a rejection) = no sample this step. */
  sample: () => Promise<number | undefined> | number | undefined;
  /** Sampling period. Default windowMs / 10 (at least 50 ms). */
  stepMs?: number;
  /** Called after every decided step. */
  onDecision: (d: SipTrafficDecision) => void;
}

export interface SipTrafficStatus {
  enabled: true;
  /** null while not active (the rule runs on the active only). */
  state: SipTrafficState | null;
  windowMs: number;
  minRequests: number;
  lastWindow: number | null;
  prevWindow: number | null;
  /** Switchovers this rule started since the process started. */
  switchovers: number;
}

/** Samples the request count every stepMs while started; start() clears the history. */
export class SipTrafficMonitor {
  readonly windowMs: number;
  readonly minRequests: number;
  readonly stepMs: number;
  private readonly o: SipTrafficMonitorOptions;
  private samples: SipTrafficSample[] = [];
  private timer: TimerHandle | undefined;
  private running = false;
  /** Bumped by start/stop so a sample that resolves late is dropped. */
  private gen = 0;
  private decision: SipTrafficDecision | undefined;

  constructor(o: SipTrafficMonitorOptions) {
    if (!(o.windowMs > 0) || !(o.minRequests >= 1) || (o.stepMs !== undefined && !(o.stepMs > 0 && o.stepMs <= o.windowMs))) {
      throw new RangeError('sipTraffic: windowMs > 0, minRequests >= 1 and 0 < stepMs <= windowMs are required');
    }
    this.o = o;
    this.windowMs = o.windowMs;
    this.minRequests = o.minRequests;
    this.stepMs = o.stepMs ?? Math.max(50, Math.floor(o.windowMs / 10));
  }

  get last(): SipTrafficDecision | undefined {
    return this.decision;
  }

  /** (Re)starts with an empty history: a new active learns its own traffic first. */
  start(): void {
    this.stop();
    this.running = true;
    const gen = ++this.gen;
    void this.step(gen);
  }

  stop(): void {
    this.running = false;
    this.gen++;
    this.samples = [];
    this.decision = undefined;
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async step(gen: number): Promise<void> {
    let total: number | undefined;
    try {
      total = await this.o.sample();
    } catch {
      total = undefined;
    }
    if (gen !== this.gen) return;
    const now = this.o.clock.now();
    if (typeof total === 'number' && Number.isFinite(total)) {
      const prev = this.samples[this.samples.length - 1];
      // A counter that went backwards (engine restarted): start over.
      if (prev && total < prev.total) this.samples = [];
      this.samples.push({ at: now, total });
      // Keep what the two windows need (plus the sample just before them).
      const horizon = now - 2 * this.windowMs;
      let drop = 0;
      while (drop + 1 < this.samples.length && this.samples[drop + 1]!.at <= horizon) drop++;
      if (drop > 0) this.samples.splice(0, drop);
      this.decision = decideSipTraffic({ samples: this.samples, windowMs: this.windowMs, minRequests: this.minRequests, previous: this.decision?.state });
      this.o.onDecision(this.decision);
    }
    if (gen !== this.gen || !this.running) return;
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = undefined;
      void this.step(gen);
    }, this.stepMs);
  }
}
