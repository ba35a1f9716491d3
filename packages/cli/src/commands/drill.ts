/**
 * `dualsip drill`: a failover drill on a live pair. It proves the takeover works without
 * losing calls, and publishes what it measured:
 *  1. both nodes answer, exactly one is active, the pair is ready (else refused, as
 *     `dualsip switchover`; --force drills anyway);
 *  2. snapshot of the active's calls (ids and states, GET /v1/calls);
 *  3. the handover: a graceful switchover (POST /v1/switchover), while the new active's
 *     status is polled until it reports active and accepting calls;
 *  4. every call of the snapshot is looked up on the new active and, if not live there,
 *     on the old one (POST /v1/calls/lookup): live on the new active = kept; over, ended by
 *     a party or an application (BYE, CANCEL, a final failure) = ended normally; over by
 *     the pair's doing (failed adoption, error) or unknown to both nodes = lost;
 *  5. --back: once the pair is ready again, the same the other way;
 *  6. each leg is recorded on the node that took over (POST /v1/drill: status, metrics).
 *
 * A leg's handover is a `Handover` (how the takeover is caused and what it measured):
 * a "kill" drill in a lab is another Handover, with the same snapshot, lookup, verdict
 * and record.
 */
import type { CallLookup, CallView, DrillCalls, DrillKind, NodeStatusView, SwitchoverReport } from '@dualsip/core';
import { CliError } from '../errors.js';
import { adminRequest, queryAll, resolveTarget, TARGET_FLAGS, TARGET_USAGE, type AdminTarget, type NodeRef, type TargetFlags } from '../admin-client.js';

export const DRILL_USAGE = `usage: dualsip drill [options]
  --back                   switch back afterwards (a second takeover, checked the same way)
  --max-takeover-ms N      fail when a takeover's service gap (cut to peer active) is longer
  --force                  drill even when the passive is not ready (calls may be lost)
  --timeout MS             how long the peer has to become active (default 5000)
  --ready-timeout SECONDS  with --back: how long the pair may take to be ready again (default 60)
  --no-publish             do not record the result on the nodes (POST /v1/drill)
${TARGET_USAGE}
exit code: 0 no call lost (and every takeover within --max-takeover-ms), 1 refused, failed,
a call lost or a takeover too slow (the reason is printed), 4 a node unreachable`;

export const DRILL_FLAGS = {
  ...TARGET_FLAGS,
  back: { type: 'boolean' },
  force: { type: 'boolean' },
  'max-takeover-ms': { type: 'string' },
  timeout: { type: 'string' },
  'ready-timeout': { type: 'string' },
  'no-publish': { type: 'boolean' },
} as const;

export interface DrillFlags extends TargetFlags {
  json?: boolean;
  help?: boolean;
  back?: boolean;
  force?: boolean;
  'max-takeover-ms'?: string;
  timeout?: string;
  'ready-timeout'?: string;
  'no-publish'?: boolean;
}

// ------------------------------------------------------------------ classification (pure)

export type CallGroup = 'connected' | 'ringing';

/** A call of the snapshot: its id and what it was then. */
export interface SnapCall {
  id: string;
  state: string;
  group: CallGroup;
}

const RINGING = new Set(['routing', 'calling', 'ringing']);

/** The snapshot's calls that count: connected (answered) and ringing (routing, calling, ringing). */
export function snapshotOf(calls: CallView[]): SnapCall[] {
  const out: SnapCall[] = [];
  for (const c of calls) {
    if (c.state === 'answered') out.push({ id: c.id, state: c.state, group: 'connected' });
    else if (RINGING.has(c.state)) out.push({ id: c.id, state: c.state, group: 'ringing' });
  }
  return out;
}

export interface LostCall {
  id: string;
  group: CallGroup;
  /** Why it counts as lost: the end reason, or that neither node knows it. */
  why: string;
  node: string | null;
}

export interface EndedCall {
  id: string;
  group: CallGroup;
  endReason: string | null;
  node: string;
}

export interface Classified {
  calls: { connected: DrillCalls; ringing: DrillCalls };
  lost: LostCall[];
  ended: EndedCall[];
}

const emptyGroup = (): DrillCalls => ({ before: 0, kept: 0, endedNormally: 0, lost: 0 });

/**
 * What became of each call of the snapshot, from what the new active (`to`) and the old
 * one (`from`) know of it. Live on the new active: kept. Over, on either node: ended
 * normally or lost, as that node judged its end reason. Unknown to both: lost.
 * A call live only on the old active (it kept it past the handover) is lost too: the
 * old active sends no SIP once it has stepped down.
 */
export function classify(snapshot: SnapCall[], on: { to: { name: string; calls: CallLookup[] }; from: { name: string; calls: CallLookup[] } }): Classified {
  const to = new Map(on.to.calls.map((c) => [c.id, c]));
  const from = new Map(on.from.calls.map((c) => [c.id, c]));
  const calls = { connected: emptyGroup(), ringing: emptyGroup() };
  const lost: LostCall[] = [];
  const ended: EndedCall[] = [];
  for (const s of snapshot) {
    const g = calls[s.group];
    g.before++;
    const t = to.get(s.id);
    if (t?.found === 'live') {
      g.kept++;
      continue;
    }
    const f = from.get(s.id);
    const over = t?.found === 'ended' ? { l: t, node: on.to.name } : f?.found === 'ended' ? { l: f, node: on.from.name } : undefined;
    if (over) {
      if (over.l.endedNormally) {
        g.endedNormally++;
        ended.push({ id: s.id, group: s.group, endReason: over.l.endReason, node: over.node });
      } else {
        g.lost++;
        lost.push({ id: s.id, group: s.group, why: `ended on ${over.node}: ${over.l.endReason ?? 'no end reason'}${over.l.endStatus ? ` (${over.l.endStatus})` : ''}`, node: over.node });
      }
      continue;
    }
    g.lost++;
    if (f?.found === 'live') lost.push({ id: s.id, group: s.group, why: `still live on the old active ${on.from.name}, not on ${on.to.name}`, node: on.from.name });
    else lost.push({ id: s.id, group: s.group, why: `no record on either node (not adopted by ${on.to.name}, or its end fell out of the recent history)`, node: null });
  }
  return { calls, lost, ended };
}

export interface DrillLeg {
  kind: DrillKind;
  /** CLI names (--node NAME=URL) and node ids (status nodeId). */
  from: string;
  to: string;
  fromId: string;
  toId: string;
  startedAt: string;
  epoch: number;
  /** Service gap: the switchover's cut to the peer reporting active (the old active's figure). */
  takeoverMs: number | null;
  /** The whole switchover as the old active measured it: settle + flush + handover. */
  switchoverMs: number | null;
  /** The drill's request to the new active reporting active and accepting (polled every 20 ms). */
  servingMs: number | null;
  calls: { connected: DrillCalls; ringing: DrillCalls };
  lost: LostCall[];
  ended: EndedCall[];
  report?: SwitchoverReport;
  problems: string[];
  published?: boolean;
}

/** The problems of one leg: calls lost, a takeover over the limit. */
export function legProblems(leg: Pick<DrillLeg, 'from' | 'to' | 'calls' | 'takeoverMs' | 'lost'>, maxTakeoverMs?: number): string[] {
  const p: string[] = [];
  const c = leg.calls;
  const lost = c.connected.lost + c.ringing.lost;
  if (lost > 0) {
    const first = leg.lost[0];
    p.push(`${leg.from} -> ${leg.to}: ${lost} call(s) lost (${c.connected.lost} connected, ${c.ringing.lost} ringing)${first ? `; first: ${first.id}: ${first.why}` : ''}`);
  }
  if (maxTakeoverMs !== undefined) {
    if (leg.takeoverMs === null) p.push(`${leg.from} -> ${leg.to}: takeover time not measured (limit ${maxTakeoverMs} ms)`);
    else if (leg.takeoverMs > maxTakeoverMs) p.push(`${leg.from} -> ${leg.to}: takeover ${leg.takeoverMs} ms > --max-takeover-ms ${maxTakeoverMs}`);
  }
  return p;
}

export interface DrillResult {
  ok: boolean;
  kind: DrillKind;
  startedAt: string;
  maxTakeoverMs: number | null;
  legs: DrillLeg[];
  problems: string[];
}

/** Exit code of a finished drill: 0 when nothing went wrong, else 1. */
export function drillExitCode(r: Pick<DrillResult, 'problems'>): number {
  return r.problems.length === 0 ? 0 : 1;
}

function kept(c: DrillCalls): string {
  return `${c.kept}/${c.before}`;
}

export function renderDrill(r: DrillResult): string {
  const lines: string[] = [];
  for (const l of r.legs) {
    const c = l.calls;
    const ended = c.connected.endedNormally + c.ringing.endedNormally;
    const lost = c.connected.lost + c.ringing.lost;
    lines.push(
      `drill ${l.kind} ${l.from} -> ${l.to} (epoch ${l.epoch}): takeover ${l.takeoverMs ?? '-'} ms` +
        `${l.switchoverMs !== null ? ` (switchover ${l.switchoverMs} ms)` : ''}, ${l.to} serving after ${l.servingMs ?? '-'} ms`,
      `  connected calls kept ${kept(c.connected)}, ringing kept ${kept(c.ringing)}, ended normally ${ended}, lost ${lost}${l.published === false ? '  (not recorded on the node)' : ''}`,
    );
    for (const x of l.lost.slice(0, 5)) lines.push(`  lost ${x.group} call ${x.id}: ${x.why}`);
    if (l.lost.length > 5) lines.push(`  ... and ${l.lost.length - 5} more lost`);
  }
  lines.push(r.ok ? 'drill passed: no call lost' + (r.maxTakeoverMs !== null ? `, every takeover within ${r.maxTakeoverMs} ms` : '') : `drill FAILED: ${r.problems.join('; ')}`);
  return lines.join('\n');
}

// ------------------------------------------------------------------ the run

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOOKUP_CHUNK = 1000;

/** Everything one leg needs. */
export interface LegContext {
  target: AdminTarget;
  from: NodeRef;
  to: NodeRef;
  force: boolean;
  timeoutMs?: number;
}

/** How a leg's takeover is caused, and what it measured. */
export type Handover = (ctx: LegContext) => Promise<{ kind: DrillKind; epoch: number; takeoverMs: number | null; switchoverMs: number | null; report?: SwitchoverReport }>;

/** A graceful switchover (POST /v1/switchover on the active), refused as `dualsip switchover` is. */
export const switchoverHandover: Handover = async (ctx) => {
  let report: SwitchoverReport;
  try {
    report = await adminRequest<SwitchoverReport>(ctx.target, ctx.from, '/v1/switchover', {
      method: 'POST',
      body: { ...(ctx.force ? { force: true } : {}), ...(ctx.timeoutMs ? { timeoutMs: ctx.timeoutMs } : {}) },
      timeoutMs: Math.max(ctx.target.timeoutMs, (ctx.timeoutMs ?? 5000) + 5000),
    });
  } catch (err) {
    if (err instanceof CliError && err.code === 'ERR_NODE_REFUSED') {
      const remote = (err as CliError & { remoteCode?: string }).remoteCode;
      throw new CliError({ code: 'ERR_NODE_REFUSED', message: `drill refused: ${err.message}`, hint: remote === 'ERR_HA_PAIR_NOT_READY' ? NOT_READY_HINT : 'run `dualsip status`' });
    }
    throw err;
  }
  return { kind: 'switchover', epoch: report.epoch, takeoverMs: report.phases.handoverMs, switchoverMs: report.ms, report };
};

const NOT_READY_HINT = 'wait until `dualsip status` shows the passive ready, or use --force (calls may be lost)';

async function lookup(target: AdminTarget, node: NodeRef, ids: string[]): Promise<CallLookup[]> {
  const out: CallLookup[] = [];
  for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
    out.push(...(await adminRequest<CallLookup[]>(target, node, '/v1/calls/lookup', { method: 'POST', body: { ids: ids.slice(i, i + LOOKUP_CHUNK) } })));
  }
  return out;
}

/** Polls `node` until it reports active and accepting; resolves with the ms since `t0`, or null at `untilMs`. */
async function servingAfter(target: AdminTarget, node: NodeRef, t0: number, stop: { done: boolean }, untilMs: number): Promise<{ ms: number | null; status?: NodeStatusView }> {
  for (;;) {
    try {
      const s = await adminRequest<NodeStatusView>(target, node, '/v1/status', { timeoutMs: 2000 });
      if (s.role === 'active' && s.accepting) return { ms: Date.now() - t0, status: s };
    } catch {
      // a busy node may miss one poll; the deadline decides
    }
    if (stop.done || Date.now() - t0 > untilMs) return { ms: null };
    await sleep(20);
  }
}

/** Refuses unless exactly one node is active and (without --force) the pair is ready. */
export function checkPair(all: Array<{ node: NodeRef; status: NodeStatusView }>, force: boolean): { active: NodeRef; passive: NodeRef; activeStatus: NodeStatusView } {
  const roles = all.map((r) => `${r.node.name} ${r.status.role}`).join(', ');
  const active = all.filter((r) => r.status.role === 'active');
  if (active.length !== 1) throw new CliError({ code: 'ERR_NODE_REFUSED', message: `drill refused: ${active.length === 0 ? 'no node is active' : 'both nodes claim active'} (${roles})`, hint: 'run `dualsip status`' });
  const a = active[0]!;
  const p = all.find((r) => r !== a)!;
  if (!force) {
    if (p.status.role !== 'passive') throw new CliError({ code: 'ERR_NODE_REFUSED', message: `drill refused: node ${p.node.name} is ${p.status.role}, not passive (${roles})`, hint: NOT_READY_HINT });
    if (a.status.pairReady !== true) {
      throw new CliError({ code: 'ERR_NODE_REFUSED', message: `drill refused: pair not ready: ${a.status.pairReasons.join('; ') || 'the active says so'}`, hint: NOT_READY_HINT });
    }
  }
  return { active: a.node, passive: p.node, activeStatus: a.status };
}

async function statuses(target: AdminTarget): Promise<Array<{ node: NodeRef; status: NodeStatusView }>> {
  const all = await queryAll<NodeStatusView>(target, '/v1/status');
  for (const r of all) if (r.error) throw r.error; // a drill needs both nodes
  return all.map((r) => ({ node: r.node, status: r.value! }));
}

/** One takeover: snapshot, handover, serving, lookup on both nodes, classification. */
export async function runLeg(ctx: LegContext, handover: Handover, ids: { from: string; to: string }, maxTakeoverMs?: number): Promise<DrillLeg> {
  const { target, from, to } = ctx;
  const snapshot = snapshotOf(await adminRequest<CallView[]>(target, from, '/v1/calls'));
  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  const stop = { done: false };
  const serving = servingAfter(target, to, t0, stop, (ctx.timeoutMs ?? 5000) + 10_000);
  let h: Awaited<ReturnType<Handover>>;
  try {
    h = await handover(ctx);
  } finally {
    stop.done = true; // after a failed handover the poller stops at its next round
  }
  const sv = await serving;
  const problems: string[] = [];
  if (sv.ms === null) problems.push(`${from.name} -> ${to.name}: node ${to.name} did not report active and accepting calls`);
  const idList = snapshot.map((s) => s.id);
  const [onTo, onFrom] = await Promise.all([lookup(target, to, idList), lookup(target, from, idList)]);
  const c = classify(snapshot, { to: { name: to.name, calls: onTo }, from: { name: from.name, calls: onFrom } });
  const leg: DrillLeg = {
    kind: h.kind,
    from: from.name,
    to: to.name,
    fromId: ids.from,
    toId: ids.to,
    startedAt,
    epoch: h.epoch,
    takeoverMs: h.takeoverMs,
    switchoverMs: h.switchoverMs,
    servingMs: sv.ms,
    calls: c.calls,
    lost: c.lost,
    ended: c.ended,
    ...(h.report ? { report: h.report } : {}),
    problems,
  };
  leg.problems.push(...legProblems(leg, maxTakeoverMs));
  return leg;
}

async function waitPairReady(target: AdminTarget, active: NodeRef, timeoutMs: number): Promise<string | null> {
  const t0 = Date.now();
  let last = '';
  for (;;) {
    try {
      const s = await adminRequest<NodeStatusView>(target, active, '/v1/status');
      if (s.role === 'active' && s.pairReady === true) return null;
      last = s.role !== 'active' ? `${active.name} is ${s.role}` : s.pairReasons.join('; ') || 'not ready';
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() - t0 > timeoutMs) return last;
    await sleep(200);
  }
}

async function publish(target: AdminTarget, leg: DrillLeg): Promise<string | null> {
  const node = target.nodes.find((n) => n.name === leg.to)!;
  try {
    await adminRequest(target, node, '/v1/drill', {
      method: 'POST',
      body: {
        kind: leg.kind, from: leg.fromId, to: leg.toId, epoch: leg.epoch, startedAt: leg.startedAt,
        takeoverMs: leg.takeoverMs, switchoverMs: leg.switchoverMs, servingMs: leg.servingMs,
        calls: leg.calls, ok: leg.problems.length === 0, problems: leg.problems.slice(0, 50).map((p) => p.slice(0, 500)),
      },
    });
    return null;
  } catch (err) {
    return `${leg.to}: drill result not recorded on the node: ${(err as Error).message}`;
  }
}

function intFlag(v: string | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new CliError({ code: 'ERR_USAGE', message: `--${name} must be an integer >= ${min} (got ${v})` });
  return n;
}

export async function drillCommand(flags: DrillFlags, env: NodeJS.ProcessEnv = process.env, out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  if (flags.help) {
    out(`${DRILL_USAGE}\n`);
    return 0;
  }
  const target = resolveTarget(flags, env);
  const maxTakeoverMs = intFlag(flags['max-takeover-ms'], 'max-takeover-ms', 0);
  const timeoutMs = intFlag(flags.timeout, 'timeout', 1);
  const readyTimeoutS = intFlag(flags['ready-timeout'], 'ready-timeout', 0) ?? 60;
  if (target.nodes.length !== 2) throw new CliError({ code: 'ERR_USAGE', message: `dualsip drill needs both nodes of the pair (got ${target.nodes.length})`, hint: 'pass --node A=URL --node B=URL' });
  const all = await statuses(target);
  const { active, passive } = checkPair(all, flags.force ?? false);
  const idOf = (n: NodeRef) => all.find((r) => r.node === n)!.status.nodeId;
  const startedAt = new Date().toISOString();
  const legs: DrillLeg[] = [];
  const problems: string[] = [];
  const base = { target, force: flags.force ?? false, ...(timeoutMs ? { timeoutMs } : {}) };
  legs.push(await runLeg({ ...base, from: active, to: passive }, switchoverHandover, { from: idOf(active), to: idOf(passive) }, maxTakeoverMs));
  if (flags.back) {
    // The first leg happened: whatever stops the switch back is reported with it, not instead of it.
    // A node that has just become passive resyncs its Redis; its readiness may still flap, so
    // a switch back refused as "not ready" right after the pair said ready waits and tries again.
    const until = Date.now() + readyTimeoutS * 1000;
    for (;;) {
      const notReady = flags.force ? null : await waitPairReady(target, passive, Math.max(0, until - Date.now()));
      if (notReady !== null) {
        problems.push(`switch back not done: pair not ready within ${readyTimeoutS} s (${notReady})`);
        break;
      }
      try {
        legs.push(await runLeg({ ...base, from: passive, to: active }, switchoverHandover, { from: idOf(passive), to: idOf(active) }, maxTakeoverMs));
      } catch (e) {
        const refusedNotReady = e instanceof CliError && e.code === 'ERR_NODE_REFUSED' && e.hint === NOT_READY_HINT;
        if (refusedNotReady && !flags.force && Date.now() < until) {
          await sleep(200);
          continue;
        }
        problems.push(`switch back failed: ${(e as Error).message}`);
      }
      break;
    }
  }
  problems.unshift(...legs.flatMap((l) => l.problems));
  if (!flags['no-publish']) {
    for (const l of legs) {
      const e = await publish(target, l);
      l.published = e === null;
      if (e) problems.push(e);
    }
  }
  const result: DrillResult = { ok: problems.length === 0, kind: legs[0]!.kind, startedAt, maxTakeoverMs: maxTakeoverMs ?? null, legs, problems };
  if (flags.json) out(`${JSON.stringify(result, null, 2)}\n`);
  else out(`${renderDrill(result)}\n`);
  if (!result.ok) err(`drill failed: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}\n`);
  return drillExitCode(result);
}
