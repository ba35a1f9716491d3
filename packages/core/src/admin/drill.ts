/**
 * Failover drills (roadmap: "prove periodically that failover works, on a live pair").
 *
 * The drill itself runs in the CLI (`dualsip drill`): it snapshots the active's calls,
 * has the pair hand over, and looks the snapshot's calls up on both nodes. The node's
 * part is small and lives here:
 *  - `callOutcome()`: what became of a call, from its record (live, ended normally,
 *    ended by the failover), answered by `POST /v1/calls/lookup`; only the node knows
 *    which end reasons are an endpoint's or an application's doing;
 *  - `parseDrillRecord()`: the drill result a node that took over is given
 *    (`POST /v1/drill`), kept as its last drill of that kind (status, metrics).
 *
 * `kind` says how the takeover was caused: 'switchover' (graceful, operator) today;
 * 'kill' (the active killed, in a lab) fits the same record with its own figures.
 */
import type { CallRecord } from '../records/call-record.js';
import { AdminError } from './errors.js';
import type { CallLookup, DrillCalls, DrillKind, DrillRecord } from './types.js';

export const DRILL_KINDS: readonly DrillKind[] = ['switchover', 'kill'];

/**
 * End reasons that mean the pair dropped the call (not a party, not an application):
 * a failed adoption at takeover, an internal error, a forced release at shutdown or at
 * a drain's timeout. Every other reason (caller-bye, callee-bye, canceled, rejected,
 * no-route, app-rejected, app-hangup or an application's own reason, and 'takeover-ending':
 * the old active was already tearing the call down) is a normal end.
 */
const ABNORMAL_END = new Set(['error', 'answer-failed', 'drain-timeout', 'shutdown', 'takeover-reinvite-failed', 'takeover-unanswered']);

export function isAbnormalEnd(reason: string | undefined): boolean {
  if (reason === undefined || reason === '') return true; // a final record always carries a reason; none is suspect
  if (ABNORMAL_END.has(reason)) return true;
  return reason.startsWith('takeover-') && reason !== 'takeover-ending';
}

/** What a node knows of one call: live here, over (and how), or nothing. */
export function callOutcome(id: string, record: CallRecord | undefined): CallLookup {
  if (!record) return { id, found: 'none', state: null, endReason: null, endStatus: null, endedAt: null, endedNormally: null };
  if (!record.ended) return { id, found: 'live', state: record.state, endReason: null, endStatus: null, endedAt: null, endedNormally: null };
  return {
    id,
    found: 'ended',
    state: record.state,
    endReason: record.endReason ?? null,
    endStatus: record.endStatus ?? null,
    endedAt: record.endedAt === undefined ? null : new Date(record.endedAt).toISOString(),
    endedNormally: !isAbnormalEnd(record.endReason),
  };
}

function bad(message: string): AdminError {
  return new AdminError({ code: 'ERR_ADMIN_BAD_REQUEST', message });
}

function count(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(`${name} must be an integer >= 0 (got ${JSON.stringify(v)})`);
  return v;
}

function ms(v: unknown, name: string): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`${name} must be ms >= 0 or null (got ${JSON.stringify(v)})`);
  return v;
}

function str(v: unknown, name: string, max = 200): string {
  if (typeof v !== 'string' || v.length > max) throw bad(`${name} must be a string of at most ${max} characters`);
  return v;
}

function group(v: unknown, name: string): DrillCalls {
  if (typeof v !== 'object' || v === null) throw bad(`${name} must be an object {before, kept, endedNormally, lost}`);
  const g = v as Record<string, unknown>;
  const out = { before: count(g.before, `${name}.before`), kept: count(g.kept, `${name}.kept`), endedNormally: count(g.endedNormally, `${name}.endedNormally`), lost: count(g.lost, `${name}.lost`) };
  if (out.kept + out.endedNormally + out.lost !== out.before) throw bad(`${name}: kept + endedNormally + lost must equal before`);
  return out;
}

/** Validates a `POST /v1/drill` body (the figures of one takeover this node ran). */
export function parseDrillRecord(body: Record<string, unknown>): Omit<DrillRecord, 'recordedAt'> {
  const keys = ['kind', 'from', 'to', 'epoch', 'startedAt', 'takeoverMs', 'switchoverMs', 'servingMs', 'calls', 'ok', 'problems'];
  for (const k of Object.keys(body)) if (!keys.includes(k)) throw bad(`unknown field ${k} (expected ${keys.join(', ')})`);
  if (!DRILL_KINDS.includes(body.kind as DrillKind)) throw bad(`kind must be one of ${DRILL_KINDS.join(', ')} (got ${JSON.stringify(body.kind)})`);
  const calls = body.calls as Record<string, unknown> | undefined;
  if (typeof calls !== 'object' || calls === null) throw bad('calls must be an object {connected, ringing}');
  if (typeof body.ok !== 'boolean') throw bad('ok must be true or false');
  const problems = body.problems ?? [];
  if (!Array.isArray(problems) || problems.length > 50) throw bad('problems must be an array of at most 50 strings');
  const startedAt = str(body.startedAt, 'startedAt', 40);
  if (Number.isNaN(Date.parse(startedAt))) throw bad(`startedAt must be an ISO date (got ${JSON.stringify(startedAt)})`);
  return {
    kind: body.kind as DrillKind,
    from: str(body.from, 'from'),
    to: str(body.to, 'to'),
    epoch: count(body.epoch, 'epoch'),
    startedAt,
    takeoverMs: ms(body.takeoverMs, 'takeoverMs'),
    switchoverMs: ms(body.switchoverMs, 'switchoverMs'),
    servingMs: ms(body.servingMs, 'servingMs'),
    calls: { connected: group(calls.connected, 'calls.connected'), ringing: group(calls.ringing, 'calls.ringing') },
    ok: body.ok,
    problems: problems.map((p, i) => str(p, `problems[${i}]`, 500)),
  };
}

/** Validates a `POST /v1/calls/lookup` body: `{ids: string[]}`. */
export function parseLookup(body: Record<string, unknown>, max = 100_000): string[] {
  for (const k of Object.keys(body)) if (k !== 'ids') throw bad(`unknown field ${k} (expected ids)`);
  const ids = body.ids;
  if (!Array.isArray(ids) || ids.length > max || !ids.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 200)) {
    throw bad(`ids must be an array of at most ${max} call ids`);
  }
  return ids as string[];
}
