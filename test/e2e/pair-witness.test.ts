// Split brain and the witness (ha.witness), end to end: the pair topology plus a `gw` host on
// the SIP bridge (198.18.1.254) that both nodes probe with ICMP echo.
//  (1) B (passive) cut from both bridges: B does NOT take over (it reaches no witness), A keeps
//      its calls, B reports isolated (HA_ISOLATED, /v1/status via `dualsip status`); heal → B
//      rejoins passive, nobody's epoch moved.
//  (2) A (active) cut from both bridges: B (witness reachable) takes over; A steps down on its
//      own before the heal (isolated, not fenced); heal → A passive at B's epoch.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain, Sipp, type StartedNode } from '../harness/index.js';
import { ADDR, VIP, lastRole, waitRole, type NodeName, type PairNodeOptions, usePairLab } from './pair-topology.js';

const lab = usePairLab('pair-witness', { gw: true, calleeRecvTimeoutMs: 60_000, node: (id) => opts(id === 'a') });
const TOKEN = 'e2e-witness-admin-token';
const ADMIN_PORT = 7080;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logs = (n: StartedNode, pred: (r: Record<string, unknown>) => boolean) => n.process.lines().filter((l) => l.json && pred(l.json)).map((l) => l.json!);
const opts = (preferred: boolean): PairNodeOptions => ({
  preferred,
  witness: { addresses: [ADDR.gw], intervalMs: 500, timeoutMs: 300 },
  extraArgs: ['--admin-address', '127.0.0.1', '--admin-port', String(ADMIN_PORT), '--admin-token', TOKEN],
});

interface StatusJson {
  nodes: Array<{ status: { role: string; epoch: number; witness: { reachable: boolean | null; isolated: boolean; targets: Array<{ address: string; reachable: boolean | null }> } | null; alarms: Array<{ code: string }> } | null }>;
}

/** `dualsip status --json` run in the node's own namespace against its admin API. */
async function status(id: NodeName): Promise<StatusJson['nodes'][number]['status']> {
  const r = await lab.topo.host(id).exec(
    ['node', '--import', 'tsx', 'packages/cli/src/main.ts', 'status', '--node', `${id.toUpperCase()}=http://127.0.0.1:${ADMIN_PORT}`, '--token', TOKEN, '--json'],
    { allowFail: true },
  );
  return (JSON.parse(r.stdout) as StatusJson).nodes[0]!.status;
}

describe('pair with a witness (split brain)', () => {
  it('(1) B (passive) cut from both networks: no takeover, A keeps its calls, B reports isolated; heal: B passive, epoch unchanged', async () => {
    const a = lab.nodes.a!;
    const b = lab.nodes.b!;
    const epoch = lastRole(a)!.epoch;
    // Before the cut both see the witness.
    expect((await status('b'))?.witness).toMatchObject({ reachable: true, isolated: false, targets: [{ address: ADDR.gw, reachable: true }] });
    // 10 calls that stay up across the cut and the heal.
    const load = await Sipp.start({ scenario: 'uac', host: lab.topo.host('caller'), localIp: ADDR.caller, localPort: 5080, remote: `${VIP}:5060`, calls: 10, rate: 20, holdMs: 9000, timeoutSec: 30, name: 'caller (1)' });
    await sleep(1000);
    const isolatedB = b.process.waitForLog((r) => r['code'] === 'HA_ISOLATED', { timeoutMs: 8000, fromStart: false });
    const lostA = a.process.waitForLog((r) => r['msg'] === 'peer lost', { timeoutMs: 8000, fromStart: false });
    const rolesA = logs(a, (r) => r['msg'] === 'role').length;
    const cutAt = Date.now();
    await lab.topo.cut('b', 'sip');
    await lab.topo.cut('b', 'sync');
    const iso = await isolatedB;
    await lostA;
    // Several witness rounds later B is still passive and A still active.
    await sleep(2500);
    const st = await status('b');
    expect(st).toMatchObject({ role: 'passive', epoch, witness: { reachable: false, isolated: true, targets: [{ address: ADDR.gw, reachable: false }] } });
    expect(st!.alarms.map((x) => x.code)).toContain('HA_ISOLATED');
    expect(logs(b, (r) => r['msg'] === 'took over: active')).toEqual([]);
    expect(logs(a, (r) => r['code'] === 'HA_ISOLATED')).toEqual([]);
    expect(lastRole(a)).toMatchObject({ role: 'active', epoch });
    const back = b.process.waitForLog((r) => r['msg'] === 'peer back', { timeoutMs: 8000, fromStart: false });
    await lab.topo.heal('b', 'sip');
    await lab.topo.heal('b', 'sync');
    await back;
    await sleep(1500);
    const after = await status('b');
    expect(after).toMatchObject({ role: 'passive', epoch, witness: { reachable: true, isolated: false } });
    expect(after!.alarms.map((x) => x.code)).not.toContain('HA_ISOLATED');
    expect(logs(b, (r) => r['msg'] === 'took over: active')).toEqual([]);
    expect(logs(a, (r) => r['msg'] === 'role').length, 'A changed role').toBe(rolesA);
    const r = await load.result();
    console.log(`[pair-witness] ${JSON.stringify({ case: 'B isolated', cutToIsolatedMs: Number(iso['time']) - cutAt, epochBefore: epoch, epochAfter: after!.epoch, callsOk: r.successful, callsFailed: r.failed })}`);
    expect(r.successful, explain(r)).toBe(10);
  }, 60_000);

  it('(2) A (active) cut from both networks: B takes over, A steps down on its own before the heal; heal: A passive at B\'s epoch', async () => {
    // Pulling A's cables also drops its SIP carrier: A hands over by the older rule (own SIP
    // interface down while the peer still looks healthy, within the detection window) or, when
    // the peer is already silent, as the isolated one. Either way: before the heal, never fenced.
    await isolateActive('a', 'cut');
  }, 60_000);

  it('(3) a firewall on the active drops everything (carrier stays up): it steps down as the isolated one, the peer takes over', async () => {
    const active: NodeName = lastRole(lab.nodes.a!)?.role === 'active' ? 'a' : 'b';
    await isolateActive(active, 'firewall');
  }, 60_000);
});

/** Cuts the active from both networks, checks the peer takes over and the active steps down before the heal, heals. */
async function isolateActive(id: NodeName, how: 'cut' | 'firewall'): Promise<void> {
  const peerId: NodeName = id === 'a' ? 'b' : 'a';
  const act = lab.nodes[id]!;
  const pas = lab.nodes[peerId]!;
  await waitRole(act, 'active', 5000);
  await waitRole(pas, 'passive', 5000);
  const epoch = lastRole(act)!.epoch;
  const took = pas.process.waitForLog((r) => r['msg'] === 'took over: active', { timeoutMs: 8000, fromStart: false });
  const steppingDown = act.process.waitForLog((r) => r['msg'] === 'role' && r['role'] === 'stepping-down', { timeoutMs: 8000, fromStart: false });
  const stepped = act.process.waitForLog((r) => r['msg'] === 'stepped down: SIP unbound, VIP released', { timeoutMs: 8000, fromStart: false });
  const isolated = act.process.waitForLog((r) => r['code'] === 'HA_ISOLATED', { timeoutMs: 8000, fromStart: false });
  const cutAt = Date.now();
  if (how === 'cut') {
    await lab.topo.cut(id, 'sip');
    await lab.topo.cut(id, 'sync');
  } else {
    // Everything but loopback (the node's own engine, Redis client and admin API live there).
    const file = join(lab.dir, `fw-${id}.nft`);
    writeFileSync(file, 'table inet dsipfw {\n chain in { type filter hook input priority 0; policy drop; iif lo accept; }\n chain out { type filter hook output priority 0; policy drop; oif lo accept; }\n}\n');
    await lab.topo.host(id).exec(['nft', '-f', file]);
  }
  const t = await took;
  const sd = await steppingDown;
  const s = await stepped;
  const iso = await isolated;
  expect(Number(t['epoch'])).toBe(epoch + 1);
  if (how === 'firewall') expect(String(sd['reason'])).toMatch(/^isolated/);
  else expect(String(sd['reason'])).toMatch(/^(isolated|own SIP interface down)/);
  // Still cut off: the old active has released the VIP and is passive, at its old epoch, isolated.
  await waitRole(act, 'passive', 3000);
  const addrs = (await lab.topo.host(id).ip(['-o', 'addr', 'show', 'dev', 'sip'])).stdout;
  expect(addrs).not.toContain(`${VIP}/24`);
  expect(await status(id)).toMatchObject({ role: 'passive', epoch, witness: { isolated: true, reachable: false } });
  const back = act.process.waitForLog((r) => r['msg'] === 'peer back', { timeoutMs: 8000, fromStart: false });
  if (how === 'cut') {
    await lab.topo.heal(id, 'sip');
    await lab.topo.heal(id, 'sync');
  } else {
    await lab.topo.host(id).exec(['nft', 'delete', 'table', 'inet', 'dsipfw']);
  }
  await back;
  await sleep(1500);
  expect(await status(id)).toMatchObject({ role: 'passive', epoch: epoch + 1, witness: { isolated: false, reachable: true } });
  expect(lastRole(pas)).toMatchObject({ role: 'active', epoch: epoch + 1 });
  // It stepped down before the heal, not because it saw the peer's higher epoch.
  expect(logs(act, (r) => typeof r['msg'] === 'string' && (r['msg'] as string).startsWith('fenced:'))).toEqual([]);
  // New calls work through the VIP on the new active.
  const r = await Sipp.run({ scenario: 'uac', host: lab.topo.host('caller'), localIp: ADDR.caller, localPort: how === 'cut' ? 5081 : 5082, remote: `${VIP}:5060`, calls: 5, rate: 10, holdMs: 200, timeoutSec: 20, name: `caller (${how})` });
  console.log(
    `[pair-witness] ${JSON.stringify({ case: `active ${id} isolated (${how})`, stepDownReason: sd['reason'], cutToPeerActiveMs: Number(t['time']) - cutAt, cutToStepDownStartMs: Number(sd['time']) - cutAt, cutToSteppedDownMs: Number(s['time']) - cutAt, cutToIsolatedAlarmMs: Number(iso['time']) - cutAt, epochBefore: epoch, epochAfter: Number(t['epoch']), newCallsOk: r.successful })}`,
  );
  expect(r.successful, explain(r)).toBe(5);
}
