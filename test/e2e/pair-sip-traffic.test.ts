// Switchover on SIP traffic loss (ha.sipTrafficLoss), end to end on the pair topology (floating
// IP 198.18.1.100), both nodes with --sip-traffic-loss, a 2 s window, minRequests 10 and the
// passive's OPTIONS probe every 500 ms.
//  (1) control, a pair that goes quiet: SIPp places calls through the VIP until A's rule is
//      armed, then the caller stops. Three windows later A is still active, no alarm, and its
//      rule still counts requests (the passive's probes).
//  (2) an nft rule in A's namespace drops UDP to the VIP's port 5060 (heartbeats on 7400 and
//      everything else untouched) while SIPp places calls: A raises HA_SIP_TRAFFIC_LOST and
//      switches over to B by this rule (the reason in its role change and in `dualsip status`),
//      the calls connected before the drop are kept (SIPp ends them normally through B), and a
//      fresh batch of calls through the VIP succeeds on B. B's rule does not switch back.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain, Sipp, type StartedNode } from '../harness/index.js';
import { ADDR, VIP, lastRole, type NodeName, type PairNodeOptions, usePairLab } from './pair-topology.js';

const lab = usePairLab('pair-sip-traffic', { calleeRecvTimeoutMs: 60_000, node: (id) => opts(id === 'a') });
const TOKEN = 'e2e-sip-traffic-admin-token';
const ADMIN_PORT = 7080;
const WINDOW_MS = 2000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logs = (n: StartedNode, pred: (r: Record<string, unknown>) => boolean) => n.process.lines().filter((l) => l.json && pred(l.json)).map((l) => l.json!);
const opts = (preferred: boolean): PairNodeOptions => ({
  preferred,
  extraArgs: [
    '--sip-traffic-loss', '--sip-traffic-window', String(WINDOW_MS), '--sip-traffic-min', '10', '--sip-traffic-probe', '500',
    '--admin-address', '127.0.0.1', '--admin-port', String(ADMIN_PORT), '--admin-token', TOKEN,
  ],
});

interface NodeStatus {
  role: string;
  epoch: number;
  sipTraffic: { state: string | null; lastWindow: number | null; prevWindow: number | null; switchovers: number } | null;
  alarms: Array<{ code: string; text: string }>;
  switchover: { last: { from: string; to: string; ms: number; callsAtStart: { connected: number; ringing: number }; heldAtCut: number } | null };
}

/** `dualsip status --json` run in the node's own namespace against its admin API. */
async function status(id: NodeName): Promise<NodeStatus> {
  const r = await lab.topo.host(id).exec(
    ['node', '--import', 'tsx', 'packages/cli/src/main.ts', 'status', '--node', `${id.toUpperCase()}=http://127.0.0.1:${ADMIN_PORT}`, '--token', TOKEN, '--json'],
    { allowFail: true },
  );
  return (JSON.parse(r.stdout) as { nodes: Array<{ status: NodeStatus }> }).nodes[0]!.status;
}

async function waitStatus(id: NodeName, pred: (s: NodeStatus) => boolean, timeoutMs: number): Promise<NodeStatus> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(id);
    if (pred(s)) return s;
    if (Date.now() > until) throw new Error(`node ${id}: status never matched: ${JSON.stringify(s)}`);
    await sleep(200);
  }
}

describe('switchover on SIP traffic loss', () => {
  it('(1) control: callers stop (quiet pair): no switchover, the passive\'s probes keep the count moving', async () => {
    const a = lab.nodes.a!;
    const epoch = lastRole(a)!.epoch;
    const load = await Sipp.start({ scenario: 'uac', host: lab.topo.host('caller'), localIp: ADDR.caller, localPort: 5080, remote: `${VIP}:5060`, calls: 60, rate: 20, holdMs: 200, timeoutSec: 30, name: 'caller (quiet)' });
    // Evidence that the rule is armed by the calls before they stop (not a vacuous control).
    const armed = await waitStatus('a', (s) => s.sipTraffic?.state === 'armed' && (s.sipTraffic.prevWindow ?? 0) >= 10, 10_000);
    const r = await load.result();
    expect(r.successful, explain(r)).toBe(60);
    await sleep(3 * WINDOW_MS + 500);
    const st = await status('a');
    expect(st.role).toBe('active');
    expect(st.epoch).toBe(epoch);
    expect(st.alarms.map((x) => x.code)).not.toContain('HA_SIP_TRAFFIC_LOST');
    // Only probes now (4 per window at 500 ms): the rule counts them, too few to arm.
    expect(st.sipTraffic).toMatchObject({ state: 'idle', switchovers: 0 });
    expect(st.sipTraffic!.lastWindow).toBeGreaterThan(0);
    expect(logs(a, (x) => x['msg'] === 'SIP traffic lost')).toEqual([]);
    console.log(`[pair-sip-traffic] ${JSON.stringify({ case: 'quiet pair', armedWith: armed.sipTraffic, after: st.sipTraffic, role: st.role })}`);
  }, 40_000);

  it('(2) inbound SIP dropped on A (nft, heartbeats untouched): A switches over to B by this rule, calls kept, new calls on B', async () => {
    const a = lab.nodes.a!;
    const b = lab.nodes.b!;
    const epoch = lastRole(a)!.epoch;
    // 8 s calls placed at 10/s for 4 s: the first ones are connected when the drop comes.
    const load = await Sipp.start({ scenario: 'uac', host: lab.topo.host('caller'), localIp: ADDR.caller, localPort: 5081, remote: `${VIP}:5060`, calls: 40, rate: 10, holdMs: 8000, timeoutSec: 45, name: 'caller (drop)' });
    await waitStatus('a', (s) => s.sipTraffic?.state === 'armed', 10_000);
    const lostA = a.process.waitForLog((r) => r['msg'] === 'SIP traffic lost', { timeoutMs: 15_000, fromStart: false });
    const drainA = a.process.waitForLog((r) => r['msg'] === 'role' && r['role'] === 'draining', { timeoutMs: 15_000, fromStart: false });
    const passiveA = a.process.waitForLog((r) => r['msg'] === 'role' && r['role'] === 'passive', { timeoutMs: 20_000, fromStart: false });
    const took = b.process.waitForLog((r) => r['msg'] === 'took over: active', { timeoutMs: 20_000, fromStart: false });
    const file = join(lab.dir, 'drop-sip-a.nft');
    writeFileSync(file, `table inet dsiptl {\n chain in { type filter hook input priority 0; policy accept; ip daddr ${VIP} udp dport 5060 drop; }\n}\n`);
    const dropAt = Date.now();
    await lab.topo.host('a').exec(['nft', '-f', file]);
    const lost = await lostA;
    const dr = await drainA;
    const t = await took;
    await passiveA;
    expect(String(dr['reason'])).toMatch(/^SIP traffic lost: no inbound SIP request for 2000 ms after \d+ in the window before$/);
    expect(Number(t['epoch'])).toBe(epoch + 1);
    // The heartbeats never stopped: no peer loss, no takeover by the peer's death.
    expect(logs(b, (x) => x['msg'] === 'peer lost')).toEqual([]);
    const sa = await status('a');
    expect(sa.role).toBe('passive');
    expect(sa.alarms.find((x) => x.code === 'HA_SIP_TRAFFIC_LOST')?.text).toMatch(/switching over to b/);
    expect(sa.switchover.last).toMatchObject({ from: 'a', to: 'b' });
    // Calls were connected on A when it switched over (what "kept" below is about).
    expect(sa.switchover.last!.callsAtStart.connected).toBeGreaterThan(0);
    // The calls connected before the drop end normally through B (SIPp's BYEs reach B).
    const r = await load.result();
    expect(r.failed, explain(r)).toBe(0);
    expect(r.successful).toBe(40);
    // New calls through the VIP on B.
    const fresh = await Sipp.run({ scenario: 'uac', host: lab.topo.host('caller'), localIp: ADDR.caller, localPort: 5082, remote: `${VIP}:5060`, calls: 10, rate: 10, holdMs: 200, timeoutSec: 20, name: 'caller (after)' });
    expect(fresh.successful, explain(fresh)).toBe(10);
    // B does not switch back: it is armed only by its own traffic, and that keeps flowing.
    const sb = await status('b');
    expect(sb.role).toBe('active');
    expect(sb.sipTraffic?.switchovers).toBe(0);
    expect(sb.alarms.map((x) => x.code)).not.toContain('HA_SIP_TRAFFIC_LOST');
    console.log(
      `[pair-sip-traffic] ${JSON.stringify({
        case: 'inbound SIP dropped on A',
        dropToLostMs: Number(lost['time']) - dropAt,
        dropToDrainingMs: Number(dr['time']) - dropAt,
        dropToPeerActiveMs: Number(t['time']) - dropAt,
        prevWindow: lost['prevWindow'],
        epochBefore: epoch,
        epochAfter: Number(t['epoch']),
        switchoverMs: sa.switchover.last!.ms,
        connectedAtSwitchover: sa.switchover.last!.callsAtStart.connected,
        ringingAtSwitchover: sa.switchover.last!.callsAtStart.ringing,
        callsOk: r.successful,
        callsFailed: r.failed,
        newCallsOk: fresh.successful,
      })}`,
    );
    await lab.topo.host('a').exec(['nft', 'delete', 'table', 'inet', 'dsiptl']);
  }, 60_000);
});
