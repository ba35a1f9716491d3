import { describe, expect, it } from 'vitest';
import { FrameDecoder, WireError, encodeFrame, splitPayload } from '../../src/wire/codec.js';

describe('wire framing <byte-length>#<payload>', () => {
  it('length counts UTF-8 bytes, not characters', () => {
    const f = encodeFrame('a|é😀');
    expect(f).toBe('8#a|é😀');
    const d = new FrameDecoder();
    expect(d.push(Buffer.from(f))).toEqual(['a|é😀']);
  });

  it('reassembles a frame split at every possible byte, including inside the length and a multibyte char', () => {
    const payloads = ['x|sip|tx|\r\nINVITE sip:ü@h SIP/2.0\r\n\r\n', 'y|ping', '12345|route|INVITE'];
    const all = Buffer.from(payloads.map(encodeFrame).join(''));
    for (let cut = 1; cut < all.length; cut++) {
      const d = new FrameDecoder();
      const out = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
      expect(out).toEqual(payloads);
      expect(d.buffered).toBe(0);
    }
  });

  it('decodes coalesced frames delivered byte by byte', () => {
    const payloads = Array.from({ length: 20 }, (_, i) => `m${i}|response|r${i}|OK`);
    const all = Buffer.from(payloads.map(encodeFrame).join(''));
    const d = new FrameDecoder();
    const out: string[] = [];
    for (let i = 0; i < all.length; i++) out.push(...d.push(all.subarray(i, i + 1)));
    expect(out).toEqual(payloads);
  });

  it('rejects a non-numeric length with a stable code', () => {
    const d = new FrameDecoder();
    expect(() => d.push(Buffer.from('ab#hello'))).toThrowError(WireError);
    try {
      new FrameDecoder().push(Buffer.from('1x#a'));
    } catch (e) {
      expect((e as WireError).code).toBe('EWIRE_FRAME');
    }
  });

  it('rejects zero length and oversize frames', () => {
    expect(() => new FrameDecoder().push(Buffer.from('0#'))).toThrow(/zero/);
    let code = '';
    try {
      new FrameDecoder({ maxFrameSize: 10 }).push(Buffer.from('11#'));
    } catch (e) {
      code = (e as WireError).code;
    }
    expect(code).toBe('EWIRE_TOO_BIG');
    expect(() => new FrameDecoder().push(Buffer.from('1234567890123#'))).toThrow(WireError);
  });

  it('splits tokens from the SIP text', () => {
    expect(splitPayload('id|sip|t1|d1\r\nBYE sip:a SIP/2.0\r\n\r\n')).toEqual({
      tokens: ['id', 'sip', 't1', 'd1'],
      body: 'BYE sip:a SIP/2.0\r\n\r\n',
    });
    expect(splitPayload('id|ping')).toEqual({ tokens: ['id', 'ping'], body: '' });
  });
});
