/**
 * HaNode — the HA runtime of one node of the pair. It owns the HaController and
 * implements its HaActions with the injected pieces:
 *
 *  - `sync`  (SyncNode): primary while active, replica (mirror of the peer) otherwise;
 *  - `vip`   (VipController): the floating IP, or the SIP port in single-host mode;
 *  - `sip`   ({ bind, unbind }): makes the engine listen on the service address (the CLI
 *            implements it with the engine's addListen/removeListen, so the core never
 *            imports the engine); omitted when the VIP controller binds the port itself;
 *  - `callControl`: the B2BUA; its record sink is `HaNode.sink`, its epoch `HaNode.epoch`.
 *
 * becomeActive(epoch): promote sync, claim the VIP, bind SIP, adopt the mirrored calls,
 * accept new calls. becomePassive(epoch): FIRST stop sending SIP (unbind SIP, release
 * the VIP), drop the live call state without signalling (the new active owns those
 * calls), then follow the peer (sync replica).
 */
import type { SyncRecord, SyncNodeStatus } from '@dualsip/sync';
import type { VipController } from '@dualsip/vip';
import { systemClock as haSystemClock, type Clock } from '../ha/clock.js';
import { HaController, type HaActions, type HaStatus, type HaAlarm, type SipTrafficOptions } from '../ha/controller.js';
import { silentLogger, type HaLogger } from '../ha/emitter.js';
import type { EpochStore } from '../ha/epoch-store.js';
import type { HaAlarmCode } from '../ha/errors.js';
import type { HeartbeatSecret, HeartbeatTransport } from '../ha/heartbeat.js';
import type { WitnessOptions } from '../ha/witness.js';
import { Role } from '../ha/role-machine.js';
import type { CallRecord } from '../records/call-record.js';
import type { RecordSink } from '../records/call-record-store.js';
import { TypedEmitter } from '../typed-emitter.js';
import { PairError } from './errors.js';
import { HaNodeState, HaNodeStateMachine } from './node-state.js';

/** The slice of SyncNode the pair runtime uses (SyncNode implements it). */
export interface PairSync {
  readonly role: string;
  becomePrimary(epoch: number): Promise<void>;
  becomeReplica(): Promise<void>;
  publish(record: SyncRecord): Promise<void>;
  records(): SyncRecord[];
  status(): SyncNodeStatus;
  close(): Promise<void>;
}

/** Makes the engine listen on (or stop listening on) the SIP service address. */
export interface SipBinding {
  bind(): Promise<void>;
  unbind(): Promise<void>;
}

/**
 * The slice of CallControl the pair runtime uses. `adoptCalls` (call takeover) rebuilds
 * live calls from mirrored records; `forgetCalls` drops live calls without sending SIP.
 * Both are optional so the runtime works before the takeover layer lands; a missing
 * one is logged once.
 */
export interface PairCallControl {
  calls(): CallRecord[];
  /**
   * The takeover layer: attach() registers the in-dialog handlers with the engine. HaNode
   * calls it at start, so that an in-dialog request (a BYE retransmitted to the VIP) that
   * reaches a node which has just taken over finds a handler — without one the engine
   * answers 503 and the call is lost (measured at 1,000 calls: 3–7 BYEs).
   */
  readonly takeover?: { attach(): void };
  adoptCalls?(records: CallRecord[]): unknown;
  forgetCalls?(reason: string): unknown;
}

export interface HaNodeOptions {
  nodeId: string;
  peerId: string;
  preferred?: boolean;
  secret: HeartbeatSecret;
  transport: HeartbeatTransport;
  epochStore: EpochStore;
  sync: PairSync;
  vip: VipController;
  sip?: SipBinding;
  intervalMs?: number;
  missCount?: number;
  startupWaitMs?: number;
  retryMs?: number;
  /** Own SIP interface up (link and address); default: up. */
  sipInterfaceUp?: () => boolean;
  /** Witness reachability check against split brain (see HaController); absent: off. */
  witness?: WitnessOptions;
  /** SIP traffic loss rule (see HaController); absent: off. */
  sipTraffic?: SipTrafficOptions;
  clock?: Clock;
  logger?: HaLogger;
  /** Shown in status(). */
  version?: string;
  /** What the VIP is, for status() (e.g. '198.18.1.100/24' or 'udp/127.0.0.1:5060'). */
  vipName?: string;
}

export interface HaNodeStatus {
  nodeId: string;
  state: HaNodeState;
  role: Role;
  epoch: number;
  version: string;
  uptimeMs: number;
  accepting: boolean;
  vip: { name: string; heldHere: boolean; holder: string | null };
  calls: { connected: number; ringing: number; total: number };
  sync: {
    role: string;
    ready: boolean;
    reasons: string[];
    lagEntries: number | null;
    lagMs: number | null;
    records: number;
    published: number;
    dropped: number;
  };
  ha: HaStatus;
  lastTakeoverMs: number | null;
  alarms: HaAlarm[];
}

export type HaNodeEvents = {
  role: (role: Role, epoch: number, reason: string) => void;
  takeoverStarted: (reason: string, epoch: number) => void;
  takeoverFinished: (ms: number, info: { epoch: number; adopted: number }) => void;
  steppedDown: (ms: number, info: { epoch: number; dropped: number }) => void;
  alarm: (code: HaAlarmCode, text: string) => void;
  alarmCleared: (code: HaAlarmCode) => void;
};

const RINGING = new Set(['routing', 'calling', 'ringing']);

export class HaNode extends TypedEmitter<HaNodeEvents> {
  readonly nodeId: string;
  readonly controller: HaController;
  /** Give this to CallControl as `sink`: record changes go to sync while this node is primary. */
  readonly sink: RecordSink;
  /** Give this to CallControl as `epoch`. */
  readonly epoch = (): number => this.#epoch;
  /**
   * Switchover drain (issue 6, set by the admin layer's NodeOps): stop new work, flush
   * sync, wait until the passive has everything. Run by HaController.requestSwitchover.
   */
  switchoverDrain: ((epoch: number) => Promise<void>) | undefined;
  /**
   * The operator's switchover (set by NodeOps), run when the controller switches over by
   * itself (SIP traffic loss). Unset: the controller's requestSwitchover.
   */
  switchoverRunner: ((reason: string) => Promise<unknown>) | undefined;

  readonly #o: HaNodeOptions;
  readonly #clock: Clock;
  readonly #log: HaLogger;
  readonly #sm = new HaNodeStateMachine();
  readonly #startedAt: number;
  #cc: PairCallControl | undefined;
  #epoch = 0;
  #accepting = false;
  #replicaRun: Promise<void> | undefined;
  #published = 0;
  #dropped = 0;
  #lastTakeoverMs: number | null = null;
  #warned = new Set<string>();
  #closePromise: Promise<void> | undefined;

  constructor(opts: HaNodeOptions) {
    super();
    if (!opts.sync || !opts.vip || !opts.transport || !opts.epochStore) {
      throw new PairError({ code: 'ERR_PAIR_BAD_OPTIONS', message: 'HaNode needs sync, vip, transport and epochStore' });
    }
    this.#o = opts;
    this.nodeId = opts.nodeId;
    this.#clock = opts.clock ?? haSystemClock;
    this.#log = opts.logger ?? silentLogger;
    this.#startedAt = this.#clock.now();
    this.onListenerError = (err, event) => this.#log.error({ event, err: String(err) }, 'HA node listener threw');
    this.sink = {
      publish: (record: CallRecord) => {
        // Only the primary writes; a passive node's records are not the pair's truth.
        if (this.#o.sync.role !== 'primary' && this.#o.sync.role !== 'switching') {
          this.#dropped++;
          return;
        }
        this.#published++;
        return this.#o.sync.publish(record as unknown as SyncRecord);
      },
    };
    const actions: HaActions = {
      becomeActive: (epoch) => this.#becomeActive(epoch),
      becomePassive: (epoch) => this.#becomePassive(epoch),
      drain: (epoch) => this.switchoverDrain?.(epoch) ?? Promise.resolve(),
    };
    this.controller = new HaController({
      nodeId: opts.nodeId,
      peerId: opts.peerId,
      preferred: opts.preferred,
      secret: opts.secret,
      transport: opts.transport,
      epochStore: opts.epochStore,
      actions,
      readiness: () => {
        const s = this.#o.sync.status();
        return { ready: s.ready, reasons: s.reasons };
      },
      intervalMs: opts.intervalMs,
      missCount: opts.missCount,
      startupWaitMs: opts.startupWaitMs,
      retryMs: opts.retryMs,
      sipInterfaceUp: opts.sipInterfaceUp,
      ...(opts.witness ? { witness: opts.witness } : {}),
      ...(opts.sipTraffic ? { sipTraffic: opts.sipTraffic } : {}),
      clock: this.#clock,
      logger: this.#log,
    });
    this.controller.onListenerError = this.onListenerError;
    this.controller.sipTrafficSwitchover = (reason) => (this.switchoverRunner ? this.switchoverRunner(reason) : this.controller.requestSwitchover({ reason }));
    this.controller.on('role', (role, epoch, reason) => {
      if (role === Role.Passive) void this.#ensureReplica('role passive');
      if (role === Role.Fenced) {
        // The fencing line operators (and the e2e test) look for.
        this.#log.warn({ nodeId: this.nodeId, epoch, reason }, 'fenced: saw a higher epoch, stopping SIP and releasing the VIP');
      }
      this.emit('role', role, epoch, reason);
    });
    this.controller.on('alarm', (code, text) => this.emit('alarm', code, text));
    this.controller.on('alarmCleared', (code) => this.emit('alarmCleared', code));
  }

  get state(): HaNodeState {
    return this.#sm.state;
  }

  get role(): Role {
    return this.controller.role;
  }

  /** True while this node takes new calls (active, SIP bound). */
  get accepting(): boolean {
    return this.#accepting;
  }

  /** Starts heartbeats and the election. `callControl` must be running already. */
  async start(opts: { callControl: PairCallControl }): Promise<void> {
    this.#sm.transition(HaNodeState.Starting);
    this.#cc = opts.callControl;
    try {
      opts.callControl.takeover?.attach();
    } catch (err) {
      this.#log.warn({ err: String(err) }, 'could not attach the takeover handlers at start; they attach at adoption');
    }
    // A starting node holds nothing. A floating IP still on the interface was left by this
    // node's predecessor, killed while active (SIGKILL runs no release): kept, it would make
    // this passive node answer ARP for the VIP the peer now owns, and our own claim later
    // would find it there. Release it before joining the election.
    try {
      const r = await this.#o.vip.release();
      if (r.changed) this.#log.warn({ nodeId: this.nodeId }, 'released a floating IP left on the interface by a previous run');
    } catch (err) {
      this.#log.warn({ err: String(err) }, 'could not release a floating IP left by a previous run');
    }
    try {
      await this.controller.start();
      this.#epoch = this.controller.epoch;
    } catch (err) {
      if (this.#sm.state === HaNodeState.Starting) this.#sm.transition(HaNodeState.Closed);
      throw err;
    }
    if (this.#sm.state === HaNodeState.Starting) this.#sm.transition(HaNodeState.Running);
  }

  // ------------------------------------------------------------------ actions

  async #becomeActive(epoch: number): Promise<void> {
    const t0 = this.#clock.now();
    this.#log.info({ nodeId: this.nodeId, epoch }, 'taking over');
    this.emit('takeoverStarted', 'controller', epoch);
    // A replica switch still under way must finish before the promotion.
    if (this.#replicaRun) await this.#replicaRun.catch(() => undefined);
    const mirrored = this.#o.sync.records();
    this.#epoch = epoch;
    await this.#o.sync.becomePrimary(epoch);
    const tSync = this.#clock.now();
    await this.#o.vip.claim();
    const tVip = this.#clock.now();
    if (this.#o.sip) await this.#o.sip.bind();
    const tSip = this.#clock.now();
    // No await between the bind and the adoption's synchronous matching: in-dialog requests that
    // arrive on the fresh socket are matched against the adopted calls, not refused 481.
    const live = mirrored.filter((r) => !r.ended) as unknown as CallRecord[];
    let adopted = 0;
    if (live.length > 0) {
      const cc = this.#cc;
      if (cc?.adoptCalls) {
        try {
          await cc.adoptCalls(live);
          adopted = live.length;
        } catch (err) {
          // The node is still the active: new calls work; the adoption failure is an alarm in the log.
          this.#log.error({ err: String(err), calls: live.length }, 'adopting mirrored calls failed');
        }
      } else {
        this.#warnOnce('adopt', `${live.length} mirrored calls not adopted: call control has no adoptCalls()`);
      }
    }
    this.#accepting = true;
    const ms = this.#clock.now() - t0;
    this.#lastTakeoverMs = ms;
    this.#log.info(
      { nodeId: this.nodeId, epoch, ms, syncMs: tSync - t0, vipMs: tVip - tSync, sipMs: tSip - tVip, adopted, mirrored: mirrored.length },
      'took over: active',
    );
    this.emit('takeoverFinished', ms, { epoch, adopted });
  }

  async #becomePassive(epoch: number): Promise<void> {
    const t0 = this.#clock.now();
    this.#accepting = false;
    // First stop sending SIP: nothing may leave this node once a higher epoch exists.
    if (this.#o.sip) await this.#o.sip.unbind();
    await this.#o.vip.release();
    // The new active owns these calls: forget them without a BYE or CANCEL.
    const dropped = this.#cc?.calls().length ?? 0;
    if (this.#cc?.forgetCalls) {
      try {
        await this.#cc.forgetCalls('stepped down');
      } catch (err) {
        this.#log.error({ err: String(err) }, 'forgetting live calls failed');
      }
    } else if (dropped > 0) {
      this.#warnOnce('forget', 'call control has no forgetCalls(): live calls stay in memory after stepping down');
    }
    this.#epoch = Math.max(this.#epoch, epoch);
    const ms = this.#clock.now() - t0;
    this.#log.info({ nodeId: this.nodeId, epoch, ms, dropped }, 'stepped down: SIP unbound, VIP released');
    this.emit('steppedDown', ms, { epoch, dropped });
    if (this.#closePromise) return; // closing: no need to follow the peer
    await this.#ensureReplica('becomePassive');
  }

  /** Follows the peer (sync replica); idempotent, one switch at a time. */
  #ensureReplica(why: string): Promise<void> {
    if (this.#closePromise || this.#sm.state === HaNodeState.Closed) return Promise.resolve();
    if (this.#replicaRun) return this.#replicaRun;
    if (this.#o.sync.role === 'replica') return Promise.resolve();
    const run = (async () => {
      try {
        await this.#o.sync.becomeReplica();
        this.#log.info({ nodeId: this.nodeId, why }, 'following the peer (sync replica)');
      } catch (err) {
        this.#log.error({ err: String(err), why }, 'becoming a sync replica failed');
      }
    })().finally(() => {
      if (this.#replicaRun === run) this.#replicaRun = undefined;
    });
    this.#replicaRun = run;
    return run;
  }

  #warnOnce(key: string, text: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#log.warn({ nodeId: this.nodeId }, text);
  }

  // ------------------------------------------------------------------ status

  status(): HaNodeStatus {
    const ha = this.controller.status();
    const s = this.#o.sync.status();
    const calls = this.#cc?.calls() ?? [];
    let connected = 0;
    let ringing = 0;
    for (const c of calls) {
      if (c.state === 'answered') connected++;
      else if (RINGING.has(c.state)) ringing++;
    }
    const heldHere = this.#o.vip.holds();
    const peerClaims = ha.peer.alive && (ha.peer.role === Role.Active || ha.peer.role === Role.Draining || ha.peer.role === Role.TakingOver);
    return {
      nodeId: this.nodeId,
      state: this.#sm.state,
      role: ha.role,
      epoch: ha.epoch,
      version: this.#o.version ?? '0.0.0',
      uptimeMs: this.#clock.now() - this.#startedAt,
      accepting: this.#accepting,
      vip: { name: this.#o.vipName ?? 'vip', heldHere, holder: heldHere ? this.nodeId : peerClaims ? ha.peer.id : null },
      calls: { connected, ringing, total: calls.length },
      sync: {
        role: s.role,
        ready: s.ready,
        reasons: s.reasons,
        lagEntries: s.mirror?.lagEntries ?? null,
        lagMs: s.mirror?.lagMs ?? null,
        records: this.#o.sync.records().length,
        published: this.#published,
        dropped: this.#dropped,
      },
      ha,
      lastTakeoverMs: this.#lastTakeoverMs,
      alarms: ha.alarms,
    };
  }

  // ------------------------------------------------------------------ lifecycle

  /** Steps down if active (releases VIP and SIP, tells the peer), stops heartbeats and sync. Idempotent. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    const st = this.#sm.state;
    if (st !== HaNodeState.Closed) this.#sm.transition(st === HaNodeState.New ? HaNodeState.Closed : HaNodeState.Closing);
    this.#closePromise = (async () => {
      try {
        await this.controller.close();
      } catch (err) {
        this.#log.error({ err: String(err) }, 'HA controller close failed');
      }
      await this.#replicaRun?.catch(() => undefined);
      await this.#o.vip.close().catch((err: unknown) => this.#log.warn({ err: String(err) }, 'VIP close failed'));
      await this.#o.sync.close().catch((err: unknown) => this.#log.warn({ err: String(err) }, 'sync close failed'));
      if (this.#sm.state !== HaNodeState.Closed) this.#sm.transition(HaNodeState.Closed);
    })();
    return this.#closePromise;
  }

  /** Aborts: stops heartbeats at once, holds on to nothing it can release synchronously. Idempotent. */
  destroy(err?: Error): void {
    if (this.#sm.state === HaNodeState.Closed) return;
    this.#closePromise ??= Promise.resolve();
    this.controller.destroy(err);
    this.#o.vip.destroy(err);
    this.#sm.transition(HaNodeState.Closed);
  }
}
