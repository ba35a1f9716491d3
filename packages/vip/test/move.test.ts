/**
 * End to end in real network namespaces: three nodes A, B, C on a bridge. The VIP is claimed on
 * A, the watcher C reaches it; the VIP moves to B; C's neighbour entry switches to B's MAC from
 * the announcement alone (no ARP request / neighbour solicitation from C), and C reaches B.
 * Needs root (CI runs as root).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT, createLab, JsonChild, neighbour, PROBER, sh, startCapture, type Lab } from './helpers/lab.js';

const ECHO_PORT = '7070';
let lab: Lab;
let dir: string;
const children: JsonChild[] = [];
const figures: string[] = [];

function agent(node: string, address: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}, prefix: string[] = []): JsonChild {
  const c = new JsonChild(
    lab.nodes[node]!.ns,
    [AGENT, '--address', address, '--interface', 'eth0', '--name', node, '--echo-port', ECHO_PORT, '--second-burst-delay', '1000', ...extra],
    env,
    prefix,
  );
  children.push(c);
  return c;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dualsip-vip-'));
  lab = await createLab(['A', 'B', 'C']);
});

afterAll(async () => {
  try {
    for (const c of children) await c.stop().catch(() => undefined);
  } finally {
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
    if (figures.length) console.log(`vip move figures:\n${figures.join('\n')}`);
  }
});

const cases = [
  { family: 4, vip: '198.18.4.100', prefix: 24, env: {}, method: 'addon' },
  { family: 6, vip: 'fd00:198:18:4::100', prefix: 64, env: {}, method: 'addon' },
  { family: 4, vip: '198.18.4.101', prefix: 24, env: { DUALSIP_VIP_NO_ADDON: '1' }, method: 'arping' },
  { family: 6, vip: 'fd00:198:18:4::101', prefix: 64, env: { DUALSIP_VIP_NO_ADDON: '1' }, method: 'raw-socket' },
] as const;

describe.each(cases)('IPv$family VIP $vip moves A → B (announce via $method)', ({ family, vip, prefix, env, method }) => {
  it('C reaches A, then B; C switches to B’s MAC without asking; the time is measured', async () => {
    const A = lab.nodes.A!;
    const B = lab.nodes.B!;
    const C = lab.nodes.C!;
    const cidr = `${vip}/${prefix}`;
    const a = agent('A', cidr, [], env);
    const b = agent('B', cidr, [], env);
    try {
    await a.waitFor((l) => l.event === 'ready', 15_000, 'agent A ready');
    await b.waitFor((l) => l.event === 'ready', 15_000, 'agent B ready');

    // release of an address B does not hold is a no-op that says so
    const notHeld = await b.call('release');
    expect(notHeld.ok).toBe(true);
    expect(notHeld.result).toMatchObject({ changed: false, reason: 'not-held' });

    const ca = await a.call('claim');
    expect(ca.error).toBeUndefined();
    expect(ca.result).toMatchObject({ changed: true, address: cidr, method, announced: 5 });
    const again = await a.call('claim');
    expect(again.result).toMatchObject({ changed: false, announced: 0 });

    const prober = new JsonChild(C.ns, [PROBER, '--target', vip, '--port', ECHO_PORT, '--interval', '1']);
    children.push(prober);
    await prober.waitFor((l) => l.name === 'A', 10_000, 'prober reaching A');
    expect((await neighbour(C.ns, vip))?.lladdr).toBe(A.mac);
    await sleep(1200); // past the ARP locktime (1 s) since C learned A's MAC

    const pcap = join(dir, `move-${family}-${method}.pcap`);
    const capture = await startCapture(C.ns, pcap, family === 4 ? 'arp' : 'icmp6');
    let lines: string[] = [];
    let reachedB: Record<string, unknown>;
    let claimB: Awaited<ReturnType<JsonChild['call']>>;
    try {
      const ra = await a.call('release');
      expect(ra.result).toMatchObject({ changed: true });
      claimB = await b.call('claim');
      expect(claimB.error).toBeUndefined();
      expect(claimB.result).toMatchObject({ changed: true, method });
      reachedB = await prober.waitFor((l) => l.name === 'B', 10_000, 'prober reaching B');
      await sleep(100);
    } finally {
      lines = await capture.stop();
    }
    const neigh = await neighbour(C.ns, vip);
    expect(neigh?.lladdr).toBe(B.mac);
    // C keeps reaching B: still B's answers after the capture window
    const before = prober.lines.length;
    await sleep(200);
    expect(prober.lines.slice(before).filter((l) => l.name && l.name !== 'B')).toEqual([]);

    if (process.env.VIP_DEBUG) console.log(lines.join('\n'));
    const fromB = lines.filter((l) => l.includes(`${B.mac} >`));
    const fromC = lines.filter((l) => l.includes(`${C.mac} >`));
    if (family === 4) {
      expect(fromB.some((l) => new RegExp(`Request who-has ${vip}( \\([0-9a-f:]+\\))? tell ${vip}`).test(l) && l.includes('ff:ff:ff:ff:ff:ff'))).toBe(true);
      // Only C's requests for THIS address count: the kernel may still probe a stale entry
      // left by an earlier test's VIP in the same namespace (seen in CI: who-has .100 during .101's move).
      expect(fromC.filter((l) => new RegExp(`Request who-has ${vip.replace(/\./g, '\\.')}[ ,]`).test(l))).toEqual([]);
    } else {
      expect(fromB.some((l) => l.includes(`neighbor advertisement, length 32, tgt is ${vip}, Flags [override]`) && l.includes('33:33:00:00:00:01') && l.includes('hlim 255') && l.includes('icmp6 sum ok'))).toBe(true);
      expect(fromC.filter((l) => /neighbor solicitation/.test(l) && l.includes(`who has ${vip}`))).toEqual([]);
    }

    const ms = (reachedB!.t as number) - claimB!.t0;
    const claimMs = claimB!.t1 - claimB!.t0;
    // Reported, not bounded here: C reaching B at all (within the 10 s wait above, without
    // asking) is the assertion; the time goes to RESULTS.md via bench-move.ts.
    expect(ms).toBeGreaterThan(0);
    figures.push(`IPv${family} ${method}: claim() → C reaches B ${ms.toFixed(1)} ms (claim() itself ${claimMs.toFixed(1)} ms)`);

    // the second burst arrives (1 s after the claim)
    await b.waitFor((l) => l.event === 'announced' && (l.data as { phase: string }).phase === 'second-burst', 5000, 'second burst');

    await prober.stop();
    expect((await b.call('release')).result).toMatchObject({ changed: true });
    if (method !== 'addon') expect(b.stderr).toMatch(/AF_PACKET addon not loaded/);
    } finally {
      for (const c of [a, b]) await c.stop();
    }
  }, 60_000);
});

describe('conflict probe', () => {
  it.each(['198.18.4.110/24', 'fd00:198:18:4::110/64'])('B sees A answering for %s, refuses a probing claim, and sees no conflict after A releases', async (cidr) => {
    const A = lab.nodes.A!;
    const a = agent('A', cidr);
    const b = agent('B', cidr, ['--probe', '--probe-timeout', '300']);
    try {
    await a.waitFor((l) => l.event === 'ready', 15_000, 'A ready');
    await b.waitFor((l) => l.event === 'ready', 15_000, 'B ready');
    expect((await b.call('probe')).result).toMatchObject({ conflict: false });
    expect((await a.call('claim')).ok).toBe(true);
    const p = await b.call('probe');
    expect(p.result).toMatchObject({ conflict: true, mac: A.mac });
    const refused = await b.call('claim');
    expect(refused.error?.code).toBe('VIP_CONFLICT');
    expect(b.lines.some((l) => l.event === 'conflict')).toBe(true);
    const onB = (await sh('ip', ['-n', lab.nodes.B!.ns, 'addr', 'show', 'dev', 'eth0'])).stdout;
    expect(onB).not.toContain(cidr.split('/')[0]);
    await a.call('release');
    const ok = await b.call('claim');
    expect(ok.error).toBeUndefined();
    expect(ok.result.probe).toMatchObject({ conflict: false });
    await b.call('release');
    } finally {
      for (const c of [a, b]) await c.stop();
    }
  }, 60_000);
});

describe('faults', () => {
  it('an unknown interface is a clear VIP_UNKNOWN_INTERFACE error', async () => {
    const c = new JsonChild(lab.nodes.A!.ns, [AGENT, '--address', '198.18.4.120/24', '--interface', 'nosuch0']);
    children.push(c);
    await c.waitFor((l) => l.event === 'ready', 15_000);
    const r = await c.call('claim');
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('VIP_UNKNOWN_INTERFACE');
    expect(r.error?.message).toContain("'nosuch0'");
    const rel = await c.call('release');
    expect(rel.error?.code).toBe('VIP_UNKNOWN_INTERFACE');
    await c.stop();
  });

  it('a bad address or prefix is refused before anything is touched', async () => {
    const c = new JsonChild(lab.nodes.A!.ns, [AGENT, '--address', '198.18.4.120/33', '--interface', 'eth0']);
    children.push(c);
    const fatal = await c.waitFor((l) => l.event === 'fatal', 15_000);
    expect(fatal.error).toMatchObject({ code: 'VIP_BAD_ADDRESS' });
    await c.stop();
  });

  it.each([
    ['net_admin', 'VIP_NO_CAP_NET_ADMIN', 'CAP_NET_ADMIN'],
    ['net_raw', 'VIP_NO_CAP_NET_RAW', 'CAP_NET_RAW'],
  ])('without %s claim fails with %s and adds nothing', async (cap, code, name) => {
    const ns = lab.nodes.A!.ns;
    const c = new JsonChild(ns, [AGENT, '--address', '198.18.4.121/24', '--interface', 'eth0'], {}, [
      'setpriv',
      `--inh-caps=-${cap}`,
      `--bounding-set=-${cap}`,
    ]);
    children.push(c);
    await c.waitFor((l) => l.event === 'ready', 15_000);
    const r = await c.call('claim');
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe(code);
    expect(r.error?.message).toContain(`missing ${name}`);
    expect((await sh('ip', ['-n', ns, 'addr', 'show', 'dev', 'eth0'])).stdout).not.toContain('198.18.4.121');
    await c.stop();
  });
});
