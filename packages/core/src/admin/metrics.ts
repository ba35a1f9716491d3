/**
 * NodeMetrics — the node's Prometheus metrics (prom-client, one Registry per node so
 * several nodes in one process, as in tests, never share counters).
 *
 * Counters are bumped from events (calls, refusals, takeovers, switchovers, heartbeat
 * path losses); gauges are read from the node's status at scrape time.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CallRecord } from '../records/call-record.js';
import type { DrillRecord, NodeStatusView } from './types.js';

const ROLES = ['starting', 'passive', 'taking-over', 'active', 'draining', 'stepping-down', 'fenced', 'closed', 'standalone'];

export interface NodeMetricsOptions {
  /** Read at scrape time. */
  status: () => NodeStatusView;
  /** Window for dualsip_call_rate. Default 10 s. */
  rateWindowMs?: number;
  /** Also export Node.js process metrics. Default true. */
  processMetrics?: boolean;
  now?: () => number;
}

export class NodeMetrics {
  readonly registry = new Registry();
  readonly #now: () => number;
  readonly #windowMs: number;
  /** Call starts per second, newest last: [second, count]. */
  readonly #starts: Array<[number, number]> = [];
  readonly #callsStarted: Counter;
  readonly #callsEnded: Counter<'result'>;
  readonly #callsFailed: Counter<'status'>;
  readonly #refused: Counter<'status'>;
  readonly #takeovers: Counter;
  readonly #switchovers: Counter<'result'>;
  readonly #hbLosses: Counter<'path'>;
  readonly #peerLost: Counter;
  readonly #drills: Counter<'kind' | 'result'>;
  readonly #drillGauges: Record<'takeover' | 'serving' | 'kept' | 'ended' | 'lost' | 'ok' | 'time', Gauge<'kind'>>;

  constructor(opts: NodeMetricsOptions) {
    this.#now = opts.now ?? Date.now;
    this.#windowMs = opts.rateWindowMs ?? 10_000;
    const r = [this.registry];
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'dualsip_process_' });
    this.#callsStarted = new Counter({ name: 'dualsip_calls_started_total', help: 'New calls taken (INVITEs routed).', registers: r });
    this.#callsEnded = new Counter({ name: 'dualsip_calls_ended_total', help: 'Calls ended, by result (ended = answered then hung up, failed = never answered).', labelNames: ['result'], registers: r });
    this.#callsFailed = new Counter({ name: 'dualsip_calls_failed_total', help: 'Calls that failed before answer, by final SIP status (0: none sent).', labelNames: ['status'], registers: r });
    this.#refused = new Counter({ name: 'dualsip_calls_refused_total', help: 'New INVITEs refused by a drain, by status.', labelNames: ['status'], registers: r });
    this.#takeovers = new Counter({ name: 'dualsip_takeovers_total', help: 'Takeovers this node completed (became active).', registers: r });
    this.#switchovers = new Counter({ name: 'dualsip_switchovers_total', help: 'Operator switchovers requested on this node, by result.', labelNames: ['result'], registers: r });
    this.#hbLosses = new Counter({ name: 'dualsip_heartbeat_losses_total', help: 'Heartbeat paths that went silent, by path.', labelNames: ['path'], registers: r });
    this.#peerLost = new Counter({ name: 'dualsip_peer_lost_total', help: 'Times every heartbeat path to the peer went silent.', registers: r });
    this.#drills = new Counter({ name: 'dualsip_drills_total', help: 'Failover drills recorded on this node (it took over), by kind and result.', labelNames: ['kind', 'result'], registers: r });
    const drill = (name: string, help: string) => new Gauge({ name: `dualsip_drill_last_${name}`, help: `Last failover drill this node took over in, by kind: ${help}`, labelNames: ['kind'], registers: r });
    this.#drillGauges = {
      takeover: drill('takeover_ms', 'service gap in ms, from the switchover cut (or the kill) to this node reporting active.'),
      serving: drill('serving_ms', 'ms from the drill asking for the takeover to this node reporting active and accepting calls.'),
      kept: drill('calls_kept', 'calls of the snapshot (connected and ringing) still up on this node.'),
      ended: drill('calls_ended_normally', 'calls of the snapshot a party or an application ended meanwhile.'),
      lost: drill('calls_lost', 'calls of the snapshot lost by the takeover.'),
      ok: drill('ok', '1 when nothing was lost and the takeover was within the limit.'),
      time: drill('timestamp_seconds', 'when this node recorded it (Unix time).'),
    };
    const status = opts.status;
    const self = this;
    new Gauge({
      name: 'dualsip_calls',
      help: 'Calls in progress, by state group.',
      labelNames: ['state'],
      registers: r,
      collect() {
        const s = status();
        this.set({ state: 'connected' }, s.calls.connected);
        this.set({ state: 'ringing' }, s.calls.ringing);
        this.set({ state: 'other' }, Math.max(0, s.calls.total - s.calls.connected - s.calls.ringing));
      },
    });
    new Gauge({
      name: 'dualsip_call_rate',
      help: 'New calls per second over the last rate window.',
      registers: r,
      collect() {
        this.set(self.callRate());
      },
    });
    new Gauge({
      name: 'dualsip_role',
      help: 'Current HA role (1 for the role the node is in).',
      labelNames: ['role'],
      registers: r,
      collect() {
        const role = status().role;
        for (const x of new Set([...ROLES, role])) this.set({ role: x }, x === role ? 1 : 0);
      },
    });
    new Gauge({ name: 'dualsip_epoch', help: 'Current HA epoch.', registers: r, collect() { this.set(status().epoch); } });
    new Gauge({ name: 'dualsip_accepting', help: '1 while this node takes new calls.', registers: r, collect() { this.set(status().accepting ? 1 : 0); } });
    new Gauge({
      name: 'dualsip_sync_lag_entries',
      help: 'Stream entries the local mirror is behind (passive only).',
      registers: r,
      collect() {
        this.set(status().sync?.lagEntries ?? 0);
      },
    });
    new Gauge({
      name: 'dualsip_sync_lag_seconds',
      help: 'Age of the newest unapplied change in the mirror (passive only).',
      registers: r,
      collect() {
        this.set((status().sync?.lagMs ?? 0) / 1000);
      },
    });
    new Gauge({ name: 'dualsip_sync_ready', help: '1 when sync is ready.', registers: r, collect() { this.set(status().sync?.ready ? 1 : 0); } });
    new Gauge({ name: 'dualsip_pair_ready', help: '1 when a switchover is safe.', registers: r, collect() { this.set(status().pairReady ? 1 : 0); } });
    new Gauge({
      name: 'dualsip_heartbeat_path_up',
      help: 'Heartbeat path state (1 up).',
      labelNames: ['path', 'network'],
      registers: r,
      collect() {
        for (const p of status().paths) this.set({ path: p.name, network: p.network }, p.up ? 1 : 0);
      },
    });
    new Gauge({ name: 'dualsip_draining', help: '1 while an operator drain refuses new calls.', registers: r, collect() { const d = status().drain.state; this.set(d === 'idle' || d === 'cancelled' ? 0 : 1); } });
    new Gauge({ name: 'dualsip_uptime_seconds', help: 'Node uptime.', registers: r, collect() { this.set(status().uptimeMs / 1000); } });
  }

  callStarted(): void {
    this.#callsStarted.inc();
    const sec = Math.floor(this.#now() / 1000);
    const last = this.#starts[this.#starts.length - 1];
    if (last && last[0] === sec) last[1]++;
    else this.#starts.push([sec, 1]);
    this.#trim(sec);
  }

  callEnded(r: CallRecord): void {
    const result = r.state === 'failed' ? 'failed' : 'ended';
    this.#callsEnded.inc({ result });
    if (result === 'failed') this.#callsFailed.inc({ status: String(r.endStatus ?? 0) });
  }

  refused(status: number): void {
    this.#refused.inc({ status: String(status) });
  }

  takeover(): void {
    this.#takeovers.inc();
  }

  switchover(result: 'ok' | 'refused' | 'failed'): void {
    this.#switchovers.inc({ result });
  }

  /** A drill in which this node took over (POST /v1/drill). */
  drill(d: DrillRecord): void {
    const kind = { kind: d.kind };
    const g = this.#drillGauges;
    const c = d.calls;
    this.#drills.inc({ kind: d.kind, result: d.ok ? 'ok' : 'failed' });
    if (d.takeoverMs === null) g.takeover.remove(kind);
    else g.takeover.set(kind, d.takeoverMs);
    if (d.servingMs === null) g.serving.remove(kind);
    else g.serving.set(kind, d.servingMs);
    g.kept.set(kind, c.connected.kept + c.ringing.kept);
    g.ended.set(kind, c.connected.endedNormally + c.ringing.endedNormally);
    g.lost.set(kind, c.connected.lost + c.ringing.lost);
    g.ok.set(kind, d.ok ? 1 : 0);
    g.time.set(kind, Date.parse(d.recordedAt) / 1000);
  }

  heartbeatLost(path: string): void {
    this.#hbLosses.inc({ path });
  }

  peerLost(): void {
    this.#peerLost.inc();
  }

  /** New calls per second over the window (whole seconds, the current one partial). */
  callRate(): number {
    const now = this.#now();
    const sec = Math.floor(now / 1000);
    this.#trim(sec);
    const windowSec = Math.max(1, Math.round(this.#windowMs / 1000));
    let n = 0;
    for (const [s, c] of this.#starts) if (s > sec - windowSec) n += c;
    return n / windowSec;
  }

  #trim(sec: number): void {
    const windowSec = Math.max(1, Math.round(this.#windowMs / 1000));
    while (this.#starts.length > 0 && this.#starts[0]![0] <= sec - windowSec) this.#starts.shift();
  }
}
