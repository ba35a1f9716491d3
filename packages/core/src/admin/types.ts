/**
 * The admin API's view of a node (issue 6). `AdminNode` is the facade the AdminServer
 * serves; NodeOps implements it for a standalone node and for a node of a pair, tests
 * implement it by hand.
 */
import type { Registry } from 'prom-client';
import type { HealthInput } from './health.js';

export interface AdminPathStatus {
  name: string;
  network: string;
  up: boolean;
  lastSeenMs: number | null;
}

export interface DrainOptions {
  /** Final response to new INVITEs. Default 503. Ignored when `redirect` is set. */
  code?: number;
  /** Retry-After seconds on the 503 (0: no header). Default 30. */
  retryAfter?: number;
  /** Answer new INVITEs 302 with this Contact (e.g. the peer's SIP URI) instead. */
  redirect?: string;
  /** Give up waiting for calls to end after this long; 0 = no limit. Default 0. */
  timeoutMs?: number;
}

export type DrainState = 'idle' | 'draining' | 'done' | 'timedOut' | 'cancelled';

export interface DrainStatus {
  state: DrainState;
  code: number | null;
  retryAfter: number | null;
  redirect: string | null;
  startedAt: string | null;
  elapsedMs: number;
  timeoutMs: number;
  callsAtStart: number;
  callsLeft: number;
  refused: number;
}

export interface SwitchoverOptions {
  force?: boolean;
  /** How long to wait for the peer to report active. */
  timeoutMs?: number;
  /** Why (role change reasons, logs); default 'operator switchover'. */
  reason?: string;
}

export interface SwitchoverReport {
  from: string;
  to: string;
  epoch: number;
  /** Request to the peer reporting active. */
  ms: number;
  forced: boolean;
  phases: { settleMs: number; flushMs: number; handoverMs: number };
  callsAtStart: { connected: number; ringing: number };
  /** New INVITEs held at the cut (they get no final answer from this node). */
  heldAtCut: number;
  flushRounds: number;
  replicasAcked: number;
}

export interface NodeStatusView {
  nodeId: string;
  version: string;
  uptimeMs: number;
  mode: 'standalone' | 'pair';
  role: string;
  epoch: number;
  accepting: boolean;
  /** Whether the node is running at all (call control started). */
  state: string;
  vip: { name: string; heldHere: boolean; holder: string | null } | null;
  calls: { connected: number; ringing: number; total: number };
  sync: { role: string; ready: boolean; reasons: string[]; lagEntries: number | null; lagMs: number | null } | null;
  peer: { id: string; alive: boolean; role: string | null; epoch: number | null; ready: boolean | null; lastSeenMs: number | null } | null;
  paths: AdminPathStatus[];
  /** Witness reachability (split-brain check); null/absent when no witness is configured or standalone. */
  witness?: {
    reachable: boolean | null;
    isolated: boolean;
    lastCheckMs: number | null;
    targets: { address: string; reachable: boolean | null; lastOkMs: number | null; rttMs: number | null; lastError: string | null }[];
  } | null;
  /** The SIP traffic loss rule (ha.sipTrafficLoss); null/absent when off or standalone. */
  sipTraffic?: { state: string | null; windowMs: number; minRequests: number; lastWindow: number | null; prevWindow: number | null; switchovers: number } | null;
  pairReady: boolean | null;
  pairReasons: string[];
  switchover: { running: boolean; last: SwitchoverReport | null; lastError: { code: string; message: string } | null };
  drain: DrainStatus;
  alarms: { code: string; text: string }[];
  /** The last failover drill recorded on this node, per kind (absent on nodes without drills). */
  drills?: Partial<Record<DrillKind, DrillRecord>>;
}

/** How a drill's takeover was caused: an operator switchover, or (in a lab) the active killed. */
export type DrillKind = 'switchover' | 'kill';

/** One group of the calls a drill snapshotted on the old active (before = kept + endedNormally + lost). */
export interface DrillCalls {
  before: number;
  kept: number;
  endedNormally: number;
  lost: number;
}

/** One takeover of a drill, as recorded by the node that took over (POST /v1/drill). */
export interface DrillRecord {
  kind: DrillKind;
  /** Node ids (status nodeId) of the old and the new active. */
  from: string;
  to: string;
  epoch: number;
  startedAt: string;
  /** When this node recorded it (its clock). */
  recordedAt: string;
  /** Service gap: the switchover's cut (or the kill) to the new active reporting active. */
  takeoverMs: number | null;
  /** Whole switchover as the old active measured it (settle + flush + handover). */
  switchoverMs: number | null;
  /** The drill's request to the new active reporting active and accepting calls (as the CLI polled it). */
  servingMs: number | null;
  calls: { connected: DrillCalls; ringing: DrillCalls };
  ok: boolean;
  problems: string[];
}

/** What a node knows of one call (POST /v1/calls/lookup). */
export interface CallLookup {
  id: string;
  /** 'live': in progress here; 'ended': its final record is in this node's recent history; 'none': unknown here. */
  found: 'live' | 'ended' | 'none';
  state: string | null;
  endReason: string | null;
  endStatus: number | null;
  endedAt: string | null;
  /** For an ended call: whether a party or an application ended it (true) or the pair dropped it (false). */
  endedNormally: boolean | null;
}

export interface CallLegView {
  callId: string;
  state: string;
  localUri: string;
  remoteUri: string;
}

export interface CallView {
  id: string;
  state: string;
  ageMs: number;
  epoch: number;
  version: number;
  legs: { a: CallLegView; b: CallLegView };
}

export interface CallFilter {
  /** Call state, or the groups 'connected' / 'ringing'. */
  state?: string;
  /** Only calls at least this old. */
  minAgeMs?: number;
  /** Only calls whose id, or a leg's Call-ID or URI, contains this text. */
  match?: string;
  limit?: number;
}

/** What an AdminServer serves. */
export interface AdminNode {
  status(): NodeStatusView;
  calls(filter: CallFilter): CallView[];
  drain(opts: DrainOptions): DrainStatus;
  drainStatus(): DrainStatus;
  cancelDrain(): DrainStatus;
  switchover(opts: SwitchoverOptions): Promise<SwitchoverReport>;
  /** Failover drills: look calls up (live or recently ended) and keep a drill's result. Optional for hand-made nodes. */
  lookupCalls?(ids: string[]): CallLookup[];
  recordDrill?(record: Omit<DrillRecord, 'recordedAt'>): DrillRecord;
  readonly metrics: Registry;
  /** What the /health probes judge, from in-memory state only (must not wait). Without it the server derives it from status(). */
  health?(): HealthInput;
}
