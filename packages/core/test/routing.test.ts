import { describe, expect, it } from 'vitest';
import { Router, validateRouting } from '../src/routing/router.js';
import { isSipUri, requestUriFor, userOf } from '../src/routing/sip-uri.js';

describe('Router', () => {
  const router = new Router({
    rules: [
      { prefix: '1', target: 'sip:one.example' },
      { prefix: '123', target: 'sip:10.0.0.3:5080' },
      { prefix: '12', target: 'sip:10.0.0.2' },
    ],
    default: 'sip:default.example;transport=tcp',
  });

  it('the longest matching prefix wins', () => {
    expect(router.route('12345')).toEqual({ target: 'sip:10.0.0.3:5080', rule: 'prefix:123' });
    expect(router.route('1299')).toEqual({ target: 'sip:10.0.0.2', rule: 'prefix:12' });
    expect(router.route('19')).toEqual({ target: 'sip:one.example', rule: 'prefix:1' });
  });

  it('falls back to the default target', () => {
    expect(router.route('999')).toEqual({ target: 'sip:default.example;transport=tcp', rule: 'default' });
    expect(router.route('')).toEqual({ target: 'sip:default.example;transport=tcp', rule: 'default' });
  });

  it('no match and no default gives no route', () => {
    const r = new Router({ rules: [{ prefix: '44', target: 'sip:uk.example' }] });
    expect(r.route('33')).toBeUndefined();
    expect(r.route('4411')?.target).toBe('sip:uk.example');
  });

  it('rejects bad config naming the key', () => {
    expect(validateRouting({ rules: [], default: 'foo' })).toEqual(['routing.default: must be a SIP URI (got "foo")']);
    expect(validateRouting({ rules: [{ prefix: '1', target: 'http://x' }] })[0]).toMatch(/^routing\.rules\[0\]\.target: must be a SIP URI/);
    expect(validateRouting({ rules: [{ prefix: '1', target: 'sip:a' }, { prefix: '1', target: 'sip:b' }] })[0]).toMatch(/appears twice/);
    expect(() => new Router({ rules: [], default: 'sip:' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ROUTING' }));
  });
});

describe('SIP URI helpers', () => {
  it('accepts SIP URIs and refuses others', () => {
    for (const ok of ['sip:127.0.0.1:5070', 'sip:bob@host.example', 'sips:[::1]:5061;transport=tcp', 'sip:h;transport=tcp']) expect(isSipUri(ok), ok).toBe(true);
    for (const bad of ['foo', 'sip:', 'http://x', 'sip:host:99999', 'sip:a b']) expect(isSipUri(bad), bad).toBe(false);
  });
  it('puts the dialed user into a host-only target', () => {
    expect(requestUriFor('sip:127.0.0.1:5080;transport=tcp', '1000')).toBe('sip:1000@127.0.0.1:5080;transport=tcp');
    expect(requestUriFor('sip:bob@127.0.0.1', '1000')).toBe('sip:bob@127.0.0.1');
    expect(userOf('sip:5551234@127.0.0.1:5060;user=phone')).toBe('5551234');
    expect(userOf('<sip:127.0.0.1>')).toBe('');
  });
});
