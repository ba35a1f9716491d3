import { describe, expect, it } from 'vitest';
import {
  createResponse,
  formatNameAddr,
  formatUri,
  formatVia,
  getHeader,
  getHeaders,
  getTag,
  newBranch,
  newCallId,
  newTag,
  parseCSeq,
  parseMessage,
  parseNameAddr,
  parseUri,
  parseVia,
  prependHeader,
  reasonPhrase,
  removeFirstHeader,
  removeHeader,
  setHeader,
  SipParseError,
  type SipRequest,
} from '../../src/messages/index.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SipParseError);
    return (e as SipParseError).code;
  }
  return undefined;
};

describe('parseUri / formatUri', () => {
  it('parses user, password, host, port, params and headers', () => {
    const u = parseUri('sips:alice:secret@[2001:db8::1]:5061;transport=tcp;LR?Subject=hi&Priority=urgent');
    expect(u).toEqual({
      scheme: 'sips', user: 'alice', password: 'secret', host: '[2001:db8::1]', port: 5061,
      params: { transport: 'tcp', lr: null }, headers: { Subject: 'hi', Priority: 'urgent' },
    });
    expect(formatUri(u)).toBe('sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?Subject=hi&Priority=urgent');
  });

  it('parses a host-only URI and a tel URI', () => {
    expect(parseUri('sip:10.0.0.1')).toEqual({ scheme: 'sip', host: '10.0.0.1', params: {}, headers: {} });
    const t = parseUri('tel:+1-201-555-0123;phone-context=example.com');
    expect(t.user).toBe('+1-201-555-0123');
    expect(t.params['phone-context']).toBe('example.com');
    expect(formatUri(t)).toBe('tel:+1-201-555-0123;phone-context=example.com');
  });

  it('keeps user parameters in the user part', () => {
    expect(parseUri('sip:+15551234;npdi;rn=+1555@gw.example;user=phone').user).toBe('+15551234;npdi;rn=+1555');
  });

  it('rejects malformed URIs with BAD_URI and other schemes with 416', () => {
    for (const s of ['', 'sip', 'sip:', 'sip:@h', 'sip:a@', 'sip:a@h:', 'sip:a@h:70000', 'sip:a@h:12x', 'sip:a b@h', 'sip:[::1', 'sip:a@h;=x']) {
      expect(code(() => parseUri(s)), s).toBe('BAD_URI');
    }
    expect(code(() => parseUri('http://example.com'))).toBe('UNSUPPORTED_URI_SCHEME');
  });
});

describe('parseNameAddr / formatNameAddr', () => {
  it('parses quoted display names with escapes and header params', () => {
    const n = parseNameAddr('"Bob \\"B\\" Smith" <sip:bob@b.example;transport=udp>;tag=a6c85cf;X=1');
    expect(n).toEqual({ displayName: 'Bob "B" Smith', uri: 'sip:bob@b.example;transport=udp', params: { tag: 'a6c85cf', x: '1' } });
    expect(formatNameAddr(n)).toBe('"Bob \\"B\\" Smith" <sip:bob@b.example;transport=udp>;tag=a6c85cf;x=1');
  });

  it('parses token display names, bare <uri>, and addr-spec whose ;params are header params (§20.10)', () => {
    expect(parseNameAddr('Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8')).toEqual({ displayName: 'Anonymous', uri: 'sip:c8oqz84zk7z@privacy.org', params: { tag: 'hyh8' } });
    expect(parseNameAddr('<sip:a@b>')).toEqual({ uri: 'sip:a@b', params: {} });
    expect(parseNameAddr('sip:a@b;tag=88')).toEqual({ uri: 'sip:a@b', params: { tag: '88' } });
    expect(parseNameAddr('<sip:a@b>;expires=60;+sip.instance="<urn:uuid:1>"').params['+sip.instance']).toBe('"<urn:uuid:1>"');
  });

  it('rejects malformed name-addrs', () => {
    for (const s of ['', '"unterminated <sip:a@b>', '<sip:a@b', 'Bob <>', '<sip:a@b> junk', 'nouri']) {
      expect(code(() => parseNameAddr(s)), s).toBe('BAD_NAME_ADDR');
    }
  });

  it('getTag finds the tag after > and ignores tags inside the URI', () => {
    expect(getTag('<sip:a@b;tag=wrong>;tag=right')).toBe('right');
    expect(getTag('<sip:a@b;tag=wrong>')).toBeUndefined();
    expect(getTag('sip:a@b;foo;TAG = t1;x')).toBe('t1');
    expect(getTag('"x" <sip:a@b>')).toBeUndefined();
  });
});

describe('parseVia / formatVia', () => {
  it('parses protocol, sent-by and the branch/received/rport params', () => {
    const v = parseVia('SIP / 2.0 / UDP  192.0.2.4:5070 ; branch=z9hG4bK87asdks7;received=198.18.0.9;rport=41000;ttl=16');
    expect(v.transport).toBe('UDP');
    expect(v.host).toBe('192.0.2.4');
    expect(v.port).toBe(5070);
    expect(v.branch).toBe('z9hG4bK87asdks7');
    expect(v.received).toBe('198.18.0.9');
    expect(v.rport).toBe(41000);
    expect(v.params['ttl']).toBe('16');
    expect(parseVia('SIP/2.0/TCP h;rport;branch=z9hG4bKx').rport).toBeNull();
  });

  it('formats with field values winning over params', () => {
    const v = parseVia('SIP/2.0/UDP h:5060;branch=z9hG4bKa;rport');
    v.rport = 5099;
    v.received = '1.2.3.4';
    expect(formatVia(v)).toBe('SIP/2.0/UDP h:5060;branch=z9hG4bKa;rport=5099;received=1.2.3.4');
  });

  it('rejects malformed Vias', () => {
    for (const s of ['', 'SIP/2.0 h', 'SIP/2.0/UDP', 'HTTP/1.1/TCP h', 'SIP/2.0/UDP h:99999', 'SIP/2.0/UDP h junk', 'SIP/2.0/UDP h;rport=x']) {
      expect(code(() => parseVia(s)), s).toBe('BAD_VIA');
    }
  });
});

describe('parseCSeq', () => {
  it('parses number and method', () => {
    expect(parseCSeq('  4711   INVITE ')).toEqual({ seq: 4711, method: 'INVITE' });
  });
  it('"The sequence number value MUST be expressible as a 32-bit unsigned integer and MUST be less than 2**31" (§8.1.1.5)', () => {
    expect(parseCSeq('2147483647 BYE').seq).toBe(2147483647);
    expect(code(() => parseCSeq('2147483648 BYE'))).toBe('BAD_CSEQ');
  });
  it('rejects malformed CSeqs', () => {
    for (const s of ['', 'INVITE', '12', '12INVITE', '-1 BYE', '1 B(YE']) expect(code(() => parseCSeq(s)), s).toBe('BAD_CSEQ');
  });
});

describe('header operations', () => {
  const req = () =>
    parseMessage(Buffer.from(
      'BYE sip:b@b SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP c;branch=z9hG4bK2\r\nFrom: <sip:a@a>;tag=1\r\nTo: <sip:b@b>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 0\r\n\r\n',
    )) as SipRequest;

  it('get/set/prepend/remove by case-insensitive and compact names', () => {
    const m = req();
    expect(getHeaders(m, 'X-A')).toEqual(['1', '2']);
    setHeader(m, 'x-A', '3');
    expect(getHeaders(m, 'X-A')).toEqual(['3']);
    prependHeader(m, 'v', 'SIP/2.0/UDP new;branch=z9hG4bKn');
    expect(getHeaders(m, 'via')[0]).toBe('SIP/2.0/UDP new;branch=z9hG4bKn');
    expect(m.headers[0]!.name).toBe('Via');
    removeFirstHeader(m, 'Via');
    removeFirstHeader(m, 'Via');
    expect(getHeaders(m, 'Via')).toEqual(['SIP/2.0/UDP c;branch=z9hG4bK2']);
    removeHeader(m, 'x-a');
    expect(getHeader(m, 'X-A')).toBeUndefined();
    setHeader(m, 'Max-Forwards', '69');
    expect(getHeader(m, 'max-forwards')).toBe('69');
  });

  it('createResponse copies Via, From, Call-ID, CSeq and adds a To tag (§8.2.6.2)', () => {
    const m = req();
    setHeader(m, 'To', '<sip:b@b>');
    const r = createResponse(m, 486, undefined, { toTag: 'tt' });
    expect(r.reason).toBe('Busy Here');
    expect(getHeaders(r, 'Via')).toEqual(getHeaders(m, 'Via'));
    expect(getHeader(r, 'To')).toBe('<sip:b@b>;tag=tt');
    expect(getHeader(r, 'From')).toBe('<sip:a@a>;tag=1');
    expect(getHeader(r, 'CSeq')).toBe('2 BYE');
    expect(createResponse(m, 100).headers.find((h) => h.name === 'To')!.value).toBe('<sip:b@b>');
    expect(getTag(getHeader(createResponse(m, 200), 'To')!)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('"If a request contained a To tag in the request, the To header field in the response MUST equal that of the request" (§8.2.6.2)', () => {
    expect(getHeader(createResponse(req(), 200, undefined, { toTag: 'other' }), 'To')).toBe('<sip:b@b>;tag=2');
  });

  it('reasonPhrase knows standard codes and falls back per class', () => {
    expect(reasonPhrase(404)).toBe('Not Found');
    expect(reasonPhrase(499)).toBe('Client Error');
  });

  it('ids: branch has the magic cookie, ids are unique', () => {
    const b = new Set<string>();
    for (let i = 0; i < 5000; i++) b.add(newBranch());
    expect(b.size).toBe(5000);
    for (const x of b) expect(x.startsWith('z9hG4bK')).toBe(true);
    expect(newTag()).not.toBe(newTag());
    expect(newCallId()).toMatch(/^[0-9a-f]{32}$/);
  });
});
