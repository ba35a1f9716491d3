/**
 * A real run: `dualsip node` (engine in its worker thread + call control over
 * drachtio-srf) between a SIPp caller and a SIPp callee, all on 127.0.0.1.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = path.resolve(import.meta.dirname, '../bin/dualsip.js');
const FIX = path.resolve(import.meta.dirname, 'fixtures');
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

function runSipp(args: string[], cwd: string, timeoutMs = 30_000): Promise<SippResult> {
  return new Promise((resolve) => {
    const p = spawn('sipp', [...args, '-nostdin', '-trace_err'], { cwd });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => { // after stdio ended: 'exit' can come before the last stats are read
      clearTimeout(t);
      const num = (label: string) => Number(new RegExp(`${label}\\s*\\|[^|]*\\|\\s*(\\d+)`).exec(out)?.[1] ?? NaN);
      resolve({ code, successful: num('Successful call'), failed: num('Failed call'), out });
    });
  });
}

function startUas(scenario: string[], port: number, cwd: string): ChildProcess {
  return spawn('sipp', [...scenario, '-i', '127.0.0.1', '-p', String(port), '-nostdin', '-trace_err'], { cwd, stdio: 'ignore' });
}

describe.skipIf(!haveSipp)('dualsip node with SIPp on loopback', () => {
  let node: ChildProcess;
  let log = '';
  let sipPort: number;
  let calleePort: number;
  let callerPort: number;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dualsip-sipp-'));
    sipPort = await freeUdpPort();
    calleePort = await freeUdpPort();
    callerPort = await freeUdpPort();
    node = spawn(process.execPath, [BIN, 'node', '--sip-port', String(sipPort), '--drachtio-port', '0', '--sip-transports', 'udp', '--route-default', `sip:127.0.0.1:${calleePort}`, '--log-level', 'warn', '--drain-timeout', '30000'], {
      env: { PATH: process.env.PATH ?? '', DUALSIP_LOG_LEVEL: 'info' },
    });
    node.stdout!.on('data', (d) => (log += d));
    node.stderr!.on('data', (d) => (log += d));
    const deadline = Date.now() + 15_000;
    while (!/"msg":"node ready"/.test(log)) {
      if (Date.now() > deadline || node.exitCode !== null) throw new Error(`node did not get ready:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (node && node.exitCode === null) {
      const exited = new Promise((r) => node.once('exit', r));
      node.kill('SIGTERM');
      await exited;
    }
  });

  async function withCallee<T>(scenario: string[], fn: () => Promise<T>): Promise<T> {
    const uas = startUas(scenario, calleePort, dir);
    await new Promise((r) => setTimeout(r, 300));
    try {
      return await fn();
    } finally {
      // The caller finishes as soon as it has its answer; give the callee time
      // to finish its side too (e.g. answer our CANCEL) before stopping it.
      await new Promise((r) => setTimeout(r, 500));
      const gone = new Promise((r) => uas.once('exit', r));
      uas.kill('SIGTERM');
      await gone;
    }
  }

  it('the node logs "node ready" with its bound SIP address', () => {
    const ready = log.split('\n').find((l) => l.includes('"msg":"node ready"'))!;
    expect(JSON.parse(ready).sip).toEqual([`udp:127.0.0.1:${sipPort}`]);
  });

  it('basic calls complete end to end (SDP through, BYE from the caller)', async () => {
    const r = await withCallee(['-sn', 'uas'], () =>
      runSipp(['-sn', 'uac', '-i', '127.0.0.1', '-p', String(callerPort), `127.0.0.1:${sipPort}`, '-s', '1000', '-m', '20', '-r', '20', '-d', '100'], dir),
    );
    expect(r.out).not.toMatch(/Aborting call/);
    expect(r).toMatchObject({ code: 0, successful: 20, failed: 0 });
  });

  it('the callee answers 486: the caller gets 486', async () => {
    const r = await withCallee(['-sf', path.join(FIX, 'uas_486.xml')], () =>
      runSipp(['-sf', path.join(FIX, 'uac_486.xml'), '-i', '127.0.0.1', '-p', String(callerPort), `127.0.0.1:${sipPort}`, '-s', '1000', '-m', '5', '-r', '10'], dir),
    );
    expect(r).toMatchObject({ code: 0, successful: 5, failed: 0 });
  });

  it('the caller CANCELs while ringing: 487 reaches the caller, CANCEL reaches the callee', async () => {
    const r = await withCallee(['-sf', path.join(FIX, 'uas_cancel.xml')], () =>
      runSipp(['-sf', path.join(FIX, 'uac_cancel.xml'), '-i', '127.0.0.1', '-p', String(callerPort), `127.0.0.1:${sipPort}`, '-s', '1000', '-m', '5', '-r', '10'], dir),
    );
    expect(r).toMatchObject({ code: 0, successful: 5, failed: 0 });
  });

  it('the callee sends a re-INVITE (new SDP reaches the caller) then BYE', async () => {
    const r = await withCallee(['-sf', path.join(FIX, 'uas_reinv.xml')], () =>
      runSipp(['-sf', path.join(FIX, 'uac_reinv.xml'), '-i', '127.0.0.1', '-p', String(callerPort), `127.0.0.1:${sipPort}`, '-s', '1000', '-m', '5', '-r', '10'], dir),
    );
    expect(r).toMatchObject({ code: 0, successful: 5, failed: 0 });
  });

  it('SIGTERM drains and exits 0', async () => {
    const exited = new Promise<number | null>((r) => node.once('exit', (code) => r(code)));
    node.kill('SIGTERM');
    const started = Date.now();
    const code = await exited;
    expect(code, log.slice(-3000)).toBe(0);
    // No call was left behind: nothing to wait for up to the 30 s drain timeout.
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
