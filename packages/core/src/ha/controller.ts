/**
 * HaController — the pair's brain on one node: elects exactly one active, detects the
 * peer's death over every heartbeat path, fences a stale active with epochs, and drives
 * the (injected) actions that actually claim or release the VIP, Redis and SIP.
 *
 * Rules (issue 5):
 *  - start passive (Starting), wait to hear the peer: peer active → Passive; both
 *    passive → preferred node, then lower nodeId, takes over with epoch+1; nothing heard
 *    within startupWaitMs → take over.
 *  - peer dead = every path silent for intervalMs × missCount → take over (epoch+1,
 *    persisted BEFORE acting). Only some paths down → alarm (sync path: not ready), no
 *    takeover.
 *  - own SIP interface down while the peer is alive, ready and SIP-up → step down and
 *    hand over (the stepping-down node "yields" so the peer wins the next election).
 *  - a heartbeat with a higher epoch while claiming → becomePassive first, then adopt
 *    and persist the epoch (Fenced → Passive). Equal epochs, both active → lower nodeId
 *    keeps it, alarm on both.
 *  - becomeActive/becomePassive never overlap (one action queue); a failed becomeActive
 *    rolls back to passive with an alarm.
 *  - witness (split brain): with `witness` addresses configured, a node that hears its
 *    peer on no path decides with a fresh witness round (decidePeerLoss): a passive (or a
 *    starting node after its wait) takes over only when a witness answers, else it stays
 *    passive with HA_ISOLATED; an active that reaches no witness steps down with
 *    HA_ISOLATED. A peer that said goodbye (Closed) needs no witness.
 *  - SIP traffic loss (sipTraffic, off unless given): an active whose inbound SIP stopped
 *    (decideSipTraffic: a whole window without a request after a window with at least
 *    minRequests) raises HA_SIP_TRAFFIC_LOST and, only when the peer is passive, ready and
 *    SIP-up, the pair is ready and (if configured) a witness answers, switches over
 *    gracefully (the operator's switchover path). The rule runs on the active only and its
 *    history starts when the node becomes active, so the new active arms only once it has
 *    seen traffic itself (no ping-pong).
 */
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { HaEmitter, silentLogger, type HaLogger } from './emitter.js';
import type { EpochStore } from './epoch-store.js';
import { HaError, type HaAlarmCode } from './errors.js';
import {
  decodeHeartbeat,
  encodeHeartbeat,
  type HeartbeatMessage,
  type HeartbeatSecret,
  type HeartbeatTransport,
  type PathNetwork,
} from './heartbeat.js';
import { PathLiveness, PathState } from './path-liveness.js';
import { CLAIMING_ROLES, Role, RoleMachine } from './role-machine.js';
import { SipTrafficMonitor, type SipTrafficDecision, type SipTrafficStatus } from './sip-traffic.js';
import { decidePeerLoss, WitnessMonitor, type PeerLossDecision, type WitnessOptions, type WitnessRound, type WitnessStatus } from './witness.js';

export interface HaActions {
  /** Promote the local Redis, claim and announce the VIP, make the engine answer on it, rebuild live calls. */
  becomeActive(epoch: number): Promise<void>;
  /** Release the VIP, stop sending SIP, follow the peer (Redis replica, resync). */
  becomePassive(epoch: number): Promise<void>;
  /** Switchover (issue 6): stop new work, flush sync, wait until the passive has everything. */
  drain?(epoch: number): Promise<void>;
}

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

export interface HaControllerOptions {
  nodeId: string;
  peerId: string;
  /** Configured preference for the active role at start-up. Default false. */
  preferred?: boolean;
  clock?: Clock;
  transport: HeartbeatTransport;
  /** Shared pair secret for the heartbeat HMAC. */
  secret: HeartbeatSecret;
  epochStore: EpochStore;
  actions: HaActions;
  /** Sync readiness of this node (its mirror is complete and current). Default: ready. */
  readiness?: () => Readiness;
  /** Own SIP interface up (link and address present). Default: up. */
  sipInterfaceUp?: () => boolean;
  /** Wait for a peer before becoming active alone. Default 2000 ms. */
  startupWaitMs?: number;
  /** Heartbeat interval. Default 100 ms. */
  intervalMs?: number;
  /** Missed heartbeats before a path counts as down. Default 3. */
  missCount?: number;
  /**
   * A path deadline that fires this much later than due means this node's own event loop
   * was stalled: that silence is not counted against the peer (see PathLiveness).
   * Default: intervalMs.
   */
  stallToleranceMs?: number;
  /** Pause before retrying a failed becomePassive or takeover. Default 1000 ms. */
  retryMs?: number;
  /** How long a switchover waits for the peer to become active. Default 5000 ms. */
  switchoverTimeoutMs?: number;
  /** Witness reachability check (split brain); absent or no addresses: off. */
  witness?: WitnessOptions;
  /** SIP traffic loss rule (see sip-traffic.ts); absent: off. */
  sipTraffic?: SipTrafficOptions;
  logger?: HaLogger;
}

export interface SipTrafficOptions {
  windowMs: number;
  minRequests: number;
  /** Sampling period; default windowMs / 10. */
  stepMs?: number;
  /** The engine's cumulative count of inbound SIP requests; undefined: unknown this step. */
  sample: () => Promise<number | undefined> | number | undefined;
}

export interface HaAlarm {
  code: HaAlarmCode;
  text: string;
  /** Clock time when raised. */
  since: number;
  /** e.g. the path name for path alarms. */
  subject?: string;
}

export interface HaPathStatus {
  name: string;
  network: PathNetwork;
  up: boolean;
  state: PathState;
  lastSeenMs: number | null;
}

export interface HaStatus {
  nodeId: string;
  role: Role;
  epoch: number;
  preferred: boolean;
  yielding: boolean;
  sipUp: boolean;
  peer: {
    id: string;
    alive: boolean;
    role: Role | null;
    epoch: number | null;
    ready: boolean | null;
    sipUp: boolean | null;
    lastSeenMs: number | null;
  };
  paths: HaPathStatus[];
  /** This node's sync readiness (sync readiness and every sync path up). */
  ready: boolean;
  readyReasons: string[];
  /** The pair can switch over safely: peer alive, every path up, the passive side ready. */
  pairReady: boolean;
  pairReasons: string[];
  switchoverInProgress: boolean;
  alarms: HaAlarm[];
  counters: { sent: number; received: number; dropped: number; stallsExcused: number };
  /** Witness reachability; null when no witness is configured. */
  witness: WitnessStatus | null;
  /** SIP traffic loss rule; null when off. */
  sipTraffic: SipTrafficStatus | null;
}

export interface SwitchoverResult {
  /** The epoch of the new active. */
  epoch: number;
  peerId: string;
  /** From the request to the peer reporting active. */
  ms: number;
}

export type HaControllerEvents = {
  role: (role: Role, epoch: number, reason: string) => void;
  peerLost: (reason: string) => void;
  peerBack: () => void;
  pathDown: (path: string) => void;
  pathUp: (path: string) => void;
  /** A path deadline fired `lateMs` late (own loop stalled): the silence was not counted. */
  stallExcused: (path: string, lateMs: number) => void;
  alarm: (code: HaAlarmCode, text: string) => void;
  alarmCleared: (code: HaAlarmCode) => void;
  takeoverStarted: (reason: string) => void;
  /**
   * `ms` from the takeover decision to becomeActive resolved; `sincePeerHeardMs` from the
   * last heartbeat heard from the peer (detection included), null if never heard.
   */
  takeoverFinished: (ms: number, sincePeerHeardMs: number | null) => void;
  /** A witness round was decided. */
  witnessRound: (round: WitnessRound) => void;
  /** Peer lost on every path and no witness answers (`stepDown`: this node was active and steps down). */
  isolated: (reason: string, stepDown: boolean) => void;
  /** The active saw no inbound SIP for a whole window after traffic (`switchover`: it hands over now). */
  sipTrafficLost: (reason: string, switchover: boolean) => void;
};

interface PeerView {
  msg: HeartbeatMessage;
  receivedAt: number;
}

interface PeerActiveWaiter {
  minEpoch: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: TimerHandle;
}

export class HaController extends HaEmitter<HaControllerEvents> {
  readonly nodeId: string;
  readonly peerId: string;
  readonly preferred: boolean;
  private readonly clock: Clock;
  private readonly transport: HeartbeatTransport;
  private readonly secret: HeartbeatSecret;
  private readonly store: EpochStore;
  private readonly actions: HaActions;
  private readonly readinessFn: () => Readiness;
  private readonly sipUpFn: () => boolean;
  private readonly startupWaitMs: number;
  private readonly intervalMs: number;
  private readonly retryMs: number;
  private readonly switchoverTimeoutMs: number;
  private readonly logger: HaLogger;
  private readonly incarnation = randomBytes(6).toString('hex');
  private readonly roles: RoleMachine;
  private readonly paths = new Map<string, PathLiveness>();

  #epoch = 0;
  private savedEpoch = 0;
  private persistChain: Promise<void> = Promise.resolve();
  private yielding = false;
  private seq = 0;
  private sipUp = true;
  /** A takeover was refused because the own SIP interface is down (logged once per episode). */
  private takeoverRefusedSipDown = false;
  private peer: PeerView | undefined;
  private peerAliveFlag = false;
  /** A peer heartbeat arrived since our last role change (elections need a fresh view). */
  private peerFresh = false;
  /** Last (incarnation, seq) accepted per path: replays and reordering are dropped. */
  private readonly lastSeq = new Map<string, { inc: string; seq: number }>();
  /** The peer's announced departure (role Closed). */
  private peerLeft: { inc: string; seq: number } | undefined;
  private readonly alarms = new Map<string, HaAlarm>();
  private readonly counters = { sent: 0, received: 0, dropped: 0, stallsExcused: 0 };
  private lastReactiveSend = -Infinity;
  private holdUntil = 0;
  private holdTimer: TimerHandle | undefined;
  private takeoverStartedAt = 0;
  private readonly witness: WitnessMonitor | undefined;
  /** Peer-loss decisions use only witness rounds that started at or after this time. */
  private witnessNeededFrom = 0;
  private witnessConfirmTimer: TimerHandle | undefined;
  private isolated = false;
  private startupExpired = false;
  private readonly peerTimeoutMs: number;

  private readonly queue: Array<() => Promise<void>> = [];
  private busy = false;
  private idleWaiters: Array<() => void> = [];

  private tickTimer: TimerHandle | undefined;
  private startupTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private startPromise: Promise<void> | undefined;
  private started = false;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private switchoverRunning = false;
  private peerActiveWaiter: PeerActiveWaiter | undefined;
  private readonly sipTraffic: SipTrafficMonitor | undefined;
  private sipTrafficSwitchovers = 0;
  /** Why the last lost decision did not switch over (logged when it changes). */
  private sipTrafficBlocked: string | undefined;
  /** After a failed switchover for traffic loss, the next attempt waits one window. */
  private sipTrafficRetryAt = 0;
  /**
   * How a switchover caused by SIP traffic loss runs; HaNode points it at the operator's
   * switchover path (NodeOps: settle, flush, hold). Default: requestSwitchover.
   */
  sipTrafficSwitchover: ((reason: string) => Promise<unknown>) | undefined;

  constructor(opts: HaControllerOptions) {
    super();
    if (!opts.nodeId || !opts.peerId || opts.nodeId === opts.peerId) {
      throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: 'nodeId and peerId must be set and differ' });
    }
    if (opts.transport.paths.length === 0) throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: 'at least one heartbeat path is required' });
    this.nodeId = opts.nodeId;
    this.peerId = opts.peerId;
    this.preferred = opts.preferred ?? false;
    this.clock = opts.clock ?? systemClock;
    this.transport = opts.transport;
    this.secret = opts.secret;
    this.store = opts.epochStore;
    this.actions = opts.actions;
    this.readinessFn = opts.readiness ?? (() => ({ ready: true, reasons: [] }));
    this.sipUpFn = opts.sipInterfaceUp ?? (() => true);
    this.startupWaitMs = opts.startupWaitMs ?? 2000;
    this.intervalMs = opts.intervalMs ?? 100;
    const missCount = opts.missCount ?? 3;
    this.retryMs = opts.retryMs ?? 1000;
    this.switchoverTimeoutMs = opts.switchoverTimeoutMs ?? 5000;
    this.logger = opts.logger ?? silentLogger;
    if (!(this.intervalMs > 0) || !(missCount >= 1) || !(this.startupWaitMs >= 0)) {
      throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: 'intervalMs > 0, missCount >= 1 and startupWaitMs >= 0 are required' });
    }
    this.onListenerError = (err, event) => this.logger.error({ event, err: String(err) }, 'HA event listener threw');
    this.roles = new RoleMachine();
    this.peerTimeoutMs = this.intervalMs * missCount;
    if (opts.witness && opts.witness.addresses.length > 0) {
      const w = opts.witness;
      if (!((w.timeoutMs ?? 500) > 0) || !((w.intervalMs ?? 1000) > 0)) {
        throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: 'witness intervalMs and timeoutMs must be > 0' });
      }
      this.witness = new WitnessMonitor({ ...w, clock: this.clock, onRound: (r) => this.onWitnessRound(r) });
    }
    if (opts.sipTraffic) {
      const t = opts.sipTraffic;
      try {
        this.sipTraffic = new SipTrafficMonitor({ ...t, clock: this.clock, onDecision: (d) => this.onSipTraffic(d) });
      } catch (err) {
        throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: (err as Error).message });
      }
    }
    for (const p of opts.transport.paths) {
      if (this.paths.has(p.name)) throw new HaError({ code: 'ERR_HA_BAD_OPTIONS', message: `duplicate path name ${p.name}` });
      this.paths.set(
        p.name,
        new PathLiveness({
          name: p.name,
          network: p.network,
          clock: this.clock,
          timeoutMs: this.intervalMs * missCount,
          stallToleranceMs: opts.stallToleranceMs ?? this.intervalMs,
          onChange: (path, from, reason) => this.onPathChange(path, from, reason),
          onStall: (path, lateMs) => {
            this.counters.stallsExcused++;
            this.logger.warn({ path: path.name, lateMs: Math.round(lateMs) }, 'heartbeat deadline fired late: own event loop stalled, silence not counted against the peer');
            this.emit('stallExcused', path.name, lateMs);
          },
        }),
      );
    }
  }

  get role(): Role {
    return this.cur();
  }

  /** The current role (a call, so TypeScript does not narrow it across awaits). */
  private cur(): Role {
    return this.roles.state;
  }

  get epoch(): number {
    return this.#epoch;
  }

  // ------------------------------------------------------------------ lifecycle

  start(): Promise<void> {
    this.startPromise ??= (async () => {
      if (this.closing) throw new HaError({ code: 'ERR_HA_CLOSED', message: 'controller is closed' });
      let epoch: number;
      try {
        epoch = await this.store.load();
      } catch (err) {
        throw new HaError({ code: 'ERR_HA_EPOCH_STORE', message: `cannot load epoch: ${(err as Error).message}`, cause: err });
      }
      this.#epoch = epoch;
      this.savedEpoch = epoch;
      await this.transport.start((path, data, from) => this.onPacket(path, data, from));
      if (this.closing) return;
      this.started = true;
      this.sipUp = this.readSipUp();
      if (!this.sipUp) this.raise('HA_SIP_INTERFACE_DOWN', 'own SIP interface is down');
      this.logger.info({ nodeId: this.nodeId, epoch, preferred: this.preferred }, 'HA controller started');
      // "A node with no reachable peer becomes active only after a configurable wait."
      this.startupTimer = this.clock.setTimeout(() => this.onStartupWait(), this.startupWaitMs);
      this.witness?.start();
      this.sendHeartbeat();
      this.scheduleTick();
    })();
    return this.startPromise;
  }

  /** Drains: waits for running actions, steps down if claiming, tells the peer it leaves. */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.closing = true;
    this.closePromise = (async () => {
      this.clearTimer('startupTimer');
      this.clearTimer('retryTimer');
      this.rejectPeerWaiter(new HaError({ code: 'ERR_HA_CLOSED', message: 'controller closed' }));
      if (this.startPromise) await this.startPromise.catch(() => undefined);
      await this.idle();
      const r = this.cur();
      if (r === Role.Active || r === Role.Draining) {
        this.setRole(Role.SteppingDown, 'closing');
        this.enqueue(() => this.doBecomePassive('closing'));
        await this.idle();
      }
      if (this.cur() !== Role.Closed) this.setRole(Role.Closed, 'closed');
      // The final heartbeat says Closed: the peer need not wait for the misses.
      if (this.started) this.sendHeartbeat();
      this.stopTimers();
      await this.transport.close();
    })();
    return this.closePromise;
  }

  /** Aborts: stops heartbeats and timers at once; runs no action. Idempotent. */
  destroy(err?: Error): void {
    if (this.cur() === Role.Closed && this.closing) return;
    this.closing = true;
    this.closePromise ??= Promise.resolve();
    this.stopTimers();
    this.rejectPeerWaiter(err ?? new HaError({ code: 'ERR_HA_CLOSED', message: 'controller destroyed' }));
    void this.transport.close().catch(() => undefined);
    if (err) this.logger.error({ err: err.message }, 'HA controller destroyed');
    if (this.cur() !== Role.Closed) this.setRole(Role.Closed, err ? `destroyed: ${err.message}` : 'destroyed');
  }

  // ------------------------------------------------------------------ status

  status(): HaStatus {
    const now = this.clock.now();
    const local = this.localReadiness();
    const pair = this.pairReadiness(local);
    const p = this.peer?.msg;
    return {
      nodeId: this.nodeId,
      role: this.cur(),
      epoch: this.#epoch,
      preferred: this.preferred,
      yielding: this.yielding,
      sipUp: this.sipUp,
      peer: {
        id: this.peerId,
        alive: this.peerAlive(),
        role: p?.role ?? null,
        epoch: p?.epoch ?? null,
        ready: p?.ready ?? null,
        sipUp: p?.sipUp ?? null,
        lastSeenMs: this.peer ? now - this.peer.receivedAt : null,
      },
      paths: [...this.paths.values()].map((x) => ({
        name: x.name,
        network: x.network,
        up: x.up,
        state: x.state,
        lastSeenMs: x.lastHeardAt === undefined ? null : now - x.lastHeardAt,
      })),
      ready: local.ready,
      readyReasons: local.reasons,
      pairReady: pair.ready,
      pairReasons: pair.reasons,
      switchoverInProgress: this.switchoverRunning,
      alarms: [...this.alarms.values()].map((a) => ({ ...a })),
      counters: { ...this.counters },
      witness: this.witness ? this.witness.status(now, this.isolated) : null,
      sipTraffic: this.sipTraffic
        ? {
            enabled: true,
            state: this.sipTraffic.last?.state ?? (this.cur() === Role.Active ? 'learning' : null),
            windowMs: this.sipTraffic.windowMs,
            minRequests: this.sipTraffic.minRequests,
            lastWindow: this.sipTraffic.last?.lastWindow ?? null,
            prevWindow: this.sipTraffic.last?.prevWindow ?? null,
            switchovers: this.sipTrafficSwitchovers,
          }
        : null,
    };
  }

  // ------------------------------------------------------------------ switchover (issue 6)

  /**
   * Graceful handover from this (active) node to the peer: Draining (actions.drain:
   * stop new work, flush sync, wait for the passive) → SteppingDown → Passive, yielding,
   * then waits until the peer reports active with a higher epoch.
   * Refused when not active, when one is running, when the peer is unreachable, and
   * when the pair is not ready unless `force`.
   */
  async requestSwitchover(opts: { force?: boolean; timeoutMs?: number; reason?: string } = {}): Promise<SwitchoverResult> {
    if (this.closing) throw new HaError({ code: 'ERR_HA_CLOSED', message: 'controller is closed' });
    if (this.switchoverRunning) throw new HaError({ code: 'ERR_HA_SWITCHOVER_IN_PROGRESS', message: 'a switchover is already running' });
    if (this.cur() !== Role.Active) {
      throw new HaError({ code: 'ERR_HA_NOT_ACTIVE', message: `this node is ${this.cur()}; ask the active node` });
    }
    if (!this.peerAlive()) throw new HaError({ code: 'ERR_HA_PEER_UNREACHABLE', message: `peer ${this.peerId} is not reachable` });
    const pair = this.pairReadiness(this.localReadiness());
    if (!pair.ready && !opts.force) {
      throw new HaError({ code: 'ERR_HA_PAIR_NOT_READY', message: `pair not ready: ${pair.reasons.join('; ')}` });
    }
    this.switchoverRunning = true;
    const t0 = this.clock.now();
    const oldEpoch = this.#epoch;
    try {
      const why = opts.reason ?? 'operator switchover';
      this.setRole(Role.Draining, opts.force && !pair.ready ? `${why} (forced)` : why);
      if (this.actions.drain) {
        try {
          await this.actions.drain(oldEpoch);
        } catch (err) {
          if (this.cur() === Role.Draining) this.setRole(Role.Active, 'switchover drain failed');
          this.raise('HA_SWITCHOVER_FAILED', `switchover drain failed: ${(err as Error).message}`);
          throw new HaError({ code: 'ERR_HA_SWITCHOVER_ABORTED', message: `drain failed: ${(err as Error).message}`, cause: err });
        }
      }
      if (this.cur() !== Role.Draining) {
        throw new HaError({ code: 'ERR_HA_SWITCHOVER_ABORTED', message: `switchover aborted: node became ${this.cur()}` });
      }
      if (!this.peerAlive()) {
        this.setRole(Role.Active, 'switchover aborted: peer unreachable after drain');
        throw new HaError({ code: 'ERR_HA_PEER_UNREACHABLE', message: `peer ${this.peerId} became unreachable during the drain` });
      }
      this.yielding = true;
      const waitPeer = this.waitForPeerActive(oldEpoch, opts.timeoutMs ?? this.switchoverTimeoutMs);
      this.setRole(Role.SteppingDown, `${why}: handing over`);
      this.enqueue(() => this.doBecomePassive(why));
      try {
        await waitPeer;
      } catch (err) {
        // Nobody took over: stop yielding so the election can pick this node again.
        this.yielding = false;
        this.raise('HA_SWITCHOVER_FAILED', (err as Error).message);
        this.evaluate();
        throw err;
      }
      this.clear('HA_SWITCHOVER_FAILED');
      return { epoch: this.peer?.msg.epoch ?? this.#epoch, peerId: this.peerId, ms: this.clock.now() - t0 };
    } finally {
      this.switchoverRunning = false;
    }
  }

  // ------------------------------------------------------------------ heartbeats in

  private onPacket(path: string, data: Buffer, from: string): void {
    if (!this.started || this.cur() === Role.Closed) return;
    const liveness = this.paths.get(path);
    if (!liveness) return;
    let msg: HeartbeatMessage;
    try {
      msg = decodeHeartbeat(data, this.secret);
    } catch (err) {
      this.counters.dropped++;
      this.logger.warn({ path, from, code: (err as HaError).code }, 'heartbeat dropped');
      return;
    }
    if (msg.nodeId !== this.peerId) {
      this.counters.dropped++;
      this.logger.warn({ path, from, nodeId: msg.nodeId }, 'heartbeat from a node that is not our peer dropped');
      return;
    }
    const last = this.lastSeq.get(path);
    if (last && last.inc === msg.incarnation && msg.seq <= last.seq) {
      this.counters.dropped++;
      this.logger.debug({ path, seq: msg.seq, last: last.seq }, 'replayed or reordered heartbeat dropped');
      return;
    }
    if (this.peerLeft && this.peerLeft.inc === msg.incarnation && msg.seq < this.peerLeft.seq) {
      this.counters.dropped++;
      return;
    }
    this.lastSeq.set(path, { inc: msg.incarnation, seq: msg.seq });
    this.counters.received++;

    // Fencing comes first, before any other reaction to the message.
    if (msg.epoch > this.#epoch) this.onHigherEpoch(msg.epoch);

    this.peer = { msg, receivedAt: this.clock.now() };
    this.peerFresh = true;
    if (msg.role === Role.Closed) {
      this.peerLeft = { inc: msg.incarnation, seq: msg.seq };
      for (const p of this.paths.values()) p.forceDown('peer closed');
      this.evaluate();
      return;
    }
    if (this.peerLeft && this.peerLeft.inc !== msg.incarnation) this.peerLeft = undefined;
    const peerClaims = CLAIMING_ROLES.has(msg.role);
    if (peerClaims) this.yielding = false;
    if (this.preferred && msg.preferred) this.raise('HA_BOTH_PREFERRED', `both ${this.nodeId} and ${this.peerId} are configured preferred; lower node id wins`);
    else this.clear('HA_BOTH_PREFERRED');
    const iClaim = CLAIMING_ROLES.has(this.cur());
    if (peerClaims && iClaim && msg.epoch < this.#epoch) {
      this.raise('HA_STALE_ACTIVE_PEER', `peer ${this.peerId} claims ${msg.role} at stale epoch ${msg.epoch} < ${this.#epoch}`);
      this.sendReactive();
    } else {
      this.clear('HA_STALE_ACTIVE_PEER');
    }
    if (!(peerClaims && iClaim && msg.epoch === this.#epoch && msg.role !== Role.TakingOver)) this.clear('HA_DUAL_ACTIVE');
    const w = this.peerActiveWaiter;
    if (w && msg.role === Role.Active && msg.epoch > w.minEpoch) {
      this.peerActiveWaiter = undefined;
      this.clock.clearTimeout(w.timer);
      w.resolve();
    }
    liveness.heard();
    this.evaluate();
  }

  /** "a node that sees a higher epoch than its own stops being active at once" */
  private onHigherEpoch(epoch: number): void {
    const from = this.cur();
    if (from === Role.Active || from === Role.Draining || from === Role.TakingOver || from === Role.SteppingDown) {
      this.roles.transition(Role.Fenced, `peer ${this.peerId} has epoch ${epoch} > ${this.#epoch}`);
      this.#epoch = epoch;
      // Release first: nothing else happens before becomePassive is under way (the queue
      // is idle while Active, so it starts synchronously). A TakingOver or SteppingDown
      // node already has an action running; it finishes the release when that returns.
      if (from === Role.Active || from === Role.Draining) this.enqueue(() => this.doBecomePassive('fenced by higher epoch'));
      this.yielding = false;
      this.emit('role', Role.Fenced, epoch, `peer ${this.peerId} has a higher epoch`);
      this.raise('HA_FENCED', `fenced: peer ${this.peerId} is at epoch ${epoch}`);
      this.rejectPeerWaiter(new HaError({ code: 'ERR_HA_SWITCHOVER_ABORTED', message: 'fenced by a higher epoch' }));
      this.sendHeartbeat();
    } else {
      this.#epoch = epoch;
    }
    this.persistEpoch(epoch).catch((err: Error) => this.raise('HA_EPOCH_PERSIST_FAILED', `cannot persist adopted epoch ${epoch}: ${err.message}`));
  }

  private onPathChange(p: PathLiveness, from: PathState, reason: string): void {
    const code: HaAlarmCode = p.network === 'sync' ? 'HA_SYNC_PATH_DOWN' : 'HA_SIP_PATH_DOWN';
    if (p.up) {
      this.logger.info({ path: p.name, from }, 'heartbeat path up');
      this.emit('pathUp', p.name);
      this.clear(code, p.name);
    } else {
      this.logger.warn({ path: p.name, reason }, 'heartbeat path down');
      this.emit('pathDown', p.name);
      // "A lost sync path alone raises an alarm, marks the pair "not ready", and never
      // triggers a takeover."
      this.raise(code, `heartbeat path ${p.name} (${p.network} network) down: ${reason}`, p.name);
    }
    const alive = this.peerAlive();
    if (alive !== this.peerAliveFlag) {
      this.peerAliveFlag = alive;
      if (alive) {
        this.logger.info({ peer: this.peerId }, 'peer back');
        this.clear('HA_PEER_LOST');
        this.clearTimer('witnessConfirmTimer');
        this.setIsolated(false);
        this.emit('peerBack');
        // Tell a peer that was cut off our role and epoch at once, not at the next tick.
        this.sendReactive();
      } else {
        const why = reason === 'peer closed' ? 'peer closed' : 'every heartbeat path silent';
        // Decisions about this loss use only witness rounds that start from now on.
        this.witnessNeededFrom = this.clock.now();
        this.clearTimer('witnessConfirmTimer');
        this.logger.warn({ peer: this.peerId, why }, 'peer lost');
        this.raise('HA_PEER_LOST', `peer ${this.peerId} lost: ${why}`);
        this.emit('peerLost', why);
      }
    }
    this.evaluate();
  }

  // ------------------------------------------------------------------ decisions

  private evaluate(): void {
    if (!this.started || this.closing) return;
    const r = this.cur();
    const alive = this.peerAlive();
    const peer = this.peer?.msg;
    switch (r) {
      case Role.Starting: {
        if (!alive && this.startupExpired && this.witness) {
          // The start-up wait ran out with no peer: a node that boots cut off must not claim.
          this.onPeerLost('nothing', `no peer heard within ${this.startupWaitMs} ms`);
          return;
        }
        if (!alive && this.startupExpired && this.takeoverRefusedSipDown) {
          // The wait ran out while the SIP link was down; it is back now.
          this.startTakeover(`no peer heard within ${this.startupWaitMs} ms`);
          return;
        }
        if (!alive || !peer) return; // the start-up wait decides
        if (CLAIMING_ROLES.has(peer.role)) {
          this.setRole(Role.Passive, `peer ${this.peerId} is ${peer.role}`);
          return;
        }
        if (peer.role === Role.Starting || peer.role === Role.Passive) {
          // "exactly one becomes active (configured preference, then a deterministic tie-break)"
          if (this.winsElection(peer)) this.startTakeover(`elected: ${this.electionReason(peer)}`);
          else this.setRole(Role.Passive, `peer ${this.peerId} elected`);
        }
        return;
      }
      case Role.Passive: {
        if (this.clock.now() < this.holdUntil) return;
        if (!alive) {
          // "The peer counts as dead only when every path is silent."
          const closed = this.peer?.msg.role === Role.Closed;
          if (closed || !this.witness) this.startTakeover(closed ? 'peer closed' : 'peer dead: every heartbeat path silent');
          else this.onPeerLost('nothing', 'peer dead: every heartbeat path silent');
          return;
        }
        // Elect only on a heartbeat sent after our own last role change, so a node never
        // flaps between roles faster than the pair can see each other.
        if (peer && this.peerFresh && (peer.role === Role.Starting || peer.role === Role.Passive) && this.winsElection(peer)) {
          this.startTakeover(peer.yielding ? `peer ${this.peerId} handed over` : `elected: ${this.electionReason(peer)}`);
        }
        return;
      }
      case Role.Active:
      case Role.Draining: {
        if (!alive && r === Role.Active && this.witness && this.peer?.msg.role !== Role.Closed) {
          this.onPeerLost('service', 'every heartbeat path silent');
          return;
        }
        if (!alive || !peer) return;
        // "A node whose own SIP interface is down (link or address gone) steps down if
        // the peer is healthy."
        if (r === Role.Active && !this.sipUp && peer.role === Role.Passive && peer.ready && peer.sipUp) {
          this.yielding = true;
          this.setRole(Role.SteppingDown, 'own SIP interface down and peer healthy: handing over');
          this.enqueue(() => this.doBecomePassive('own SIP interface down'));
          return;
        }
        // "Equal epochs and both claim active → lower nodeId keeps it, and an alarm."
        if ((peer.role === Role.Active || peer.role === Role.Draining) && peer.epoch === this.#epoch) {
          this.raise('HA_DUAL_ACTIVE', `both nodes active at epoch ${this.#epoch}`);
          if (this.nodeId > peer.nodeId) {
            this.setRole(Role.SteppingDown, `dual active at epoch ${this.#epoch}: lower node id ${peer.nodeId} keeps it`);
            this.enqueue(() => this.doBecomePassive('dual active'));
          }
        }
        return;
      }
      default:
        return;
    }
  }

  private winsElection(peer: HeartbeatMessage): boolean {
    // A node that cannot reach the SIP network cannot serve: it never wins over one that can.
    if (this.sipUp !== peer.sipUp) return this.sipUp;
    if (this.yielding !== peer.yielding) return !this.yielding;
    if (this.preferred !== peer.preferred) return this.preferred;
    return this.nodeId < peer.nodeId;
  }

  private electionReason(peer: HeartbeatMessage): string {
    if (this.sipUp !== peer.sipUp) return 'peer SIP interface down';
    if (this.yielding !== peer.yielding) return 'peer yields';
    if (this.preferred !== peer.preferred) return 'preferred node';
    return 'lower node id';
  }

  private onStartupWait(): void {
    this.startupTimer = undefined;
    this.startupExpired = true;
    if (this.closing || this.cur() !== Role.Starting) return;
    if (!this.peerAlive()) {
      if (!this.witness) {
        this.startTakeover(`no peer heard within ${this.startupWaitMs} ms`);
        return;
      }
      this.witnessNeededFrom = this.clock.now();
    }
    this.evaluate();
  }

  // ------------------------------------------------------------------ witness (split brain)

  /** The peer is silent on every path (or never heard): decide with the witnesses. */
  private onPeerLost(holding: 'nothing' | 'service', why: string): void {
    const w = this.witness!;
    const now = this.clock.now();
    const last = w.lastRound;
    const d: PeerLossDecision = decidePeerLoss({
      holding,
      witnessConfigured: true,
      round: last && last.startedAt >= this.witnessNeededFrom ? last : undefined,
      now,
      settleMs: this.peerTimeoutMs,
    });
    switch (d.kind) {
      case 'probe':
        // "checked at decision time": a round that started after the peer was lost.
        if (now >= this.witnessNeededFrom) w.ensureRound(this.witnessNeededFrom);
        return;
      case 'confirm':
        if (this.witnessConfirmTimer === undefined) {
          this.logger.info({ reachableForMs: now - (last?.reachableSince ?? now), confirmInMs: d.atMs - now }, 'witness answers again: confirming the peer stays silent before taking over');
          this.witnessNeededFrom = d.atMs;
          this.witnessConfirmTimer = this.clock.setTimeout(() => {
            this.witnessConfirmTimer = undefined;
            this.evaluate();
          }, Math.max(0, d.atMs - now));
        }
        return;
      case 'take-over':
        this.setIsolated(false);
        this.startTakeover(`${why}; ${d.reason}`);
        return;
      case 'stay-active':
        this.setIsolated(false);
        return;
      case 'isolated': {
        const stepDown = holding === 'service';
        this.setIsolated(true, `isolated: ${why} and ${d.reason}${stepDown ? '; stepping down' : this.cur() === Role.Starting ? '; staying passive (not claiming at start-up)' : '; staying passive (no takeover)'}`, stepDown);
        if (this.cur() === Role.Starting) {
          this.setRole(Role.Passive, `isolated at start-up: ${d.reason}`);
        } else if (stepDown && this.cur() === Role.Active) {
          this.setRole(Role.SteppingDown, `isolated: ${d.reason}`);
          this.enqueue(() => this.doBecomePassive('isolated: no witness answers'));
        }
        return;
      }
    }
  }

  private setIsolated(on: boolean, text?: string, stepDown = false): void {
    if (on === this.isolated) return;
    this.isolated = on;
    if (on) {
      this.raise('HA_ISOLATED', text ?? 'isolated');
      this.emit('isolated', text ?? 'isolated', stepDown);
    } else {
      this.clear('HA_ISOLATED');
      this.logger.info({}, 'no longer isolated');
    }
  }

  private onWitnessRound(round: WitnessRound): void {
    if (this.closing) return;
    this.emit('witnessRound', round);
    if (!round.reachable) this.raise('HA_WITNESS_UNREACHABLE', `no witness answered within ${this.witness!.timeoutMs} ms`);
    else this.clear('HA_WITNESS_UNREACHABLE');
    this.evaluate();
  }

  // ------------------------------------------------------------------ SIP traffic loss

  private onSipTraffic(d: SipTrafficDecision): void {
    if (this.closing || this.cur() !== Role.Active) return;
    if (d.state !== 'lost') {
      if (d.lastWindow !== null && d.lastWindow > 0) {
        this.sipTrafficBlocked = undefined;
        this.clear('HA_SIP_TRAFFIC_LOST');
      }
      return;
    }
    const why = `no inbound SIP request for ${this.sipTraffic!.windowMs} ms after ${d.prevWindow} in the window before`;
    if (d.fire) {
      this.sipTrafficBlocked = undefined;
      this.logger.warn({ windowMs: this.sipTraffic!.windowMs, prevWindow: d.prevWindow, lastWindow: d.lastWindow, minRequests: this.sipTraffic!.minRequests }, 'SIP traffic lost');
    }
    if (this.switchoverRunning || this.clock.now() < this.sipTrafficRetryAt) return;
    const blocked = this.sipTrafficSwitchoverBlockers();
    if (blocked.length > 0) {
      const text = blocked.join('; ');
      this.raise('HA_SIP_TRAFFIC_LOST', `SIP traffic lost: ${why}; no switchover: ${text}`);
      if (this.sipTrafficBlocked !== text) {
        this.sipTrafficBlocked = text;
        this.logger.warn({ blocked }, 'SIP traffic lost: not switching over (alarm only)');
        this.emit('sipTrafficLost', `${why}; no switchover: ${text}`, false);
      }
      return;
    }
    this.sipTrafficBlocked = undefined;
    const reason = `SIP traffic lost: ${why}`;
    this.clear('HA_SIP_TRAFFIC_LOST');
    this.raise('HA_SIP_TRAFFIC_LOST', `${reason}; switching over to ${this.peerId}`);
    this.sipTrafficSwitchovers++;
    this.emit('sipTrafficLost', reason, true);
    this.logger.warn({ peer: this.peerId }, 'SIP traffic lost: switching over to the peer');
    const run = this.sipTrafficSwitchover ?? ((r: string) => this.requestSwitchover({ reason: r }));
    void Promise.resolve()
      .then(() => run(reason))
      .catch((err: unknown) => {
        this.sipTrafficRetryAt = this.clock.now() + this.sipTraffic!.windowMs;
        this.logger.error({ err: (err as Error).message ?? String(err), code: (err as { code?: string }).code, retryInMs: this.sipTraffic!.windowMs }, 'SIP traffic lost: switchover failed');
      });
  }

  /** Why a switchover for SIP traffic loss must not run now (empty: it may). */
  private sipTrafficSwitchoverBlockers(): string[] {
    const out: string[] = [];
    const peer = this.peer?.msg;
    if (!this.peerAlive() || !peer) return [`peer ${this.peerId} not reachable`];
    if (peer.role !== Role.Passive) out.push(`peer is ${peer.role}`);
    if (!peer.ready) out.push('peer not ready');
    if (!peer.sipUp) out.push('peer SIP interface down');
    const pair = this.pairReadiness(this.localReadiness());
    for (const r of pair.reasons) if (!out.includes(r)) out.push(r);
    if (this.witness) {
      const round = this.witness.lastRound;
      if (!round || !round.reachable) out.push('no witness answers');
    }
    return out;
  }

  // ------------------------------------------------------------------ actions

  private startTakeover(reason: string): void {
    // A node whose own SIP interface is down cannot serve the calls it would take: it
    // must not claim (an active that lost its SIP link steps down and, once passive, would
    // otherwise take the role straight back when the peer then goes silent: two actives
    // at one epoch on heal). It stays in its role; checkSip() re-evaluates when the link
    // is back. Only a peer that is itself without SIP leaves nothing better to do.
    if (!this.sipUp && (!this.peerAlive() || this.peer?.msg.sipUp !== false)) {
      if (!this.takeoverRefusedSipDown) {
        this.takeoverRefusedSipDown = true;
        this.logger.warn({ reason, role: this.cur() }, 'not taking over: own SIP interface is down');
      }
      return;
    }
    this.takeoverRefusedSipDown = false;
    const newEpoch = Math.max(this.#epoch, this.savedEpoch, this.peer?.msg.epoch ?? 0) + 1;
    const peerDead = !this.peerAlive();
    const local = this.localReadiness();
    this.takeoverStartedAt = this.clock.now();
    this.setRole(Role.TakingOver, reason);
    this.emit('takeoverStarted', reason);
    if (peerDead && this.peer && !local.ready) {
      this.raise('HA_TAKEOVER_NOT_READY', `taking over while not ready: ${local.reasons.join('; ')}`);
    }
    this.enqueue(async () => {
      // "a takeover increments the epoch and persists it" — before acting.
      try {
        await this.persistEpoch(newEpoch);
      } catch (err) {
        this.raise('HA_EPOCH_PERSIST_FAILED', `cannot persist epoch ${newEpoch}: ${(err as Error).message}`);
        if (this.cur() === Role.TakingOver || this.cur() === Role.Fenced) {
          this.holdFor(this.retryMs);
          this.setRole(Role.Passive, 'takeover abandoned: epoch could not be persisted');
        }
        return;
      }
      this.clear('HA_EPOCH_PERSIST_FAILED');
      if (this.cur() === Role.Fenced) {
        this.setRole(Role.Passive, 'fenced before acting');
        this.evaluate();
        return;
      }
      if (this.cur() !== Role.TakingOver) return;
      this.#epoch = Math.max(this.#epoch, newEpoch);
      this.sendHeartbeat();
      try {
        await this.actions.becomeActive(newEpoch);
      } catch (err) {
        this.logger.error({ err: (err as Error).message, epoch: newEpoch }, 'becomeActive failed');
        this.raise('HA_TAKEOVER_FAILED', `takeover failed: ${(err as Error).message}`);
        if (this.cur() === Role.TakingOver) {
          // Failed takeover rolls back to passive and lets the peer (if any) win.
          this.yielding = true;
          this.holdFor(this.retryMs);
          this.setRole(Role.SteppingDown, 'takeover failed: rolling back');
        }
        if (this.cur() === Role.SteppingDown || this.cur() === Role.Fenced) await this.doBecomePassive('rollback after failed takeover');
        return;
      }
      if (this.cur() === Role.TakingOver) {
        this.clear('HA_TAKEOVER_FAILED');
        this.clear('HA_FENCED');
        this.setRole(Role.Active, reason);
        const now = this.clock.now();
        const lastHeard = Math.max(-Infinity, ...[...this.paths.values()].map((p) => p.lastHeardAt ?? -Infinity));
        this.emit('takeoverFinished', now - this.takeoverStartedAt, Number.isFinite(lastHeard) ? now - lastHeard : null);
        this.evaluate();
      } else if (this.cur() === Role.Fenced) {
        await this.doBecomePassive('fenced during takeover');
      }
    });
  }

  /** Runs inside the action queue. */
  private async doBecomePassive(reason: string): Promise<void> {
    try {
      await this.actions.becomePassive(this.#epoch);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'becomePassive failed');
      this.raise('HA_STEP_DOWN_FAILED', `step down failed: ${(err as Error).message}`);
      if (!this.closing) {
        this.clearTimer('retryTimer');
        this.retryTimer = this.clock.setTimeout(() => {
          this.retryTimer = undefined;
          const r = this.cur();
          if (!this.closing && (r === Role.SteppingDown || r === Role.Fenced)) this.enqueue(() => this.doBecomePassive(reason));
        }, this.retryMs);
      }
      return;
    }
    this.clear('HA_STEP_DOWN_FAILED');
    const r = this.cur();
    if (r === Role.SteppingDown || r === Role.Fenced) this.setRole(Role.Passive, reason);
    this.evaluate();
  }

  private enqueue(fn: () => Promise<void>): void {
    this.queue.push(fn);
    if (!this.busy) void this.runQueue();
  }

  /** Starts the first action synchronously, so a fencing release begins at once. */
  private async runQueue(): Promise<void> {
    this.busy = true;
    while (this.queue.length > 0) {
      const fn = this.queue.shift()!;
      try {
        await fn();
      } catch (err) {
        this.logger.error({ err: String(err) }, 'HA action failed unexpectedly');
      }
    }
    this.busy = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private persistEpoch(epoch: number): Promise<void> {
    const run = this.persistChain.then(async () => {
      if (epoch <= this.savedEpoch) return;
      await this.store.save(epoch);
      this.savedEpoch = epoch;
    });
    this.persistChain = run.catch(() => undefined);
    return run;
  }

  private holdFor(ms: number): void {
    this.holdUntil = this.clock.now() + ms;
    if (this.holdTimer !== undefined) this.clock.clearTimeout(this.holdTimer);
    this.holdTimer = this.clock.setTimeout(() => {
      this.holdTimer = undefined;
      this.evaluate();
    }, ms);
  }

  private waitForPeerActive(minEpoch: number, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        if (this.peerActiveWaiter?.timer !== timer) return;
        this.peerActiveWaiter = undefined;
        reject(new HaError({ code: 'ERR_HA_SWITCHOVER_TIMEOUT', message: `peer ${this.peerId} did not become active within ${timeoutMs} ms` }));
      }, timeoutMs);
      this.peerActiveWaiter = { minEpoch, resolve, reject, timer };
    });
  }

  private rejectPeerWaiter(err: Error): void {
    const w = this.peerActiveWaiter;
    if (!w) return;
    this.peerActiveWaiter = undefined;
    this.clock.clearTimeout(w.timer);
    w.reject(err);
  }

  // ------------------------------------------------------------------ heartbeats out

  private scheduleTick(): void {
    this.tickTimer = this.clock.setTimeout(() => {
      this.tickTimer = undefined;
      if (this.cur() === Role.Closed) return;
      this.checkSip();
      this.sendHeartbeat();
      this.evaluate();
      this.scheduleTick();
    }, this.intervalMs);
  }

  private checkSip(): void {
    const up = this.readSipUp();
    if (up === this.sipUp) return;
    this.sipUp = up;
    if (up) this.clear('HA_SIP_INTERFACE_DOWN');
    else this.raise('HA_SIP_INTERFACE_DOWN', 'own SIP interface is down');
    // A takeover refused while the link was down is decided again now.
    if (up && this.takeoverRefusedSipDown) this.evaluate();
  }

  private readSipUp(): boolean {
    try {
      return this.sipUpFn() === true;
    } catch (err) {
      this.logger.warn({ err: String(err) }, 'sipInterfaceUp() threw; treating the interface as down');
      return false;
    }
  }

  private sendHeartbeat(): void {
    if (!this.started) return;
    const msg: HeartbeatMessage = {
      nodeId: this.nodeId,
      incarnation: this.incarnation,
      role: this.cur(),
      epoch: this.#epoch,
      seq: ++this.seq,
      sentAt: this.clock.now(),
      ready: this.localReadiness().ready,
      sipUp: this.sipUp,
      preferred: this.preferred,
      yielding: this.yielding,
    };
    const data = encodeHeartbeat(msg, this.secret);
    for (const p of this.paths.values()) {
      try {
        this.transport.send(p.name, data);
        this.counters.sent++;
      } catch (err) {
        this.logger.debug({ path: p.name, err: String(err) }, 'heartbeat send failed');
      }
    }
  }

  /** An out-of-tick heartbeat, at most one per half interval. */
  private sendReactive(): void {
    const now = this.clock.now();
    if (now - this.lastReactiveSend < this.intervalMs / 2) return;
    this.lastReactiveSend = now;
    this.sendHeartbeat();
  }

  // ------------------------------------------------------------------ helpers

  private setRole(to: Role, reason: string): void {
    const change = this.roles.transition(to, reason);
    this.peerFresh = false;
    if (this.sipTraffic) {
      // The rule runs on the active only; a new active starts with no history (anti-flap).
      if (to === Role.Active && change.from !== Role.Draining) this.sipTraffic.start();
      else if (to !== Role.Active && to !== Role.Draining) this.sipTraffic.stop();
    }
    if (to === Role.Passive) {
      // Conditions that ended with this node holding nothing any more.
      this.clear('HA_TAKEOVER_NOT_READY');
      this.clear('HA_FENCED');
    }
    this.logger.info({ from: change.from, to, epoch: this.#epoch, reason }, 'HA role change');
    this.emit('role', to, this.#epoch, reason);
    if (to !== Role.Closed) this.sendHeartbeat();
  }

  private peerAlive(): boolean {
    for (const p of this.paths.values()) if (p.up) return true;
    return false;
  }

  private localReadiness(): Readiness {
    let r: Readiness;
    try {
      r = this.readinessFn();
    } catch (err) {
      r = { ready: false, reasons: [`readiness check failed: ${String(err)}`] };
    }
    const reasons = [...r.reasons];
    if (!r.ready && reasons.length === 0) reasons.push('sync not ready');
    for (const p of this.paths.values()) {
      if (p.network === 'sync' && !p.up) reasons.push(`sync path ${p.name} down`);
    }
    return { ready: reasons.length === 0, reasons };
  }

  private pairReadiness(local: Readiness): Readiness {
    const reasons: string[] = [];
    const peer = this.peer?.msg;
    if (!this.peerAlive() || !peer) reasons.push(`peer ${this.peerId} not reachable`);
    for (const p of this.paths.values()) if (!p.up && p.network !== 'sync') reasons.push(`path ${p.name} down`);
    if (CLAIMING_ROLES.has(this.cur())) {
      if (peer && this.peerAlive()) {
        if (peer.role !== Role.Passive) reasons.push(`peer is ${peer.role}`);
        if (!peer.ready) reasons.push('peer not ready');
        if (!peer.sipUp) reasons.push('peer SIP interface down');
      }
      for (const p of this.paths.values()) if (!p.up && p.network === 'sync') reasons.push(`sync path ${p.name} down`);
    } else {
      reasons.push(...local.reasons);
    }
    return { ready: reasons.length === 0, reasons };
  }

  private raise(code: HaAlarmCode, text: string, subject?: string): void {
    const key = subject === undefined ? code : `${code}:${subject}`;
    if (this.alarms.has(key)) return;
    const alarm: HaAlarm = { code, text, since: this.clock.now() };
    if (subject !== undefined) alarm.subject = subject;
    this.alarms.set(key, alarm);
    this.logger.warn({ code, subject }, text);
    this.emit('alarm', code, text);
  }

  private clear(code: HaAlarmCode, subject?: string): void {
    const key = subject === undefined ? code : `${code}:${subject}`;
    if (!this.alarms.delete(key)) return;
    this.emit('alarmCleared', code);
  }

  private clearTimer(name: 'tickTimer' | 'startupTimer' | 'retryTimer' | 'holdTimer' | 'witnessConfirmTimer'): void {
    const h = this[name];
    if (h !== undefined) this.clock.clearTimeout(h);
    this[name] = undefined;
  }

  private stopTimers(): void {
    this.clearTimer('tickTimer');
    this.clearTimer('startupTimer');
    this.clearTimer('retryTimer');
    this.clearTimer('holdTimer');
    this.clearTimer('witnessConfirmTimer');
    this.witness?.stop();
    this.sipTraffic?.stop();
    for (const p of this.paths.values()) p.stop();
  }
}
