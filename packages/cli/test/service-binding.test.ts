// serviceBinding: the SIP service binds on every transport or on none.
import { describe, expect, it } from 'vitest';
import { serviceBinding } from '../src/ha-runtime.js';

function fakeEngine(busy: Set<string>) {
  const bound = new Set<string>();
  return {
    bound,
    add: async (s: string) => {
      if (busy.has(s)) throw Object.assign(new Error(`listen EADDRINUSE: address already in use ${s}`), { code: 'EADDRINUSE' });
      bound.add(s);
    },
    remove: async (s: string) => {
      bound.delete(s);
    },
  };
}

describe('serviceBinding', () => {
  it('binds every transport; unbinds them all', async () => {
    const e = fakeEngine(new Set());
    const b = serviceBinding(['udp', 'tcp'], e.add, e.remove);
    await b.bind();
    expect([...e.bound]).toEqual(['udp', 'tcp']);
    await b.unbind();
    expect([...e.bound]).toEqual([]);
  });

  it('a transport that cannot bind (the peer holds the port) leaves nothing bound, and the error goes up', async () => {
    const e = fakeEngine(new Set(['tcp']));
    const b = serviceBinding(['udp', 'tcp'], e.add, e.remove);
    await expect(b.bind()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect([...e.bound]).toEqual([]); // UDP was bound first and is released again
  });

  it('unbind tries every transport and reports the first failure', async () => {
    const e = fakeEngine(new Set());
    const b = serviceBinding(['udp', 'tcp'], e.add, async (s) => {
      if (s === 'udp') throw new Error('udp close failed');
      await e.remove(s);
    });
    await b.bind();
    await expect(b.unbind()).rejects.toThrow('udp close failed');
    expect([...e.bound]).toEqual(['udp']); // tcp was still unbound
  });
});
