// Connected calls whose legs run over TCP across a SIGKILL of the active (roadmap: TCP legs survive a
// takeover). The pair in namespaces of pair-failover.test.ts, both nodes listening on UDP and TCP on the VIP;
// caller and callee SIPp with -t t1. When A dies every TCP connection it had closes: after the takeover each
// message travels on a connection opened again — the caller's BYE on the one SIPp opens to the VIP (now B),
// B's BYE to the callee on one B opens to the callee's Contact (from the VIP), the callee's 200 on the one it
// opens to the VIP (-rsa: its outbound proxy).
//
// SIPp 3.6 limits (FAILOVER.md "TCP legs" has the evidence): without -reconnect_close false SIPp fails every
// call of a closed connection; with it, the first write on a socket SIPp has seen closed fails with EPIPE and
// that call is dropped (FailedCannotSendMessage) before SIPp reconnects. So each SIPp loses exactly one call
// here, and the callee also loses the call whose BYE its caller never sent. The test asserts that every other
// call ends normally on both legs, and that the failures are those and nothing else.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupAll, explain, Sipp, type SippRun, type StartedNode, type Topology } from '../harness/index.js';
import { ADDR, VIP, lastRole, pairTopology, startPairNode, stateDir, waitRole } from './pair-topology.js';

const CALLS = Number(process.env['DSIP_TCP_CALLS'] ?? 20);
const RATE = Number(process.env['DSIP_TCP_RATE'] ?? 10);
const HOLD_MS = Number(process.env['DSIP_TCP_HOLD_MS'] ?? 8000);
/** Let a TCP party keep its calls when its connection drops, and reconnect (see above). */
const KEEP_CALLS = ['-max_reconnect', '50', '-reconnect_close', 'false', '-reconnect_sleep', '50'];

let topo: Topology;
let callee: SippRun;
const nodes: Partial<Record<'a' | 'b', StartedNode>> = {};

beforeAll(async () => {
  topo = await pairTopology('pair-tcp');
  const dir = stateDir();
  callee = await Sipp.start({
    scenario: 'uas', host: topo.host('callee'), localIp: ADDR.callee, localPort: 5060, transport: 't1',
    recvTimeoutMs: 45_000, extraArgs: ['-rsa', `${VIP}:5060`, ...KEEP_CALLS], name: 'callee',
  });
  const opts = { transports: ['udp', 'tcp'], routeDefault: `sip:${ADDR.callee}:5060;transport=tcp` };
  [nodes.a, nodes.b] = await Promise.all([startPairNode(topo, 'a', dir, { ...opts, preferred: true }), startPairNode(topo, 'b', dir, opts)]);
}, 90_000);

afterAll(async () => {
  await callee?.process.stop().catch(() => undefined);
  for (const n of Object.values(nodes)) await n?.stop(3000).catch(() => undefined);
  await cleanupAll();
});

describe('pair in namespaces, TCP legs', () => {
  it('SIGKILL of the active with TCP calls up: the calls end normally through B on new connections', async () => {
    await waitRole(nodes.a!, 'active', 15_000);
    await waitRole(nodes.b!, 'passive', 15_000);
    const load = await Sipp.start({
      scenario: 'uac', host: topo.host('caller'), localIp: ADDR.caller, localPort: 5071, remote: `${VIP}:5060`, transport: 't1',
      calls: CALLS, rate: RATE, holdMs: HOLD_MS, recvTimeoutMs: 15_000, extraArgs: KEEP_CALLS,
      timeoutSec: Math.ceil(HOLD_MS / 1000 + CALLS / RATE + 60), name: 'caller tcp',
    });
    const placeMs = (CALLS / RATE) * 1000;
    await new Promise((r) => setTimeout(r, placeMs + 1000));
    // SIPp rewrites its stat file once a second, and a loaded box places the last call
    // late: wait (well inside the hold) until the callee counts every call up.
    for (let i = 0; i < 16 && callee.snapshot().current !== CALLS; i++) await new Promise((r) => setTimeout(r, 250));
    expect(nodes.b!.process.lines().filter((l) => l.json?.['msg'] === 'took over: active').length, 'B took over before A was killed').toBe(0);
    expect(callee.snapshot().current, 'calls up on the callee before the kill').toBe(CALLS);
    const killAt = Date.now();
    nodes.a!.process.kill('SIGKILL');
    const took = await nodes.b!.process.waitForLog((r) => r['msg'] === 'took over: active', { timeoutMs: 10_000, fromStart: false });
    const caller = await load.result();
    // the callee's last calls end when B's BYE reaches them, or (the call whose BYE SIPp never sent) at its recv timeout
    await callee.waitIdle(60_000);
    const calleeSide = callee.snapshot();
    const figures = {
      calls: CALLS, rate: RATE, holdMs: HOLD_MS,
      killToTakeoverMs: Number(took['time']) - killAt,
      takeoverMs: Number(took['ms']),
      adopted: Number(took['adopted']),
      callerOk: `${caller.successful}/${caller.created}`, callerFailures: caller.failures,
      calleeOk: `${calleeSide.successful}/${calleeSide.created}`, calleeFailures: calleeSide.failures,
    };
    console.log(`[pair-tcp] ${JSON.stringify(figures)}`);
    expect(lastRole(nodes.b!)?.role).toBe('active');
    expect(Number(took['adopted']), explain(caller)).toBe(CALLS);
    expect(caller.created, explain(caller)).toBe(CALLS);
    // The caller: only SIPp's own EPIPE on its dead socket, at most once.
    const callerLost = caller.failures['FailedCannotSendMessage'] ?? 0;
    expect(callerLost, explain(caller)).toBeLessThanOrEqual(1);
    expect(caller.failed, explain(caller)).toBe(callerLost);
    expect(caller.successful, explain(caller)).toBe(CALLS - callerLost);
    // The callee: its own EPIPE (at most once), and a BYE never sent by the caller's SIPp (callerLost) — nothing else.
    const calleeLost = calleeSide.failures['FailedCannotSendMessage'] ?? 0;
    const calleeNoBye = calleeSide.failures['FailedTimeoutOnRecv'] ?? 0;
    expect(calleeLost, explain(calleeSide)).toBeLessThanOrEqual(1);
    expect(calleeNoBye, explain(calleeSide)).toBeLessThanOrEqual(callerLost);
    expect(calleeSide.failed, explain(calleeSide)).toBe(calleeLost + calleeNoBye);
    expect(calleeSide.successful, explain(calleeSide)).toBe(CALLS - calleeSide.failed);
    delete nodes.a;
  }, 150_000);
});
