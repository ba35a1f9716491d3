import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadNodeConfig } from '../src/config.js';
import { flagsToOverrides } from '../src/commands/node.js';
import { parseHbSpec, resolveHaPaths } from '../src/pair-config.js';

const BIN = path.resolve(import.meta.dirname, '../bin/dualsip.js');
function runCli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stderr: r.stderr };
}

const GOOD = ['--ha', '--node-id', 'a', '--peer-id', 'b', '--ha-secret', 's', '--hb', 'sync=198.18.2.1:7400,198.18.2.2:7400', '--hb', 'sip=198.18.1.1:7400,198.18.1.2:7400', '--sync-peer', '198.18.2.2:6390'];

describe('HA config keys (node.id, ha.*, sync.*, vip.*)', () => {
  it('HA is off by default: a standalone node needs none of the HA keys', () => {
    const c = loadNodeConfig({ env: {} });
    expect(c.ha.enabled).toBe(false);
    expect(c.vip.mode).toBe('port');
    expect(c.sync.mode).toBe('async');
  });

  it('flags map onto the keys; --hb paths named sync* are on the sync network', () => {
    const c = loadNodeConfig({ env: {}, overrides: flagsToOverrides({ hb: GOOD.filter((_, i) => GOOD[i - 1] === '--hb'), ha: true, 'node-id': 'a', 'peer-id': 'b', 'ha-secret': 's', 'sync-peer': '198.18.2.2:6390', 'vip-mode': 'floating', 'vip-address': '198.18.1.100/24', 'vip-interface': 'sip', 'redis-start': true, 'hb-interval': '50' }) });
    expect(c.ha).toMatchObject({ enabled: true, peerId: 'b', intervalMs: 50, missCount: 3 });
    expect(c.node.id).toBe('a');
    expect(c.sync.peer).toEqual({ host: '198.18.2.2', port: 6390 });
    expect(c.sync.redis.start).toBe(true);
    expect(resolveHaPaths(c)).toEqual([
      { name: 'sync', network: 'sync', local: { address: '198.18.2.1', port: 7400 }, peer: { address: '198.18.2.2', port: 7400 } },
      { name: 'sip', network: 'sip', local: { address: '198.18.1.1', port: 7400 }, peer: { address: '198.18.1.2', port: 7400 } },
    ]);
  });

  it('DUALSIP_HA_PATHS takes ";"-separated paths', () => {
    const c = loadNodeConfig({ env: { DUALSIP_HA_PATHS: 'sync=127.0.0.1:1,127.0.0.1:2;sip=127.0.0.1:3,127.0.0.1:4' } });
    expect(resolveHaPaths(c).map((p) => p.name)).toEqual(['sync', 'sip']);
  });

  it('rejects a malformed path naming ha.paths', () => {
    expect(() => loadNodeConfig({ env: { DUALSIP_HA_PATHS: 'sync=127.0.0.1' } })).toThrow(/ha\.paths/);
    expect(parseHbSpec('sync=1.2.3.4:1,nothost:2')).toMatch(/expected NAME=/);
  });

  it('ha.witness: off by default; --witness (repeatable) and DUALSIP_HA_WITNESS (comma-separated) with interval and timeout', () => {
    expect(loadNodeConfig({ env: {} }).ha).toMatchObject({ witness: [], witnessIntervalMs: 1000, witnessTimeoutMs: 500 });
    const f = loadNodeConfig({ env: {}, overrides: flagsToOverrides({ witness: ['198.18.1.254', 'fd00::1'], 'witness-interval': '800', 'witness-timeout': '300' }) });
    expect(f.ha).toMatchObject({ witness: ['198.18.1.254', 'fd00::1'], witnessIntervalMs: 800, witnessTimeoutMs: 300 });
    const e = loadNodeConfig({ env: { DUALSIP_HA_WITNESS: '198.18.1.254, 198.18.1.253' } });
    expect(e.ha.witness).toEqual(['198.18.1.254', '198.18.1.253']);
  });

  it('rejects a witness that is not an IP address naming ha.witness', () => {
    expect(() => loadNodeConfig({ env: { DUALSIP_HA_WITNESS: '198.18.1.254,gateway' } })).toThrow(/ha\.witness/);
    expect(() => loadNodeConfig({ env: { DUALSIP_HA_WITNESS: '198.18.1.254,198.18.1.254' } })).toThrow(/ha\.witness/);
  });

  it('ha.sipTrafficLoss: off by default; flags and env', () => {
    expect(loadNodeConfig({ env: {} }).ha.sipTrafficLoss).toEqual({ enabled: false, windowMs: 10000, minRequests: 20, probeIntervalMs: 1000 });
    const f = loadNodeConfig({ env: {}, overrides: flagsToOverrides({ 'sip-traffic-loss': true, 'sip-traffic-window': '4000', 'sip-traffic-min': '8', 'sip-traffic-probe': '0' }) });
    expect(f.ha.sipTrafficLoss).toEqual({ enabled: true, windowMs: 4000, minRequests: 8, probeIntervalMs: 0 });
    const e = loadNodeConfig({ env: { DUALSIP_HA_SIP_TRAFFIC_LOSS: 'true', DUALSIP_HA_SIP_TRAFFIC_WINDOW_MS: '6000', DUALSIP_HA_SIP_TRAFFIC_MIN_REQUESTS: '3', DUALSIP_HA_SIP_TRAFFIC_PROBE_MS: '500' } });
    expect(e.ha.sipTrafficLoss).toEqual({ enabled: true, windowMs: 6000, minRequests: 3, probeIntervalMs: 500 });
  });

  it('rejects ha.sipTrafficLoss values that are not numbers naming the key', () => {
    expect(() => loadNodeConfig({ env: { DUALSIP_HA_SIP_TRAFFIC_WINDOW_MS: 'soon' } })).toThrow(/ha\.sipTrafficLoss\.windowMs/);
    expect(() => loadNodeConfig({ env: { DUALSIP_HA_SIP_TRAFFIC_MIN_REQUESTS: '-1' } })).toThrow(/ha\.sipTrafficLoss\.minRequests/);
    expect(() => loadNodeConfig({ env: { DUALSIP_HA_SIP_TRAFFIC_LOSS: 'maybe' } })).toThrow(/ha\.sipTrafficLoss\.enabled/);
  });

  it.each([
    [['--ha'], 'node.id'],
    [[...GOOD, '--sip-traffic-loss', '--sip-traffic-window', '200'], 'ha.sipTrafficLoss.windowMs'],
    [[...GOOD, '--sip-traffic-loss', '--sip-traffic-min', '0'], 'ha.sipTrafficLoss.minRequests'],
    [[...GOOD, '--sip-traffic-loss', '--sip-traffic-window', '3000', '--sip-traffic-probe', '1500'], 'ha.sipTrafficLoss.probeIntervalMs'],
    [[...GOOD, '--witness', 'gw.example'], 'ha.witness'],
    [[...GOOD, '--witness', '198.18.1.254', '--witness-timeout', '2000', '--witness-interval', '1000'], 'ha.witnessIntervalMs'],
    [[...GOOD, '--witness', '198.18.1.254', '--witness-timeout', '5'], 'ha.witnessTimeoutMs'],
    [GOOD.filter((x) => x !== '--ha-secret' && x !== 's'), 'ha.secret'],
    [[...GOOD, '--vip-mode', 'floating', '--vip-interface', 'sip'], 'vip.address'],
    [[...GOOD, '--vip-mode', 'floating', '--vip-address', '198.18.1.100/24'], 'vip.interface'],
    [[...GOOD, '--vip-mode', 'bogus'], 'vip.mode'],
    [[...GOOD, '--sync-mode', 'sometimes'], 'sync.mode'],
    [['--ha', '--node-id', 'a', '--peer-id', 'a'], 'ha.peerId'],
  ])('dualsip node %j exits 2 naming %s', (args, key) => {
    const r = runCli(['node', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(key);
  });
});
