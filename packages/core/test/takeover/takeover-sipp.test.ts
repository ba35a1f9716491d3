/**
 * Takeover with real parts on loopback: SIPp caller -> CallControl#1 on
 * engine#1 -> SIPp callee. Calls are set up, their records taken (what sync
 * would have mirrored), node #1 dies (sockets first: it sends nothing more),
 * engine#2 (`unknownDialogPolicy: 'app'`) starts on the same SIP port and
 * CallControl#2 adopts the records. The calls must then end normally.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../../engine/src/engine.js';
import { CallControl } from '../../src/call-control.js';
import { crash, until } from './crash.js';
import type { CallRecord } from '../../src/records/call-record.js';

const SECRET = 'takeover';
const SCN = path.resolve(import.meta.dirname, 'scenarios');
const haveSipp = spawnSync('sipp', ['-v']).error === undefined;

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface SippResult {
  code: number | null;
  successful: number;
  failed: number;
  out: string;
}

function runSipp(args: string[], cwd: string, timeoutMs: number): { proc: ChildProcess; result: Promise<SippResult> } {
  const proc = spawn('sipp', [...args, '-nostdin', '-trace_err'], { cwd });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const result = new Promise<SippResult>((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('close', (code) => { // 'close': after stdout and stderr ended ('exit' can come first and lose the stats)
      clearTimeout(t);
      const num = (label: string) => Number(new RegExp(`${label}\\s*\\|[^|]*\\|\\s*(\\d+)`).exec(out)?.[1] ?? NaN);
      let errs = '';
      try {
        for (const f of fs.readdirSync(cwd)) if (f.endsWith('_errors.log')) errs += fs.readFileSync(path.join(cwd, f), 'utf8');
      } catch {
        /* none */
      }
      resolve({ code, successful: num('Successful call'), failed: num('Failed call'), out: out + errs });
    });
  });
  return { proc, result };
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
    sip: { listen: [{ transport: 'udp', address: '127.0.0.1', port: sipPort }] },
    admin: { address: '127.0.0.1', port: 0, secret: SECRET },
    unknownDialogPolicy: policy,
  });
  await engine.start();
  const cc = new CallControl({
    srf: { host: '127.0.0.1', port: engine.adminAddress().port, secret: SECRET },
    routing: { rules: [], default: `sip:127.0.0.1:${calleePort}` },
    drainTimeoutMs: 1000,
  });
  await cc.start();
  const ended: CallRecord[] = [];
  cc.on('callEnded', (r) => ended.push(r));
  cleanup.push(() => cc.close({ timeoutMs: 500 }), () => engine.close());
  return { engine, cc, ended };
}

async function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dualsip-takeover-'));
  return { dir, sipPort: await freeUdpPort(), calleePort: await freeUdpPort(), callerPort: await freeUdpPort() };
}

describe.skipIf(!haveSipp)('takeover of live calls (SIPp, engine with unknownDialogPolicy app)', () => {
  it('answered calls survive the death of node #1: the caller BYE after the hold is answered 200 on both legs', async () => {
    const { dir, sipPort, calleePort, callerPort } = await setup();
    const n1 = await startNode(sipPort, calleePort, 'reject');
    const uas = runSipp(['-sn', 'uas', '-i', '127.0.0.1', '-p', String(calleePort)], dir, 40_000);
    cleanup.push(() => uas.proc.kill('SIGKILL'));
    await new Promise((r) => setTimeout(r, 300));
    const uac = runSipp(['-sn', 'uac', '-i', '127.0.0.1', '-p', String(callerPort), `127.0.0.1:${sipPort}`, '-s', '1000', '-m', '3', '-r', '10', '-d', '5000'], dir, 30_000);
    cleanup.push(() => uac.proc.kill('SIGKILL'));
    await until('3 answered calls on node #1', () => n1.cc.calls().filter((c) => c.state === 'answered').length === 3);
    const mirrored = n1.cc.calls();

    crash(n1);
    const n2 = await startNode(sipPort, calleePort, 'app');
    const report = await n2.cc.adoptCalls(mirrored);
    expect(report).toMatchObject({ mode: 'app', total: 3, adopted: 3, failed: 0, skipped: 0 });

    const r = await uac.result;
    expect(r.out).not.toMatch(/Aborting call/);
    expect(r).toMatchObject({ code: 0, successful: 3, failed: 0 });
    await until('3 end records on node #2', () => n2.ended.length === 3);
    expect(n2.ended.map((e) => e.endReason)).toEqual(['caller-bye', 'caller-bye', 'caller-bye']);
    for (const e of n2.ended) {
      const before = mirrored.find((m) => m.id === e.id)!;
      expect(e.version).toBeGreaterThan(before.version);
      // CSeq continued above the mirrored one on the callee leg (the BYE we sent)
      expect(e.b.localCseq).toBe(before.b.localCseq + 1);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(n2.ended).toHaveLength(3); // exactly one end record per call
    uas.proc.kill('SIGINT');
  }, 45_000);

  it('the callee re-INVITEs after the takeover (SDP relayed both ways) and then hangs up: BYE answered 200 on both legs', async () => {
    const { dir, sipPort, calleePort, callerPort } = await setup();
    const n1 = await startNode(sipPort, calleePort, 'reject');
    const uas = runSipp(['-sf', path.join(SCN, 'uas_hold_bye.xml'), '-i', '127.0.0.1', '-p', String(calleePort), '-m', '3'], dir, 40_000);
    cleanup.push(() => uas.proc.kill('SIGKILL'));
    await new Promise((r) => setTimeout(r, 300));
    const uac = runSipp(['-sf', path.join(SCN, 'uac_wait_reinv_bye.xml'), '-i', '127.0.0.1', '-p', String(callerPort), `127.0.0.1:${sipPort}`, '-s', '1000', '-m', '3', '-r', '10'], dir, 30_000);
    cleanup.push(() => uac.proc.kill('SIGKILL'));
    await until('3 answered calls on node #1', () => n1.cc.calls().filter((c) => c.state === 'answered').length === 3);
    const mirrored = n1.cc.calls();

    crash(n1);
    const n2 = await startNode(sipPort, calleePort, 'app');
    await n2.cc.adoptCalls(mirrored);

    const [rc, re] = await Promise.all([uac.result, uas.result]);
    expect(rc.out).not.toMatch(/Aborting call/);
    expect(rc).toMatchObject({ code: 0, successful: 3, failed: 0 });
    expect(re).toMatchObject({ code: 0, successful: 3, failed: 0 });
    await until('3 end records on node #2', () => n2.ended.length === 3);
    for (const e of n2.ended) {
      expect(e.endReason).toBe('callee-bye');
      expect(e.a.localSdp).toContain('RTP/AVP 8'); // the callee's new SDP reached the caller
    }
  }, 45_000);

  it('an application INFO on an adopted call reaches the callee (CSeq above the mirrored one), then the caller BYE ends both legs', async () => {
    const { dir, sipPort, calleePort, callerPort } = await setup();
    const n1 = await startNode(sipPort, calleePort, 'reject');
    const uas = runSipp(['-sf', path.join(SCN, 'uas_info_bye.xml'), '-i', '127.0.0.1', '-p', String(calleePort), '-m', '1'], dir, 40_000);
    cleanup.push(() => uas.proc.kill('SIGKILL'));
    await new Promise((r) => setTimeout(r, 300));
    const uac = runSipp(['-sn', 'uac', '-i', '127.0.0.1', '-p', String(callerPort), `127.0.0.1:${sipPort}`, '-s', '1000', '-m', '1', '-d', '4000'], dir, 30_000);
    cleanup.push(() => uac.proc.kill('SIGKILL'));
    await until('1 answered call on node #1', () => n1.cc.calls().filter((c) => c.state === 'answered').length === 1);
    const mirrored = n1.cc.calls();

    crash(n1);
    const n2 = await startNode(sipPort, calleePort, 'app');
    await n2.cc.adoptCalls(mirrored);
    const adopted = n2.cc.adoptedCall(mirrored[0]!.id);
    expect(adopted).toBeDefined();
    const res = await adopted!.sendRequest('b', { method: 'INFO', headers: { 'Content-Type': 'application/dtmf-relay', 'X-App': 'ivr' }, body: 'Signal=5\r\nDuration=160\r\n' });
    expect(res).toEqual({ status: 200, reason: 'OK' });
    const rec = n2.cc.call(mirrored[0]!.id)!;
    expect(rec.b.localCseq).toBeGreaterThan(mirrored[0]!.b.localCseq);
    // Without a Content-Type a body cannot be sent: a clear error, nothing leaves.
    await expect(adopted!.sendRequest('b', { method: 'INFO', body: 'x' })).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST' });

    const [rc, re] = await Promise.all([uac.result, uas.result]);
    expect(rc).toMatchObject({ code: 0, successful: 1, failed: 0 });
    expect(re.out).not.toMatch(/Aborting call/);
    expect(re).toMatchObject({ code: 0, successful: 1, failed: 0 });
    await until('the end record on node #2', () => n2.ended.length === 1);
    expect(n2.ended[0]!.endReason).toBe('caller-bye');
  }, 45_000);

  it('a ringing call survives: the callee answers 2 s later, the new active carries its 200 to the caller, the call completes and ends with BYE on both legs', async () => {
    const { dir, sipPort, calleePort, callerPort } = await setup();
    const n1 = await startNode(sipPort, calleePort, 'app');
    const uas = runSipp(['-sf', path.join(SCN, 'uas_slow_answer.xml'), '-i', '127.0.0.1', '-p', String(calleePort), '-m', '1'], dir, 40_000);
    cleanup.push(() => uas.proc.kill('SIGKILL'));
    await new Promise((r) => setTimeout(r, 300));
    const uac = runSipp(['-sn', 'uac', '-i', '127.0.0.1', '-p', String(callerPort), `127.0.0.1:${sipPort}`, '-s', '1000', '-m', '1', '-d', '500', '-recv_timeout', '8000'], dir, 30_000);
    cleanup.push(() => uac.proc.kill('SIGKILL'));
    await until('a ringing call on node #1', () => n1.cc.calls().some((c) => c.state === 'ringing' && !!c.b.remoteTag && !!c.a.localTag));
    const mirrored = n1.cc.calls();
    expect(mirrored[0]!.a.invite?.vias[0]).toContain('branch=');

    crash(n1);
    const n2 = await startNode(sipPort, calleePort, 'app');
    const report = await n2.cc.adoptCalls(mirrored);
    expect(report).toMatchObject({ total: 1, adopted: 0, failed: 0, resuming: 1 });
    await until('the end record', () => n2.ended.length === 1, 15_000);
    expect(n2.ended[0]).toMatchObject({ state: 'ended', endReason: 'caller-bye' });
    expect(n2.ended[0]!.a.localTag).toBe(mirrored[0]!.a.localTag);
    const [rc, rs] = await Promise.all([uac.result, uas.result]);
    expect(rc.successful, `code ${rc.code}\n${rc.out.slice(-3000)}`).toBe(1);
    expect(rs.successful, `code ${rs.code}\n${rs.out.slice(-3000)}`).toBe(1);
  }, 45_000);

  it('a ringing call survives: the callee rings then answers 486, the caller gets the 486', async () => {
    const { dir, sipPort, calleePort, callerPort } = await setup();
    const n1 = await startNode(sipPort, calleePort, 'app');
    const uas = runSipp(['-sf', path.join(SCN, 'uas_ring_busy.xml'), '-i', '127.0.0.1', '-p', String(calleePort), '-m', '1'], dir, 40_000);
    cleanup.push(() => uas.proc.kill('SIGKILL'));
    await new Promise((r) => setTimeout(r, 300));
    const uac = runSipp(['-sf', path.join(SCN, 'uac_expect_busy.xml'), '-i', '127.0.0.1', '-p', String(callerPort), `127.0.0.1:${sipPort}`, '-m', '1', '-recv_timeout', '8000'], dir, 30_000);
    cleanup.push(() => uac.proc.kill('SIGKILL'));
    await until('a ringing call on node #1', () => n1.cc.calls().some((c) => c.state === 'ringing' && !!c.b.remoteTag && !!c.a.localTag));
    const mirrored = n1.cc.calls();

    crash(n1);
    const n2 = await startNode(sipPort, calleePort, 'app');
    await n2.cc.adoptCalls(mirrored);
    await until('the end record', () => n2.ended.length === 1, 15_000);
    expect(n2.ended[0]).toMatchObject({ state: 'failed', endStatus: 486, endReason: 'rejected' });
    const [rc, rs] = await Promise.all([uac.result, uas.result]);
    expect(rc.successful, rc.out).toBe(1);
    expect(rs.successful, rs.out).toBe(1);
  }, 45_000);

  it('on an engine that does not resume (policy reject), a ringing call is released: the callee gets a BYE, one failed record', async () => {
    const { dir, sipPort, calleePort, callerPort } = await setup();
    const n1 = await startNode(sipPort, calleePort, 'reject');
    const uas = runSipp(['-sf', path.join(SCN, 'uas_slow_answer.xml'), '-i', '127.0.0.1', '-p', String(calleePort), '-m', '1'], dir, 40_000);
    cleanup.push(() => uas.proc.kill('SIGKILL'));
    await new Promise((r) => setTimeout(r, 300));
    const uac = runSipp(['-sn', 'uac', '-i', '127.0.0.1', '-p', String(callerPort), `127.0.0.1:${sipPort}`, '-s', '1000', '-m', '1', '-d', '500', '-recv_timeout', '8000'], dir, 30_000);
    cleanup.push(() => uac.proc.kill('SIGKILL'));
    await until('a ringing call on node #1', () => n1.cc.calls().some((c) => c.state === 'ringing' && !!c.b.remoteTag));
    const mirrored = n1.cc.calls();

    crash(n1);
    const n2 = await startNode(sipPort, calleePort, 'reject');
    const report = await n2.cc.adoptCalls(mirrored);
    expect(report).toMatchObject({ total: 1, adopted: 0 });
    await until('the end record', () => n2.ended.length === 1);
    expect(n2.ended[0]).toMatchObject({ state: 'failed', endReason: 'takeover-unanswered' });
    const rc = await uac.result;
    expect(rc.failed).toBe(1);
  }, 45_000);
});
