// Self-test of the end-to-end harness: namespaces and bridges, cut/heal,
// managed processes, test redis, the SIPp runner, and every scenario in
// test/scenarios run SIPp-to-SIPp (no dualsip node) so that the scenarios
// themselves are known good before they judge the node.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ManagedProcess,
  Netns,
  Sipp,
  TestRedis,
  Topology,
  cleanupAll,
  explain,
  listNetns,
  pidAlive,
  makeTempDir,
  sweepStaleNetns,
  sweepStaleTempDirs,
  uniquePrefix,
  type SippResult,
} from './index.js';

function rootLinks(): string {
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(':')[1]?.trim() ?? '')
    .filter(Boolean)
    .sort()
    .join(',');
}

function expectClean(r: SippResult, calls: number): void {
  expect(r.successful, explain(r)).toBe(calls);
  expect(r.failed, explain(r)).toBe(0);
  expect(r.source).toBe('stat-csv');
}

afterAll(async () => {
  await cleanupAll();
});

describe('Topology', () => {
  it('builds hosts on bridges without touching the root namespace, and destroy() leaves no namespace behind', async () => {
    const before = rootLinks();
    const topo = await Topology.create({
      name: 'lifecycle',
      bridges: ['sip', 'sync'],
      hosts: { a: { sip: '198.18.1.1/24', sync: '198.18.2.1/24' }, b: { sip: '198.18.1.2/24', sync: '198.18.2.2/24' } },
      sysctls: { 'net.ipv4.conf.all.arp_accept': '1' },
    });
    expect((await topo.host('b').exec(['sysctl', '-n', 'net.ipv4.conf.all.arp_accept'])).stdout.trim()).toBe('1');
    const names = topo.namespaces();
    expect(names).toHaveLength(3);
    for (const n of names) expect(listNetns()).toContain(n);
    const addrs = (await topo.host('a').ip(['-o', '-4', 'addr', 'show'])).stdout;
    expect(addrs).toContain('198.18.1.1/24');
    expect(addrs).toContain('198.18.2.1/24');
    expect(addrs).toMatch(/\blo\b.*127\.0\.0\.1/);
    expect(rootLinks()).toBe(before);
    await topo.destroy();
    const after = listNetns();
    for (const n of names) expect(after).not.toContain(n);
    expect(rootLinks()).toBe(before);
  });

  it('sweeps namespaces left behind by a dead test process', async () => {
    let deadPid = 4_000_000;
    while (pidAlive(deadPid)) deadPid--;
    const stale = `dsip-${deadPid}-abcdef-x`;
    execFileSync('ip', ['netns', 'add', stale]);
    try {
      expect(listNetns()).toContain(stale);
      const mine = await Netns.create(`${uniquePrefix()}-live`);
      const removed = sweepStaleNetns();
      expect(removed).toContain(stale);
      expect(removed).not.toContain(mine.netns);
      expect(listNetns()).toContain(mine.netns);
      await mine.delete();
    } finally {
      execFileSync('sh', ['-c', `ip netns del ${stale} 2>/dev/null || true`]);
    }
  });

  it('sweeps temporary directories left behind by a dead test process, not live ones', () => {
    let deadPid = 4_000_000;
    while (pidAlive(deadPid)) deadPid--;
    const mine = makeTempDir('sipp');
    const stale = join(tmpdir(), `dsip-sipp-${deadPid}-zzzzzz`);
    mkdirSync(stale, { recursive: true });
    const removed = sweepStaleTempDirs();
    expect(removed).toContain(basename(stale));
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(mine)).toBe(true);
    rmSync(mine, { recursive: true, force: true });
  });
});

describe('on a four-host topology', () => {
  let topo: Topology;

  beforeAll(async () => {
    topo = await Topology.create({
      name: 'selftest',
      bridges: ['sip', 'sync'],
      hosts: {
        caller: { sip: '198.18.1.10/24' },
        callee: { sip: '198.18.1.20/24' },
        a: { sip: '198.18.1.1/24', sync: '198.18.2.1/24' },
        b: { sip: '198.18.1.2/24', sync: '198.18.2.2/24' },
      },
    });
  });

  afterAll(async () => {
    await topo?.destroy();
  });

  it('two namespaces reach each other over a bridge (ARP and UDP), an unheld address does not answer', async () => {
    expect(await topo.arping('caller', 'sip', '198.18.1.20')).toBe(true);
    expect(await topo.arping('a', 'sync', '198.18.2.2')).toBe(true);
    // An address nobody holds gets no answer. (Note: with Linux's default
    // arp_ignore=0, b would answer on the SIP bridge for its sync address too.)
    expect(await topo.arping('caller', 'sip', '198.18.1.99')).toBe(false);
    // And a UDP datagram crosses from one namespace to the other.
    const listener = topo.host('callee').spawn('python3', ['-u', '-c', [
      'import socket', 's=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)', "s.bind(('198.18.1.20', 7000))", 'print("bound")',
      'd,a=s.recvfrom(100)', 'print(d.decode(), a[0])',
    ].join('\n')], { name: 'udp-listener' });
    await listener.waitForLine((l) => l.line === 'bound', { timeoutMs: 5000 });
    await topo.host('caller').exec(['python3', '-c', "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hello', ('198.18.1.20', 7000))"]);
    const got = await listener.waitForLine((l) => l.line.startsWith('hello'), { timeoutMs: 5000 });
    expect(got.line).toBe('hello 198.18.1.10');
    await listener.stop();
  });

  it('cut() pulls the cable (NO-CARRIER, traffic stops, address kept) and heal() restores it', async () => {
    expect(await topo.arping('a', 'sip', '198.18.1.2')).toBe(true);
    await topo.cut('b', 'sip');
    const link = (await topo.host('b').ip(['link', 'show', 'dev', 'sip'])).stdout;
    expect(link).toContain('NO-CARRIER');
    expect((await topo.host('b').ip(['-o', '-4', 'addr', 'show', 'dev', 'sip'])).stdout).toContain('198.18.1.2/24');
    expect(await topo.arping('a', 'sip', '198.18.1.2')).toBe(false);
    // The sync path is a separate cable and still works.
    expect(await topo.arping('a', 'sync', '198.18.2.2')).toBe(true);
    await topo.heal('b', 'sip');
    let ok = false;
    for (let i = 0; i < 5 && !ok; i++) ok = await topo.arping('a', 'sip', '198.18.1.2');
    expect(ok).toBe(true);
  });

  it('mac() reports each interface its own MAC address', async () => {
    const macA = await topo.mac('a', 'sip');
    const macB = await topo.mac('b', 'sip');
    expect(macA).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(macB).not.toBe(macA);
    const shown = (await topo.host('a').ip(['link', 'show', 'dev', 'sip'])).stdout;
    expect(shown).toContain(macA);
  });

  it('runs a password-protected redis-server on a sync address, reachable only with the password', async () => {
    const redis = await TestRedis.start({ host: topo.host('a'), bind: '198.18.2.1', port: 6379, password: 's3cret' });
    const cli = (args: string[]) => topo.host('b').exec(['redis-cli', '-h', '198.18.2.1', '-p', '6379', ...args], { allowFail: true });
    expect((await cli(['-a', 's3cret', '--no-auth-warning', 'ping'])).stdout.trim()).toBe('PONG');
    expect((await cli(['ping'])).stdout).toContain('NOAUTH');
    await redis.stop();
    expect(redis.process.running).toBe(false);
    expect((await cli(['-a', 's3cret', '--no-auth-warning', 'ping'])).stdout.trim()).not.toBe('PONG');
  });

  it('SIPp to SIPp through the bridge: 200 calls, 0 failed', async () => {
    const uas = await Sipp.start({ scenario: 'uas', host: topo.host('callee'), localIp: '198.18.1.20', localPort: 5060 });
    const uac = await Sipp.run({
      scenario: 'uac',
      host: topo.host('caller'),
      localIp: '198.18.1.10',
      localPort: 5060,
      remote: '198.18.1.20:5060',
      rate: 200,
      calls: 200,
      timeoutSec: 20,
    });
    const server = await uas.stop();
    expectClean(uac, 200);
    expect(uac.created).toBe(200);
    expect(server.successful, explain(server)).toBe(200);
    expect(server.failed, explain(server)).toBe(0);
  });

  it('reports failures: uac-basic against a busy callee fails every call', async () => {
    const uas = await Sipp.start({ scenario: 'uas-486', host: topo.host('callee'), localIp: '198.18.1.20', localPort: 5062 });
    const uac = await Sipp.run({
      scenario: 'uac-basic',
      host: topo.host('caller'),
      localIp: '198.18.1.10',
      localPort: 5062,
      remote: '198.18.1.20:5062',
      rate: 50,
      calls: 5,
      timeoutSec: 10,
      recvTimeoutMs: 2000,
    });
    await uas.stop();
    expect(uac.successful).toBe(0);
    expect(uac.failed, explain(uac)).toBe(5);
    expect(uac.exitCode).not.toBe(0);
    expect(Object.keys(uac.failures).length).toBeGreaterThan(0);
  });

  // Each of our scenarios, caller side and callee side, directly against each other.
  const pairs = [
    { uac: 'uac-basic', uas: 'uas-basic', transport: 'u1' },
    { uac: 'uac-basic', uas: 'uas-basic', transport: 't1' },
    { uac: 'uac-cancel', uas: 'uas-cancel', transport: 'u1' },
    { uac: 'uac-cancel', uas: 'uas-cancel', transport: 't1' },
    { uac: 'uac-486', uas: 'uas-486', transport: 'u1' },
    { uac: 'uac-reinvite', uas: 'uas-reinvite', transport: 'u1' },
    { uac: 'uac-reinvite', uas: 'uas-reinvite', transport: 't1' },
  ] as const;
  let port = 5100;
  for (const p of pairs) {
    it(`scenario ${p.uac} against ${p.uas} over ${p.transport === 'u1' ? 'UDP' : 'TCP'}: 20 calls, 0 failed on both sides`, async () => {
      port += 2;
      const uas = await Sipp.start({ scenario: p.uas, host: topo.host('callee'), localIp: '198.18.1.20', localPort: port, transport: p.transport });
      const uac = await Sipp.run({
        scenario: p.uac,
        host: topo.host('caller'),
        localIp: '198.18.1.10',
        localPort: port,
        remote: `198.18.1.20:${port}`,
        transport: p.transport,
        rate: 20,
        calls: 20,
        timeoutSec: 20,
        recvTimeoutMs: 3000,
      });
      const server = await uas.stop();
      expectClean(uac, 20);
      expect(server.successful, explain(server)).toBe(20);
      expect(server.failed, explain(server)).toBe(0);
      expect(uac.unexpected + server.unexpected).toBe(0);
    });
  }

  it('uac-basic holds each call for -d milliseconds', async () => {
    const uas = await Sipp.start({ scenario: 'uas-basic', host: topo.host('callee'), localIp: '198.18.1.20', localPort: 5090 });
    const started = Date.now();
    const uac = await Sipp.run({
      scenario: 'uac-basic',
      host: topo.host('caller'),
      localIp: '198.18.1.10',
      localPort: 5090,
      remote: '198.18.1.20:5090',
      rate: 10,
      calls: 3,
      holdMs: 1500,
      timeoutSec: 15,
    });
    await uas.stop();
    expectClean(uac, 3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(uac.avgCallLengthSec).toBeGreaterThanOrEqual(1.5);
    expect(uac.avgCallLengthSec).toBeLessThan(3);
  });
});

describe('ManagedProcess', () => {
  it('captures output, waits for a pino JSON line, and keeps the tail for messages', async () => {
    const p = ManagedProcess.spawn('sh', ['-c', 'echo plain; echo \'{"level":30,"msg":"node ready","port":5}\'; echo oops >&2; sleep 5'], { name: 'fake' });
    const rec = await p.waitForLog((r) => r['msg'] === 'node ready', { timeoutMs: 3000 });
    expect(rec['port']).toBe(5);
    await p.waitForLine((l) => l.stream === 'stderr' && l.line === 'oops', { timeoutMs: 3000 });
    expect(p.tail()).toContain('plain');
    expect(p.tail()).toContain('[err] oops');
    const exit = await p.stop();
    expect(exit.signal).toBe('SIGTERM');
  });

  it('rejects a wait when the process exits first, with its output in the error', async () => {
    const p = ManagedProcess.spawn('sh', ['-c', 'echo about to fail; exit 3'], { name: 'quitter' });
    await expect(p.waitForLog((r) => r['msg'] === 'node ready', { timeoutMs: 5000 })).rejects.toThrow(/exited \(code=3[\s\S]*about to fail/);
  });

  it('stop() escalates to SIGKILL when SIGTERM is ignored', async () => {
    const p = ManagedProcess.spawn('sh', ['-c', 'trap "" TERM; echo armed; while true; do sleep 0.1; done'], { name: 'stubborn' });
    await p.waitForLine((l) => l.line === 'armed', { timeoutMs: 3000 });
    const t0 = Date.now();
    const exit = await p.stop({ timeoutMs: 500 });
    expect(exit.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
  });
});
