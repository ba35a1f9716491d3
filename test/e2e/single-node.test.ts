// Issue 2, end to end: one dualsip node on loopback between SIPp callers and
// SIPp callees (our scenarios in test/scenarios, validated SIPp-to-SIPp by
// test/harness/harness.test.ts). One node routes by Request-URI user prefix
// to a dedicated callee per scenario, so each callee's own figures prove what
// reached it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Sipp,
  cleanupAll,
  explain,
  randomLoopbackAddress,
  startNode,
  type SippRun,
  type SippResult,
  type SippTransport,
  type StartedNode,
} from '../harness/index.js';

const ip = randomLoopbackAddress();
let node: StartedNode;
const callees: Record<string, SippRun> = {};

// prefix → callee scenario and transport
const CALLEES = {
  '1000': { scenario: 'uas-basic', transport: 'u1' },
  '2000': { scenario: 'uas-reinvite', transport: 'u1' },
  '3000': { scenario: 'uas-cancel', transport: 'u1' },
  '4000': { scenario: 'uas-486', transport: 'u1' },
  '5000': { scenario: 'uas-basic', transport: 't1' },
} as const satisfies Record<string, { scenario: string; transport: SippTransport }>;

function expectAllGood(r: SippResult, calls: number, side: string): void {
  const why = `${side}\n${explain(r)}\n${node?.process.tail(20) ?? ''}`;
  expect(r.failed, why).toBe(0);
  expect(r.successful, why).toBe(calls);
}

async function caller(opts: { scenario: string; service: keyof typeof CALLEES; calls: number; rate: number; transport?: SippTransport }): Promise<SippResult> {
  return Sipp.run({
    scenario: opts.scenario,
    localIp: ip,
    remote: node.sipTarget,
    service: opts.service,
    transport: opts.transport ?? 'u1',
    rate: opts.rate,
    calls: opts.calls,
    timeoutSec: Math.ceil(opts.calls / opts.rate) + 30,
    recvTimeoutMs: 5000,
  });
}

beforeAll(async () => {
  const routes: Record<string, string> = {};
  for (const [prefix, c] of Object.entries(CALLEES)) {
    const run = await Sipp.start({ scenario: c.scenario, localIp: ip, transport: c.transport, recvTimeoutMs: 5000, name: `callee ${prefix} ${c.scenario}/${c.transport}` });
    callees[prefix] = run;
    routes[prefix] = `sip:${run.address}${c.transport === 't1' ? ';transport=tcp' : ''}`;
  }
  node = await startNode({ sipAddress: ip, routeDefault: `sip:${callees['1000']!.address}`, routes, transports: ['udp', 'tcp'], readyTimeoutMs: 60_000 });
}, 90_000);

afterAll(async () => {
  await cleanupAll();
});

describe('single node on loopback', () => {
  it('completes 1,000 calls at 100 calls/s with 0 failed, on both the caller and the callee side', async () => {
    const r = await caller({ scenario: 'uac', service: '1000', calls: 1000, rate: 100 });
    const callee = await callees['1000']!.stop();
    expectAllGood(r, 1000, 'caller');
    expectAllGood(callee, 1000, 'callee');
    expect(node.process.running).toBe(true);
  }, 90_000);

  it('callee sends a re-INVITE then BYE: both reach the caller and are answered', async () => {
    const r = await caller({ scenario: 'uac-reinvite', service: '2000', calls: 20, rate: 10 });
    const callee = await callees['2000']!.stop();
    expectAllGood(r, 20, 'caller');
    expectAllGood(callee, 20, 'callee');
    expect(r.messages['6_INVITE_Recv'], explain(r)).toBe(20);
    expect(r.messages['9_BYE_Recv'], explain(r)).toBe(20);
  }, 60_000);

  it('caller CANCELs while ringing: 487 reaches the caller, CANCEL reaches the callee', async () => {
    const r = await caller({ scenario: 'uac-cancel', service: '3000', calls: 20, rate: 10 });
    const callee = await callees['3000']!.stop();
    expectAllGood(r, 20, 'caller');
    expectAllGood(callee, 20, 'callee');
    expect(r.messages['5_487_Recv'], explain(r)).toBe(20);
    expect(callee.messages['2_CANCEL_Recv'], explain(callee)).toBe(20);
  }, 60_000);

  it('callee answers 486 Busy Here: the caller gets 486', async () => {
    const r = await caller({ scenario: 'uac-486', service: '4000', calls: 20, rate: 10 });
    const callee = await callees['4000']!.stop();
    expectAllGood(r, 20, 'caller');
    expectAllGood(callee, 20, 'callee');
    expect(r.messages['3_486_Recv'], explain(r)).toBe(20);
  }, 60_000);

  it('carries calls over TCP on both legs: 200 calls at 50 calls/s, 0 failed', async () => {
    const r = await caller({ scenario: 'uac-basic', service: '5000', calls: 200, rate: 50, transport: 't1' });
    const callee = await callees['5000']!.stop();
    expectAllGood(r, 200, 'caller');
    expectAllGood(callee, 200, 'callee');
    expect(node.process.running).toBe(true);
  }, 60_000);
});
