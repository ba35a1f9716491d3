import { describe, expect, it } from 'vitest';
import { createFloatingIp, createPortOwnership, silentLogger, type VipError, type VipLogger } from '../src/index.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as VipError).code;
  }
  return undefined;
}

describe('createFloatingIp option checks (before anything is touched)', () => {
  it('bad address, prefix, interface, announce policy and method are refused with stable codes', () => {
    expect(code(() => createFloatingIp({ address: '198.18.0.1/40', interface: 'eth0' }))).toBe('VIP_BAD_ADDRESS');
    expect(code(() => createFloatingIp({ address: 'not-an-ip', interface: 'eth0' }))).toBe('VIP_BAD_ADDRESS');
    expect(code(() => createFloatingIp({ address: '198.18.0.1/24', interface: '' }))).toBe('VIP_UNKNOWN_INTERFACE');
    expect(code(() => createFloatingIp({ address: '198.18.0.1/24', interface: 'eth0', announce: { burst: 0 } }))).toBe('VIP_BAD_OPTIONS');
    expect(code(() => createFloatingIp({ address: '198.18.0.1/24', interface: 'eth0', announce: { interval: -1 } }))).toBe('VIP_BAD_OPTIONS');
    expect(code(() => createFloatingIp({ address: '198.18.0.1/24', interface: 'eth0', announce: { burst: 2.5 } }))).toBe('VIP_BAD_OPTIONS');
    expect(code(() => createFloatingIp({ address: '198.18.0.1/24', interface: 'eth0', method: 'magic' as 'auto' }))).toBe('VIP_BAD_OPTIONS');
    expect(code(() => createFloatingIp({ address: '198.18.0.1/24', interface: 'eth0', announce: { burst: 3, refreshMs: 1000 }, logger: silentLogger }))).toBeUndefined();
  });

  it('an unknown interface rejects claim() with VIP_UNKNOWN_INTERFACE naming it (nothing is added or sent)', async () => {
    const vip = createFloatingIp({ address: '198.18.0.1/24', interface: 'dsnosuch0', logger: silentLogger });
    await expect(vip.claim()).rejects.toMatchObject({ code: 'VIP_UNKNOWN_INTERFACE', message: expect.stringContaining("'dsnosuch0'") });
    expect(vip.holds()).toBe(false);
    vip.destroy();
    await expect(vip.claim()).rejects.toMatchObject({ code: 'VIP_CLOSED' });
  });
});

describe('createPortOwnership (single-host mode)', () => {
  function owner(fail?: 'bind' | 'unbind') {
    const calls: string[] = [];
    const infos: string[] = [];
    const logger: VipLogger = { ...silentLogger, info: (_o, msg) => infos.push(msg ?? '') };
    const vip = createPortOwnership({
      name: 'udp/198.18.0.1:5060',
      logger,
      bind: async () => {
        calls.push('bind');
        if (fail === 'bind') throw new Error('EADDRINUSE');
      },
      unbind: async () => {
        calls.push('unbind');
        if (fail === 'unbind') throw new Error('boom');
      },
    });
    return { vip, calls, infos };
  }

  it('claim binds once, release unbinds once; both idempotent, with events', async () => {
    const { vip, calls, infos } = owner();
    const events: string[] = [];
    vip.on('claimed', (r) => events.push(`claimed:${r.changed}`));
    vip.on('released', (r) => events.push(`released:${r.changed}`));
    expect(await vip.release()).toMatchObject({ changed: false, reason: 'not-held' });
    expect(infos.some((m) => m.includes('not bound by this node'))).toBe(true);
    expect(await vip.claim()).toMatchObject({ changed: true, method: 'port', address: 'udp/198.18.0.1:5060' });
    expect(vip.holds()).toBe(true);
    expect(await vip.claim()).toMatchObject({ changed: false });
    expect(await vip.release()).toMatchObject({ changed: true });
    expect(await vip.release()).toMatchObject({ changed: false, reason: 'not-held' });
    expect(calls).toEqual(['bind', 'unbind']);
    expect(events).toEqual(['claimed:true', 'released:true']);
  });

  it('concurrent claims are serialized: one bind', async () => {
    const { vip, calls } = owner();
    const rs = await Promise.all([vip.claim(), vip.claim(), vip.claim()]);
    expect(rs.map((r) => r.changed)).toEqual([true, false, false]);
    expect(calls).toEqual(['bind']);
  });

  it('a failing bind is VIP_BIND_FAILED and leaves the port not held', async () => {
    const { vip } = owner('bind');
    await expect(vip.claim()).rejects.toMatchObject({ code: 'VIP_BIND_FAILED', message: expect.stringContaining('EADDRINUSE') });
    expect(vip.holds()).toBe(false);
  });

  it('a throwing listener does not break claim()', async () => {
    const { vip } = owner();
    vip.on('claimed', () => {
      throw new Error('listener bug');
    });
    await expect(vip.claim()).resolves.toMatchObject({ changed: true });
    expect(vip.holds()).toBe(true);
  });

  it('close() releases what is held, is idempotent, and later calls fail with VIP_CLOSED', async () => {
    const { vip, calls } = owner();
    await vip.claim();
    await Promise.all([vip.close(), vip.close()]);
    await vip.close();
    expect(calls).toEqual(['bind', 'unbind']);
    await expect(vip.claim()).rejects.toMatchObject({ code: 'VIP_CLOSED' });
  });
});
