// `dualsip pair` on loopback (the first-run experience): one node becomes active,
// calls go through the SIP port to the SIPp callee the command starts, killing the
// active pid it prints hands the port and the calls to the other node, the killed node
// comes back passive, and SIGTERM stops everything (no node, Redis or SIPp left).
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupAll, explain, freePort, localHost, REPO_ROOT, Sipp } from '../harness/index.js';

afterAll(async () => {
  await cleanupAll();
});

function leftovers(dir: string): string[] {
  return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(dir));
}

/** `dualsip status --json` with the pair's env, until `ok` (the roles settle after the election). */
async function waitForStatus(env: Record<string, string>, ok: (st: any) => boolean): Promise<any> {
  let last = '';
  for (let i = 0; i < 50; i++) {
    last = await new Promise<string>((resolve) =>
      execFile(process.execPath, ['packages/cli/bin/dualsip.js', 'status', '--json'], { cwd: REPO_ROOT, env: { ...process.env, ...env } }, (_err, stdout, stderr) => resolve(stdout || stderr)),
    );
    try {
      const st = JSON.parse(last);
      if (ok(st)) return st;
    } catch {
      /* not JSON yet: the nodes are still starting */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`dualsip status never showed the expected state; last output:\n${last}`);
}

describe('dualsip pair (single host)', () => {
  it('elects one active, carries calls, survives kill -9 of the active, and stops cleanly on SIGTERM', async () => {
    const sipPort = await freePort('127.0.0.1');
    const pair = localHost.spawn(process.execPath, ['packages/cli/bin/dualsip.js', 'pair', '--sip-port', String(sipPort)], { name: 'dualsip pair', cwd: REPO_ROOT, ringLines: 400, stopTimeoutMs: 15_000 });
    const up = await pair.waitForLine((l) => l.line.includes('logs and state:'), { timeoutMs: 20_000 });
    const dir = /logs and state: (\S+)/.exec(up.line)![1]!;
    const hint = await pair.waitForLine((l) => /kill -9 \d+/.test(l.line), { timeoutMs: 30_000 });
    const activePid = Number(/kill -9 (\d+)/.exec(hint.line)![1]);
    // The operator commands work against the pair with the env file it printed.
    const op = await pair.waitForLine((l) => l.line.includes('operate it:'), { timeoutMs: 5000 });
    const envFile = /source (\S+)/.exec(op.line)![1]!;
    const env = Object.fromEntries([...readFileSync(envFile, 'utf8').matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(Object.keys(env).sort()).toEqual(['DUALSIP_ADMIN_TOKEN', 'DUALSIP_NODES']);
    const status = await waitForStatus(env, (st) => st.nodes.map((n: { status?: { role?: string } }) => n.status?.role).sort().join() === 'active,passive');
    expect(status.nodes.map((n: { name: string }) => n.name).sort()).toEqual(['a', 'b']);
    const calls = await Sipp.start({ scenario: 'uac', localIp: '127.0.0.1', remote: `127.0.0.1:${sipPort}`, calls: 20, rate: 10, holdMs: 5000, timeoutSec: 40, recvTimeoutMs: 10_000, name: 'caller' });
    await new Promise((r) => setTimeout(r, 2500));
    process.kill(activePid, 'SIGKILL');
    await pair.waitForLine((l) => /took over in \d+ ms/.test(l.line), { timeoutMs: 10_000, fromStart: false });
    await pair.waitForLine((l) => /: passive \(epoch/.test(l.line), { timeoutMs: 30_000, fromStart: false });
    const r = await calls.result();
    expect(r.successful, explain(r)).toBe(20);
    expect(r.failed, explain(r)).toBe(0);
    expect(leftovers(dir).length).toBeGreaterThan(0); // the running pair's Redis instances are visible by their dir
    pair.kill('SIGTERM');
    const exit = await pair.waitForExit(20_000);
    expect(exit.code, pair.tail()).toBe(0);
    expect(pair.tail()).toContain('pair stopped');
    expect(leftovers(dir)).toEqual([]);
  }, 90_000);
});
