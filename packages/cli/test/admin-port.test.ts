/**
 * The embedded engine's admin (drachtio protocol) port: ephemeral by default, so
 * several nodes on one host never collide; a configured port is used as given.
 */
import net from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadNodeConfig } from '../src/config.js';
import { startNode, type RunningNode } from '../src/commands/node.js';

const nodes: RunningNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close();
});

const quiet = pino({ level: 'silent' });

async function freeTcpPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

describe('engine admin port', () => {
  it('defaults to 0 (ephemeral)', () => {
    expect(loadNodeConfig({ env: {} }).drachtio.port).toBe(0);
  });

  it('two nodes with the default config run side by side, each core connected to its own engine', async () => {
    for (let i = 0; i < 2; i++) {
      const config = loadNodeConfig({ env: {}, overrides: { 'sip.port': 0, 'sip.transports': 'udp', 'log.level': 'silent' } });
      nodes.push(await startNode({ config, logger: quiet }));
    }
    const [a, b] = nodes;
    expect(a!.engine.admin.port).toBeGreaterThan(0);
    expect(b!.engine.admin.port).toBeGreaterThan(0);
    expect(a!.engine.admin.port).not.toBe(b!.engine.admin.port);
  }, 30_000);

  it('uses a configured port as given', async () => {
    const port = await freeTcpPort();
    const config = loadNodeConfig({ env: {}, overrides: { 'sip.port': 0, 'sip.transports': 'udp,tcp', 'drachtio.port': port, 'log.level': 'silent' } });
    const n = await startNode({ config, logger: quiet });
    nodes.push(n);
    expect(n.engine.admin).toEqual({ address: '127.0.0.1', port });
    expect(n.engine.listen.map((l) => l.transport)).toEqual(['udp', 'tcp']);
    // sip.port 0: UDP and TCP share the port picked for UDP
    expect(n.engine.listen[1]!.port).toBe(n.engine.listen[0]!.port);
  }, 30_000);
});
