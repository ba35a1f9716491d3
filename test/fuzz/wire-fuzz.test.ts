/**
 * On-the-wire fuzz against a real `dualsip node` (loopback, random ports): thousands of mutated UDP datagrams
 * and a set of malformed TCP streams at its SIP port, then SIPp calls through it.
 *
 * Routing: Request-URI user 1000 goes to a SIPp callee (the calls after the fuzz); everything else (the fuzz)
 * to a sink of this test that answers every request at once (INVITE 486, others 200), so fuzzed calls end
 * quickly and the node never sends anything anywhere but loopback.
 *
 * What the node must do with each datagram is computed here with the engine's own parser:
 *   - parse error with a status (Via, From, To, Call-ID, CSeq readable) -> exactly that answer (400, 505, 513)
 *   - other parse errors -> dropped, counted in the engine's rate-limited "malformed SIP" log records
 *   - accepted requests -> some final answer (416 for an unsupported URI scheme, 483 for Max-Forwards 0 ...)
 *   FUZZ_SEED / FUZZ_ITERATIONS (datagrams, default 3000) as for the parser fuzz.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createResponse,
  getHeader,
  parseMessage,
  serializeMessage,
  SipParseError,
  StreamFramer,
  type SipMessage,
  type SipRequest,
} from '../../packages/engine/src/messages/index.js';
import { cleanupAll, explain, freePort, randomLoopbackAddress, Sipp, startNode, type SippRun, type StartedNode } from '../harness/index.js';
import { CORPUS, type CorpusContext } from './corpus.js';
import { mutate } from './mutate.js';
import { caseSeed, envIterations, envSeed, Rng } from './prng.js';

const SEED = envSeed(0x5eed_0002);
const DATAGRAMS = envIterations(3000);
const UDP_MAX = 65_000;
const MAX_SIZE = 65_535; // the engine's default limit
const TOKEN = 'fuzz-admin-token';

const ip = randomLoopbackAddress();
let node: StartedNode;
let callee: SippRun;
let sink: dgram.Socket;
let fuzzer: dgram.Socket;
let adminPort: number;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Expect = { kind: 'answer'; status: number } | { kind: 'drop' } | { kind: 'final'; status?: number } | { kind: 'none' };

/** What the node must do with these bytes (see the file comment). */
function expected(bytes: Buffer): Expect {
  let msg: SipMessage;
  try {
    msg = parseMessage(bytes, { maxSize: MAX_SIZE });
  } catch (e) {
    if (!(e instanceof SipParseError)) throw e;
    if (!e.status || !e.request) return { kind: 'drop' };
    const answer = serializeMessage(createResponse(e.request, e.status));
    if (answer.length > MAX_SIZE) return { kind: 'drop' };
    // Answered to the source address, at the source port only with rport (else the sent-by port, §18.2.2).
    return ours(e.request) ? { kind: 'answer', status: e.status } : { kind: 'none' };
  }
  if (msg.kind === 'response' || msg.method === 'ACK') return { kind: 'none' };
  if (!ours(msg)) return { kind: 'none' };
  // An answer UDP cannot carry (it copies every Via) is dropped by the node and logged (TOO_LARGE_FOR_UDP).
  if (serializeMessage(createResponse(msg, 100)).length > 65_000) return { kind: 'none' };
  if (!/^(sips?|tel):/i.test(msg.uri)) return { kind: 'final', status: 416 };
  const toTag = /;\s*tag\s*=/i.test((getHeader(msg, 'To') ?? '').split('>').pop() ?? '');
  if (!toTag && msg.method !== 'OPTIONS' && msg.method !== 'CANCEL' && /^\s*0+\s*$/.test(getHeader(msg, 'Max-Forwards') ?? '')) return { kind: 'final', status: 483 };
  return { kind: 'final' };
}

/** Our Via, with rport, is still the top one: the answer comes back to this socket. */
function ours(m: SipMessage): boolean {
  const via = getHeader(m, 'Via') ?? '';
  return via.startsWith(`SIP/2.0/UDP ${ip}:${fuzzer.address().port};rport;`);
}

const keyOf = (m: SipMessage) => `${getHeader(m, 'Call-ID')}\n${getHeader(m, 'CSeq')}`;

/** A tiny stateless UAS: INVITE -> 486, ACK -> nothing, anything else -> 200. */
function startSink(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('message', (buf, rinfo) => {
    let m: SipMessage;
    try {
      m = parseMessage(buf);
    } catch {
      return;
    }
    if (m.kind !== 'request' || m.method === 'ACK') return;
    const res = createResponse(m, m.method === 'INVITE' ? 486 : 200);
    s.send(serializeMessage(res), rinfo.port, rinfo.address);
  });
  return new Promise((resolve) => s.bind(0, ip, () => resolve(s)));
}

async function adminStatus(): Promise<{ calls: { total: number; connected: number; ringing: number } }> {
  const r = await fetch(`http://${ip}:${adminPort}/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(r.status).toBe(200);
  return (await r.json()) as { calls: { total: number; connected: number; ringing: number } };
}

/** Drops the engine logged, by code: one per individual record plus the counts of the rate-limited summaries. */
function loggedDropCodes(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of node.process.lines()) {
    const msg = l.json?.['msg'];
    if (msg === 'malformed SIP message dropped') {
      const c = String(l.json?.['code']);
      out[c] = (out[c] ?? 0) + 1;
    } else if (msg === 'malformed SIP messages dropped (rate-limited)') {
      for (const [c, n] of Object.entries((l.json?.['codes'] ?? {}) as Record<string, number>)) out[c] = (out[c] ?? 0) + n;
    }
  }
  return out;
}

/** Parse drops logged (not TOO_LARGE_FOR_UDP, which counts sends, retransmissions included). */
function loggedDrops(): number {
  let n = 0;
  for (const [c, k] of Object.entries(loggedDropCodes())) if (c !== 'TOO_LARGE_FOR_UDP' && c !== 'MALFORMED_STREAM') n += k;
  return n;
}

function contextFor(r: Rng, i: number): CorpusContext {
  return {
    host: ip,
    port: fuzzer.address().port,
    transport: 'UDP',
    callId: `wf-${SEED}-${i}@${ip}`,
    branch: `z9hG4bKwf${SEED.toString(36)}x${i}`,
    tag: `wt${i}`,
    user: r.chance(0.5) ? 'fuzz' : 'alice',
    target: node.sipTarget,
  };
}

let expectedDrops = 0;

beforeAll(async () => {
  callee = await Sipp.start({ scenario: 'uas-basic', localIp: ip, transport: 'u1', recvTimeoutMs: 5000, name: 'fuzz callee' });
  sink = await startSink();
  fuzzer = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
  await new Promise<void>((r) => fuzzer.bind(0, ip, () => r()));
  adminPort = await freePort(ip);
  node = await startNode({
    sipAddress: ip,
    routeDefault: `sip:${ip}:${sink.address().port}`,
    routes: { '1000': `sip:${callee.address}` },
    transports: ['udp', 'tcp'],
    ...(process.env['FUZZ_CASE'] !== undefined ? { logLevel: 'debug' } : {}),
    extraArgs: ['--admin-address', ip, '--admin-port', String(adminPort), '--admin-token', TOKEN],
    readyTimeoutMs: 60_000,
  });
}, 90_000);

afterAll(async () => {
  sink?.close();
  fuzzer?.close();
  await cleanupAll();
});

describe(`on-the-wire fuzz against a dualsip node (seed 0x${SEED.toString(16)}, ${DATAGRAMS} datagrams)`, () => {
  it('answers every answerable malformed request with the right status, drops and counts the rest, and answers what it accepts', async () => {
    const answers = new Map<string, number[]>(); // key -> statuses expected
    const finals = new Map<string, number | undefined>();
    const got = new Map<string, number[]>();
    fuzzer.on('message', (buf, rinfo) => {
      let m: SipMessage;
      try {
        m = parseMessage(buf, { maxSize: Infinity });
      } catch (e) {
        got.set(`unparseable ${(e as Error).message}`, [0]);
        return;
      }
      if (m.kind !== 'response') return;
      const k = keyOf(m);
      const list = got.get(k) ?? [];
      list.push(m.status);
      got.set(k, list);
      // ACK a final non-2xx to an INVITE, so the node's server transaction stops retransmitting (§17.1.1.3).
      if (m.status >= 300 && /INVITE\s*$/.test(getHeader(m, 'CSeq') ?? '')) {
        const ack: SipRequest = {
          kind: 'request', method: 'ACK', uri: `sip:fuzz@${node.sipTarget}`, version: 'SIP/2.0', body: Buffer.alloc(0),
          headers: [
            { name: 'Via', value: getHeader(m, 'Via')! },
            { name: 'Max-Forwards', value: '70' },
            { name: 'From', value: getHeader(m, 'From') ?? '' },
            { name: 'To', value: getHeader(m, 'To') ?? '' },
            { name: 'Call-ID', value: getHeader(m, 'Call-ID') ?? '' },
            { name: 'CSeq', value: `${(getHeader(m, 'CSeq') ?? '1').trim().split(/\s+/)[0]} ACK` },
          ],
        };
        fuzzer.send(serializeMessage(ack), rinfo.port, rinfo.address);
      }
    });
    const counts = { answer: 0, drop: 0, final: 0, none: 0 };
    const t0 = Date.now();
    const only = process.env['FUZZ_CASE'] === undefined ? undefined : Number(process.env['FUZZ_CASE']);
    for (let i = only ?? 0; i < (only === undefined ? DATAGRAMS : only + 1); i++) {
      const r = new Rng(caseSeed(SEED, i));
      const seed = r.pick(CORPUS);
      const original = Buffer.from(seed.build(contextFor(r, i)), 'latin1');
      const { bytes } = r.chance(0.05) ? { bytes: original } : mutate(original, r, UDP_MAX);
      if (bytes.length === 0) continue; // a zero-length datagram is not a message at all
      const e = expected(bytes);
      counts[e.kind]++;
      if (e.kind === 'drop') expectedDrops++;
      else if (e.kind === 'answer' || e.kind === 'final') {
        let m: SipMessage;
        try {
          m = parseMessage(bytes, { maxSize: MAX_SIZE });
        } catch (err) {
          m = (err as SipParseError).request!;
        }
        const k = keyOf(m);
        if (e.kind === 'answer') answers.set(k, [...(answers.get(k) ?? []), e.status]);
        else finals.set(k, e.status);
      }
      fuzzer.send(bytes, node.sipPort, ip);
      if (i % 25 === 24) await sleep(40);
    }
    const sentMs = Date.now() - t0;
    if (only !== undefined) {
      await sleep(3000);
      console.log(node.process.lines().slice(-40).map((l) => l.line.slice(0, 400)).join('\n'));
    }
    // Wait until every expected answer arrived (or 20 s passed: then the assertions below say which are missing).
    const missing = () => {
      const out: string[] = [];
      for (const [k, statuses] of answers) for (const s of statuses) if (!(got.get(k) ?? []).includes(s)) out.push(`${s} for ${k.replace('\n', ' / ')} (got ${got.get(k) ?? 'nothing'})`);
      for (const [k, s] of finals) {
        const g = got.get(k) ?? [];
        if (s === undefined ? !g.some((x) => x >= 200) : !g.includes(s)) out.push(`final ${s ?? '>=200'} for ${k.replace('\n', ' / ')} (got ${g.length ? g : 'nothing'})`);
      }
      return out;
    };
    for (let w = 0; w < 200 && (missing().length > 0 || loggedDrops() < expectedDrops); w++) await sleep(100);
    console.log(`logged drops by code ${JSON.stringify(loggedDropCodes())}`);
    console.log(`wire fuzz seed 0x${SEED.toString(16)}: ${DATAGRAMS} datagrams in ${sentMs} ms, expected ${JSON.stringify(counts)}, logged drops ${loggedDrops()}`);
    expect(node.process.running, node.process.tail(30)).toBe(true);
    expect([...got.keys()].filter((k) => k.startsWith('unparseable')), 'the node sent a response our parser rejects').toEqual([]);
    const problems = node.process.lines().filter((l) => typeof l.json?.['level'] === 'number' && (l.json['level'] as number) >= 40).map((l) => l.line.slice(0, 600));
    expect(missing().slice(0, 20), problems.slice(-20).join('\n')).toEqual([]);
    expect(counts.answer).toBeGreaterThan(0);
    expect(counts.drop).toBeGreaterThan(0);
    // Every unanswerable datagram is counted, and the count is what the engine logs (rate-limited).
    expect(loggedDrops(), node.process.tail(20)).toBe(expectedDrops);
  }, 120_000);

  it('closes malformed TCP streams (no or lying Content-Length, oversize, garbage), counts each, and lives through slowloris', async () => {
    const hdr = (cl: string | null, extra = '') =>
      `OPTIONS sip:fuzz@${node.sipTarget} SIP/2.0\r\nVia: SIP/2.0/TCP ${ip}:5099;branch=z9hG4bKtcp${Math.random().toString(36).slice(2)}\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:f@${ip}>;tag=a\r\nTo: <sip:fuzz@${ip}>\r\nCall-ID: tcp-${Math.random()}\r\nCSeq: 1 OPTIONS\r\n${extra}` +
      (cl === null ? '' : `Content-Length: ${cl}\r\n`) + '\r\n';
    const rejected: Array<[string, Buffer]> = [
      ['no Content-Length', Buffer.from(hdr(null))],
      ['negative Content-Length', Buffer.from(hdr('-5'))],
      ['non-numeric Content-Length', Buffer.from(hdr('ten'))],
      ['Content-Length beyond the size limit', Buffer.from(hdr('100000'))],
      ['headers without end beyond the size limit', Buffer.from(hdr('0').replace('\r\n\r\n', '\r\n') + 'X-Pad: ' + 'p'.repeat(70_000))],
      ['Content-Length shorter than the body, then garbage framed without length', Buffer.from(hdr('2') + 'v=0\r\nxyz: 1\r\n\r\n')],
      ['binary garbage', Buffer.from(Array.from({ length: 70_000 }, (_, k) => (k * 7919 + 13) & 0xff))],
    ];
    const dropsBefore = loggedDropCodes()['MALFORMED_STREAM'] ?? 0;
    for (const [name, bytes] of rejected) {
      // The same bytes through the engine's framer must be rejected, or this stream tests nothing.
      let threw = false;
      try {
        new StreamFramer().push(bytes);
      } catch {
        threw = true;
      }
      expect(threw, name).toBe(true);
      const sock = net.connect({ host: ip, port: node.sipPort });
      const closed = new Promise<void>((r) => sock.on('close', () => r()));
      sock.on('error', () => {});
      for (let at = 0; at < bytes.length; at += 4096) sock.write(bytes.subarray(at, at + 4096));
      await closed; // the node closes the connection (the test times out if it does not)
    }
    // Slowloris: 50 connections sending a partial message a byte at a time, held open.
    const slow: net.Socket[] = [];
    for (let k = 0; k < 50; k++) {
      const sock = net.connect({ host: ip, port: node.sipPort });
      sock.on('error', () => {});
      slow.push(sock);
    }
    const partial = Buffer.from(hdr('40'));
    for (let b = 0; b < 60; b++) {
      for (const sock of slow) sock.write(partial.subarray(b, b + 1));
      await sleep(10);
    }
    // A valid message byte by byte on its own connection still gets its answer.
    const ok = net.connect({ host: ip, port: node.sipPort });
    let answer = '';
    ok.on('data', (d) => (answer += d.toString('latin1')));
    const msg = Buffer.from(hdr('0'));
    for (let b = 0; b < msg.length; b += 7) {
      ok.write(msg.subarray(b, b + 7));
      await sleep(1);
    }
    for (let w = 0; w < 100 && !/^SIP\/2\.0 \d{3}/.test(answer); w++) await sleep(50);
    expect(answer, 'a valid OPTIONS sent in 7-byte pieces').toMatch(/^SIP\/2\.0 [2-5]\d\d /);
    ok.destroy();
    for (const sock of slow) sock.destroy();
    for (let w = 0; w < 150 && (loggedDropCodes()['MALFORMED_STREAM'] ?? 0) - dropsBefore < rejected.length; w++) await sleep(100);
    expect((loggedDropCodes()['MALFORMED_STREAM'] ?? 0) - dropsBefore, JSON.stringify(loggedDropCodes())).toBe(rejected.length);
    expect(node.process.running, node.process.tail(30)).toBe(true);
  }, 60_000);

  it('afterwards: 50 SIPp calls through the node all succeed and no call record is left', async () => {
    const r = await Sipp.run({ scenario: 'uac', localIp: ip, remote: node.sipTarget, service: '1000', rate: 25, calls: 50, timeoutSec: 40, recvTimeoutMs: 5000 });
    expect(r.failed, explain(r)).toBe(0);
    expect(r.successful, explain(r)).toBe(50);
    let calls = (await adminStatus()).calls;
    for (let w = 0; w < 100 && calls.total > 0; w++) {
      await sleep(200);
      calls = (await adminStatus()).calls;
    }
    expect(calls, 'call records left after the fuzz and the calls').toEqual({ total: 0, connected: 0, ringing: 0 });
    expect(node.process.running, node.process.tail(30)).toBe(true);
  }, 90_000);
});
