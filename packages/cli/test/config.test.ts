import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadNodeConfig } from '../src/config.js';
import { flagsToOverrides } from '../src/commands/node.js';

const BIN = path.resolve(import.meta.dirname, '../bin/dualsip.js');

function tmpConfig(obj: unknown): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dualsip-cfg-')), 'c.json');
  fs.writeFileSync(file, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return file;
}

function runCli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

describe('node config precedence: defaults < file < DUALSIP_* env < flags', () => {
  it('uses the defaults', () => {
    const c = loadNodeConfig({ env: {} });
    expect(c.sip).toEqual({ address: '127.0.0.1', port: 5060, transports: ['udp', 'tcp'], externalAddress: '' });
    expect(c.routing).toEqual({ default: '', rules: [] });
  });

  it('file over defaults, env over file, flags over env', () => {
    const file = tmpConfig({ sip: { port: 5070, address: '127.0.0.2' }, routing: { default: 'sip:file.example', rules: [{ prefix: '1', target: 'sip:one.example' }] } });
    const fromFile = loadNodeConfig({ file, env: {} });
    expect(fromFile.sip.port).toBe(5070);
    expect(fromFile.routing).toEqual({ default: 'sip:file.example', rules: [{ prefix: '1', target: 'sip:one.example' }] });

    const env = { DUALSIP_SIP_PORT: '5080', DUALSIP_ROUTE_DEFAULT: 'sip:env.example', DUALSIP_SIP_TRANSPORTS: 'udp' };
    const fromEnv = loadNodeConfig({ file, env });
    expect(fromEnv.sip).toMatchObject({ port: 5080, address: '127.0.0.2', transports: ['udp'] });
    expect(fromEnv.routing.default).toBe('sip:env.example');
    expect(fromEnv.routing.rules).toHaveLength(1);

    const flags = flagsToOverrides({ 'sip-port': '5090', 'route-default': 'sip:flag.example', route: ['44=sip:uk.example', '4420=sip:london.example'] });
    const fromFlags = loadNodeConfig({ file, env, overrides: flags });
    expect(fromFlags.sip.port).toBe(5090);
    expect(fromFlags.routing).toEqual({ default: 'sip:flag.example', rules: [{ prefix: '44', target: 'sip:uk.example' }, { prefix: '4420', target: 'sip:london.example' }] });
  });

  it('DUALSIP_ROUTES gives rules as PREFIX=URI,...', () => {
    const c = loadNodeConfig({ env: { DUALSIP_ROUTES: '1=sip:a.example,2=sip:b.example:5070' } });
    expect(c.routing.rules).toEqual([{ prefix: '1', target: 'sip:a.example' }, { prefix: '2', target: 'sip:b.example:5070' }]);
  });
});

describe('bad config exits 2 with a message naming the key', () => {
  const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['routing.default flag', ['node', '--route-default', 'foo'], {}, /^config error: routing\.default: must be a SIP URI \(got "foo"\)/m],
    ['sip.port flag', ['node', '--sip-port', '70000'], {}, /^config error: sip\.port: /m],
    ['sip.port env', ['node'], { DUALSIP_SIP_PORT: 'abc' }, /^config error: sip\.port: /m],
    ['sip.address env', ['node'], { DUALSIP_SIP_ADDRESS: 'not-an-ip' }, /^config error: sip\.address: must be an IPv4 or IPv6 address/m],
    ['sip.transports', ['node', '--sip-transports', 'udp,sctp'], {}, /^config error: sip\.transports: /m],
    ['routing rule target', ['node', '--route', '1=nope'], {}, /^config error: routing\.rules\[0\]\.target: must be a SIP URI/m],
    ['log.level', ['node', '--log-level', 'loud'], {}, /^config error: log\.level: /m],
  ];
  for (const [name, args, env, re] of cases) {
    it(name, () => {
      const r = runCli(args, env);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).toMatch(/^hint: /m);
      expect(r.code).toBe(2);
    });
  }

  it('an undeclared key in the file', () => {
    const r = runCli(['node', '--config', tmpConfig({ sip: { port: 5060, bogus: 1 } })]);
    expect(r.stderr).toMatch(/^config error: .*sip\.bogus/m);
    expect(r.code).toBe(2);
  });

  it('a config file that is not JSON, or missing', () => {
    const bad = runCli(['node', '--config', tmpConfig('{ nope')]);
    expect(bad.stderr).toMatch(/^config error: --config: .* is not valid JSON/m);
    expect(bad.code).toBe(2);
    const missing = runCli(['node', '--config', '/nonexistent/dualsip.json']);
    expect(missing.stderr).toMatch(/^config error: --config: cannot read/m);
    expect(missing.code).toBe(2);
  });

  it('usage errors: unknown flag, bad --route, unknown command', () => {
    expect(runCli(['node', '--bogus'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/Unknown option '--bogus'/) });
    expect(runCli(['node', '--route', 'no-equals'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--route: expected PREFIX=URI/) });
    expect(runCli(['frobnicate'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command "frobnicate"/) });
    expect(runCli([])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^usage: dualsip/) });
  });
});
