/**
 * Witness (tie-breaker) reachability. Heartbeats tell a node whether it hears its peer;
 * they cannot tell which of the two is cut off. A witness is an address on the SIP
 * network that answers probes (typically the default gateway or an SBC). When the peer
 * is silent on every path:
 *  - a passive that still reaches a witness sees the SIP network: the peer is the one
 *    gone, it takes over; one that reaches no witness is the isolated one and stays
 *    passive (HA_ISOLATED);
 *  - an active that reaches no witness is the isolated one: it steps down (HA_ISOLATED);
 *    its calls are not reachable through it anyway, and the peer (if it still sees the
 *    network) takes over.
 *
 * `decidePeerLoss` is the rule, pure; `WitnessMonitor` runs the probe rounds on the
 * injected clock with an injected probe (ICMP echo in production, a fake in tests).
 */
import type { Clock, TimerHandle } from './clock.js';

/** One probe of one witness; resolves ok:false (or rejects) when it did not answer within timeoutMs. */
export type WitnessProbe = (address: string, timeoutMs: number) => Promise<{ ok: boolean; rttMs?: number }>;

export interface WitnessOptions {
  /** Witness addresses (empty: the witness rule is off, the pair behaves as without it). */
  addresses: readonly string[];
  probe: WitnessProbe;
  /** Background round every this many ms (status, and re-deciding while the peer is lost). Default 1000. */
  intervalMs?: number;
  /** A round's bound: a witness that has not answered within it counts as unreachable. Default 500. */
  timeoutMs?: number;
}

export interface WitnessRound {
  /** Clock time the round started (probes sent). */
  startedAt: number;
  /** Clock time the round was decided (first answer, or every probe failed or timed out). */
  finishedAt: number;
  /** At least one witness answered. */
  reachable: boolean;
  /**
   * Start of the current unbroken run of reachable rounds (the finish time of the first
   * of them); null when this round is unreachable.
   */
  reachableSince: number | null;
}

export interface WitnessTargetStatus {
  address: string;
  /** null: not probed yet. */
  reachable: boolean | null;
  /** ms since this witness last answered; null: never. */
  lastOkMs: number | null;
  rttMs: number | null;
  lastError: string | null;
}

export interface WitnessStatus {
  /** At least one witness answered in the last round; null: no round yet. */
  reachable: boolean | null;
  /** How long the witnesses have been reachable without a failed round; null when not reachable. */
  reachableForMs: number | null;
  /** ms since the last round was decided; null: no round yet. */
  lastCheckMs: number | null;
  /** The controller's verdict: peer lost on every path and no witness answers. */
  isolated: boolean;
  intervalMs: number;
  timeoutMs: number;
  targets: WitnessTargetStatus[];
}

// ------------------------------------------------------------------ the rule (pure)

export interface PeerLossInput {
  /** 'nothing' for Starting/Passive, 'service' for Active. */
  holding: 'nothing' | 'service';
  /** A witness list is configured. */
  witnessConfigured: boolean;
  /**
   * The newest witness round that started at or after the decision point (the moment
   * the peer was lost, or a confirmation time); undefined when there is none yet.
   */
  round: Pick<WitnessRound, 'reachable' | 'reachableSince'> | undefined;
  now: number;
  /**
   * A passive takes over only when the witnesses have been reachable without a break for
   * at least this long (the heartbeat detection window). A node whose network just came
   * back would otherwise take over in the instant before it hears the peer again.
   */
  settleMs: number;
}

export type PeerLossDecision =
  /** Passive: the network is there and the peer is not — take over. */
  | { kind: 'take-over'; reason: string }
  /** Active: keep serving (witness reachable, or no witness configured). */
  | { kind: 'stay-active'; reason: string }
  /** No fresh witness answer yet: probe now and decide when the round ends. */
  | { kind: 'probe' }
  /** The witnesses answer only since a moment ago: decide again at `atMs` with a new round. */
  | { kind: 'confirm'; atMs: number }
  /** No witness answers: this node is the isolated one (passive: stay; active: step down). */
  | { kind: 'isolated'; reason: string };

/** What a node that hears its peer on no path does, given its witness view. */
export function decidePeerLoss(i: PeerLossInput): PeerLossDecision {
  if (!i.witnessConfigured) {
    return i.holding === 'service' ? { kind: 'stay-active', reason: 'no witness configured' } : { kind: 'take-over', reason: 'no witness configured' };
  }
  if (!i.round) return { kind: 'probe' };
  if (!i.round.reachable) return { kind: 'isolated', reason: 'no witness answered: this node is cut off from the SIP network' };
  if (i.holding === 'service') return { kind: 'stay-active', reason: 'a witness answers' };
  const since = i.round.reachableSince ?? i.now;
  if (i.now - since < i.settleMs) return { kind: 'confirm', atMs: since + i.settleMs };
  return { kind: 'take-over', reason: 'a witness answers' };
}

// ------------------------------------------------------------------ the monitor

interface Target {
  address: string;
  reachable: boolean | null;
  lastOkAt: number | null;
  rttMs: number | null;
  lastError: string | null;
}

/**
 * Probes every witness each round, in parallel; a round is decided by the first answer
 * (reachable) or when every probe failed or timed out (bounded by timeoutMs on the
 * injected clock, whatever the probe does). One round at a time.
 */
export class WitnessMonitor {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly probe: WitnessProbe;
  private readonly targets: Target[];
  private readonly onRound: (round: WitnessRound) => void;
  private inflight: { startedAt: number; done: Promise<WitnessRound> } | undefined;
  /** A round must start at or after this time once the in-flight one ends (ensureRound). */
  private pendingAfter: number | undefined;
  private last: WitnessRound | undefined;
  private timer: TimerHandle | undefined;
  private running = false;

  constructor(opts: WitnessOptions & { clock: Clock; onRound: (round: WitnessRound) => void }) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 500;
    this.clock = opts.clock;
    this.probe = opts.probe;
    this.onRound = opts.onRound;
    this.targets = [...new Set(opts.addresses)].map((address) => ({ address, reachable: null, lastOkAt: null, rttMs: null, lastError: null }));
  }

  get configured(): boolean {
    return this.targets.length > 0;
  }

  /** The newest decided round. */
  get lastRound(): WitnessRound | undefined {
    return this.last;
  }

  /** Starts the background rounds (the first at once). */
  start(): void {
    if (this.running || !this.configured) return;
    this.running = true;
    this.ensureRound(this.clock.now());
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Makes sure a round that starts at or after `after` runs (now, or right after the one in flight). */
  ensureRound(after: number): void {
    if (!this.running) return;
    const cur = this.inflight;
    if (cur) {
      if (cur.startedAt < after) this.pendingAfter = Math.max(this.pendingAfter ?? after, after);
      return;
    }
    this.runRound();
  }

  status(now: number, isolated: boolean): WitnessStatus {
    const l = this.last;
    return {
      reachable: l ? l.reachable : null,
      reachableForMs: l && l.reachableSince !== null ? now - l.reachableSince : null,
      lastCheckMs: l ? now - l.finishedAt : null,
      isolated,
      intervalMs: this.intervalMs,
      timeoutMs: this.timeoutMs,
      targets: this.targets.map((t) => ({
        address: t.address,
        reachable: t.reachable,
        lastOkMs: t.lastOkAt === null ? null : now - t.lastOkAt,
        rttMs: t.rttMs,
        lastError: t.lastError,
      })),
    };
  }

  private runRound(): void {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    const startedAt = this.clock.now();
    let decide!: (reachable: boolean) => void;
    const decided = new Promise<boolean>((resolve) => (decide = resolve));
    let left = this.targets.length;
    let settled = false;
    const finish = (reachable: boolean) => {
      if (settled) return;
      settled = true;
      this.clock.clearTimeout(bound);
      decide(reachable);
    };
    // Whatever the probe does, the round is decided within timeoutMs on our clock.
    const bound = this.clock.setTimeout(() => {
      for (const t of this.targets) if (t.reachable === null) t.reachable = false;
      finish(false);
    }, this.timeoutMs);
    for (const t of this.targets) {
      const sent = this.clock.now();
      let p: Promise<{ ok: boolean; rttMs?: number }>;
      try {
        p = this.probe(t.address, this.timeoutMs);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (r) => {
          if (r.ok) {
            t.reachable = true;
            t.lastOkAt = this.clock.now();
            t.rttMs = r.rttMs ?? this.clock.now() - sent;
            t.lastError = null;
            finish(true);
          } else {
            t.reachable = false;
            t.lastError = 'no answer';
          }
        },
        (err: unknown) => {
          t.reachable = false;
          t.lastError = err instanceof Error ? err.message : String(err);
        },
      ).finally(() => {
        if (--left === 0) finish(false);
      });
    }
    const done = decided.then((reachable) => {
      const finishedAt = this.clock.now();
      const prev = this.last;
      const round: WitnessRound = {
        startedAt,
        finishedAt,
        reachable,
        reachableSince: reachable ? (prev?.reachable && prev.reachableSince !== null ? prev.reachableSince : finishedAt) : null,
      };
      this.last = round;
      this.inflight = undefined;
      if (this.running) {
        const pending = this.pendingAfter;
        this.pendingAfter = undefined;
        if (pending !== undefined) this.runRound();
        else this.timer = this.clock.setTimeout(() => {
          this.timer = undefined;
          if (this.running && !this.inflight) this.runRound();
        }, this.intervalMs);
      }
      this.onRound(round);
      return round;
    });
    this.inflight = { startedAt, done };
  }
}
