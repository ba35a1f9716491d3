/**
 * createIcmpEcho (the HA witness probe) in real namespaces: A pings B over IPv4 and IPv6, an
 * address nobody holds stays silent, and a pulled cable (B's bridge port down) makes B
 * unreachable. Needs root (CI runs as root).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, REPO_ROOT, sh, type Lab } from './helpers/lab.js';

const CLI = 'packages/vip/test/helpers/ping-cli.ts';
let lab: Lab;

async function ping(node: string, addresses: string[], extra: string[] = []): Promise<Array<{ address: string; ok: boolean; rttMs?: number; error?: string }>> {
  const r = await sh('ip', ['netns', 'exec', lab.nodes[node]!.ns, process.execPath, '--import', 'tsx', `${REPO_ROOT}${CLI}`, ...extra, ...addresses]);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

beforeAll(async () => {
  lab = await createLab(['A', 'B'], 7);
}, 30_000);

afterAll(async () => {
  await lab?.destroy();
});

describe('createIcmpEcho', () => {
  it('an echo reply from the witness counts (IPv4 and IPv6, bound to the interface); an address nobody holds does not', async () => {
    const b = lab.nodes.B!;
    const res = await ping('A', [b.ip4, b.ip6, '198.18.7.99'], ['--interface', 'eth0', '--timeout', '300']);
    expect(res.map((r) => [r.address, r.ok])).toEqual([
      [b.ip4, true],
      [b.ip6, true],
      ['198.18.7.99', false],
    ]);
    expect(res[0]!.rttMs).toBeGreaterThan(0);
  }, 30_000);

  it('a pulled cable: the witness does not answer', async () => {
    const b = lab.nodes.B!;
    await sh('ip', ['-n', lab.bridgeNs, 'link', 'set', 'pA', 'down']);
    try {
      const res = await ping('A', [b.ip4], ['--interface', 'eth0', '--timeout', '300']);
      expect(res).toMatchObject([{ address: b.ip4, ok: false }]);
    } finally {
      await sh('ip', ['-n', lab.bridgeNs, 'link', 'set', 'pA', 'up']);
    }
  }, 30_000);
});
