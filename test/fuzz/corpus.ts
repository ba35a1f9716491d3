/**
 * Valid SIP messages the fuzzer starts from: every method the engine meets, the
 * usual responses, compact and multi-value headers, folded lines, IPv6 Vias and
 * a TCP-framed pair. Each is built from a context so the wire fuzz can make every
 * case unique (Call-ID, branch) and point its Via at the fuzzer's socket.
 */
export interface CorpusContext {
  /** Via sent-by host (an IPv4 or bracketed IPv6 literal). */
  host: string;
  port: number;
  transport: 'UDP' | 'TCP';
  callId: string;
  branch: string;
  tag: string;
  /** Request-URI user part (the wire fuzz routes by its prefix). */
  user: string;
  /** Request-URI host:port. */
  target: string;
}

export interface Seed {
  name: string;
  build(c: CorpusContext): string;
}

const SDP = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=sendrecv',
  '',
].join('\r\n');

function msg(lines: string[], body = ''): string {
  return lines.join('\r\n') + '\r\n' + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` + body;
}

const via = (c: CorpusContext) => `Via: SIP/2.0/${c.transport} ${c.host}:${c.port};rport;branch=${c.branch}`;

function request(method: string, c: CorpusContext, extra: string[] = [], body = '', toTag = false, cseq = 1): string {
  return msg(
    [
      `${method} sip:${c.user}@${c.target} SIP/2.0`,
      via(c),
      'Max-Forwards: 70',
      `From: "Fuzz" <sip:fuzz@${c.host}:${c.port}>;tag=${c.tag}`,
      `To: <sip:${c.user}@${c.target}>${toTag ? ';tag=remote-' + c.tag : ''}`,
      `Call-ID: ${c.callId}`,
      `CSeq: ${cseq} ${method}`,
      ...extra,
    ],
    body,
  );
}

function response(status: number, reason: string, method: string, c: CorpusContext, extra: string[] = [], body = ''): string {
  return msg(
    [
      `SIP/2.0 ${status} ${reason}`,
      `${via(c)};received=${c.host.replace(/^\[|\]$/g, '')}`,
      `From: <sip:${c.user}@${c.target}>;tag=${c.tag}`,
      `To: <sip:fuzz@${c.host}:${c.port}>;tag=resp-${c.tag}`,
      `Call-ID: ${c.callId}`,
      `CSeq: 1 ${method}`,
      ...extra,
    ],
    body,
  );
}

export const CORPUS: readonly Seed[] = [
  {
    name: 'INVITE with SDP',
    build: (c) =>
      request('INVITE', c, [`Contact: <sip:fuzz@${c.host}:${c.port}>`, 'Content-Type: application/sdp', 'Allow: INVITE, ACK, BYE, CANCEL, OPTIONS', 'Supported: timer, replaces'], SDP),
  },
  { name: 'BYE in dialog', build: (c) => request('BYE', c, [], '', true, 2) },
  { name: 'CANCEL', build: (c) => request('CANCEL', c) },
  { name: 'ACK', build: (c) => request('ACK', c, [], '', true) },
  { name: 'OPTIONS', build: (c) => request('OPTIONS', c, ['Accept: application/sdp']) },
  {
    name: 'REGISTER',
    build: (c) => request('REGISTER', c, [`Contact: <sip:fuzz@${c.host}:${c.port}>;expires=3600`, 'Expires: 3600']),
  },
  {
    name: 'compact headers',
    build: (c) =>
      [
        `INVITE sip:${c.user}@${c.target} SIP/2.0`,
        `v: SIP/2.0/${c.transport} ${c.host}:${c.port};rport;branch=${c.branch}`,
        'Max-Forwards: 70',
        `f: <sip:fuzz@${c.host}>;tag=${c.tag}`,
        `t: <sip:${c.user}@${c.target}>`,
        `i: ${c.callId}`,
        'CSeq: 7 INVITE',
        `m: <sip:fuzz@${c.host}:${c.port}>`,
        'c: application/sdp',
        'k: 100rel',
        `l: ${Buffer.byteLength(SDP)}`,
        '',
        SDP,
      ].join('\r\n'),
  },
  {
    name: 'multi-value headers',
    build: (c) =>
      request('INVITE', c, [
        `Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa, SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKb`,
        'Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>',
        'Route: <sip:r1.example.com;lr>,<sip:r2.example.com;lr>',
        `Contact: "A, B" <sip:fuzz@${c.host}:${c.port}>;q=0.7, <sip:alt@${c.host}>;q=0.1`,
        'Allow: INVITE,ACK,BYE',
      ], SDP),
  },
  {
    name: 'folded lines',
    build: (c) =>
      request('OPTIONS', c, ['Subject: I know you are there,', '   pick up the phone', '\tand talk to me!', 'User-Agent: fuzz', ' /1.0']),
  },
  {
    name: 'IPv6 Via',
    build: (c) =>
      request('INVITE', { ...c }, [
        'Via: SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKv6;received=[2001:db8::9:255]',
        `Contact: <sip:fuzz@[2001:db8::9:1]:5060>`,
        'Content-Type: application/sdp',
      ], SDP),
  },
  { name: '180 Ringing', build: (c) => response(180, 'Ringing', 'INVITE', c, [`Contact: <sip:${c.user}@${c.target}>`]) },
  {
    name: '200 OK with SDP',
    build: (c) => response(200, 'OK', 'INVITE', c, [`Contact: <sip:${c.user}@${c.target}>`, 'Content-Type: application/sdp'], SDP),
  },
  { name: '486 Busy Here', build: (c) => response(486, 'Busy Here', 'INVITE', c) },
  {
    name: 'TCP Content-Length framing (two messages in a row)',
    build: (c) => request('OPTIONS', { ...c, transport: 'TCP' }) + request('BYE', { ...c, transport: 'TCP' }, [], '', true, 3),
  },
];

export function defaultContext(i = 0): CorpusContext {
  return {
    host: '192.0.2.55',
    port: 5062,
    transport: 'UDP',
    callId: `fuzz-${i}@192.0.2.55`,
    branch: `z9hG4bKfuzz${i}`,
    tag: `t${i}`,
    user: 'fuzz',
    target: '192.0.2.1:5060',
  };
}
