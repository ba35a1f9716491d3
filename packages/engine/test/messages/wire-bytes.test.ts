import { describe, expect, it } from 'vitest';
import { parseMessage, serializeMessage, setHeader, wireBytes } from '../../src/messages/index.js';

const RAW =
  'OPTIONS sip:bob@b SIP/2.0\r\n' +
  'v: SIP/2.0/UDP a;branch=z9hG4bK1\r\n' +
  'f: <sip:a@a>;tag=1\r\n' +
  't: <sip:b@b>\r\n' +
  'i: c1\r\n' +
  'CSeq: 1 OPTIONS\r\n' +
  'l: 3\r\n\r\nabc';

describe('wireBytes: relaying unchanged messages as received', () => {
  it('an unchanged parsed message goes out as the bytes it arrived as', () => {
    const msg = parseMessage(Buffer.from(RAW + 'trailing datagram junk'));
    expect(wireBytes(msg).toString()).toBe(RAW);
    // serializeMessage keeps its contract: the canonical form
    expect(serializeMessage(msg).toString()).toMatch(/^OPTIONS sip:bob@b SIP\/2\.0\r\nVia: /);
  });

  it('any change makes a fresh serialization: a header replaced, pushed, removed, the body, the Request-URI', () => {
    const changes: Array<(m: any) => void> = [
      (m) => setHeader(m, 'To', '<sip:b@b>;tag=9'),
      (m) => m.headers.push({ name: 'X-A', value: '1' }),
      (m) => m.headers.pop(),
      (m) => (m.body = Buffer.from('xyz')),
      (m) => (m.uri = 'sip:carol@c'),
    ];
    for (const change of changes) {
      const msg = parseMessage(Buffer.from(RAW));
      const before = wireBytes(msg);
      change(msg);
      const after = wireBytes(msg);
      expect(after).not.toBe(before);
      expect(after.toString()).toBe(serializeMessage(msg).toString());
      expect(after.toString()).toMatch(/^[A-Z]+ sip:\w+@\w SIP\/2\.0\r\nVia: /);
    }
  });

  it('a serialization is reused while the message is unchanged (retransmissions, relays)', () => {
    const msg = parseMessage(Buffer.from(RAW));
    setHeader(msg, 'Max-Forwards', '69');
    const a = serializeMessage(msg);
    expect(serializeMessage(msg)).toBe(a);
    expect(wireBytes(msg)).toBe(a);
    setHeader(msg, 'Max-Forwards', '68');
    expect(serializeMessage(msg)).not.toBe(a);
  });

  it('no Content-Length in the datagram: no received bytes, the canonical form is sent', () => {
    const msg = parseMessage(Buffer.from(RAW.replace('l: 3\r\n\r\nabc', '\r\n')));
    expect(wireBytes(msg).toString()).toBe(serializeMessage(msg).toString());
    expect(wireBytes(msg).toString()).toContain('Content-Length: 0\r\n');
  });
});
