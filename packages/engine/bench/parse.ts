// Microbenchmark: parse + serialize of typical B2BUA traffic.
// Run: node --import tsx packages/engine/bench/parse.ts [seconds=2]
import { getHeader, parseCSeq, parseMessage, parseVia, serializeMessage } from '../src/messages/index.js';

const invite = Buffer.from(
  [
    'INVITE sip:service@198.18.0.10:5060 SIP/2.0',
    'Via: SIP/2.0/UDP 198.18.0.2:5061;branch=z9hG4bK-4711-1-0',
    'From: sipp <sip:sipp@198.18.0.2:5061>;tag=4711SIPpTag001',
    'To: service <sip:service@198.18.0.10:5060>',
    'Call-ID: 1-4711@198.18.0.2',
    'CSeq: 1 INVITE',
    'Contact: sip:sipp@198.18.0.2:5061',
    'Max-Forwards: 70',
    'Subject: Performance Test',
    'Content-Type: application/sdp',
    'Content-Length: 129',
    '',
    'v=0\r\no=user1 53655765 2353687637 IN IP4 198.18.0.2\r\ns=-\r\nc=IN IP4 198.18.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000',
  ].join('\r\n'),
);
const ok = Buffer.from(
  [
    'SIP/2.0 200 OK',
    'Via: SIP/2.0/UDP 198.18.0.10:5060;branch=z9hG4bKabcdef0123;rport=5060',
    'Via: SIP/2.0/UDP 198.18.0.2:5061;branch=z9hG4bK-4711-1-0',
    'From: sipp <sip:sipp@198.18.0.2:5061>;tag=4711SIPpTag001',
    'To: service <sip:service@198.18.0.10:5060>;tag=4444',
    'Call-ID: 1-4711@198.18.0.2',
    'CSeq: 1 INVITE',
    'Contact: <sip:198.18.0.3:5062;transport=UDP>',
    'Record-Route: <sip:198.18.0.10;lr>',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'),
);

const seconds = Number(process.argv[2] ?? 2);
const msgs = [invite, ok];
function run(ms: number, work: (b: Buffer) => void): number {
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) work(msgs[i & 1]!);
    n += 1000;
  }
  return n / (ms / 1000);
}
run(300, (b) => serializeMessage(parseMessage(b))); // warm-up
const parseOnly = run(seconds * 500, (b) => parseMessage(b));
const both = run(seconds * 500, (b) => serializeMessage(parseMessage(b)));
const layered = run(seconds * 500, (b) => {
  const m = parseMessage(b);
  parseVia(getHeader(m, 'Via')!);
  parseCSeq(getHeader(m, 'CSeq')!);
  serializeMessage(m);
});
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
console.log(`parse only:                         ${fmt(parseOnly)} msgs/s`);
console.log(`parse + serialize:                  ${fmt(both)} msgs/s`);
console.log(`parse + Via + CSeq + serialize:     ${fmt(layered)} msgs/s`);
