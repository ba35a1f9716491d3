import { describe, expect, it } from 'vitest';
import {
  createResponse,
  getHeader,
  getHeaders,
  parseMessage,
  serializeMessage,
  SipParseError,
  type SipRequest,
  type SipResponse,
} from '../../src/messages/index.js';

const crlf = (lines: string[], body = '') => Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body);

const INVITE_LINES = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
  'Content-Type: application/sdp',
];
const SDP = 'v=0\r\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\ns=-\r\n';

function invite(extra: string[] = [], body = SDP, cl: number | null = Buffer.byteLength(body)): Buffer {
  return crlf([...INVITE_LINES, ...extra, ...(cl === null ? [] : [`Content-Length: ${cl}`])], body);
}

function parseError(buf: Buffer, opts?: { maxSize?: number }): SipParseError {
  try {
    parseMessage(buf, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(SipParseError);
    return e as SipParseError;
  }
  throw new Error('expected a SipParseError');
}

describe('parseMessage: requests and responses', () => {
  it('parses a request line, headers and body', () => {
    const m = parseMessage(invite()) as SipRequest;
    expect(m.kind).toBe('request');
    expect(m.method).toBe('INVITE');
    expect(m.uri).toBe('sip:bob@biloxi.example.com');
    expect(getHeader(m, 'call-id')).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(getHeader(m, 'CSEQ')).toBe('314159 INVITE');
    expect(m.body.toString()).toBe(SDP);
  });

  it('parses a status line with a multi-word reason', () => {
    const m = parseMessage(
      crlf(['SIP/2.0 481 Call/Transaction Does Not Exist', 'Via: SIP/2.0/UDP h;branch=z9hG4bKx', 'To: <sip:a@b>;tag=9', 'From: <sip:c@d>;tag=1', 'Call-ID: x', 'CSeq: 1 BYE', 'Content-Length: 0']),
    ) as SipResponse;
    expect(m.kind).toBe('response');
    expect(m.status).toBe(481);
    expect(m.reason).toBe('Call/Transaction Does Not Exist');
  });

  it('parses an unknown method fine (the UA answers 501)', () => {
    const lines = INVITE_LINES.map((l) => l.replace('INVITE', 'FOOBAR'));
    const m = parseMessage(crlf([...lines, 'Content-Length: 0'])) as SipRequest;
    expect(m.method).toBe('FOOBAR');
  });

  it('ignores CRLF before the start-line (§7.5)', () => {
    const m = parseMessage(Buffer.concat([Buffer.from('\r\n\r\n'), invite()])) as SipRequest;
    expect(m.method).toBe('INVITE');
  });

  it('tolerates a missing Max-Forwards', () => {
    const lines = INVITE_LINES.filter((l) => !l.startsWith('Max-Forwards'));
    const m = parseMessage(crlf([...lines, 'Content-Length: 0']));
    expect(getHeader(m, 'Max-Forwards')).toBeUndefined();
  });
});

describe('parseMessage: header forms', () => {
  it('expands compact header names', () => {
    const m = parseMessage(
      crlf([
        'MESSAGE sip:bob@b SIP/2.0',
        'v: SIP/2.0/TCP a.example;branch=z9hG4bK1',
        'f: <sip:a@a>;tag=1',
        't: <sip:b@b>',
        'i: cid-1',
        'CSeq: 2 MESSAGE',
        'm: <sip:a@10.0.0.1>',
        'c: text/plain',
        'k: timer',
        'l: 2',
      ], 'hi'),
    );
    expect(m.headers.map((h) => h.name)).toEqual(['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Content-Type', 'Supported', 'Content-Length']);
    expect(getHeader(m, 'i')).toBe('cid-1');
    expect(getHeader(m, 'Content-Type')).toBe('text/plain');
    expect(m.body.toString()).toBe('hi');
  });

  it('splits multi-value Via, Contact, Route and Record-Route lines, but not commas inside quotes or <>', () => {
    const m = parseMessage(
      invite([
        'Via: SIP/2.0/UDP p1.example;branch=z9hG4bKa, SIP/2.0/UDP p2.example;branch=z9hG4bKb',
        'Route: <sip:r1.example;lr>, <sip:r2.example;lr>',
        'Record-Route: <sip:rr1;lr>,<sip:rr2;lr>',
        'Contact: "Doe, John" <sip:j@x>;q=0.5, <sip:k@y?subject=a,b>',
        'Subject: one, two',
      ]),
    );
    expect(getHeaders(m, 'Via')).toEqual([
      'SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
      'SIP/2.0/UDP p1.example;branch=z9hG4bKa',
      'SIP/2.0/UDP p2.example;branch=z9hG4bKb',
    ]);
    expect(getHeaders(m, 'Route')).toEqual(['<sip:r1.example;lr>', '<sip:r2.example;lr>']);
    expect(getHeaders(m, 'Record-Route')).toEqual(['<sip:rr1;lr>', '<sip:rr2;lr>']);
    expect(getHeaders(m, 'Contact')).toEqual(['<sip:alice@pc33.atlanta.example.com>', '"Doe, John" <sip:j@x>;q=0.5', '<sip:k@y?subject=a,b>']);
    expect(getHeaders(m, 'Subject')).toEqual(['one, two']);
  });

  it('unfolds folded header lines (§7.3.1)', () => {
    const m = parseMessage(invite(['Subject: I know you\'re there,', '    pick up the phone', '\tand talk to me!']));
    expect(getHeader(m, 'Subject')).toBe("I know you're there, pick up the phone and talk to me!");
  });

  it('accepts whitespace around the colon and LF-only line ends', () => {
    const m = parseMessage(Buffer.from(
      'OPTIONS sip:b@b SIP/2.0\nVia  :  SIP/2.0/UDP h;branch=z9hG4bK2\nFrom:<sip:a@a>;tag=1\nTo:<sip:b@b>\nCall-ID:z\nCSeq:1 OPTIONS\nContent-Length:0\n\n',
    ));
    expect(getHeader(m, 'Via')).toBe('SIP/2.0/UDP h;branch=z9hG4bK2');
    expect(getHeader(m, 'From')).toBe('<sip:a@a>;tag=1');
  });
});

describe('parseMessage: bodies', () => {
  it('counts Content-Length in bytes for UTF-8 bodies', () => {
    const body = 'grüße, 日本 ✓';
    expect(Buffer.byteLength(body)).toBeGreaterThan(body.length);
    const m = parseMessage(invite([], body));
    expect(m.body.toString('utf8')).toBe(body);
    expect(serializeMessage(m).toString('utf8').endsWith(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)).toBe(true);
  });

  it('is binary-safe: bodies with NUL, CRLFCRLF and invalid UTF-8 survive a round trip', () => {
    const body = Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 13, 10, 0x80, 0x41]);
    const buf = Buffer.concat([Buffer.from([...INVITE_LINES, `Content-Length: ${body.length}`].join('\r\n') + '\r\n\r\n'), body]);
    const m = parseMessage(buf);
    expect(Buffer.compare(m.body, body)).toBe(0);
    const again = parseMessage(serializeMessage(m));
    expect(Buffer.compare(again.body, body)).toBe(0);
  });

  it('discards datagram bytes beyond Content-Length (§18.3)', () => {
    const m = parseMessage(invite([], SDP + 'JUNKJUNK', Buffer.byteLength(SDP)));
    expect(m.body.toString()).toBe(SDP);
  });

  it('without Content-Length on a datagram the body is the rest of the packet', () => {
    const m = parseMessage(invite([], 'abc', null));
    expect(m.body.toString()).toBe('abc');
  });
});

describe('parseMessage: bad input', () => {
  it('rejects garbage with no status (drop and log)', () => {
    for (const g of [Buffer.from([0, 1, 2, 3, 255]), Buffer.from('hello world'), Buffer.from('\x16\x03\x01\x02\x00'), Buffer.alloc(0), Buffer.from('\r\n\r\n')]) {
      const e = parseError(g);
      expect(e.code).toMatch(/^(BAD_START_LINE|EMPTY_MESSAGE)$/);
      expect(e.status).toBeUndefined();
    }
  });

  it('rejects a bad start line', () => {
    expect(parseError(crlf(['INVITE sip:a@b', 'Via: x'])).code).toBe('BAD_START_LINE');
    expect(parseError(crlf(['INVITE  sip:a@b SIP/2.0'])).code).toBe('BAD_START_LINE');
    expect(parseError(crlf(['IN(VITE sip:a@b SIP/2.0'])).code).toBe('BAD_START_LINE');
    expect(parseError(crlf(['SIP/2.0 2000 OK'])).code).toBe('BAD_STATUS');
    expect(parseError(crlf(['SIP/2.0 099 Low'])).code).toBe('BAD_STATUS');
  });

  for (const h of ['To', 'From', 'CSeq', 'Call-ID', 'Via']) {
    it(`rejects a request missing ${h} with no status (cannot be answered)`, () => {
      const lines = [...INVITE_LINES.filter((l) => !l.startsWith(h + ':')), 'Content-Length: 0'];
      const e = parseError(crlf(lines));
      expect(e.code).toBe('MISSING_HEADER');
      expect(e.message).toContain(h);
      expect(e.status).toBeUndefined();
    });
  }

  it('answers 400 when Content-Length is larger than the datagram: "If the message is a request, the element SHOULD generate a 400 (Bad Request) response" (§18.3)', () => {
    const e = parseError(invite([], SDP, Buffer.byteLength(SDP) + 10));
    expect(e.code).toBe('BODY_TRUNCATED');
    expect(e.status).toBe(400);
    expect(e.request?.method).toBe('INVITE');
    // the error carries enough to build the answer
    const r = createResponse(e.request!, e.status!);
    expect(getHeader(r, 'Call-ID')).toBe('a84b4c76e66710@pc33.atlanta.example.com');
  });

  it('drops a response whose Content-Length is larger than the datagram: "If the message is a response, it MUST be discarded" (§18.3)', () => {
    const e = parseError(crlf(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP h;branch=z9hG4bKx', 'To: <sip:a@b>;tag=9', 'From: <sip:c@d>;tag=1', 'Call-ID: x', 'CSeq: 1 INVITE', 'Content-Length: 50'], 'v=0'));
    expect(e.code).toBe('BODY_TRUNCATED');
    expect(e.status).toBeUndefined();
  });

  it('answers 400 to a non-numeric Content-Length', () => {
    const e = parseError(Buffer.from(invite([], SDP, null).toString().replace('Content-Type', 'Content-Length: 12a\r\nContent-Type')));
    expect(e.code).toBe('BAD_CONTENT_LENGTH');
    expect(e.status).toBe(400);
  });

  it('answers 513 to an oversize request and drops an oversize response', () => {
    const big = 'x'.repeat(2000);
    const e = parseError(invite([], big), { maxSize: 1500 });
    expect(e.code).toBe('MESSAGE_TOO_LARGE');
    expect(e.status).toBe(513);
    const big64k = parseError(invite([], 'y'.repeat(70_000)));
    expect(big64k.status).toBe(513);
    const resp = crlf(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP h;branch=z9hG4bKx', 'To: <sip:a@b>;tag=9', 'From: <sip:c@d>;tag=1', 'Call-ID: x', 'CSeq: 1 INVITE', `Content-Length: ${big.length}`], big);
    const e2 = parseError(resp, { maxSize: 1500 });
    expect(e2.code).toBe('MESSAGE_TOO_LARGE');
    expect(e2.status).toBeUndefined();
  });

  it('answers 400 to a bad Request-URI', () => {
    for (const uri of ['sip:', 'sip:bob@', 'sip:bob@host:99999', 'sip:bob@ho st', 'nocolon', 'sip:a@[zz::1]']) {
      const lines = [...INVITE_LINES.map((l, i) => (i === 0 ? `INVITE ${uri} SIP/2.0` : l)), 'Content-Length: 0'];
      let e: SipParseError;
      if (uri.includes(' ')) {
        e = parseError(crlf(lines));
        expect(e.code).toBe('BAD_START_LINE');
        continue;
      }
      e = parseError(crlf(lines));
      expect(e.code, uri).toBe('BAD_REQUEST_URI');
      expect(e.status).toBe(400);
    }
  });

  it('leaves other well-formed URI schemes to the UA (416), parsing fine', () => {
    const lines = [...INVITE_LINES.map((l, i) => (i === 0 ? 'INVITE urn:service:sos SIP/2.0' : l)), 'Content-Length: 0'];
    expect((parseMessage(crlf(lines)) as SipRequest).uri).toBe('urn:service:sos');
  });

  it('answers 505 to a SIP version other than 2.0', () => {
    const lines = [...INVITE_LINES.map((l, i) => (i === 0 ? 'INVITE sip:bob@b SIP/3.0' : l)), 'Content-Length: 0'];
    const e = parseError(crlf(lines));
    expect(e.code).toBe('BAD_VERSION');
    expect(e.status).toBe(505);
    expect(e.request?.uri).toBe('sip:bob@b');
  });

  it('never answers an ACK, even a malformed one', () => {
    const lines = [...INVITE_LINES.map((l, i) => (i === 0 ? 'ACK sip:bob@b SIP/3.0' : l.replace('314159 INVITE', '314159 ACK'))), 'Content-Length: 0'];
    const e = parseError(crlf(lines));
    expect(e.code).toBe('BAD_VERSION');
    expect(e.status).toBeUndefined();
  });

  it('answers 400 to a malformed header line and a CSeq method mismatch', () => {
    const e = parseError(invite(['this line has no colon']));
    expect(e.code).toBe('BAD_HEADER');
    expect(e.status).toBe(400);
    const lines = [...INVITE_LINES.map((l) => l.replace('314159 INVITE', '314159 BYE')), 'Content-Length: 0'];
    const e2 = parseError(crlf(lines));
    expect(e2.code).toBe('CSEQ_METHOD_MISMATCH');
    expect(e2.status).toBe(400);
  });

  it('cannot address an answer when CSeq or Via is unreadable', () => {
    const e = parseError(crlf([...INVITE_LINES.map((l) => l.replace('CSeq: 314159 INVITE', 'CSeq: abc')), 'Content-Length: 0']));
    expect(e.code).toBe('BAD_CSEQ');
    expect(e.status).toBeUndefined();
    const e2 = parseError(crlf([...INVITE_LINES.map((l) => (l.startsWith('Via') ? 'Via: HTTP/1.1 nowhere' : l)), 'Content-Length: 0']));
    expect(e2.code).toBe('BAD_VIA');
    expect(e2.status).toBeUndefined();
  });

  it('survives random mutations of a valid message without throwing anything but SipParseError', () => {
    const base = invite();
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    let parsed = 0, rejected = 0;
    for (let n = 0; n < 3000; n++) {
      const b = Buffer.from(base);
      const edits = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < edits; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      const cut = rnd() < 0.2 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
      try {
        parseMessage(cut);
        parsed++;
      } catch (e) {
        expect(e).toBeInstanceOf(SipParseError);
        rejected++;
      }
    }
    expect(parsed).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });
});

describe('serializeMessage: round trips', () => {
  it('parse → serialize gives the canonical form', () => {
    const input = Buffer.from(
      'INVITE sip:bob@b SIP/2.0\r\n' +
        'v:SIP/2.0/UDP a;branch=z9hG4bK1 , SIP/2.0/UDP c;branch=z9hG4bK2\r\n' +
        'f:  <sip:a@a>;tag=1\r\n' +
        't: <sip:b@b>\r\n' +
        'i: c1\r\n' +
        'CSeq: 1 INVITE\r\n' +
        'Subject: folded\r\n  value\r\n' +
        'X-Custom-Thing: keep Me\r\n' +
        'l: 3\r\n\r\nabc',
    );
    const canonical =
      'INVITE sip:bob@b SIP/2.0\r\n' +
      'Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\n' +
      'Via: SIP/2.0/UDP c;branch=z9hG4bK2\r\n' +
      'From: <sip:a@a>;tag=1\r\n' +
      'To: <sip:b@b>\r\n' +
      'Call-ID: c1\r\n' +
      'CSeq: 1 INVITE\r\n' +
      'Subject: folded value\r\n' +
      'X-Custom-Thing: keep Me\r\n' +
      'Content-Length: 3\r\n\r\nabc';
    const out = serializeMessage(parseMessage(input));
    expect(out.toString()).toBe(canonical);
    // canonical form is a fixed point
    expect(serializeMessage(parseMessage(out)).toString()).toBe(canonical);
  });

  it('rewrites Content-Length from body.length and appends it when missing', () => {
    const m = parseMessage(invite());
    m.body = Buffer.from('new body');
    expect(serializeMessage(m).toString()).toContain('Content-Length: 8\r\n\r\nnew body');
    m.headers = m.headers.filter((h) => h.name !== 'Content-Length');
    const s = serializeMessage(m).toString();
    expect(s.match(/Content-Length/g)).toHaveLength(1);
    expect(s.endsWith('Content-Length: 8\r\n\r\nnew body')).toBe(true);
  });

  it('serializes a response start line', () => {
    const req = parseMessage(invite()) as SipRequest;
    const r = createResponse(req, 180, undefined, { toTag: 'abc' });
    expect(serializeMessage(r).toString().startsWith('SIP/2.0 180 Ringing\r\n')).toBe(true);
  });
});
