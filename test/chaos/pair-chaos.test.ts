// Chaos suite for the pair: random faults, one at a time, from a seed; invariants checked
// from the nodes' logs, a capture on the SIP bridge, SIPp's counts and the admin API.
//
//   CHAOS_SEED=<n> CHAOS_FAULTS=<n> ./node_modules/.bin/vitest run test/chaos/pair-chaos.test.ts
//
// The lab: test/e2e's pair (namespaces, SIP and sync bridges, a redis-server per node,
// floating IP) plus a witness host, both nodes' admin APIs, tcpdump on the SIP bridge.
// Per fault: a batch of calls (its own callee port, via the user part c<ii>) is connected
// through the VIP, the fault is injected and healed, and the test waits for the pair to be
// steady again; a background SIPp places short calls all along. See README.md.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupAll, explain, Sipp, type SippResult, type SippRun } from '../harness/index.js';
import { ADDR, VIP, type NodeName } from '../e2e/pair-topology.js';
import { checkEpochs, checkFrames, MSG_STEPPED_DOWN, type JournalEntry } from './invariants.js';
import { CALLEE_BASE_PORT, ChaosLab, FINAL_CALLEE_PORT, other, service, sleep, WINDOW_MS, type StatusView } from './lab.js';
import { describeFault, makeSchedule, SURVIVABLE, type Fault, type FaultType } from './schedule.js';

const SEED = Number(process.env['CHAOS_SEED'] ?? 20240611);
const COUNT = Number(process.env['CHAOS_FAULTS'] ?? 6);
/** Invariant 2's bound: heartbeat windows (intervalMs × missCount) from the heal to a steady pair. */
const STEADY_WINDOWS = Number(process.env['CHAOS_STEADY_WINDOWS'] ?? 40);
const BATCH_CALLS = 10;
const BATCH_RATE = 5;
const HOLD_MS = 3000;

const schedule = makeSchedule(SEED, COUNT);
const lab = new ChaosLab(COUNT);

interface Steady {
  ok: boolean;
  active?: NodeName;
  epoch?: number;
  windows: number;
  last: string;
}

interface FaultResult {
  fault: Fault;
  /** The node the fault hit. */
  node: NodeName;
  activeBefore: NodeName;
  epochBefore: number;
  t0: number;
  healedAt?: number;
  steady?: Steady;
  /** Fault start → the new active's 'took over: active' (when the active changed). */
  takeoverMs?: number;
  caller?: SippResult;
  calleeP?: Promise<SippResult>;
  callee?: SippResult;
  bgFailed: number;
  notes: string[];
}

const results: FaultResult[] = [];
let bg: SippRun | undefined;
let current: { active: NodeName; epoch: number } = { active: 'a', epoch: 0 };

const RELEVANT = new Set(['role', 'taking over', 'took over: active', MSG_STEPPED_DOWN, 'peer lost', 'peer back', 'heartbeat path down', 'heartbeat path up', 'ha ready', 'sync ready', 'following the peer (sync replica)']);
const relevant = (e: JournalEntry) => e.msg.startsWith('@') || RELEVANT.has(e.msg) || e.code !== undefined || (e.level ?? 0) >= 40 || e.msg.startsWith('fenced');

function scheduleText(): string {
  return [`seed ${SEED}, ${COUNT} faults (CHAOS_SEED=${SEED} CHAOS_FAULTS=${COUNT} to reproduce):`, ...schedule.map((f) => `  ${describeFault(f)}`)].join('\n');
}

/** The schedule and the nodes' relevant log lines between `from` and `to`: what a failure message needs. */
function context(from: number, to: number): string {
  const lines = lab.journal
    .filter((e) => e.t >= from - 1000 && e.t <= to + 1000 && relevant(e))
    .sort((x, y) => x.t - y.t)
    .map((e) => `  ${new Date(e.t).toISOString().slice(11, 23)} ${e.node} ${e.line}`);
  return `${scheduleText()}\n--- node log lines ${new Date(from).toISOString()} .. ${new Date(to).toISOString()}:\n${lines.join('\n')}`;
}

const brief = (s: StatusView | undefined) => (s ? `${s.nodeId}:${s.role}@${s.epoch} accepting=${s.accepting} sync=${s.sync?.role}/${s.sync?.ready ? 'ready' : `not ready (${s.sync?.reasons.join(', ')})`} pairReady=${s.pairReady} (${s.pairReasons.join(', ')}) alarms=${s.alarms.map((a) => a.code).join(',')}` : 'no answer');

/** Invariant 2: exactly one active (accepting), the other passive and ready, epochs equal, pair ready. */
async function waitSteady(since: number): Promise<Steady> {
  const limit = since + STEADY_WINDOWS * WINDOW_MS;
  let last = '';
  for (;;) {
    const [sa, sb] = await Promise.all([lab.status('a'), lab.status('b')]);
    last = `a: ${brief(sa)}; b: ${brief(sb)}`;
    if (sa && sb) {
      const act = sa.role === 'active' ? sa : sb.role === 'active' ? sb : undefined;
      const pas = act === sa ? sb : sa;
      if (act && act.accepting && pas.role === 'passive' && pas.sync?.ready === true && act.pairReady === true && act.epoch === pas.epoch) {
        return { ok: true, active: act === sa ? 'a' : 'b', epoch: act.epoch, windows: Math.ceil((Date.now() - since) / WINDOW_MS), last };
      }
    }
    if (Date.now() > limit) return { ok: false, windows: STEADY_WINDOWS, last };
    await sleep(200);
  }
}

/** Injects `f` and heals it; returns the node it hit and when it was healed. */
async function inject(f: Fault, r: FaultResult): Promise<void> {
  const act = current.active;
  const pas = other(act);
  const x = r.node;
  switch (f.type as FaultType) {
    case 'kill-active':
    case 'kill-passive':
      await lab.kill(x);
      await sleep(f.downMs); // an operator or systemd restarts it
      r.healedAt = Date.now();
      await lab.start(x);
      return;
    case 'sync-cut':
    case 'sip-cut': {
      const bridge = f.type === 'sync-cut' ? 'sync' : 'sip';
      await lab.topo.cut(x, bridge);
      lab.note(x, `@cut ${bridge}`);
      await sleep(f.downMs);
      await lab.topo.heal(x, bridge);
      lab.note(x, `@heal ${bridge}`);
      r.healedAt = Date.now();
      return;
    }
    case 'isolate':
      await lab.topo.cut(x, 'sip');
      await lab.topo.cut(x, 'sync');
      lab.note(x, '@cut sip+sync');
      await sleep(f.downMs);
      await lab.topo.heal(x, 'sip');
      await lab.topo.heal(x, 'sync');
      lab.note(x, '@heal sip+sync');
      r.healedAt = Date.now();
      return;
    case 'switchover': {
      lab.note(act, '@switchover');
      const out = await lab.cli(['switchover', '--json']);
      r.healedAt = Date.now();
      if (out.code !== 0) r.notes.push(`switchover exit ${out.code}: ${(out.stderr || out.stdout).trim().slice(0, 400)}`);
      else {
        const j = JSON.parse(out.stdout) as { handoverMs?: number };
        r.notes.push(`switchover handover ${j.handoverMs} ms`);
      }
      return;
    }
    case 'redis-stop': {
      const pid = await lab.redisPid(act);
      if (!pid) throw new Error(`no redis-server pid found on ${act}`);
      process.kill(pid, 'SIGSTOP');
      lab.note(act, `@SIGSTOP redis ${pid}`);
      try {
        await sleep(f.downMs);
      } finally {
        process.kill(pid, 'SIGCONT');
        lab.note(act, `@SIGCONT redis ${pid}`);
      }
      r.healedAt = Date.now();
      void pas;
      return;
    }
  }
}

beforeAll(async () => {
  console.log(`[chaos] ${scheduleText()}`);
  await lab.setup();
  const s = await waitSteady(Date.now());
  if (!s.ok) throw new Error(`pair not steady after start: ${s.last}`);
  current = { active: s.active!, epoch: s.epoch! };
  bg = await Sipp.start({ scenario: 'uac', host: lab.topo.host('caller'), localIp: ADDR.caller, localPort: 5090, remote: `${VIP}:5060`, rate: 5, holdMs: 1000, recvTimeoutMs: 10_000, timeoutSec: 900, service: 'bg', name: 'background load' });
}, 90_000);

afterAll(async () => {
  // Everything the run saw, for a post-mortem: the journal (all node log lines with a msg) and the frames.
  const out = join(tmpdir(), `dualsip-chaos-${SEED}-${COUNT}-${process.pid}.jsonl`);
  writeFileSync(out, [...lab.journal.map((e) => JSON.stringify({ kind: 'log', ...e })), ...lab.frames.map((f) => JSON.stringify({ kind: 'frame', ...f }))].join('\n'));
  console.log(`[chaos] journal and frames: ${out}`);
  await bg?.process.stop().catch(() => undefined);
  await lab.stopCapture().catch(() => undefined);
  await lab.callee?.process.stop().catch(() => undefined);
  for (const n of Object.values(lab.nodes)) await n?.stop(3000).catch(() => undefined);
  await cleanupAll();
});

describe(`pair chaos (seed ${SEED}, ${COUNT} faults)`, () => {
  it('runs the schedule; after each fault heals the pair is steady again within the bound (invariant 2)', async () => {
    for (const f of schedule) {
      await sleep(f.pauseMs);
      const node: NodeName = f.target === 'active' ? current.active : other(current.active);
      const r: FaultResult = { fault: f, node, activeBefore: current.active, epochBefore: current.epoch, t0: 0, bgFailed: bg!.snapshot().failed, notes: [] };
      results.push(r);
      // This fault's calls: connected through the VIP before the fault, held across it.
      const calleeRun = await Sipp.start({ scenario: 'uas', host: lab.topo.host('callee'), localIp: ADDR.callee, localPort: CALLEE_BASE_PORT + f.index, recvTimeoutMs: 30_000, name: `callee ${service(f.index)}` });
      const load = await Sipp.start({
        scenario: 'uac', host: lab.topo.host('caller'), localIp: ADDR.caller, localPort: 5200 + f.index, remote: `${VIP}:5060`, service: service(f.index),
        calls: BATCH_CALLS, rate: BATCH_RATE, holdMs: HOLD_MS, recvTimeoutMs: 10_000, timeoutSec: 60, name: `caller ${service(f.index)}`,
      });
      await sleep((BATCH_CALLS / BATCH_RATE) * 1000 + 500);
      r.t0 = Date.now();
      console.log(`[chaos] ${new Date(r.t0).toISOString()} ${describeFault(f)} on ${node} (active ${current.active}@${current.epoch})`);
      await inject(f, r);
      r.steady = await waitSteady(r.healedAt ?? Date.now());
      r.caller = await load.result();
      r.calleeP = calleeRun.stop({ idleTimeoutMs: 15_000 });
      r.bgFailed = bg!.snapshot().failed - r.bgFailed;
      if (!r.steady.ok) {
        console.log(`[chaos] not steady after ${describeFault(f)}: ${r.steady.last}\n${context(r.t0, Date.now())}`);
        break;
      }
      if (r.steady.active !== r.activeBefore) {
        // A switchover counts from the old active receiving the request (the CLI's own start-up is not the product's).
        const from = f.type === 'switchover' ? (lab.journal.find((e) => e.node === r.activeBefore && e.msg === 'admin API: switchover requested' && e.t >= r.t0)?.t ?? r.t0) : r.t0;
        const took = lab.journal.find((e) => e.node === r.steady!.active && e.msg === 'took over: active' && e.t >= r.t0);
        if (took) r.takeoverMs = took.t - from;
      }
      current = { active: r.steady.active!, epoch: r.steady.epoch! };
      console.log(`[chaos]   steady after ${r.steady.windows} windows: active ${current.active}@${current.epoch}${r.takeoverMs !== undefined ? `, takeover ${r.takeoverMs} ms after the fault` : ''}; calls ${r.caller.successful}/${BATCH_CALLS}${r.notes.length ? `; ${r.notes.join('; ')}` : ''}`);
    }
    for (const r of results) {
      expect(r.steady?.ok, `not steady within ${STEADY_WINDOWS} windows after ${describeFault(r.fault)}: ${r.steady?.last}\n${context(r.t0, r.t0 + 30_000)}`).toBe(true);
      expect(r.steady!.epoch!, `epoch went down after ${describeFault(r.fault)}`).toBeGreaterThanOrEqual(r.epochBefore);
    }
    expect(results.length).toBe(COUNT);
  }, 60_000 + COUNT * 30_000);

  it('invariant 1: never two nodes active at the same epoch', () => {
    expect(results.length).toBeGreaterThan(0);
    const v = checkEpochs(lab.journal);
    expect(v, v.map((x) => `${x.check}: ${x.detail}\n${context(x.t - 3000, x.t + 1000)}`).join('\n')).toEqual([]);
  });

  it('invariant 1: no SIP on the bridge from a node that stepped down, nor while both nodes were active', async () => {
    expect(results.length).toBeGreaterThan(0);
    await sleep(300); // tcpdump -U flushes per packet; let the pipe drain
    const rep = checkFrames(lab.journal, lab.frames);
    console.log(`[chaos] SIP frames on the bridge: ${JSON.stringify(rep.frames)}, in a stepping-down window while the peer was active: ${rep.inStepDownWindow}`);
    expect(rep.frames.a + rep.frames.b, 'tcpdump saw SIP from the nodes (the capture works)').toBeGreaterThan(0);
    const first = rep.violations.slice(0, 5);
    expect(rep.violations, first.map((x) => `${x.check} (${x.node} at ${new Date(x.t).toISOString()}): ${x.detail}\n${context(x.t - 3000, x.t + 1000)}`).join('\n')).toEqual([]);
  });

  it('invariant 3: calls connected before a fault the product claims to survive all end normally (caller and callee)', async () => {
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) r.callee = await r.calleeP;
    const byType = new Map<FaultType, { faults: number; calls: number; callerOk: number; calleeOk: number; takeovers: number[] }>();
    for (const r of results) {
      const t = byType.get(r.fault.type) ?? { faults: 0, calls: 0, callerOk: 0, calleeOk: 0, takeovers: [] };
      t.faults++;
      t.calls += BATCH_CALLS;
      t.callerOk += r.caller?.successful ?? 0;
      t.calleeOk += r.callee?.successful ?? 0;
      if (r.takeoverMs !== undefined) t.takeovers.push(r.takeoverMs);
      byType.set(r.fault.type, t);
      console.log(`[chaos] ${JSON.stringify({ fault: describeFault(r.fault), node: r.node, activeBefore: r.activeBefore, activeAfter: r.steady?.active, epoch: `${r.epochBefore}->${r.steady?.epoch}`, takeoverMs: r.takeoverMs, steadyWindows: r.steady?.windows, caller: `${r.caller?.successful}/${BATCH_CALLS}`, callee: `${r.callee?.successful}/${BATCH_CALLS}`, backgroundFailed: r.bgFailed, notes: r.notes })}`);
    }
    for (const [type, t] of byType) console.log(`[chaos] per type ${type}: ${JSON.stringify({ ...t, kept: `${t.callerOk}/${t.calls}`, survivable: SURVIVABLE.has(type) })}`);
    for (const r of results.filter((x) => SURVIVABLE.has(x.fault.type))) {
      const why = `${describeFault(r.fault)} on ${r.node}\n${r.caller ? explain(r.caller) : 'no caller result'}\n${r.callee ? explain(r.callee) : 'no callee result'}\n${context(r.t0, r.t0 + 15_000)}`;
      expect(r.caller?.successful, why).toBe(BATCH_CALLS);
      expect(r.caller?.failed, why).toBe(0);
      expect(r.callee?.successful, why).toBe(BATCH_CALLS);
      expect(r.callee?.failed, why).toBe(0);
    }
  }, 60_000);

  it('invariant 4: at the end new calls all succeed, and the passive\'s mirror equals the active\'s live calls', async () => {
    expect(results.length).toBeGreaterThan(0);
    await bg!.stop({ idleTimeoutMs: 8000 });
    const bgResult = await bg!.result();
    console.log(`[chaos] background load: ${JSON.stringify({ created: bgResult.created, ok: bgResult.successful, failed: bgResult.failed, failures: bgResult.failures })}`);
    const s = await waitSteady(Date.now());
    expect(s.ok, s.last).toBe(true);
    const act = s.active!;
    const pas = other(act);
    const calls = 20;
    const calleeRun = await Sipp.start({ scenario: 'uas', host: lab.topo.host('callee'), localIp: ADDR.callee, localPort: FINAL_CALLEE_PORT, recvTimeoutMs: 30_000, name: 'callee fin' });
    const load = await Sipp.start({ scenario: 'uac', host: lab.topo.host('caller'), localIp: ADDR.caller, localPort: 5098, remote: `${VIP}:5060`, service: 'fin', calls, rate: 10, holdMs: 5000, recvTimeoutMs: 10_000, timeoutSec: 40, name: 'caller fin' });
    await sleep(2500);
    // The passive's mirror (its Redis replica, which its mirror tails) against the active's live calls.
    let cmp = '';
    let agreed = false;
    const until = Date.now() + 10 * WINDOW_MS;
    while (!agreed && Date.now() < until) {
      const live = (await lab.admin<Array<{ id: string }>>(act, '/v1/calls')) ?? [];
      const onAct = await lab.liveRecords(act);
      const onPas = await lab.liveRecords(pas);
      const ids = live.map((c) => c.id).sort();
      const pasIds = [...onPas.keys()].sort();
      const sameJson = pasIds.every((id) => onPas.get(id) === onAct.get(id));
      agreed = ids.length >= calls && JSON.stringify(ids) === JSON.stringify(pasIds) && sameJson;
      cmp = `active ${act} /v1/calls: ${ids.length} calls; passive ${pas} mirror: ${pasIds.length} live records; same records: ${sameJson}; only on active: ${ids.filter((i) => !onPas.has(i)).slice(0, 5).join(',')}; only on passive: ${pasIds.filter((i) => !ids.includes(i)).slice(0, 5).join(',')}`;
      if (!agreed) await sleep(250);
    }
    console.log(`[chaos] final: ${cmp}`);
    const pasLive = (await lab.admin<unknown[]>(pas, '/v1/calls')) ?? ['no answer'];
    const res = await load.result();
    const calleeRes = await calleeRun.stop({ idleTimeoutMs: 15_000 });
    // At rest (every call ended): nothing live on either node.
    let rest = '';
    const until2 = Date.now() + 20 * WINDOW_MS;
    let leaked: unknown[] = [];
    for (;;) {
      leaked = (await lab.admin<unknown[]>(act, '/v1/calls')) ?? ['no answer'];
      const onPas = await lab.liveRecords(pas);
      rest = `active ${act}: ${leaked.length} live calls; passive ${pas}: ${onPas.size} live records`;
      if ((leaked.length === 0 && onPas.size === 0) || Date.now() > until2) break;
      await sleep(250);
    }
    console.log(`[chaos] at rest: ${rest}${leaked.length ? `\n${leaked.map((c) => JSON.stringify(c)).join('\n')}` : ''}`);
    expect(agreed, `${cmp}\n${scheduleText()}`).toBe(true);
    expect(pasLive, 'the passive holds no live calls').toEqual([]);
    expect(res.successful, explain(res)).toBe(calls);
    expect(res.failed, explain(res)).toBe(0);
    expect(calleeRes.successful, explain(calleeRes)).toBe(calls);
    expect(rest, scheduleText()).toBe(`active ${act}: 0 live calls; passive ${pas}: 0 live records`);
  }, 90_000);
});
