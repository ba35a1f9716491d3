// Issue 7, end to end on a pair in namespaces: the example application
// (examples/app, built on packages/client) runs in the caller's namespace,
// connected to both nodes' application APIs, and routes every call. Then the
// active is SIGKILLed with calls up. The application must
//  - receive the takeover events from the new active and follow it,
//  - keep routing new calls (now asked by the new active),
//  - see exactly one call.ended for every call that was up before the takeover.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupAll, explain, REPO_ROOT, Sipp, startNode, type ManagedProcess, type SippRun, type StartedNode, type Topology } from '../harness/index.js';
import { ADDR, VIP, haArgs, lastRole, pairTopology, stateDir, waitRole, type NodeName } from './pair-topology.js';

const TOKEN = 'e2e-pair-app-token';
const APP_PORT = 7700; // inside the test's own namespaces
const CALLS_BEFORE = 10;
const HOLD_MS = 12_000;

let topo: Topology;
let dir: string;
let callee: SippRun;
let app: ManagedProcess;
const nodes: Partial<Record<NodeName, StartedNode>> = {};

async function startAppNode(id: NodeName, preferred: boolean): Promise<StartedNode> {
  const { mkdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  mkdirSync(join(dir, `redis-${id}`), { recursive: true });
  const node = await startNode({
    host: topo.host(id),
    sipAddress: ADDR[id].sip,
    sipPort: 5060,
    transports: ['udp'],
    // Static routing sends calls where nothing answers: only the application's routing completes them.
    routeDefault: `sip:${ADDR.callee}:5999`,
    logLevel: process.env['DSIP_APP_NODE_LOG_LEVEL'] ?? 'info',
    extraArgs: [...haArgs(id, dir, { preferred }), '--app-token', `example=${TOKEN}`, '--app-port', String(APP_PORT), '--app-route-timeout', '1000'],
    name: `node ${id}`,
  });
  await node.process.waitForLog((r) => r['msg'] === 'ha ready', { timeoutMs: 20_000 });
  return node;
}

type Line = Record<string, unknown>;
function appLines(pred: (l: Line) => boolean = () => true): Line[] {
  return app.lines().flatMap((l) => (l.json && pred(l.json) ? [l.json] : []));
}
function callEvents(event?: string): Line[] {
  return appLines((l) => l['msg'] === 'call' && (event === undefined || l['event'] === event));
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${app.tail(30)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  topo = await pairTopology('app-pair');
  dir = stateDir();
  // The callee waits longer for the BYE than the calls are held (else it aborts them and never answers the BYE).
  callee = await Sipp.start({ scenario: 'uas', host: topo.host('callee'), localIp: ADDR.callee, localPort: 5060, recvTimeoutMs: 60_000, name: 'callee' });
  [nodes.a, nodes.b] = await Promise.all([startAppNode('a', true), startAppNode('b', false)]);
  await waitRole(nodes.a!, 'active', 15_000);
  await waitRole(nodes.b!, 'passive', 15_000);
  app = topo.host('caller').spawn(
    process.execPath,
    [
      '--import', 'tsx', 'examples/app/main.ts',
      '--node', `ws://${ADDR.a.sip}:${APP_PORT}`, '--node', `ws://${ADDR.b.sip}:${APP_PORT}`,
      '--token', TOKEN, '--name', 'example', '--route-default', `sip:${ADDR.callee}:5060`,
    ],
    { name: 'example app', cwd: REPO_ROOT, env: { ...process.env }, ringLines: 50_000, stopTimeoutMs: 3000 },
  );
  await app.waitForLog((r) => r['msg'] === 'app ready', { timeoutMs: 30_000 });
  await until(() => appLines((l) => l['msg'] === 'active').at(-1)?.['node'] === 'a', 10_000, 'the app to follow node a');
}, 120_000);

afterAll(async () => {
  if (process.env['DSIP_APP_LOG']) (await import('node:fs')).writeFileSync(process.env['DSIP_APP_LOG'], app?.lines().map((l) => l.line).join('\n') ?? '');
  if (process.env['DSIP_APP_LOG']) (await import('node:fs')).writeFileSync(`${process.env['DSIP_APP_LOG']}.b`, nodes.b?.process.lines().map((l) => l.line).join('\n') ?? '');
  await app?.stop().catch(() => undefined);
  await callee?.process.stop().catch(() => undefined);
  for (const n of Object.values(nodes)) await n?.stop(3000).catch(() => undefined);
  await cleanupAll();
});

describe('application through a takeover (pair in namespaces)', () => {
  it('receives the takeover events, keeps routing new calls on the new active, and misses no call-ended event for calls up before the takeover', async () => {
    // Calls up before the takeover, routed by the application on node a.
    const load = await Sipp.start({
      scenario: 'uac', host: topo.host('caller'), localIp: ADDR.caller, localPort: 5071, remote: `${VIP}:5060`,
      calls: CALLS_BEFORE, rate: 10, holdMs: HOLD_MS, timeoutSec: Math.ceil(HOLD_MS / 1000 + 40), recvTimeoutMs: 15_000, name: 'caller load',
    });
    await until(() => callEvents('call.answered').length === CALLS_BEFORE, 10_000, `${CALLS_BEFORE} answered calls`);
    const before = callEvents('call.answered').map((l) => String(l['call']));
    expect(callEvents('call.answered').every((l) => l['node'] === 'a' && l['rule'] === 'app'), JSON.stringify(callEvents('call.answered'))).toBe(true);
    // Let the records reach b's mirror, then kill a (node, engine and its redis: one process group).
    await new Promise((r) => setTimeout(r, 1000));
    expect(lastRole(nodes.a!)?.role).toBe('active');
    nodes.a!.process.kill('SIGKILL');
    await nodes.b!.process.waitForLog((r) => r['msg'] === 'took over: active', { timeoutMs: 15_000, fromStart: false });
    delete nodes.a;
    // The application heard the takeover from b and now follows b.
    await until(() => appLines((l) => l['msg'] === 'pair' && l['event'] === 'pair.takeoverFinished' && l['node'] === 'b').length === 1, 10_000, 'takeoverFinished from b');
    expect(appLines((l) => l['msg'] === 'pair' && l['event'] === 'pair.takeoverStarted' && l['node'] === 'b')).toHaveLength(1);
    await until(() => appLines((l) => l['msg'] === 'active').at(-1)?.['node'] === 'b', 10_000, 'the app to follow node b');
    // New calls after the takeover: the application routes them on b.
    const after = await Sipp.run({
      scenario: 'uac', host: topo.host('caller'), localIp: ADDR.caller, localPort: 5072, remote: `${VIP}:5060`,
      calls: 10, rate: 5, holdMs: 300, timeoutSec: 40, recvTimeoutMs: 10_000, name: 'caller after',
    });
    expect(after.failed, explain(after)).toBe(0);
    expect(after.successful, explain(after)).toBe(10);
    const newEnded = (): Line[] => callEvents('call.ended').filter((l) => !before.includes(String(l['call'])));
    await until(() => newEnded().length >= 10, 10_000, 'call.ended for the 10 new calls');
    const newCalls = newEnded();
    expect(newCalls.every((l) => l['node'] === 'b' && l['rule'] === 'app'), JSON.stringify(newCalls)).toBe(true);
    // The calls up before the takeover end normally (the caller's BYE after the hold, through b)...
    const loadResult = await load.result();
    expect(loadResult.successful, explain(loadResult)).toBe(CALLS_BEFORE);
    // ...and the application sees exactly one real (not synthesized) call.ended for each.
    await until(() => before.every((c) => callEvents('call.ended').some((l) => l['call'] === c)), 10_000, 'call.ended for every call up before the takeover');
    for (const c of before) {
      const ended = callEvents('call.ended').filter((l) => l['call'] === c);
      expect(ended, c).toHaveLength(1);
      expect(ended[0], c).toMatchObject({ node: 'b', endReason: 'caller-bye' });
      expect(ended[0]!['synthesized'], c).toBeUndefined();
    }
    // No event twice: (call, event) pairs are unique.
    const keys = callEvents().map((l) => `${String(l['call'])}/${String(l['event'])}`).filter((k) => !k.endsWith('/call.modified'));
    expect(new Set(keys).size).toBe(keys.length);
  }, 200_000);
});
