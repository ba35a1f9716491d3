// `dualsip drill` end to end: a pair in network namespaces (the ops-switchover topology:
// caller/callee SIPp, nodes A and B with their own redis-server, floating IP), the CLI in
// the caller's namespace reaching each node's admin API on its own address.
//  - under SIPp load (connected calls held through the drill): `drill --back --json` says
//    0 lost, its kept count equals the calls SIPp had up, both nodes show the drill in
//    status and in /metrics, and SIPp's calls all end normally afterwards;
//  - the refusal: the passive's sync link cut, the drill exits 1 with the hint, nothing moves.
import { describe, expect, it } from 'vitest';
import { CLI_MAIN, explain, Sipp } from '../harness/index.js';
import { ADDR, VIP, lastRole, type NodeName, usePairLab, adminUrl } from './pair-topology.js';

const TOKEN = 'e2e-drill-token-1';
const CALLS = Number(process.env['DSIP_DRILL_CALLS'] ?? 60);
const RATE = Number(process.env['DSIP_DRILL_RATE'] ?? 30);
const HOLD_MS = Number(process.env['DSIP_DRILL_HOLD_MS'] ?? 25_000);

const lab = usePairLab('ops-drill', { calleeRecvTimeoutMs: HOLD_MS + 30_000, adminToken: TOKEN });

/** Runs `dualsip <args>` against both nodes, in the caller's namespace. */
async function cli(args: string[], timeoutMs = 60_000) {
  return lab.topo.host('caller').exec([process.execPath, '--import', 'tsx', CLI_MAIN, ...args, '--node', `A=${adminUrl('a')}`, '--node', `B=${adminUrl('b')}`, '--token', TOKEN], { allowFail: true, timeoutMs });
}

async function metrics(n: NodeName): Promise<string> {
  const r = await lab.topo.host('caller').exec(['curl', '-sS', '--max-time', '5', '-H', `Authorization: Bearer ${TOKEN}`, `${adminUrl(n)}/metrics`]);
  return r.stdout;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const healthy = () => waitFor('a healthy pair', async () => ((await cli(['status', '--json'])).code === 0 ? true : undefined), 30_000);

describe('dualsip drill on a pair in namespaces', () => {
  it(`drill --back --json under ${CALLS} connected calls: 0 lost, kept = the calls SIPp had up, recorded in status and /metrics on both nodes`, async () => {
    await healthy();
    const load = await Sipp.start({
      scenario: 'uac', host: lab.topo.host('caller'), localIp: ADDR.caller, localPort: 5071, remote: `${VIP}:5060`,
      calls: CALLS, rate: RATE, holdMs: HOLD_MS, timeoutSec: Math.ceil(HOLD_MS / 1000 + CALLS / RATE + 40), recvTimeoutMs: HOLD_MS + 15_000, name: 'caller load',
    });
    // Every call placed and answered, as SIPp itself counts them (its CSV is rewritten every second).
    const upBefore = await waitFor('every SIPp call up', async () => {
      const s = load.snapshot();
      return s.source === 'stat-csv' && s.current === CALLS && s.successful === 0 && s.failed === 0 ? s.current : undefined;
    }, 30_000);
    const d = await cli(['drill', '--back', '--json'], 90_000);
    const upAfter = load.snapshot();
    expect(d.code, d.stdout + d.stderr).toBe(0);
    const j = JSON.parse(d.stdout);
    const figures = j.legs.map((l: { from: string; to: string; takeoverMs: number; switchoverMs: number; servingMs: number; calls: unknown; report: { phases: unknown } }) => ({
      leg: `${l.from}->${l.to}`, takeoverMs: l.takeoverMs, switchoverMs: l.switchoverMs, servingMs: l.servingMs, phases: l.report.phases, calls: l.calls,
    }));
    console.log(`[ops-drill] ${JSON.stringify({ calls: CALLS, sippUpBefore: upBefore, sippUpAfter: upAfter.current, legs: figures })}`);
    expect(j.ok).toBe(true);
    expect(j.problems).toEqual([]);
    expect(j.legs.map((l: { from: string; to: string }) => `${l.from}->${l.to}`)).toEqual(['A->B', 'B->A']);
    // SIPp's calls were all up before and after the drill (hold > drill), so each leg must have kept exactly those.
    expect(upAfter.current).toBe(upBefore);
    for (const l of j.legs) {
      expect(l.calls.connected, JSON.stringify(l.lost)).toEqual({ before: upBefore, kept: upBefore, endedNormally: 0, lost: 0 });
      expect(l.calls.ringing.lost).toBe(0);
      expect(l.published).toBe(true);
      expect(typeof l.takeoverMs).toBe('number');
      expect(typeof l.servingMs).toBe('number');
    }
    expect(lastRole(lab.nodes.a!)?.role).toBe('active');
    // Published: each node that took over shows its leg in status and in /metrics.
    const st = JSON.parse((await cli(['status', '--json'])).stdout);
    expect(st.nodes[1].status.drills.switchover).toMatchObject({ kind: 'switchover', from: 'a', to: 'b', ok: true, calls: { connected: { kept: CALLS, lost: 0 } } });
    expect(st.nodes[0].status.drills.switchover).toMatchObject({ from: 'b', to: 'a', ok: true });
    for (const [n, leg] of [['b', j.legs[0]], ['a', j.legs[1]]] as const) {
      const m = await metrics(n);
      expect(m).toMatch(new RegExp(`^dualsip_drill_last_calls_kept\\{kind="switchover"\\} ${CALLS}$`, 'm'));
      expect(m).toMatch(/^dualsip_drill_last_calls_lost\{kind="switchover"\} 0$/m);
      expect(m).toMatch(/^dualsip_drill_last_ok\{kind="switchover"\} 1$/m);
      expect(m).toMatch(new RegExp(`^dualsip_drill_last_takeover_ms\\{kind="switchover"\\} ${leg.takeoverMs}$`, 'm'));
      expect(m).toMatch(/^dualsip_drill_last_timestamp_seconds\{kind="switchover"\} \d{10}/m);
    }
    // And the calls the drill counted as kept were really kept: SIPp ends every one normally.
    const res = await load.result();
    expect(res.created, explain(res)).toBe(CALLS);
    expect(res.failed, explain(res)).toBe(0);
    expect(res.successful, explain(res)).toBe(CALLS);
  }, 120_000);

  it('passive not ready (its sync link cut): the drill is refused with a hint, exit 1, nothing switches, nothing recorded', async () => {
    const before = JSON.parse((await cli(['status', '--json'])).stdout).nodes.map((n: { status: { drills?: { switchover?: { recordedAt: string } } } }) => n.status.drills?.switchover?.recordedAt ?? null);
    await lab.topo.cut('b', 'sync');
    try {
      await lab.nodes.a!.process.waitForLog((r) => r['msg'] === 'heartbeat path down', { timeoutMs: 10_000, fromStart: false });
      const r = await cli(['drill', '--back']);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^drill refused: pair not ready: .*sync/m);
      expect(r.stderr).toMatch(/^hint: .*--force/m);
      expect(r.stdout).toBe('');
      expect(lastRole(lab.nodes.a!)?.role).toBe('active');
      expect(lastRole(lab.nodes.b!)?.role).toBe('passive');
    } finally {
      await lab.topo.heal('b', 'sync');
    }
    await healthy();
    const after = JSON.parse((await cli(['status', '--json'])).stdout).nodes.map((n: { status: { drills?: { switchover?: { recordedAt: string } } } }) => n.status.drills?.switchover?.recordedAt ?? null);
    expect(after).toEqual(before);
  }, 90_000);
});
