// Issue 7: the example application (examples/app) runs as its README says —
// against one node with the application API on — routes a SIPp call, prints
// its events as JSON lines, and hangs calls up after --max-call-ms.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, Sipp, cleanupAll, explain, freePort, localHost, randomLoopbackAddress, startNode, type ManagedProcess, type SippRun, type StartedNode } from '../harness/index.js';

const TOKEN = 's3cret-token';
const ip = randomLoopbackAddress();
let node: StartedNode;
let callee: SippRun;
let app: ManagedProcess;

beforeAll(async () => {
  callee = await Sipp.start({ scenario: 'uas-basic', localIp: ip, recvTimeoutMs: 10_000, name: 'callee' });
  const appPort = await freePort(ip);
  // As in the README: the node's static default points elsewhere; the application routes 44… to the callee.
  node = await startNode({ sipAddress: ip, routeDefault: `sip:${ip}:9`, transports: ['udp'], extraArgs: ['--app-token', `example=${TOKEN}`, '--app-port', String(appPort)], readyTimeoutMs: 60_000 });
  app = localHost.spawn(
    process.execPath,
    ['--import', 'tsx', 'examples/app/main.ts', '--node', `ws://${ip}:${appPort}`, '--token', TOKEN, '--name', 'example', '--route', `44=sip:${callee.address}`, '--reject', '666=403', '--max-call-ms', '500'],
    { name: 'example app', cwd: REPO_ROOT, ringLines: 5000, stopTimeoutMs: 3000 },
  );
  await app.waitForLog((r) => r['msg'] === 'app ready', { timeoutMs: 30_000 });
}, 90_000);

afterAll(async () => {
  await app?.stop().catch(() => undefined);
  await cleanupAll();
});

describe('example application (README)', () => {
  it('routes a call, prints offered/ringing/answered/ended, and ends it after --max-call-ms (both legs get a BYE)', async () => {
    // The caller holds until the node's BYE (sent when the application hangs up after 0.5 s).
    const scenario = fileURLToPath(new URL('./app-scenarios/uac-wait-bye.xml', import.meta.url));
    const r = await Sipp.run({ scenario, localIp: ip, remote: node.sipTarget, service: '44123', calls: 1, rate: 1, timeoutSec: 20, recvTimeoutMs: 10_000 });
    expect(r.successful, explain(r)).toBe(1);
    const callLines = () => app.lines().flatMap((l) => (l.json?.['msg'] === 'call' ? [l.json] : []));
    const end = Date.now() + 5000;
    while (!callLines().some((c) => c['event'] === 'call.ended') && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
    const calls = callLines();
    expect(calls.map((c) => c['event']), app.tail(20)).toEqual(['call.offered', 'call.ringing', 'call.answered', 'call.ended']);
    expect(calls[3]).toMatchObject({ rule: 'app', endReason: 'max-duration' });
    // The callee's scenario ends with the BYE: it completed, so the B leg got it.
    const c = await callee.stop();
    expect(c.successful, explain(c)).toBe(1);
  }, 40_000);

  it('rejects with the configured status', async () => {
    const r = await Sipp.run({ scenario: 'uac-486', localIp: ip, remote: node.sipTarget, service: '666', calls: 1, rate: 1, timeoutSec: 10, recvTimeoutMs: 5000 });
    // uac-486 expects 486, so a 403 is an "unexpected message" failure whose status we read from the messages.
    expect(r.successful + r.failed, explain(r)).toBe(1);
    const rejected = () => app.lines().flatMap((l) => (l.json?.['msg'] === 'call' && l.json['endReason'] === 'app-rejected' ? [l.json] : []));
    const end = Date.now() + 5000;
    while (rejected().length === 0 && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
    const ended = rejected().at(-1);
    expect(ended).toMatchObject({ endStatus: 403, endReason: 'app-rejected' });
  }, 30_000);
});
