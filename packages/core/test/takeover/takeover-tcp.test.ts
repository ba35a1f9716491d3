/**
 * Takeover of calls whose legs run over TCP, with real parts on loopback: SIPp caller (-t t1) ->
 * CallControl#1 on engine#1 -> SIPp callee (-t t1). Calls are answered, their records taken (what sync would
 * have mirrored), node #1 dies (its sockets first: every TCP connection it had is closed), engine#2 starts on
 * the same SIP port and CallControl#2 adopts the records. Nothing of the old connections survives: every
 * message after the takeover travels on a connection opened again — by the new node toward a party's Contact
 * (RFC 3261 §18.1.1) or Via sent-by (§18.2.2), or by the party toward the node's address.
 *
 * Two limits of SIPp 3.6 (not of the node) shape these tests; FAILOVER.md ("TCP legs") has the evidence:
 * - By default SIPp fails every call of a TCP connection the far end closes (E_FAILED_TCP_CLOSED): both SIPps
 *   run with `-reconnect_close false -max_reconnect N`, as a phone keeps its calls when its connection drops.
 * - SIPp sends every message of a call on the socket the call started on; the first write on a socket SIPp has
 *   seen closed fails with EPIPE ("Returning EPIPE on invalid socket") and that call is dropped
 *   (FailedCannotSendMessage), then SIPp reconnects to its remote address. The callee therefore runs with
 *   `-rsa <node>` (one connection it opens to the node, as a phone with an outbound proxy), and each test
 *   spends one call per SIPp ("sacrificial") to make each SIPp reconnect: the new node sends an in-dialog
 *   OPTIONS on both legs of that call, SIPp's answer hits the dead socket, SIPp reconnects. The other calls
 *   must then all end normally, with one end record per call.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../../engine/src/engine.js';
import { CallControl } from '../../src/call-control.js';
import { crash, until } from './crash.js';
import type { CallRecord } from '../../src/records/call-record.js';

const SECRET = 'takeover-tcp';
const SCN = path.resolve(import.meta.dirname, 'scenarios');
const haveSipp = spawnSync('sipp', ['-v']).error === undefined;
/** SIPp options that let a TCP party keep its calls when its connection drops (see the file comment). */
const KEEP_CALLS = ['-t', 't1', '-max_reconnect', '20', '-reconnect_close', 'false', '-reconnect_sleep', '50'];
/** Real calls per test; one more is the sacrificial call. */
const K = 3;

async function freePort(): Promise<number> {
  // a TCP port that is free; the engine binds UDP and TCP on it
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface SippResult {
  code: number | null;
  successful: number;
  failed: number;
  /** "Returning EPIPE on invalid socket": SIPp's own first write on a socket it saw closed. */
  epipe: number;
  /** "Socket required a reconnection." */
  reconnects: number;
  out: string;
}

function errorsOf(cwd: string): string {
  let errs = '';
  try {
    for (const f of fs.readdirSync(cwd)) if (f.endsWith('_errors.log')) errs += fs.readFileSync(path.join(cwd, f), 'utf8');
  } catch {
    /* none yet */
  }
  return errs;
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

function runSipp(args: string[], cwd: string, timeoutMs: number): { proc: ChildProcess; cwd: string; result: Promise<SippResult> } {
  const proc = spawn('sipp', [...args, '-nostdin', '-trace_err', ...(process.env['DSIP_KEEP_SIPP_DIRS'] ? ['-trace_msg'] : [])], { cwd });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const result = new Promise<SippResult>((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('close', (code) => {
      clearTimeout(t);
      const num = (label: string) => Number(new RegExp(`${label}\\s*\\|[^|]*\\|\\s*(\\d+)`).exec(out)?.[1] ?? NaN);
      const errs = errorsOf(cwd);
      resolve({
        code,
        successful: num('Successful call'),
        failed: num('Failed call'),
        epipe: count(errs, 'Returning EPIPE on invalid socket'),
        reconnects: count(errs, 'Socket required a reconnection.'),
        out: out.slice(-4000) + errs.slice(-4000),
      });
    });
  });
  return { proc, cwd, result };
}

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) {
    try {
      await fn();
    } catch {
      /* best effort */
    }
  }
});

async function startNode(sipPort: number, calleePort: number, policy: 'reject' | 'app') {
  const engine = new Engine({
    sip: {
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: sipPort },
        { transport: 'tcp', address: '127.0.0.1', port: sipPort },
      ],
    },
    admin: { address: '127.0.0.1', port: 0, secret: SECRET },
    unknownDialogPolicy: policy,
    // 64*T1 = 6.4 s: how long a request nobody answers (the sacrificial call's) stays open
    timers: { t1: 100 },
  });
  await engine.start();
  const cc = new CallControl({
    srf: { host: '127.0.0.1', port: engine.adminAddress().port, secret: SECRET },
    routing: { rules: [], default: `sip:127.0.0.1:${calleePort};transport=tcp` },
    drainTimeoutMs: 1000,
    // 64*T1 with the engine's T1 above
    takeover: { ackTimeoutMs: 6400 },
  });
  await cc.start();
  const ended: CallRecord[] = [];
  cc.on('callEnded', (r) => ended.push(r));
  cleanup.push(() => cc.close({ timeoutMs: 500 }), () => engine.close());
  return { engine, cc, ended };
}

function dirs() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dualsip-takeover-tcp-'));
  const caller = path.join(root, 'caller');
  const callee = path.join(root, 'callee');
  fs.mkdirSync(caller);
  fs.mkdirSync(callee);
  if (!process.env['DSIP_KEEP_SIPP_DIRS']) cleanup.push(() => fs.rmSync(root, { recursive: true, force: true }));
  else console.log(root);
  return { caller, callee };
}

/**
 * Sets up K+1 answered TCP calls on node #1, crashes it, adopts them on node #2 and spends the first call to
 * make both SIPps reconnect (see the file comment). Returns the survivors' ids.
 */
async function answeredThenTakeover(opts: { callerArgs: string[]; calleeArgs: string[]; primeSides: Array<'a' | 'b'> }) {
  const d = dirs();
  const sipPort = await freePort();
  const calleePort = await freePort();
  const callerPort = await freePort();
  const n1 = await startNode(sipPort, calleePort, 'reject');
  const node = `127.0.0.1:${sipPort}`;
  const uas = runSipp([...opts.calleeArgs, '-i', '127.0.0.1', '-p', String(calleePort), '-rsa', node, ...KEEP_CALLS, '-m', String(K + 1)], d.callee, 60_000);
  cleanup.push(() => uas.proc.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 300));
  const uac = runSipp([...opts.callerArgs, '-i', '127.0.0.1', '-p', String(callerPort), node, '-s', '1000', '-m', String(K + 1), '-r', '10', ...KEEP_CALLS], d.caller, 60_000);
  cleanup.push(() => uac.proc.kill('SIGKILL'));
  await until(`${K + 1} answered calls on node #1`, () => n1.cc.calls().filter((c) => c.state === 'answered').length === K + 1);
  const mirrored = n1.cc.calls();
  for (const m of mirrored) expect([m.a.transport, m.b.transport]).toEqual(['tcp', 'tcp']);

  crash(n1);
  const n2 = await startNode(sipPort, calleePort, 'app');
  const report = await n2.cc.adoptCalls(mirrored);
  expect(report).toMatchObject({ mode: 'app', total: K + 1, adopted: K + 1, failed: 0, skipped: 0 });

  // The sacrificial call (the first placed, so the first whose hold ends): the new node BYEs it on the legs in
  // `primeSides`, on a connection it opens (§18.1.1) to the callee's Contact (transport=tcp) or to the caller's
  // Contact, which names no transport (the call record's leg transport decides). SIPp's 200 hits its dead socket:
  // EPIPE, SIPp reconnects. A SIPp not primed so primes itself: its own first BYE after the takeover, which is
  // the sacrificial call's. (A BYE SIPp does not expect makes it abort the call, and a SIPp caller that fails
  // its write on that path never reconnects: such a leg is left to prime itself.)
  const sacrificial = mirrored[0]!;
  const adopted = n2.cc.adoptedCall(sacrificial.id)!;
  const primed = opts.primeSides;
  const probes =
    primed.length === 2
      ? [adopted.hangup({ reason: 'sacrificial' }).then(() => ({ status: 0 }))]
      : primed.map((side) => adopted.sendRequest(side, { method: 'BYE' }).catch((err: unknown) => ({ status: (err as { status?: number }).status ?? -1 })));
  const want = primed.map((s) => (s === 'a' ? d.caller : d.callee));
  await until('each primed SIPp reconnected after failing its write on the dead socket', () =>
    want.every((dir) => count(errorsOf(dir), 'Socket required a reconnection.') >= 1));
  return { n2, uac, uas, mirrored, sacrificial, probes, survivors: mirrored.slice(1).map((m) => m.id) };
}

function expectSippSide(r: SippResult, who: string): void {
  // K real calls ended normally; the one failure is the sacrificial call, failed by SIPp's own EPIPE.
  expect(r.successful, `${who}: code ${r.code}\n${r.out}`).toBe(K);
  expect(r.failed, `${who}\n${r.out}`).toBe(1);
  expect(r.epipe, `${who}\n${r.out}`).toBe(1);
  expect(r.reconnects, `${who}\n${r.out}`).toBeGreaterThanOrEqual(1);
}

describe.skipIf(!haveSipp)('takeover of calls with TCP legs (SIPp -t t1 on both legs)', () => {
  it('(a) the caller BYEs after the takeover on a connection it opens to the node: 200 on both legs, one end record per call', async () => {
    const t = await answeredThenTakeover({ callerArgs: ['-sn', 'uac', '-d', '5000'], calleeArgs: ['-sn', 'uas'], primeSides: ['b'] });
    const [rc, re] = await Promise.all([t.uac.result, t.uas.result]);
    expectSippSide(rc, 'caller');
    expectSippSide(re, 'callee');
    await until(`${K} end records`, () => t.n2.ended.length === K);
    expect(t.n2.ended.map((e) => e.id).sort()).toEqual([...t.survivors].sort());
    for (const e of t.n2.ended) {
      expect(e.endReason).toBe('caller-bye');
      const before = t.mirrored.find((m) => m.id === e.id)!;
      expect(e.b.localCseq).toBe(before.b.localCseq + 1); // the BYE the new node sent the callee
    }
    // the sacrificial call is still up on the node (its BYEs never left SIPp): the node ends it
    await t.n2.cc.close({ timeoutMs: 0 });
    await until('the sacrificial call ended', () => t.n2.ended.length === K + 1);
    expect(t.n2.ended[K]!.id).toBe(t.sacrificial.id);
    expect(new Set(t.n2.ended.map((e) => e.id)).size).toBe(K + 1); // exactly one end record per call
    expect((await Promise.all(t.probes)).map((p) => p.status)).toEqual([408]); // the callee's 200 never left SIPp
  }, 60_000);

  it('(b) the callee BYEs after the takeover: the new node answers it on the callee\'s new connection and BYEs the caller on one it opens', async () => {
    const t = await answeredThenTakeover({
      callerArgs: ['-sf', path.join(SCN, 'uac_tcp_wait_bye.xml'), '-recv_timeout', '30000'],
      calleeArgs: ['-sf', path.join(SCN, 'uas_tcp_pause_bye.xml'), '-d', '5000'],
      primeSides: ['a'],
    });
    const [rc, re] = await Promise.all([t.uac.result, t.uas.result]);
    expectSippSide(rc, 'caller');
    expectSippSide(re, 'callee');
    await until(`${K} end records`, () => t.n2.ended.length === K);
    expect(t.n2.ended.map((e) => e.id).sort()).toEqual([...t.survivors].sort());
    for (const e of t.n2.ended) {
      expect(e.endReason).toBe('callee-bye');
      const before = t.mirrored.find((m) => m.id === e.id)!;
      expect(e.a.localCseq).toBe(before.a.localCseq + 1); // the BYE the new node sent the caller
    }
    await t.n2.cc.close({ timeoutMs: 0 });
    await until('the sacrificial call ended', () => t.n2.ended.length === K + 1);
    expect(new Set(t.n2.ended.map((e) => e.id)).size).toBe(K + 1);
  }, 60_000);

  it('(c) the new node hangs up (drain): BYE on connections it opens to both parties, 200 on both legs', async () => {
    const t = await answeredThenTakeover({
      callerArgs: ['-sf', path.join(SCN, 'uac_tcp_wait_bye.xml'), '-recv_timeout', '30000'],
      calleeArgs: ['-sn', 'uas', '-recv_timeout', '30000'],
      primeSides: ['a', 'b'],
    });
    await t.n2.cc.close({ timeoutMs: 0 });
    const [rc, re] = await Promise.all([t.uac.result, t.uas.result]);
    expectSippSide(rc, 'caller');
    expectSippSide(re, 'callee');
    await until(`${K + 1} end records`, () => t.n2.ended.length === K + 1);
    expect(new Set(t.n2.ended.map((e) => e.id)).size).toBe(K + 1);
    expect(t.n2.ended.filter((e) => e.id !== t.sacrificial.id).map((e) => e.endReason)).toEqual(Array(K).fill('drain-timeout'));
    expect(t.n2.ended.find((e) => e.id === t.sacrificial.id)?.endReason).toBe('sacrificial');
  }, 60_000);

  it('(d) ringing calls: the callee answers after the takeover on its new connection, the 200 reaches the TCP caller on a connection the new node opens to its Via sent-by', async () => {
    const d = dirs();
    const sipPort = await freePort();
    const calleePort = await freePort();
    const callerPort = await freePort();
    const n1 = await startNode(sipPort, calleePort, 'app');
    const node = `127.0.0.1:${sipPort}`;
    const uas = runSipp(['-sf', path.join(SCN, 'uas_slow_answer.xml'), '-i', '127.0.0.1', '-p', String(calleePort), '-rsa', node, ...KEEP_CALLS, '-m', '3'], d.callee, 60_000);
    cleanup.push(() => uas.proc.kill('SIGKILL'));
    await new Promise((r) => setTimeout(r, 300));
    const uac = runSipp(['-sn', 'uac', '-i', '127.0.0.1', '-p', String(callerPort), node, '-s', '1000', '-m', '3', '-r', '10', '-d', '1000', '-recv_timeout', '8000', ...KEEP_CALLS], d.caller, 60_000);
    cleanup.push(() => uac.proc.kill('SIGKILL'));
    await until('3 ringing calls on node #1', () => n1.cc.calls().filter((c) => c.state === 'ringing' && !!c.b.remoteTag && !!c.a.localTag).length === 3);
    const mirrored = n1.cc.calls();
    crash(n1);
    const n2 = await startNode(sipPort, calleePort, 'app');
    const report = await n2.cc.adoptCalls(mirrored);
    expect(report).toMatchObject({ total: 3, adopted: 0, failed: 0, resuming: 3 });
    const [rc, re] = await Promise.all([uac.result, uas.result]);
    await until('3 end records', () => n2.ended.length === 3, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(new Set(n2.ended.map((e) => e.id)).size).toBe(3); // exactly one end record per call
    const outcome = (e: CallRecord) => `${e.state}/${e.endReason}${e.endStatus ? `/${e.endStatus}` : ''}`;
    const byId = new Map(n2.ended.map((e) => [e.id, outcome(e)]));
    // In placing order (the callee answers each 2 s after its INVITE):
    // 1. SIPp's callee writes this 200 first after the takeover, on its dead socket: EPIPE, lost. The caller
    //    gives up at its recv timeout and CANCELs; the callee's SIPp has no call left to answer the CANCEL, so
    //    the node ends the call after 64*T1 (§9.1) — 487 to the caller, one failed record.
    // 2. The 200 reaches the new node on the callee's new connection, then the caller on a connection the node
    //    opens to the caller's Via sent-by; SIPp's ACK is its first write after the takeover: EPIPE, lost. The
    //    node's ACK guard (§13.3.1.4) BYEs the callee after 64*T1 (the SIP server BYEs the caller).
    // 3. Completes: 200 to the caller, ACK and the caller's BYE on SIPp's new connection, BYE/200 with the callee.
    expect(mirrored.map((m) => byId.get(m.id))).toEqual(['failed/canceled/487', 'ended/ack-timeout', 'ended/caller-bye']);
    expect(rc, rc.out).toMatchObject({ successful: 1, failed: 2, epipe: 1 });
    expect(re, re.out).toMatchObject({ successful: 2, failed: 1, epipe: 1 });
  }, 60_000);
});
