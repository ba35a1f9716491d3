// Issue 6: docker-compose.yml, Dockerfile and the entrypoint, checked statically.
// There is no Docker engine on CI machines, so nothing here builds or runs a
// container: Debian's docker-compose (1.29) validates and resolves the compose file,
// the resolved settings of each node go through the node's real config loader, the
// entrypoint script runs in its `check` mode, and the Dockerfile gets line checks.
// docker-compose 1.29 has no JSON output; its resolved YAML is converted with the
// PyYAML module it depends on itself.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNodeConfig } from '@dualsip/cli';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const ENTRYPOINT = join(ROOT, 'docker/entrypoint.sh');
const HEALTHCHECK = join(ROOT, 'docker/healthcheck.sh');

const HAVE_COMPOSE = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
if (!HAVE_COMPOSE) {
  console.warn('test/compose: SKIPPED: docker-compose is not installed (scripts/setup.sh installs Debian\'s docker-compose; CI runs these tests)');
}

/** The secrets docker-compose.yml must take from the environment. */
const SECRETS = ['DUALSIP_HA_SECRET', 'DUALSIP_SYNC_REDIS_PASSWORD', 'DUALSIP_ADMIN_TOKEN'] as const;
/** Sentinel values: each must reach the resolved config, and never be printed by `check`. */
const SECRET_VALUES: Record<(typeof SECRETS)[number], string> = {
  DUALSIP_HA_SECRET: 'sentinel-ha-3f1d',
  DUALSIP_SYNC_REDIS_PASSWORD: 'sentinel-redis-9a7c',
  DUALSIP_ADMIN_TOKEN: 'sentinel-admin-55be',
};

let tmp: string;
let emptyEnvFile: string;

function compose(args: string[], env: Record<string, string>): SpawnSyncReturns<string> {
  // --env-file: a developer's .env at the repo root must not change what is tested.
  return spawnSync('docker-compose', ['--env-file', emptyEnvFile, '-f', COMPOSE_FILE, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmp, ...env },
    timeout: 30_000,
  });
}

function yamlToJson(text: string): unknown {
  const r = spawnSync('python3', ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot parse docker-compose output as YAML: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

interface Service {
  image?: string;
  build?: unknown;
  cap_add?: string[];
  sysctls?: Record<string, string>;
  healthcheck?: { test?: string[] | string; disable?: boolean; interval?: string };
  restart?: string;
  environment?: Record<string, string>;
  networks?: Record<string, { ipv4_address?: string } | null>;
  volumes?: (string | { type: string; source: string; target: string })[];
  init?: boolean;
}
interface ComposeConfig {
  services: Record<string, Service>;
  networks: Record<string, { internal?: boolean; ipam?: { config?: { subnet?: string; ip_range?: string; gateway?: string }[] } }>;
  volumes?: Record<string, unknown>;
}

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}
function inCidr(addr: string, cidr: string): boolean {
  const [base, len] = cidr.split('/');
  const size = 2 ** (32 - Number(len));
  const start = Math.floor(ipv4ToInt(base!) / size) * size;
  const a = ipv4ToInt(addr);
  return a >= start && a < start + size;
}
function cidrsOverlap(x: string, y: string): boolean {
  return inCidr(x.split('/')[0]!, y) || inCidr(y.split('/')[0]!, x);
}

const resolvedEnv = () => ({ ...SECRET_VALUES });

/** Mounts of a resolved service as {source, target}. */
function mounts(s: Service): { source: string; target: string }[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source, target: v.target };
    const [source, target] = v.split(':');
    return { source: source!, target: target! };
  });
}

function runEntrypoint(args: string[], env: Record<string, string>, opts: { wrap?: string[] } = {}): SpawnSyncReturns<string> {
  const cmd = [...(opts.wrap ?? []), 'bash', ENTRYPOINT, ...args];
  return spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, timeout: 15_000 });
}

function hasCap(bit: number): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m !== null && ((BigInt('0x' + m[1]) >> BigInt(bit)) & 1n) === 1n;
}
const HAVE_VIP_CAPS = hasCap(12) && hasCap(13);

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'dualsip-compose-'));
  emptyEnvFile = join(tmp, 'empty.env');
  writeFileSync(emptyEnvFile, '');
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!HAVE_COMPOSE)('docker-compose.yml (validated with docker-compose config)', () => {
  let cfg: ComposeConfig;
  let raw: ComposeConfig;
  let nodes: [string, Service][];

  beforeAll(() => {
    const r = compose(['config'], resolvedEnv());
    if (r.status !== 0) throw new Error(`docker-compose config failed (exit ${r.status}):\n${r.stderr}`);
    cfg = yamlToJson(r.stdout) as ComposeConfig;
    // The file as written (merge keys applied). `config --no-interpolate` would be the
    // natural source, but 1.29 crashes serialising a healthcheck interval with it.
    raw = yamlToJson(readFileSync(COMPOSE_FILE, 'utf8')) as ComposeConfig;
    nodes = Object.entries(cfg.services).filter(([, s]) => s.environment?.['DUALSIP_NODE_ID'] !== undefined);
  });

  it('validates with every secret set, and the secrets reach both nodes', () => {
    const r = compose(['config', '--quiet'], resolvedEnv());
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const [, s] of nodes) for (const k of SECRETS) expect(s.environment?.[k]).toBe(SECRET_VALUES[k]);
  });

  for (const secret of SECRETS) {
    it(`fails naming ${secret} when it is missing, and when it is empty`, () => {
      const env: Record<string, string> = resolvedEnv();
      delete env[secret];
      const missing = compose(['config', '--quiet'], env);
      expect(missing.status).not.toBe(0);
      expect(missing.stderr).toContain(`set ${secret} `);
      for (const other of SECRETS.filter((s) => s !== secret)) expect(missing.stderr).not.toContain(`: set ${other} `);
      const empty = compose(['config', '--quiet'], { ...resolvedEnv(), [secret]: '' });
      expect(empty.status).not.toBe(0);
      expect(empty.stderr).toContain(`set ${secret} `);
    });
  }

  it('holds no secret literal: every secret, token or password is ${VAR:?...} (required) or ${VAR:-} (optional, empty) of the same name', () => {
    const text = readFileSync(COMPOSE_FILE, 'utf8');
    for (const value of Object.values(SECRET_VALUES)) expect(text).not.toContain(value);
    let seen = 0;
    for (const [name, s] of Object.entries(raw.services)) {
      for (const [k, v] of Object.entries(s.environment ?? {})) {
        if (!/SECRET|PASSWORD|TOKEN/.test(k)) continue;
        seen++;
        if ((SECRETS as readonly string[]).includes(k)) expect(String(v), `${name}: ${k}`).toMatch(new RegExp(`^\\$\\{${k}:\\?[^}]+\\}$`));
        else expect(String(v), `${name}: ${k}`).toBe(`\${${k}:-}`);
      }
    }
    // the 3 required secrets (and the optional app tokens) on each of the 2 nodes
    expect(seen).toBeGreaterThanOrEqual(SECRETS.length * 2);
  });

  it('has exactly two node services, a and b, each the peer of the other, exactly one preferred', () => {
    expect(nodes.map(([n]) => n).sort()).toEqual(['node-a', 'node-b']);
    expect(Object.keys(cfg.services).sort()).toEqual(['node-a', 'node-b']);
    const [[, a], [, b]] = nodes as [[string, Service], [string, Service]];
    expect(a.environment?.['DUALSIP_HA_PEER_ID']).toBe(b.environment?.['DUALSIP_NODE_ID']);
    expect(b.environment?.['DUALSIP_HA_PEER_ID']).toBe(a.environment?.['DUALSIP_NODE_ID']);
    expect(nodes.filter(([, s]) => s.environment?.['DUALSIP_HA_PREFERRED'] === 'true')).toHaveLength(1);
    for (const [, s] of nodes) {
      expect(s.build, 'built from the repository').toBeDefined();
      expect(s.image).toBe(a.image);
      expect(s.restart).toMatch(/^(always|unless-stopped|on-failure)/);
      expect(s.init).toBe(true);
    }
  });

  it('has networks sip and sync with separate subnets in 198.18.0.0/15, sync internal; static node addresses outside the dynamic range', () => {
    expect(Object.keys(cfg.networks).sort()).toEqual(['sip', 'sync']);
    const subnet = (n: string) => cfg.networks[n]!.ipam!.config![0]!;
    const sip = subnet('sip');
    const sync = subnet('sync');
    for (const c of [sip, sync]) {
      expect(c.subnet).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
      expect(inCidr(c.subnet!.split('/')[0]!, '198.18.0.0/15')).toBe(true);
      expect(c.ip_range, 'an ip_range keeps Docker from handing out the static addresses').toBeDefined();
      expect(inCidr(c.ip_range!.split('/')[0]!, c.subnet!)).toBe(true);
    }
    expect(cidrsOverlap(sip.subnet!, sync.subnet!)).toBe(false);
    expect(cfg.networks['sync']!.internal).toBe(true);
    const seen = new Set<string>();
    for (const [name, s] of nodes) {
      expect(Object.keys(s.networks ?? {}).sort(), name).toEqual(['sip', 'sync']);
      for (const [net_, c] of [['sip', sip], ['sync', sync]] as const) {
        const addr = s.networks![net_]?.ipv4_address;
        expect(addr, `${name} on ${net_}`).toBeDefined();
        expect(inCidr(addr!, c.subnet!), `${name} ${addr} in ${c.subnet}`).toBe(true);
        expect(inCidr(addr!, c.ip_range!), `${name} ${addr} outside ${c.ip_range}`).toBe(false);
        expect(addr).not.toBe(c.gateway);
        expect(seen.has(addr!)).toBe(false);
        seen.add(addr!);
      }
    }
  });

  it('gives the floating IP its capabilities and ARP sysctls: NET_ADMIN, NET_RAW, arp_ignore=1', () => {
    for (const [name, s] of nodes) {
      expect(s.cap_add, name).toEqual(expect.arrayContaining(['NET_ADMIN', 'NET_RAW']));
      expect(String(s.sysctls?.['net.ipv4.conf.all.arp_ignore'])).toBe('1');
      expect(String(s.sysctls?.['net.ipv4.conf.all.arp_announce'])).toBe('2');
    }
  });

  it('has a health check on each node that runs the script the image installs', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    for (const [name, s] of nodes) {
      const hc = s.healthcheck;
      expect(hc, name).toBeDefined();
      expect(hc!.disable).not.toBe(true);
      expect(Array.isArray(hc!.test)).toBe(true);
      const test = hc!.test as string[];
      expect(test[0]).toBe('CMD');
      expect(dockerfile).toMatch(new RegExp(`^COPY docker/healthcheck\\.sh /usr/local/bin/${test[1]}$`, 'm'));
    }
    expect(existsSync(join(ROOT, 'docker/healthcheck.sh'))).toBe(true);
  });

  it('keeps each node\'s Redis data and epoch on a named volume of its own', () => {
    const targets = new Set<string>();
    const sources = new Set<string>();
    for (const [name, s] of nodes) {
      const env = s.environment!;
      const dataMount = mounts(s).find((m) => env['DUALSIP_SYNC_REDIS_DIR']!.startsWith(`${m.target}/`) || env['DUALSIP_SYNC_REDIS_DIR'] === m.target);
      expect(dataMount, `${name}: a volume holds ${env['DUALSIP_SYNC_REDIS_DIR']}`).toBeDefined();
      expect(env['DUALSIP_HA_EPOCH_FILE']!.startsWith(`${dataMount!.target}/`), `${name}: epoch file on the volume`).toBe(true);
      expect(Object.keys(cfg.volumes ?? {})).toContain(dataMount!.source);
      expect(sources.has(dataMount!.source), 'one volume per node').toBe(false);
      sources.add(dataMount!.source);
      targets.add(dataMount!.target);
    }
    expect(sources.size).toBe(2);
  });

  it('resolves, for each node, to a configuration the node\'s own loader accepts, consistent with the networks and the peer', () => {
    const byId = new Map(nodes.map(([name, s]) => [s.environment!['DUALSIP_NODE_ID']!, { name, s }]));
    const sipNet = cfg.networks['sip']!.ipam!.config![0]!;
    for (const [name, s] of nodes) {
      // The entrypoint resolves `auto` to the interface holding the SIP address inside the container.
      const env = { ...s.environment!, DUALSIP_VIP_INTERFACE: 'eth0' };
      const c = loadNodeConfig({ env });
      const peer = byId.get(c.ha.peerId);
      expect(peer, `${name}: peer ${c.ha.peerId} is a service`).toBeDefined();
      const own = (n: string) => s.networks![n]!.ipv4_address!;
      const theirs = (n: string) => peer!.s.networks![n]!.ipv4_address!;
      expect(c.ha.enabled).toBe(true);
      expect(c.vip.mode).toBe('floating');
      expect(c.sip.address).toBe(own('sip'));
      expect(c.sync.redis.host).toBe(own('sync'));
      expect(c.sync.redis.start).toBe(true);
      expect(c.sync.peer.host).toBe(theirs('sync'));
      expect(c.sync.peer.port).toBe(loadNodeConfig({ env: { ...peer!.s.environment!, DUALSIP_VIP_INTERFACE: 'eth0' } }).sync.redis.port);
      const [vipAddr, vipLen] = c.vip.address.split('/');
      expect(net.isIPv4(vipAddr!)).toBe(true);
      expect(vipLen).toBe(sipNet.subnet!.split('/')[1]);
      expect(inCidr(vipAddr!, sipNet.subnet!)).toBe(true);
      expect(inCidr(vipAddr!, sipNet.ip_range!)).toBe(false);
      expect([own('sip'), theirs('sip'), sipNet.gateway]).not.toContain(vipAddr);
      // Admin API on the node's own sip address (never the floating IP), where DUALSIP_NODES points.
      expect(c.admin.address).toBe(own('sip'));
      expect(c.admin.token).toBe(SECRET_VALUES.DUALSIP_ADMIN_TOKEN);
      const listed = Object.fromEntries(s.environment!['DUALSIP_NODES']!.split(',').map((e) => e.split('=') as [string, string]));
      expect(listed[c.node.id]).toBe(`http://${own('sip')}:${c.admin.port}`);
      expect(listed[c.ha.peerId]).toBe(`http://${theirs('sip')}:${c.admin.port}`);
      // Heartbeats: on both networks, each from our address to the peer's on that network.
      const paths = c.ha.paths.map((p) => {
        const m = /^([a-z0-9_-]+)=([\d.]+):(\d+),([\d.]+):(\d+)$/.exec(String(p));
        expect(m, String(p)).not.toBeNull();
        return { name: m![1]!, local: m![2]!, localPort: m![3]!, peer: m![4]!, peerPort: m![5]! };
      });
      for (const n of ['sip', 'sync']) {
        const p = paths.find((x) => (n === 'sync' ? x.name.startsWith('sync') : !x.name.startsWith('sync')));
        expect(p, `${name}: a heartbeat path on ${n}`).toBeDefined();
        expect(p!.local).toBe(own(n));
        expect(p!.peer).toBe(theirs(n));
      }
    }
  });

  it('the node loader rejects the same settings without the pair secret (the key names are real)', () => {
    const s = nodes[0]![1];
    const env = { ...s.environment!, DUALSIP_VIP_INTERFACE: 'eth0', DUALSIP_HA_SECRET: '' };
    expect(() => loadNodeConfig({ env })).toThrow(/ha\.secret/);
  });

  it('the Dockerfile builds the workspace and exposes every port the compose configuration uses', () => {
    const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { packageManager: string };
    expect(text).toMatch(/^FROM node:20-bookworm(-slim)?( AS \w+)?$/m);
    for (const f of ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml']) expect(text).toMatch(new RegExp(`^COPY [^\\n]*\\b${f.replace('.', '\\.')}\\b`, 'm'));
    expect(text).toMatch(/^COPY packages \.\/packages$/m);
    expect(text).toContain(`npm i -g ${pkg.packageManager}`);
    expect(text).toMatch(/^RUN pnpm install /m);
    expect(text).toMatch(/npm_config_nodedir=/);
    expect(text).toContain('packages/vip/build/Release/vip_packet.node');
    expect(text).toMatch(/apt-get install[^\n]*\bredis-server\b[^\n]*\biproute2\b[^\n]*\biputils-arping\b/);
    expect(text).toMatch(/^ENTRYPOINT \["dualsip-entrypoint"\]$/m);
    expect(text).toMatch(/^COPY docker\/entrypoint\.sh \/usr\/local\/bin\/dualsip-entrypoint$/m);
    const exposed = new Set((/^EXPOSE (.+)$/m.exec(text)?.[1] ?? '').split(/\s+/));
    for (const [name, s] of nodes) {
      const c = loadNodeConfig({ env: { ...s.environment!, DUALSIP_VIP_INTERFACE: 'eth0' } });
      const want = [
        ...c.sip.transports.map((t) => `${c.sip.port}/${t}`),
        `${c.sync.redis.port}/tcp`,
        ...c.ha.paths.map((p) => `${/:(\d+),/.exec(String(p))![1]}/udp`),
        `${c.admin.port}/tcp`,
        `${c.app.port}/tcp`,
      ];
      expect(c.app.port, 'a fixed application API port').toBeGreaterThan(0);
      for (const w of want) expect(exposed.has(w), `${name}: EXPOSE ${w}`).toBe(true);
    }
  });

  it('the Dockerfile COPYs only files that exist and that .dockerignore lets through', () => {
    const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '\0').replace(/\*/g, '[^/]*').replace(/\0/g, '(.*/)?')}(/.*)?$`));
    const sources = [...text.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const src of sources) {
      expect(existsSync(join(ROOT, src)), `${src} exists`).toBe(true);
      expect(ignore.some((re) => re.test(src)), `${src} not excluded by .dockerignore`).toBe(false);
    }
    // and the host's node_modules (addons built for another libc/Node) stay out of the context
    expect(ignore.some((re) => re.test('packages/vip/node_modules'))).toBe(true);
    expect(ignore.some((re) => re.test('node_modules'))).toBe(true);
  });

  it('docker/example.env lists every secret with no value, and docs/operators.md names every variable the pair uses', () => {
    const example = readFileSync(join(ROOT, 'docker/example.env'), 'utf8');
    for (const k of SECRETS) expect(example).toMatch(new RegExp(`^${k}=$`, 'm'));
    const docs = readFileSync(join(ROOT, 'docs/operators.md'), 'utf8');
    const vars = new Set<string>();
    for (const [, s] of nodes) for (const k of Object.keys(s.environment ?? {})) vars.add(k);
    for (const m of readFileSync(ENTRYPOINT, 'utf8').matchAll(/\b(DUALSIP_[A-Z_]+)\b/g)) vars.add(m[1]!);
    for (const v of vars) expect(docs, `docs/operators.md mentions ${v}`).toContain(v);
  });
});

describe.skipIf(!HAVE_COMPOSE)('docker/entrypoint.sh', () => {
  let env: Record<string, string>;
  let dataDir: string;

  beforeAll(() => {
    const r = compose(['config'], resolvedEnv());
    if (r.status !== 0) throw new Error(`docker-compose config failed:\n${r.stderr}`);
    const cfg = yamlToJson(r.stdout) as ComposeConfig;
    dataDir = mkdtempSync(join(tmpdir(), 'dualsip-entry-'));
    // node-a's resolved settings, with this machine's loopback standing in for the
    // container's sip interface and a temporary data directory for the volume.
    env = {
      ...cfg.services['node-a']!.environment!,
      DUALSIP_SIP_ADDRESS: '127.0.0.1',
      DUALSIP_DATA_DIR: dataDir,
      DUALSIP_SYNC_REDIS_DIR: join(dataDir, 'redis'),
      DUALSIP_HA_EPOCH_FILE: join(dataDir, 'epoch'),
    };
  });

  afterAll(() => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it.skipIf(!HAVE_VIP_CAPS)('check: resolves auto to the interface holding DUALSIP_SIP_ADDRESS, prints settings with secrets masked, and they load', () => {
    const r = runEntrypoint(['check'], env);
    expect(r.stderr).not.toMatch(/is not set|missing/);
    expect(r.status).toBe(0);
    const printed = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(printed['DUALSIP_VIP_INTERFACE']).toBe('lo');
    for (const k of SECRETS) expect(printed[k]).toBe('***');
    for (const v of Object.values(SECRET_VALUES)) expect(r.stdout).not.toContain(v);
    expect(existsSync(join(dataDir, 'redis'))).toBe(true);
    // What the entrypoint hands to the node is a configuration the node accepts
    // (with the real secrets in place of the masks).
    const c = loadNodeConfig({ env: { ...printed, ...SECRET_VALUES } });
    expect(c.vip.interface).toBe('lo');
    expect(c.ha.epochFile).toBe(join(dataDir, 'epoch'));
  });

  it('fills container defaults when they are not given (HA on, floating IP, own Redis under the data dir)', () => {
    const minimal = { ...env };
    for (const k of ['DUALSIP_HA_ENABLED', 'DUALSIP_VIP_MODE', 'DUALSIP_SYNC_REDIS_START', 'DUALSIP_SYNC_REDIS_DIR', 'DUALSIP_HA_EPOCH_FILE', 'DUALSIP_VIP_INTERFACE']) delete minimal[k];
    const r = runEntrypoint(['check'], { ...minimal, DUALSIP_VIP_INTERFACE: 'lo' });
    if (!HAVE_VIP_CAPS) {
      expect(r.stderr).toMatch(/capability NET_(ADMIN|RAW) is missing/);
      return;
    }
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^DUALSIP_HA_ENABLED=true$/m);
    expect(r.stdout).toMatch(/^DUALSIP_VIP_MODE=floating$/m);
    expect(r.stdout).toMatch(/^DUALSIP_SYNC_REDIS_START=true$/m);
    expect(r.stdout).toContain(`DUALSIP_SYNC_REDIS_DIR=${dataDir}/redis\n`);
    expect(r.stdout).toContain(`DUALSIP_HA_EPOCH_FILE=${dataDir}/epoch\n`);
  });

  const REQUIRED = [
    'DUALSIP_NODE_ID',
    'DUALSIP_HA_PEER_ID',
    'DUALSIP_HA_SECRET',
    'DUALSIP_SYNC_REDIS_PASSWORD',
    'DUALSIP_ADMIN_TOKEN',
    'DUALSIP_SIP_ADDRESS',
    'DUALSIP_SYNC_REDIS_HOST',
    'DUALSIP_SYNC_PEER_HOST',
    'DUALSIP_HA_PATHS',
    'DUALSIP_VIP_ADDRESS',
  ];
  for (const name of REQUIRED) {
    it(`fails fast naming ${name} when it is missing, before starting anything`, () => {
      const e = { ...env };
      delete e[name];
      const r = runEntrypoint(['node'], e);
      expect(r.status).toBe(64);
      expect(r.stderr).toContain(`dualsip-entrypoint: ${name} is not set`);
      expect(r.stderr.match(/is not set/g)).toHaveLength(1);
      expect(r.stdout).toBe('');
    });
  }

  it('fails naming DUALSIP_ADMIN_TOKEN when it is shorter than the node accepts (8)', () => {
    const r = runEntrypoint(['check'], { ...env, DUALSIP_ADMIN_TOKEN: 'short' });
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('DUALSIP_ADMIN_TOKEN is too short: at least 8 characters');
    expect(() => loadNodeConfig({ env: { ...env, DUALSIP_VIP_INTERFACE: 'lo', DUALSIP_ADMIN_TOKEN: 'short' } })).toThrow(/admin\.token: must be at least 8/);
  });

  it('reports every missing variable at once', () => {
    const r = runEntrypoint(['check'], { DUALSIP_DATA_DIR: dataDir });
    expect(r.status).toBe(64);
    for (const name of REQUIRED) expect(r.stderr).toContain(`${name} is not set`);
  });

  it.skipIf(!HAVE_VIP_CAPS)('fails naming DUALSIP_SIP_ADDRESS when no interface holds it (interface auto)', () => {
    const r = runEntrypoint(['check'], { ...env, DUALSIP_SIP_ADDRESS: '198.18.1.11' });
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('no interface holds DUALSIP_SIP_ADDRESS=198.18.1.11');
  });

  it.skipIf(!HAVE_VIP_CAPS)('fails naming an interface that does not exist', () => {
    const r = runEntrypoint(['check'], { ...env, DUALSIP_VIP_INTERFACE: 'nosuch0' });
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('DUALSIP_VIP_INTERFACE=nosuch0: no such interface');
  });

  const canDropCaps = HAVE_VIP_CAPS && process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
  for (const cap of ['NET_ADMIN', 'NET_RAW']) {
    it.skipIf(!canDropCaps)(`fails naming ${cap} when the container lacks it (cap_add)`, () => {
      const r = runEntrypoint(['check'], env, { wrap: ['setpriv', `--bounding-set=-${cap.toLowerCase()}`, '--'] });
      expect(r.status).toBe(64);
      expect(r.stderr).toContain(`capability ${cap} is missing`);
    });
  }

  it('runs any other command as given (docker-compose run node-a bash)', () => {
    const r = runEntrypoint(['echo', 'hello'], {});
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('hello\n');
  });
});

/** Runs the health check script asynchronously (the fake servers below live in this process). */
function runHealthcheck(env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [HEALTHCHECK], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('docker/healthcheck.sh with the admin API (DUALSIP_ADMIN_PORT set)', () => {
  // A stand-in for the node's /health/ready probe (see packages/core/src/admin/health.ts).
  const TOKEN = 'tok-7d2e';
  let server: http.Server;
  let port: number;
  let code: number;
  let health: Record<string, unknown>;
  let needsToken = false; // admin.healthProbe=false
  let seen: { url?: string; auth?: string } = {};

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen = { url: req.url, auth: req.headers.authorization };
      if (needsToken && req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.statusCode = 401;
        res.end('{"error":{"code":"ERR_ADMIN_UNAUTHORIZED","message":"wrong or missing admin token"}}');
        return;
      }
      if (req.method !== 'GET' || req.url !== '/health/ready') {
        res.statusCode = 404;
        res.end('{}');
        return;
      }
      res.statusCode = code;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(health));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((r) => server?.close(r));
  });

  const env = () => ({ DUALSIP_ADMIN_ADDRESS: '0.0.0.0', DUALSIP_ADMIN_PORT: String(port), DUALSIP_ADMIN_TOKEN: TOKEN, DUALSIP_NODE_ID: 'b' });

  it('is healthy when GET /health/ready answers 200 (a passive able to take over); sends the token along', async () => {
    needsToken = false;
    code = 200;
    health = { status: 'ok', role: 'passive', epoch: 4, reasons: [] };
    const r = await runHealthcheck(env());
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(seen).toEqual({ url: '/health/ready', auth: `Bearer ${TOKEN}` });
    expect(r.stdout).toBe('healthy: node b passive epoch 4\n');
  });

  it('is unhealthy on 503, with the node\'s reasons (a passive that cannot take over, a node shutting down)', async () => {
    code = 503;
    health = { status: 'fail', role: 'passive', epoch: 4, reasons: ['peer a not reachable', 'initialSync'] };
    const r = await runHealthcheck(env());
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('unhealthy: node b passive epoch 4: peer a not reachable; initialSync\n');
    health = { status: 'fail', role: 'active', epoch: 5, reasons: ['closing'] };
    const c = await runHealthcheck(env());
    expect(c.status).toBe(1);
    expect(c.stderr).toBe('unhealthy: node b active epoch 5: closing\n');
  });

  it('with admin.healthProbe=false the token is what gets it through; a wrong one is HTTP 401, named', async () => {
    needsToken = true;
    code = 200;
    health = { status: 'ok', role: 'active', epoch: 1, reasons: [] };
    try {
      const ok = await runHealthcheck(env());
      expect(ok.status).toBe(0);
      expect(ok.stdout).toBe('healthy: node b active epoch 1\n');
      const r = await runHealthcheck({ ...env(), DUALSIP_ADMIN_TOKEN: 'wrong' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('HTTP 401');
    } finally {
      needsToken = false;
    }
  });

  it('is unhealthy when nothing listens on the admin port', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closed = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const r = await runHealthcheck({ ...env(), DUALSIP_ADMIN_PORT: String(closed) });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`unhealthy: admin API http://127.0.0.1:${closed}/health/ready: ECONNREFUSED\n`);
  });
});

const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0 && spawnSync('redis-cli', ['--version']).status === 0;

describe.skipIf(!HAVE_REDIS)('docker/healthcheck.sh without the admin API (process and Redis)', () => {
  const PASSWORD = 'pw-41c9';
  let redisPort: number;
  let redis: ReturnType<typeof spawn> | undefined;
  let fakeNode: ReturnType<typeof spawn> | undefined;

  beforeAll(async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    redisPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(redisPort), '--requirepass', PASSWORD, '--save', '', '--appendonly', 'no', '--dir', tmpdir()], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      if (spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(redisPort), '--no-auth-warning', '-a', PASSWORD, 'PING'], { encoding: 'utf8' }).stdout.trim() === 'PONG') break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(() => {
    redis?.kill('SIGTERM');
    fakeNode?.kill('SIGTERM');
  });

  const env = (password = PASSWORD) => ({ DUALSIP_SYNC_REDIS_HOST: '127.0.0.1', DUALSIP_SYNC_REDIS_PORT: String(redisPort), DUALSIP_SYNC_REDIS_PASSWORD: password });

  it('is unhealthy when no node process runs, even with Redis up', async () => {
    const r = await runHealthcheck(env());
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no dualsip node process');
  });

  it('is healthy with a node process and its Redis answering; unhealthy with a wrong Redis password', async () => {
    // A stand-in whose command line names the launcher, as the node's does.
    fakeNode = spawn('bash', ['-c', 'sleep 30; exit 0', '/app/packages/cli/bin/dualsip.js'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
    const ok = await runHealthcheck(env());
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`redis on 127.0.0.1:${redisPort} answers`);
    const bad = await runHealthcheck(env('wrong'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/unhealthy: redis-server on 127\.0\.0\.1:\d+: .*(WRONGPASS|NOAUTH|invalid)/i);
  });
});
