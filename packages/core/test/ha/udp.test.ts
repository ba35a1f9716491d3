import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeHeartbeat,
  HaController,
  MemoryEpochStore,
  Role,
  UdpHeartbeatTransport,
} from '../../src/ha/index.js';

const SECRET = 'udp-test-secret';
const INTERVAL = 20;
const MISSES = 3;

interface RealNode {
  id: string;
  ctl: HaController;
  transport: UdpHeartbeatTransport;
  store: MemoryEpochStore;
  activeAt: number[];
}

async function waitFor(cond: () => boolean, maxMs: number): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > maxMs) throw new Error(`condition not met within ${maxMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
  return Date.now() - t0;
}

describe('HaController over real UDP on loopback', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) await fn();
  });

  async function pair(): Promise<[RealNode, RealNode]> {
    const ids = ['node-a', 'node-b'] as const;
    const transports = ids.map(
      () =>
        new UdpHeartbeatTransport({
          paths: [
            { name: 'sync', network: 'sync', local: { address: '127.0.0.1', port: 0 } },
            { name: 'sip', network: 'sip', local: { address: '127.0.0.1', port: 0 } },
          ],
        }),
    );
    await Promise.all(transports.map((t) => t.bind()));
    for (const path of ['sync', 'sip']) {
      transports[0]!.setPeer(path, transports[1]!.localEndpoint(path));
      transports[1]!.setPeer(path, transports[0]!.localEndpoint(path));
    }
    const nodes = ids.map((id, i) => {
      const store = new MemoryEpochStore();
      const node: RealNode = { id, transport: transports[i]!, store, activeAt: [] } as unknown as RealNode;
      node.ctl = new HaController({
        nodeId: id,
        peerId: ids[1 - i]!,
        preferred: i === 0,
        transport: transports[i]!,
        secret: SECRET,
        epochStore: store,
        intervalMs: INTERVAL,
        missCount: MISSES,
        startupWaitMs: 500,
        actions: {
          becomeActive: async () => {
            node.activeAt.push(Date.now());
          },
          becomePassive: async () => {},
        },
      });
      cleanup.push(() => node.ctl.destroy());
      return node;
    });
    return nodes as [RealNode, RealNode];
  }

  it('elects one active over real sockets, and the passive takes over after the active is destroyed', async () => {
    const [a, b] = await pair();
    await Promise.all([a.ctl.start(), b.ctl.start()]);
    await waitFor(() => a.ctl.role === Role.Active && b.ctl.role === Role.Passive, 2000);
    // Elected on hearing the peer, well before the 500 ms start-up wait.
    expect(a.activeAt).toHaveLength(1);
    await waitFor(() => b.ctl.status().paths.every((p) => p.up) && b.ctl.status().peer.role === Role.Active, 1000);
    expect(b.ctl.status().counters.received).toBeGreaterThan(0);

    const killedAt = Date.now();
    a.ctl.destroy(new Error('simulated crash'));
    await waitFor(() => b.ctl.role === Role.Active, 2000);
    const took = Date.now() - killedAt;
    // Detection needs interval x misses (60 ms) of silence; allow for a loaded CI box.
    expect(took).toBeGreaterThanOrEqual(INTERVAL * (MISSES - 1));
    expect(took).toBeLessThan(1000);
    expect(b.ctl.epoch).toBe(2);
    expect(b.store.saves).toEqual([1, 2]); // adopted 1 from the active, then took over at 2
  });

  it('a gracefully closed active hands over at once, and a stray datagram cannot fence it', async () => {
    const [a, b] = await pair();
    await Promise.all([a.ctl.start(), b.ctl.start()]);
    await waitFor(() => a.ctl.role === Role.Active && b.ctl.role === Role.Passive && b.ctl.status().peer.role === Role.Active, 2000);

    // A stray datagram claiming a higher epoch, from an address that is not the peer's,
    // is dropped by the transport (the MAC check is covered by the in-memory tests).
    const forged = encodeHeartbeat(
      { nodeId: 'node-b', incarnation: 'x', role: Role.Active, epoch: 77, seq: 1, sentAt: 0, ready: true, sipUp: true, preferred: true, yielding: false },
      'not-the-secret',
    );
    const stray = dgram.createSocket('udp4');
    cleanup.push(() => new Promise<void>((r) => stray.close(() => r())));
    await new Promise<void>((r) => stray.bind(0, '127.0.0.1', () => r()));
    const aSip = a.transport.localEndpoint('sip');
    await new Promise<void>((r) => stray.send(forged, aSip.port, aSip.address, () => r()));
    await new Promise((r) => setTimeout(r, 50));
    expect(a.ctl.role).toBe(Role.Active);
    expect(a.ctl.epoch).toBe(1);

    const lost: string[] = [];
    b.ctl.on('peerLost', (why) => lost.push(why));
    await a.ctl.close();
    expect(a.ctl.role).toBe(Role.Closed);
    await waitFor(() => b.ctl.role === Role.Active, 2000);
    // B learned of the close from A's goodbye heartbeat, not from counting misses
    // (the cause is asserted, not the wall-clock time, which a loaded CI box stretches).
    expect(lost).toEqual(['peer closed']);
    expect(b.ctl.epoch).toBe(2);
  });

  it('a heartbeat sent just before close() still leaves: close lets in-flight sends go first', async () => {
    const [x, y] = [0, 1].map(() => new UdpHeartbeatTransport({ paths: [{ name: 'sip', network: 'sip', local: { address: '127.0.0.1', port: 0 } }] }));
    await x!.bind();
    await y!.bind();
    cleanup.push(() => y!.close());
    x!.setPeer('sip', y!.localEndpoint('sip'));
    y!.setPeer('sip', x!.localEndpoint('sip'));
    const got: Buffer[] = [];
    await y!.start((_path, data) => got.push(Buffer.from(data)));
    for (let i = 0; i < 3; i++) x!.send('sip', Buffer.from(`bye-${i}`));
    await x!.close();
    await waitFor(() => got.length === 3, 1000);
    expect(got.map(String)).toEqual(['bye-0', 'bye-1', 'bye-2']);
  });
});

