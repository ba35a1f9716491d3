// Invariant 1 of the chaos suite, as pure functions over what the run recorded:
// the nodes' pino lines (a journal) and the SIP frames tcpdump saw on the SIP bridge.
// Kept apart from the namespace run so that invariants.test.ts can show each check fails
// on a journal that breaks it.

export type NodeId = 'a' | 'b';

/** One line of a node's log (or a test-side event: '@start', '@killed'), time in ms since the epoch. */
export interface JournalEntry {
  t: number;
  node: NodeId;
  msg: string;
  role?: string;
  epoch?: number;
  reason?: string;
  code?: string;
  level?: number;
  line: string;
}

/** A SIP frame (UDP port 5060 on either side) that reached the SIP bridge from a node's MAC. */
export interface Frame {
  t: number;
  node: NodeId;
  line: string;
}

export const MSG_TAKING_OVER = 'taking over';
export const MSG_STEPPED_DOWN = 'stepped down: SIP unbound, VIP released';
const ACTIVE_ROLES = new Set(['active', 'draining']);

export interface Violation {
  check: string;
  t: number;
  node?: NodeId;
  detail: string;
}

const other = (n: NodeId): NodeId => (n === 'a' ? 'b' : 'a');

/** 1a. Never two nodes active at the same epoch (role lines `{"msg":"role","role":"active","epoch":e}`). */
export function checkEpochs(journal: readonly JournalEntry[]): Violation[] {
  const holder = new Map<number, JournalEntry>();
  const out: Violation[] = [];
  for (const e of [...journal].sort((x, y) => x.t - y.t)) {
    if (e.msg !== 'role' || e.role !== 'active' || e.epoch === undefined) continue;
    const h = holder.get(e.epoch);
    if (!h) holder.set(e.epoch, e);
    else if (h.node !== e.node) {
      out.push({ check: 'two actives at one epoch', t: e.t, node: e.node, detail: `${h.node} active at epoch ${e.epoch} (${h.t}), then ${e.node} active at the same epoch (${e.t})` });
    }
  }
  for (const e of journal) {
    if (e.code === 'HA_DUAL_ACTIVE') out.push({ check: 'two actives at one epoch', t: e.t, node: e.node, detail: `node raised HA_DUAL_ACTIVE: ${e.line}` });
  }
  return out;
}

/** What a node is allowed to do at a moment, from its own log. */
export interface NodeTimeline {
  /** May it send SIP at t? False from its start (or kill) until it logs 'taking over', and from 'stepped down' on. */
  maySend(t: number): boolean;
  /** Its role at t by its last role line ('dead' after a kill, 'starting' after a start). */
  roleAt(t: number): string;
  /** The epoch of its last role line at or before t. */
  epochAt(t: number): number | undefined;
}

/** `killGraceMs`: frames already queued when the process died may still leave just after the kill is logged. */
export function timeline(journal: readonly JournalEntry[], node: NodeId, killGraceMs = 20): NodeTimeline {
  const ev = journal.filter((e) => e.node === node).sort((x, y) => x.t - y.t);
  const send: Array<{ t: number; on: boolean }> = [];
  const roles: Array<{ t: number; role: string; epoch?: number }> = [];
  for (const e of ev) {
    if (e.msg === '@start') {
      send.push({ t: e.t, on: false });
      roles.push({ t: e.t, role: 'starting' });
    } else if (e.msg === '@killed') {
      send.push({ t: e.t + killGraceMs, on: false });
      roles.push({ t: e.t, role: 'dead' });
    } else if (e.msg === MSG_TAKING_OVER) send.push({ t: e.t, on: true });
    else if (e.msg === MSG_STEPPED_DOWN) send.push({ t: e.t, on: false });
    else if (e.msg === 'role' && e.role) roles.push({ t: e.t, role: e.role, epoch: e.epoch });
  }
  const last = <T extends { t: number }>(xs: T[], t: number): T | undefined => {
    let r: T | undefined;
    for (const x of xs) {
      if (x.t <= t) r = x;
      else break;
    }
    return r;
  };
  return {
    maySend: (t) => last(send, t)?.on ?? false,
    roleAt: (t) => last(roles, t)?.role ?? 'none',
    epochAt: (t) => {
      let ep: number | undefined;
      for (const r of roles) {
        if (r.t > t) break;
        if (r.epoch !== undefined) ep = r.epoch;
      }
      return ep;
    },
  };
}

export interface FrameReport {
  violations: Violation[];
  /** Frames per node in total (the capture works when the active's count is > 0). */
  frames: Record<NodeId, number>;
  /** Frames a node sent after logging stepping-down/fenced and before 'stepped down' while the peer was active (reported, not a violation). */
  inStepDownWindow: number;
}

/**
 * 1b. From the SIP bridge: (i) no SIP frame from a node that is not allowed to send (before
 * it takes over, after it logged 'stepped down', while dead); (ii) no SIP frame from a node
 * at a moment when both nodes' logs say they are active (active or draining).
 */
export function checkFrames(journal: readonly JournalEntry[], frames: readonly Frame[]): FrameReport {
  const tl = { a: timeline(journal, 'a'), b: timeline(journal, 'b') };
  const violations: Violation[] = [];
  const count: Record<NodeId, number> = { a: 0, b: 0 };
  let inStepDownWindow = 0;
  for (const f of frames) {
    count[f.node]++;
    const me = tl[f.node];
    const peer = tl[other(f.node)];
    const role = me.roleAt(f.t);
    const peerRole = peer.roleAt(f.t);
    if (!me.maySend(f.t)) {
      violations.push({ check: 'SIP from a node that had stepped down (or never took over)', t: f.t, node: f.node, detail: `role ${role}, peer ${peerRole}: ${f.line}` });
    } else if (ACTIVE_ROLES.has(role) && ACTIVE_ROLES.has(peerRole)) {
      violations.push({ check: 'SIP while both nodes were active', t: f.t, node: f.node, detail: `${f.node} ${role}@${me.epochAt(f.t)}, peer ${peerRole}@${peer.epochAt(f.t)}: ${f.line}` });
    } else if ((role === 'stepping-down' || role === 'fenced') && ACTIVE_ROLES.has(peerRole)) {
      inStepDownWindow++;
    }
  }
  return { violations, frames: count, inStepDownWindow };
}

/** Parses a `tcpdump -n -e -tt -l` line into (time, source MAC), or undefined. */
export function parseTcpdump(line: string): { t: number; mac: string } | undefined {
  const m = /^(\d+\.\d+) ([0-9a-f:]{17}) > /.exec(line);
  if (!m) return undefined;
  if (!/\.5060[ :]/.test(line)) return undefined;
  return { t: Number(m[1]) * 1000, mac: m[2]! };
}
