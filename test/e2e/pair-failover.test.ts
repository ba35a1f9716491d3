// Issue 5, end to end: a pair in network namespaces (caller and callee SIPp, nodes A
// and B on a SIP bridge and a sync bridge, each node with its own redis-server,
// floating IP 198.18.1.100/24).
//  (a) start-up elects exactly one active; calls through the VIP work.
//  (b) SIGKILL of the active (node process and its Redis, one process group) with
//      calls up: B takes over; connected calls end normally; the gap is measured.
// Figures go to the test output (FAILOVER.md records them with the command).
import { describe, expect, it } from 'vitest';
import { explain, Sipp } from '../harness/index.js';
import { ADDR, VIP, answerTimes, lastRole, waitRole, usePairLab } from './pair-topology.js';

const LOAD_CALLS = Number(process.env['DSIP_PAIR_CALLS'] ?? 50);
const LOAD_RATE = Number(process.env['DSIP_PAIR_RATE'] ?? 10);
const HOLD_MS = Number(process.env['DSIP_PAIR_HOLD_MS'] ?? 20_000);

const lab = usePairLab('pair-failover', { calleeRecvTimeoutMs: 90_000 });

describe('pair in namespaces (floating IP)', () => {
  it('(a) start-up elects exactly one active; calls through the VIP work', async () => {
    await waitRole(lab.nodes.a!, 'active', 15_000);
    await waitRole(lab.nodes.b!, 'passive', 15_000);
    expect(lastRole(lab.nodes.a!)?.role).toBe('active');
    expect(lastRole(lab.nodes.b!)?.role).toBe('passive');
    // Only the active holds the floating IP.
    const onA = (await lab.topo.host('a').ip(['-o', 'addr', 'show', 'dev', 'sip'])).stdout;
    const onB = (await lab.topo.host('b').ip(['-o', 'addr', 'show', 'dev', 'sip'])).stdout;
    expect(onA).toContain(`${VIP}/24`);
    expect(onB).not.toContain(`${VIP}/24`);
    const r = await Sipp.run({ scenario: 'uac', host: lab.topo.host('caller'), localIp: ADDR.caller, localPort: 5070, remote: `${VIP}:5060`, calls: 20, rate: 10, holdMs: 500, timeoutSec: 30, name: 'caller (a)' });
    expect(r.successful, explain(r)).toBe(20);
    expect(r.failed, explain(r)).toBe(0);
  }, 60_000);

  it('(b) SIGKILL of the active with calls up: B takes over, connected calls end normally, new calls answered again', async () => {
    await waitRole(lab.nodes.b!, 'passive', 15_000);
    // The load: LOAD_CALLS calls of HOLD_MS, placed at LOAD_RATE calls/s before the kill.
    const load = await Sipp.start({
      scenario: 'uac', host: lab.topo.host('caller'), localIp: ADDR.caller, localPort: 5071, remote: `${VIP}:5060`,
      calls: LOAD_CALLS, rate: LOAD_RATE, holdMs: HOLD_MS, timeoutSec: Math.ceil(HOLD_MS / 1000 + LOAD_CALLS / LOAD_RATE + 30),
      recvTimeoutMs: 15_000, name: 'caller load',
    });
    const placeMs = (LOAD_CALLS / LOAD_RATE) * 1000;
    // The probe: short new calls at 20 calls/s across the kill, answer times traced.
    const probe = await Sipp.start({
      scenario: 'uac', host: lab.topo.host('caller'), localIp: ADDR.caller, localPort: 5072, remote: `${VIP}:5060`,
      rate: 20, holdMs: 0, timeoutSec: Math.ceil(placeMs / 1000 + 8), recvTimeoutMs: 4000, traceRtt: true, keepDir: true, name: 'caller probe',
    });
    await new Promise((r) => setTimeout(r, placeMs + 1000));
    // A takeover before the kill (missed heartbeats under load) would make every figure below meaningless.
    const why = (['a', 'b'] as const)
      .flatMap((n) => lab.nodes[n]!.process.lines().filter((l) => ['event loop stalled', 'peer lost', 'heartbeat path down'].includes(String(l.json?.['msg']))).map((l) => `${n}: ${l.line}`))
      .join('\n');
    expect(lab.nodes.b!.process.lines().filter((l) => l.json?.['msg'] === 'took over: active').length, `B took over before A was killed:\n${why}`).toBe(0);
    expect(lastRole(lab.nodes.a!)?.role).toBe('active');
    const killAt = Date.now();
    const bListening = lab.nodes.b!.process.waitForLog((r) => r['msg'] === 'sip listening', { timeoutMs: 10_000, fromStart: false });
    lab.nodes.a!.process.kill('SIGKILL'); // the whole process group: node, engine thread and its redis-server
    const took = await lab.nodes.b!.process.waitForLog((r) => r['msg'] === 'took over: active', { timeoutMs: 10_000, fromStart: false });
    const tookAt = Number(took['time']);
    const probeResult = await probe.result();
    const loadResult = await load.result();
    // The callee's side of the same calls: every BYE the node sent answered 200.
    await lab.callee.waitIdle(20_000);
    const calleeSide = lab.callee.snapshot();
    // Answers B gave: from the moment B's engine bound the VIP (A's last answers may land just after the kill).
    const bBoundAt = Number((await bListening)['time']);
    const answered = answerTimes(probe).filter((t) => t >= bBoundAt);
    const firstAnswerMs = answered.length > 0 ? answered[0]! - killAt : NaN;
    const figures = {
      calls: LOAD_CALLS, rate: LOAD_RATE, holdMs: HOLD_MS,
      killToTakeoverMs: tookAt - killAt,
      killToVipBoundMs: bBoundAt - killAt,
      takeoverMs: Number(took['ms']),
      adopted: Number(took['adopted']),
      killToFirstNewCallAnsweredMs: Math.round(firstAnswerMs),
      connectedEndedNormally: `${loadResult.successful}/${loadResult.created}`,
      loadFailed: loadResult.failed,
      probeCalls: probeResult.created,
      probeFailed: probeResult.failed,
      calleeSuccessful: calleeSide.successful,
      calleeFailed: calleeSide.failed,
    };
    console.log(`[pair-failover] ${JSON.stringify(figures)}`);
    expect(lastRole(lab.nodes.b!)?.role).toBe('active');
    expect(loadResult.created, explain(loadResult)).toBe(LOAD_CALLS);
    expect(loadResult.successful, explain(loadResult)).toBe(LOAD_CALLS);
    expect(loadResult.failed, explain(loadResult)).toBe(0);
    // "BYE answered 200 on both legs": on the callee's side only a new call caught in the
    // takeover gap may fail (one the caller's probe also counts as failed).
    expect(calleeSide.failed, explain(calleeSide)).toBeLessThanOrEqual(probeResult.failed);
    expect(answered.length, explain(probeResult)).toBeGreaterThan(0);
    delete lab.nodes.a;
  }, 120_000);
});
