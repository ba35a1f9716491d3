/**
 * NodeOps — the AdminNode facade over a running node: call control always, the HA
 * runtime (HaNode) and sync when the node is one of a pair.
 *
 * Operator drain: new INVITEs are refused (503 + Retry-After by default, or 302 to a
 * given URI) while calls in progress run to their end; the drain finishes when none is
 * left, or at its timeout. The node keeps refusing until the drain is cancelled.
 *
 * Switchover (HaNode.switchoverDrain, run by HaController.requestSwitchover on the active):
 *  1. settle: keep taking calls until no call is ringing (bounded by settleTimeoutMs), so
 *     no call is caught half set up;
 *  2. flush: write every queued record and WAIT until the replica acknowledged it;
 *  3. repeat 1–2 until a flush ends with nothing ringing and nothing newly written, then,
 *     in the same tick, hold new INVITEs: from here to the SIP unbind (a millisecond or
 *     so) an INVITE is held unanswered and dropped at the cut (counted as heldAtCut; the
 *     engine already answered it 100 Trying);
 *  4. the controller steps down (SIP unbound, VIP released) and waits for the peer to
 *     report active. INVITEs sent to the VIP meanwhile reach nobody and are retransmitted
 *     by the caller to the new active.
 */
import { systemClock, type Clock } from '../clock.js';
import type { Admission } from '../call-control.js';
import type { HaNode, HaNodeStatus } from '../pair/ha-node.js';
import type { CallRecord } from '../records/call-record.js';
import type { SyncNodeStatus } from '@dualsip/sync';
import { AdminError } from './errors.js';
import type { HealthInput } from './health.js';
import { NodeMetrics } from './metrics.js';
import { callOutcome } from './drill.js';
import type {
  AdminNode,
  CallFilter,
  CallLookup,
  DrillKind,
  DrillRecord,
  CallView,
  DrainOptions,
  DrainStatus,
  NodeStatusView,
  SwitchoverOptions,
  SwitchoverReport,
} from './types.js';
import type { AdminLogger } from './server.js';

const RINGING = new Set(['routing', 'calling', 'ringing']);

/** The slice of CallControl NodeOps uses. */
export interface OpsCallControl {
  calls(): CallRecord[];
  setAdmission(admission?: Admission): void;
  readonly heldInvites: number;
  /** Held INVITEs dropped when the node stepped down (CallControl.forgetCalls). */
  readonly heldDropped?: number;
  readonly phase: string;
  on(event: 'callStarted' | 'callEnded', fn: (record: CallRecord) => void): unknown;
  /** A call's current or recent final record (drills look calls up). */
  call?(id: string): CallRecord | undefined;
}

/** The slice of HaNode NodeOps uses. */
export type OpsHa = Pick<HaNode, 'nodeId' | 'role' | 'status' | 'on' | 'switchoverDrain' | 'accepting' | 'state'> & {
  /** Set to run the controller's own switchovers (SIP traffic loss) through switchover(). */
  switchoverRunner?: HaNode['switchoverRunner'];
  readonly controller: Pick<HaNode['controller'], 'requestSwitchover' | 'on' | 'status'>;
};

/** The slice of SyncNode NodeOps uses. */
export interface OpsSync {
  flush(opts?: { timeoutMs?: number }): Promise<{ replicas: number; published: number }>;
  status(): SyncNodeStatus;
}

export interface NodeOpsOptions {
  nodeId: string;
  version: string;
  callControl: OpsCallControl;
  ha?: OpsHa;
  sync?: OpsSync;
  clock?: Clock;
  logger?: AdminLogger;
  /** Switchover: longest wait for ringing calls to settle. Default 2000 ms. */
  settleTimeoutMs?: number;
  /** Switchover: longest sync flush + WAIT. Default 1000 ms. */
  flushTimeoutMs?: number;
  /** Node.js process metrics in /metrics. Default true. */
  processMetrics?: boolean;
}

const silent: AdminLogger = { info() {}, warn() {}, error() {} };

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface DrainRun {
  state: DrainStatus['state'];
  code: number;
  retryAfter: number;
  redirect: string | null;
  startedAt: number;
  endedAt: number | null;
  timeoutMs: number;
  callsAtStart: number;
  refused: number;
  timer?: ReturnType<typeof setTimeout>;
}

export class NodeOps implements AdminNode {
  readonly #o: NodeOpsOptions;
  readonly #clock: Clock;
  readonly #log: AdminLogger;
  readonly #startedAt: number;
  readonly #m: NodeMetrics;
  #drain: DrainRun | undefined;
  #switching = false;
  #lastSwitch: SwitchoverReport | null = null;
  #lastSwitchError: { code: string; message: string } | null = null;
  readonly #drills: Partial<Record<DrillKind, DrillRecord>> = {};
  /** Filled by the drain hook while a switchover runs. */
  #phase: { t0: number; settleMs: number; flushMs: number; rounds: number; replicas: number; calls: { connected: number; ringing: number }; cutAt: number } | undefined;

  constructor(opts: NodeOpsOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.logger ?? silent;
    this.#startedAt = this.#clock.now();
    this.#m = new NodeMetrics({ status: () => this.status(), now: () => this.#clock.now(), processMetrics: opts.processMetrics });
    const cc = opts.callControl;
    cc.on('callStarted', () => this.#m.callStarted());
    cc.on('callEnded', (r) => {
      this.#m.callEnded(r);
      this.#checkDrainDone();
    });
    const ha = opts.ha;
    if (ha) {
      ha.switchoverDrain = (epoch) => this.#switchoverDrain(epoch);
      ha.switchoverRunner = (reason) => this.switchover({ reason });
      ha.on('takeoverFinished', () => this.#m.takeover());
      ha.controller.on('pathDown', (path) => this.#m.heartbeatLost(path));
      ha.controller.on('peerLost', () => this.#m.peerLost());
      ha.on('role', (role) => {
        // A node that became active (takeover) takes calls unless an operator drain says otherwise.
        if (role === 'active' && !this.#switching) cc.setAdmission(this.#drainAdmission());
      });
    }
  }

  get metrics() {
    return this.#m.registry;
  }

  get nodeMetrics(): NodeMetrics {
    return this.#m;
  }

  // ------------------------------------------------------------------ status and calls

  status(): NodeStatusView {
    const cc = this.#o.callControl;
    const ha = this.#o.ha;
    const hs: HaNodeStatus | undefined = ha?.status();
    let calls = hs?.calls;
    if (!calls) {
      let connected = 0;
      let ringing = 0;
      const live = cc.calls();
      for (const c of live) {
        if (c.state === 'answered') connected++;
        else if (RINGING.has(c.state)) ringing++;
      }
      calls = { connected, ringing, total: live.length };
    }
    const drain = this.drainStatus();
    const syncStatus = !hs && this.#o.sync ? this.#o.sync.status() : undefined;
    return {
      nodeId: this.#o.nodeId,
      version: hs?.version ?? this.#o.version,
      uptimeMs: this.#clock.now() - this.#startedAt,
      mode: ha ? 'pair' : 'standalone',
      role: hs?.role ?? 'standalone',
      epoch: hs?.epoch ?? 0,
      accepting: (hs ? hs.accepting : cc.phase === 'running') && (drain.state === 'idle' || drain.state === 'cancelled') && !this.#switching,
      state: hs?.state ?? cc.phase,
      vip: hs?.vip ?? null,
      calls,
      sync: hs
        ? { role: hs.sync.role, ready: hs.sync.ready, reasons: hs.sync.reasons, lagEntries: hs.sync.lagEntries, lagMs: hs.sync.lagMs }
        : syncStatus
          ? { role: syncStatus.role, ready: syncStatus.ready, reasons: syncStatus.reasons, lagEntries: syncStatus.mirror?.lagEntries ?? null, lagMs: syncStatus.mirror?.lagMs ?? null }
          : null,
      peer: hs
        ? { id: hs.ha.peer.id, alive: hs.ha.peer.alive, role: hs.ha.peer.role, epoch: hs.ha.peer.epoch, ready: hs.ha.peer.ready, lastSeenMs: hs.ha.peer.lastSeenMs }
        : null,
      paths: hs ? hs.ha.paths.map((p) => ({ name: p.name, network: p.network, up: p.up, lastSeenMs: p.lastSeenMs })) : [],
      witness: hs?.ha.witness
        ? { reachable: hs.ha.witness.reachable, isolated: hs.ha.witness.isolated, lastCheckMs: hs.ha.witness.lastCheckMs, targets: hs.ha.witness.targets.map((t) => ({ ...t })) }
        : null,
      sipTraffic: hs?.ha.sipTraffic
        ? { state: hs.ha.sipTraffic.state, windowMs: hs.ha.sipTraffic.windowMs, minRequests: hs.ha.sipTraffic.minRequests, lastWindow: hs.ha.sipTraffic.lastWindow, prevWindow: hs.ha.sipTraffic.prevWindow, switchovers: hs.ha.sipTraffic.switchovers }
        : null,
      pairReady: hs ? hs.ha.pairReady : null,
      pairReasons: hs ? hs.ha.pairReasons : [],
      switchover: { running: this.#switching || (hs?.ha.switchoverInProgress ?? false), last: this.#lastSwitch, lastError: this.#lastSwitchError },
      drain,
      alarms: (hs?.alarms ?? []).map((a) => ({ code: a.code, text: a.text })),
      drills: { ...this.#drills },
    };
  }

  /**
   * What the /health probes judge. Cheap and synchronous: no call or record lists are
   * walked (HaNode.status() copies the mirror's records), nothing waits on Redis.
   */
  health(): HealthInput {
    const cc = this.#o.callControl;
    const d = this.#drain;
    const draining = d !== undefined && d.state !== 'cancelled';
    const ccClosing = cc.phase === 'draining' || cc.phase === 'closed';
    const ha = this.#o.ha;
    if (!ha) {
      return { mode: 'standalone', role: 'standalone', epoch: 0, closing: ccClosing, sipServing: cc.phase === 'running', draining };
    }
    const cs = ha.controller.status();
    const st = ha.state as string;
    return {
      mode: 'pair',
      role: cs.role,
      epoch: cs.epoch,
      closing: ccClosing || st === 'closing' || st === 'closed',
      sipServing: ha.accepting && cc.phase === 'running',
      draining,
      pairReady: cs.pairReady,
      pairReasons: cs.pairReasons,
      sipInterfaceUp: cs.sipUp,
    };
  }

  calls(filter: CallFilter = {}): CallView[] {
    const now = this.#clock.now();
    let list = this.#o.callControl.calls();
    if (filter.state) {
      const st = filter.state;
      list = list.filter((c) => (st === 'connected' ? c.state === 'answered' : st === 'ringing' ? RINGING.has(c.state) : c.state === st));
    }
    if (filter.minAgeMs !== undefined) list = list.filter((c) => now - c.createdAt >= filter.minAgeMs!);
    if (filter.match) {
      const m = filter.match;
      list = list.filter((c) => [c.id, c.a.callId, c.b.callId, c.a.remoteUri, c.a.localUri, c.b.remoteUri, c.b.localUri].some((x) => x?.includes(m)));
    }
    list = [...list].sort((x, y) => x.createdAt - y.createdAt);
    if (filter.limit !== undefined) list = list.slice(0, filter.limit);
    return list.map((c) => ({
      id: c.id,
      state: c.state,
      ageMs: now - c.createdAt,
      epoch: c.epoch,
      version: c.version,
      legs: {
        a: { callId: c.a.callId, state: c.a.state, localUri: c.a.localUri, remoteUri: c.a.remoteUri },
        b: { callId: c.b.callId, state: c.b.state, localUri: c.b.localUri, remoteUri: c.b.remoteUri },
      },
    }));
  }

  // ------------------------------------------------------------------ drills

  /** What this node knows of each call: live, ended (and whether normally), or nothing. */
  lookupCalls(ids: string[]): CallLookup[] {
    const cc = this.#o.callControl;
    const live = cc.call ? undefined : new Map(cc.calls().map((c) => [c.id, c]));
    return ids.map((id) => callOutcome(id, cc.call ? cc.call(id) : live!.get(id)));
  }

  /** Keeps a drill in which this node took over as its last of that kind (status, metrics). */
  recordDrill(record: Omit<DrillRecord, 'recordedAt'>): DrillRecord {
    const d: DrillRecord = { ...record, recordedAt: new Date(this.#clock.now()).toISOString() };
    this.#drills[d.kind] = d;
    this.#m.drill(d);
    const c = d.calls;
    this.#log.info(
      { kind: d.kind, from: d.from, to: d.to, ok: d.ok, takeoverMs: d.takeoverMs, servingMs: d.servingMs, kept: c.connected.kept + c.ringing.kept, lost: c.connected.lost + c.ringing.lost, problems: d.problems },
      'failover drill recorded',
    );
    return d;
  }

  // ------------------------------------------------------------------ drain

  drainStatus(): DrainStatus {
    const d = this.#drain;
    const left = this.#o.callControl.calls().length;
    if (!d) {
      return { state: 'idle', code: null, retryAfter: null, redirect: null, startedAt: null, elapsedMs: 0, timeoutMs: 0, callsAtStart: 0, callsLeft: left, refused: 0 };
    }
    return {
      state: d.state,
      code: d.code,
      retryAfter: d.redirect ? null : d.retryAfter,
      redirect: d.redirect,
      startedAt: new Date(d.startedAt).toISOString(),
      elapsedMs: (d.endedAt ?? this.#clock.now()) - d.startedAt,
      timeoutMs: d.timeoutMs,
      callsAtStart: d.callsAtStart,
      callsLeft: left,
      refused: d.refused,
    };
  }

  drain(opts: DrainOptions = {}): DrainStatus {
    if (this.#drain?.state === 'draining') {
      throw new AdminError({ code: 'ERR_ADMIN_DRAINING', message: 'a drain is already running on this node; cancel it first' });
    }
    const redirect = opts.redirect ?? null;
    const code = redirect ? 302 : (opts.code ?? 503);
    if (!Number.isInteger(code) || code < 300 || code > 699) throw new AdminError({ code: 'ERR_ADMIN_BAD_REQUEST', message: `drain code must be 300..699 (got ${code})` });
    if (this.#drain?.timer) clearTimeout(this.#drain.timer);
    const d: DrainRun = {
      state: 'draining',
      code,
      retryAfter: opts.retryAfter ?? 30,
      redirect,
      startedAt: this.#clock.now(),
      endedAt: null,
      timeoutMs: opts.timeoutMs ?? 0,
      callsAtStart: this.#o.callControl.calls().length,
      refused: 0,
    };
    this.#drain = d;
    if (!this.#switching) this.#o.callControl.setAdmission(this.#drainAdmission());
    if (d.timeoutMs > 0) {
      d.timer = setTimeout(() => {
        if (this.#drain !== d || d.state !== 'draining') return;
        d.state = 'timedOut';
        d.endedAt = this.#clock.now();
        this.#log.warn({ callsLeft: this.#o.callControl.calls().length, timeoutMs: d.timeoutMs }, 'drain timed out; still refusing new calls');
      }, d.timeoutMs);
      d.timer.unref?.();
    }
    this.#log.info({ code, redirect, retryAfter: d.retryAfter, calls: d.callsAtStart, timeoutMs: d.timeoutMs }, 'drain started: refusing new calls');
    this.#checkDrainDone();
    return this.drainStatus();
  }

  cancelDrain(): DrainStatus {
    const d = this.#drain;
    if (!d || d.state === 'cancelled') throw new AdminError({ code: 'ERR_ADMIN_NOT_DRAINING', message: 'no drain to cancel on this node' });
    if (d.timer) clearTimeout(d.timer);
    d.state = 'cancelled';
    d.endedAt ??= this.#clock.now();
    if (!this.#switching) this.#o.callControl.setAdmission(undefined);
    this.#log.info({ refused: d.refused }, 'drain cancelled: taking new calls again');
    return this.drainStatus();
  }

  /** The admission an operator drain asks for (undefined: take calls). */
  #drainAdmission(): Admission | undefined {
    const d = this.#drain;
    if (!d || d.state === 'cancelled') return undefined;
    return () => {
      d.refused++;
      this.#m.refused(d.code);
      if (d.redirect) return { action: 'refuse', status: 302, reason: 'Moved Temporarily', headers: { Contact: `<${d.redirect}>` } };
      // RFC 3261 §21.5.4: "The server MAY indicate when the client should retry the request in a Retry-After header field."
      const headers: Record<string, string> = d.code === 503 && d.retryAfter > 0 ? { 'Retry-After': String(d.retryAfter) } : {};
      return { action: 'refuse', status: d.code, reason: d.code === 503 ? 'Service Unavailable' : '', headers };
    };
  }

  #checkDrainDone(): void {
    const d = this.#drain;
    if (!d || d.state !== 'draining') return;
    if (this.#o.callControl.calls().length > 0) return;
    d.state = 'done';
    d.endedAt = this.#clock.now();
    if (d.timer) clearTimeout(d.timer);
    this.#log.info({ ms: d.endedAt - d.startedAt, refused: d.refused }, 'drain done: no calls left; still refusing new calls');
  }

  // ------------------------------------------------------------------ switchover

  async switchover(opts: SwitchoverOptions = {}): Promise<SwitchoverReport> {
    const ha = this.#o.ha;
    if (!ha) throw new AdminError({ code: 'ERR_ADMIN_NOT_PAIR', message: `node ${this.#o.nodeId} is not part of a pair (started without HA)` });
    if (this.#switching) {
      this.#m.switchover('refused');
      throw Object.assign(new Error('a switchover is already running'), { code: 'ERR_HA_SWITCHOVER_IN_PROGRESS' });
    }
    this.#switching = true;
    this.#phase = undefined;
    const cc = this.#o.callControl;
    const t0 = this.#clock.now();
    const droppedBefore = cc.heldDropped ?? 0;
    try {
      const res = await ha.controller.requestSwitchover({ force: opts.force ?? false, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}), ...(opts.reason ? { reason: opts.reason } : {}) });
      const p = this.#readPhase();
      const report: SwitchoverReport = {
        from: this.#o.nodeId,
        to: res.peerId,
        epoch: res.epoch,
        ms: this.#clock.now() - t0,
        forced: opts.force ?? false,
        phases: { settleMs: p?.settleMs ?? 0, flushMs: p?.flushMs ?? 0, handoverMs: p ? this.#clock.now() - p.cutAt : 0 },
        callsAtStart: p?.calls ?? { connected: 0, ringing: 0 },
        heldAtCut: cc.heldInvites + (cc.heldDropped ?? 0) - droppedBefore,
        flushRounds: p?.rounds ?? 0,
        replicasAcked: p?.replicas ?? 0,
      };
      this.#lastSwitch = report;
      this.#lastSwitchError = null;
      this.#m.switchover('ok');
      return report;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      this.#lastSwitchError = { code: e.code ?? 'ERR_SWITCHOVER', message: e.message ?? String(err) };
      const refused = ['ERR_HA_NOT_ACTIVE', 'ERR_HA_SWITCHOVER_IN_PROGRESS', 'ERR_HA_PAIR_NOT_READY', 'ERR_HA_PEER_UNREACHABLE'].includes(e.code ?? '') && !this.#readPhase();
      this.#m.switchover(refused ? 'refused' : 'failed');
      throw err;
    } finally {
      this.#switching = false;
      const role = ha.role as string;
      if (role === 'active' || role === 'draining') {
        // Still the active (refused or failed): held INVITEs are taken (or refused by a drain) now.
        cc.setAdmission(this.#drainAdmission());
      } else {
        // Handed over: what this node held it can no longer answer.
        const held = cc.heldInvites;
        if (held > 0) this.#log.warn({ held }, 'switchover: INVITEs that arrived at the cut were dropped (the caller sees 100 Trying only)');
        cc.setAdmission(() => ({ action: 'drop' }));
        cc.setAdmission(this.#drainAdmission());
      }
    }
  }

  /** A call, so TypeScript does not narrow #phase across awaits. */
  #readPhase() {
    return this.#phase;
  }

  async #switchoverDrain(epoch: number): Promise<void> {
    const cc = this.#o.callControl;
    const sync = this.#o.sync;
    const t0 = this.#clock.now();
    const settleTimeout = this.#o.settleTimeoutMs ?? 2000;
    const flushTimeout = this.#o.flushTimeoutMs ?? 1000;
    const live = cc.calls();
    const calls = { connected: live.filter((c) => c.state === 'answered').length, ringing: live.filter((c) => RINGING.has(c.state)).length };
    const ph = { t0, settleMs: 0, flushMs: 0, rounds: 0, replicas: 0, calls, cutAt: t0 };
    this.#phase = ph;
    const ringing = () => cc.calls().some((c) => RINGING.has(c.state));
    const deadline = t0 + settleTimeout;
    for (;;) {
      const ts = this.#clock.now();
      while (ringing() && this.#clock.now() < deadline) await sleep(2);
      ph.settleMs += this.#clock.now() - ts;
      const tf = this.#clock.now();
      let published = -1;
      if (sync && sync.status().role === 'primary') {
        const r = await sync.flush({ timeoutMs: flushTimeout });
        ph.replicas = r.replicas;
        published = r.published;
        if (r.replicas < 1) {
          ph.flushMs += this.#clock.now() - tf;
          throw Object.assign(new Error(`sync flush: no replica acknowledged within ${flushTimeout} ms`), { code: 'ERR_SYNC_FLUSH' });
        }
      }
      ph.flushMs += this.#clock.now() - tf;
      ph.rounds++;
      const pub = sync?.status().publisher;
      const quiet = !pub || (pub.queued === 0 && pub.inFlight === 0 && pub.published === published);
      const timedOut = this.#clock.now() >= deadline;
      if ((quiet && !ringing()) || (timedOut && quiet)) {
        // The cut: from here until the SIP unbind, new INVITEs are held (then dropped).
        cc.setAdmission(() => ({ action: 'hold' }));
        ph.cutAt = this.#clock.now();
        if (ringing()) this.#log.warn({ epoch }, 'switchover: calls still ringing after the settle timeout; they are handed over unanswered');
        this.#log.info({ epoch, settleMs: ph.settleMs, flushMs: ph.flushMs, rounds: ph.rounds, calls }, 'switchover: sync flushed, handing over');
        return;
      }
      if (timedOut && ph.rounds > 50) throw Object.assign(new Error('switchover: sync never went quiet'), { code: 'ERR_SYNC_FLUSH' });
    }
  }
}
