import { describe, expect, it } from 'vitest';
import { parseMessage, SipParseError, StreamFramer, type SipRequest } from '../../src/messages/index.js';

const msg = (n: number, body = '') =>
  Buffer.from(
    `MESSAGE sip:b@b SIP/2.0\r\nVia: SIP/2.0/TCP a;branch=z9hG4bK${n}\r\nFrom: <sip:a@a>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: c${n}\r\nCSeq: ${n} MESSAGE\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );

describe('StreamFramer', () => {
  it('splits several messages in one chunk and reassembles one split across many chunks', () => {
    const f = new StreamFramer({ maxSize: 65535 });
    const all = Buffer.concat([msg(1, 'hello'), msg(2), msg(3, 'ü€')]);
    const out = f.push(all);
    expect(out.map((b) => (parseMessage(b) as SipRequest).headers.find((h) => h.name === 'Call-ID')!.value)).toEqual(['c1', 'c2', 'c3']);
    expect(parseMessage(out[2]!).body.toString()).toBe('ü€');
    // byte by byte
    const got: Buffer[] = [];
    for (let i = 0; i < all.length; i++) got.push(...f.push(all.subarray(i, i + 1)));
    expect(got.map((b) => b.toString())).toEqual(out.map((b) => b.toString()));
    expect(f.buffered).toBe(0);
  });

  it('skips CRLF keep-alives between messages (RFC 5626 §3.5.1)', () => {
    const f = new StreamFramer({ maxSize: 65535 });
    const out = f.push(Buffer.concat([Buffer.from('\r\n\r\n'), msg(1), Buffer.from('\r\n'), msg(2), Buffer.from('\r\n\r\n')]));
    expect(out).toHaveLength(2);
    expect(f.keepAlives).toBe(3);
    expect(f.buffered).toBe(0);
  });

  it('finds a compact "l:" Content-Length', () => {
    const f = new StreamFramer({ maxSize: 65535 });
    const m = Buffer.from(msg(1, 'abc').toString().replace('Content-Length: 3', 'l:3'));
    expect(f.push(Buffer.concat([m, msg(2)]))).toHaveLength(2);
  });

  it('"it MUST be used with stream-oriented transports" (§18.3): a message without Content-Length is a framing error', () => {
    const f = new StreamFramer({ maxSize: 65535 });
    const m = Buffer.from(msg(1).toString().replace('Content-Length: 0\r\n', ''));
    expect(() => f.push(m)).toThrowError(expect.objectContaining({ code: 'MISSING_CONTENT_LENGTH' }));
    // the stream stays failed
    expect(() => f.push(msg(2))).toThrow(SipParseError);
  });

  it('rejects a bad Content-Length and oversize messages', () => {
    expect(() => new StreamFramer({ maxSize: 65535 }).push(Buffer.from(msg(1).toString().replace('Content-Length: 0', 'Content-Length: -5')))).toThrowError(
      expect.objectContaining({ code: 'BAD_CONTENT_LENGTH' }),
    );
    expect(() => new StreamFramer({ maxSize: 500 }).push(msg(1, 'x'.repeat(600)).subarray(0, 300))).toThrowError(expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }));
    // endless headers with no blank line
    const f = new StreamFramer({ maxSize: 1000 });
    expect(() => {
      for (let i = 0; i < 100; i++) f.push(Buffer.from('X-Junk: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'));
    }).toThrowError(expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }));
  });
});
