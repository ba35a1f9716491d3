/**
 * `dualsip pair`: a single-host pair for demos and development. Two nodes on 127.0.0.1,
 * each with its own redis-server and heartbeat port, in port-ownership mode (the active
 * binds the SIP port, the passive takes it over), a SIPp callee as the default route
 * target, role changes printed as they happen, a killed node restarted (it rejoins as
 * passive), and everything stopped on Ctrl-C / SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CliError } from '../errors.js';

export const PAIR_USAGE = `usage: dualsip pair [options]
  --sip-port N           SIP port the active binds on 127.0.0.1 (default 5060)
  --route-default URI    where calls go (default: a SIPp callee this command starts)
  --no-restart           do not restart a node that died
  --log-level LEVEL      the nodes' log level (default info; full logs go to files)`;

export const PAIR_FLAGS = {
  'sip-port': { type: 'string' },
  'route-default': { type: 'string' },
  'no-restart': { type: 'boolean' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type PairFlagValues = { 'sip-port'?: string; 'route-default'?: string; 'no-restart'?: boolean; 'log-level'?: string; help?: boolean };

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));

async function freeTcp(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function freeUdp(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/** A free port for both TCP and UDP. */
async function freeBoth(taken: Set<number>): Promise<number> {
  for (;;) {
    const p = await freeTcp();
    if (taken.has(p)) continue;
    try {
      await new Promise<void>((resolve, reject) => {
        const s = dgram.createSocket('udp4');
        s.once('error', reject);
        s.bind(p, '127.0.0.1', () => s.close(() => resolve()));
      });
      taken.add(p);
      return p;
    } catch {
      /* UDP side taken: try another */
    }
  }
}

interface PairNode {
  id: 'a' | 'b';
  args: string[];
  child?: ChildProcess;
  log: WriteStream;
  role: string;
  epoch: number;
  stopping: boolean;
}

const say = (s: string) => process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${s}\n`);

function killGroup(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* group gone */
  }
}

export async function pairCommand(flags: PairFlagValues): Promise<number> {
  if (flags.help) {
    process.stdout.write(`${PAIR_USAGE}\n`);
    return 0;
  }
  const sipPort = flags['sip-port'] === undefined ? 5060 : Number(flags['sip-port']);
  if (!Number.isInteger(sipPort) || sipPort < 1 || sipPort > 65535) {
    throw new CliError({ code: 'ERR_CONFIG', message: `config error: sip.port: --sip-port must be a port 1..65535 (got ${JSON.stringify(flags['sip-port'])})` });
  }
  const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
  if (!have('redis-server')) throw new CliError({ code: 'ERR_REDIS', message: 'dualsip pair: redis-server not found', hint: 'run `bash scripts/setup.sh` (installs redis-server and sip-tester)' });
  const dir = mkdtempSync(join(tmpdir(), 'dualsip-pair-'));
  const taken = new Set<number>([sipPort]);
  const [redisA, redisB, hbA, hbB] = [await freeBoth(taken), await freeBoth(taken), await freeUdp(), await freeUdp()];
  // Each node's admin API on loopback, with a token made for this run, so the operator
  // commands (status, switchover, drain, calls, drill) work against the pair at once.
  const [adminA, adminB] = [await freeBoth(taken), await freeBoth(taken)];
  const adminToken = randomBytes(12).toString('hex');
  const nodesEnv = `a=http://127.0.0.1:${adminA},b=http://127.0.0.1:${adminB}`;
  writeFileSync(join(dir, 'env'), `export DUALSIP_NODES=${nodesEnv}\nexport DUALSIP_ADMIN_TOKEN=${adminToken}\n`, { mode: 0o600 });
  const logLevel = flags['log-level'] ?? 'info';

  let callee: ChildProcess | undefined;
  let routeDefault = flags['route-default'];
  let calleePort = 0;
  if (!routeDefault) {
    if (!have('sipp')) throw new CliError({ code: 'ERR_USAGE', message: 'dualsip pair: sipp not found and no --route-default given', hint: 'run `bash scripts/setup.sh` or pass --route-default sip:HOST:PORT' });
    calleePort = await freeBoth(taken);
    callee = spawn('sipp', ['-sn', 'uas', '-i', '127.0.0.1', '-p', String(calleePort), '-nostdin', '-bg'], { stdio: 'ignore' });
    // sipp -bg forks and exits; its daemon keeps running. Find it by port at stop time.
    routeDefault = `sip:127.0.0.1:${calleePort}`;
  }

  const mkNode = (id: 'a' | 'b'): PairNode => {
    const me = id === 'a' ? { redis: redisA, hb: hbA, admin: adminA } : { redis: redisB, hb: hbB, admin: adminB };
    const peer = id === 'a' ? { redis: redisB, hb: hbB } : { redis: redisA, hb: hbA };
    mkdirSync(join(dir, `redis-${id}`), { recursive: true });
    return {
      id,
      role: 'starting',
      epoch: 0,
      stopping: false,
      log: createWriteStream(join(dir, `${id}.log`), { flags: 'a' }),
      args: [
        '--import', 'tsx', MAIN, 'node',
        '--sip-address', '127.0.0.1', '--sip-port', String(sipPort), '--sip-transports', 'udp,tcp',
        '--route-default', routeDefault!, '--log-level', logLevel,
        '--ha', '--node-id', id, '--peer-id', id === 'a' ? 'b' : 'a', '--ha-secret', `pair-${process.pid}`,
        ...(id === 'a' ? ['--preferred'] : []),
        '--hb', `sip=127.0.0.1:${me.hb},127.0.0.1:${peer.hb}`,
        '--startup-wait', '1500', '--epoch-file', join(dir, `${id}.epoch`),
        '--redis-host', '127.0.0.1', '--redis-port', String(me.redis), '--redis-start', '--redis-dir', join(dir, `redis-${id}`),
        '--sync-peer', `127.0.0.1:${peer.redis}`, '--vip-mode', 'port',
        '--admin-address', '127.0.0.1', '--admin-port', String(me.admin), '--admin-token', adminToken,
      ],
    };
  };
  const nodes = [mkNode('a'), mkNode('b')];
  let stopping = false;

  const launch = (n: PairNode) => {
    const child = spawn(process.execPath, n.args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: fileURLToPath(new URL('../../../../', import.meta.url)) });
    n.child = child;
    n.role = 'starting';
    say(`node ${n.id}: started, pid ${child.pid} (log ${join(dir, `${n.id}.log`)})`);
    child.stderr!.pipe(n.log, { end: false });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      n.log.write(`${line}\n`);
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (r['msg'] === 'role') {
        n.role = String(r['role']);
        n.epoch = Number(r['epoch']);
        say(`node ${n.id}: ${n.role} (epoch ${n.epoch}) — ${String(r['reason'])}`);
        if (n.role === 'active') {
          const other = nodes.find((x) => x !== n)!;
          say(`  → to watch a takeover, kill the active: kill -9 ${child.pid}${other.child?.pid && other.role !== 'down' ? `   (the passive is ${other.child.pid})` : ''}`);
        }
      } else if (r['msg'] === 'took over: active') {
        say(`node ${n.id}: took over in ${String(r['ms'])} ms, adopted ${String(r['adopted'])} calls`);
      } else if (r['msg'] === 'node ready' && n === nodes[0] && calleePort === 0) {
        /* nothing */
      } else if (Number(r['level']) >= 50) {
        say(`node ${n.id}: ${String(r['msg'])}`);
      }
    });
    child.once('exit', (code, signal) => {
      say(`node ${n.id}: exited (${signal ?? code})`);
      n.role = 'down';
      killGroup(child, 'SIGKILL'); // its redis-server, if the node was killed
      if (!stopping && !n.stopping && !flags['no-restart']) {
        say(`node ${n.id}: restarting in 3 s (it rejoins as passive)`);
        setTimeout(() => {
          if (!stopping) launch(n);
        }, 3000).unref();
      }
    });
  };

  for (const n of nodes) launch(n);
  const callerPort = await freeBoth(taken);
  say(`pair up on 127.0.0.1:${sipPort} (udp+tcp); calls route to ${routeDefault}${callee ? ' (a SIPp callee started by this command)' : ''}`);
  say(`place calls:   sipp -sn uac 127.0.0.1:${sipPort} -i 127.0.0.1 -p ${callerPort} -r 10 -m 200 -d 20000`);
  say(`operate it:    source ${join(dir, 'env')}   then   pnpm dualsip status | calls | switchover | drill --back`);
  say(`               (DUALSIP_NODES=${nodesEnv}; the admin token is in that file)`);
  say(`logs and state: ${dir}    stop: Ctrl-C`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  stopping = true;
  say('stopping the pair');
  await Promise.all(
    nodes.map(
      (n) =>
        new Promise<void>((resolve) => {
          const c = n.child;
          if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
          n.stopping = true;
          const t = setTimeout(() => killGroup(c, 'SIGKILL'), 8000);
          c.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          killGroup(c, 'SIGTERM');
        }),
    ),
  );
  if (calleePort) {
    // The daemonized SIPp callee: find it by its port, end it by pid.
    const out = spawnSync('ss', ['-Hlunp', 'src', `127.0.0.1:${calleePort}`], { encoding: 'utf8' }).stdout ?? '';
    for (const m of out.matchAll(/pid=(\d+)/g)) {
      try {
        process.kill(Number(m[1]), 'SIGTERM');
      } catch {
        /* gone */
      }
    }
  }
  void callee;
  for (const n of nodes) n.log.end();
  say('pair stopped');
  return 0;
}
