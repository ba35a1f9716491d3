/**
 * A small claim/release agent for tests and the multi-host pair: run it inside a node's network
 * namespace (`ip netns exec <ns> node --import tsx packages/vip/src/agent.ts --address ... --interface ...`),
 * write one JSON command per line to stdin, read one JSON line per reply or event from stdout.
 *
 * Commands: {"id":1,"op":"claim"|"release"|"holds"|"probe"|"close"}
 * Replies:  {"id":1,"ok":true,"result":{...},"t0":<ms>,"t1":<ms>} or {"id":1,"ok":false,"error":{"code","message"}}
 *           t0/t1 are wall-clock ms (performance.timeOrigin + performance.now()) around the call.
 * Events:   {"event":"announced"|"claimed"|"released"|"conflict"|"error","data":{...},"t":<ms>}
 * Options:  --address --interface [--name N] [--echo-port P] [--burst n] [--interval ms]
 *           [--second-burst-delay ms] [--refresh ms] [--probe] [--probe-timeout ms] [--method addon|arping|auto]
 * With --echo-port the agent answers every UDP datagram on that port (IPv4 and IPv6) with its name,
 * so a watcher can tell which node the floating IP reaches.
 */
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createFloatingIp } from './floating-ip.js';
import { probeConflict } from './probe.js';

const now = () => performance.timeOrigin + performance.now();
const out = (obj: object) => process.stdout.write(JSON.stringify(obj) + '\n');

const { values: a } = parseArgs({
  options: {
    address: { type: 'string' },
    interface: { type: 'string' },
    name: { type: 'string', default: 'node' },
    'echo-port': { type: 'string' },
    burst: { type: 'string' },
    interval: { type: 'string' },
    'second-burst-delay': { type: 'string' },
    refresh: { type: 'string' },
    probe: { type: 'boolean', default: false },
    'probe-timeout': { type: 'string' },
    method: { type: 'string' },
  },
});
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

function errorOf(err: unknown) {
  return { code: (err as { code?: string }).code ?? 'EUNKNOWN', message: (err as Error).message };
}

let vip: ReturnType<typeof createFloatingIp>;
try {
  vip = createFloatingIp({
    address: a.address ?? '',
    interface: a.interface ?? '',
    announce: { burst: num(a.burst), interval: num(a.interval), secondBurstDelayMs: num(a['second-burst-delay']), refreshMs: num(a.refresh) },
    probeConflict: a.probe ? { timeoutMs: num(a['probe-timeout']) } : false,
    method: a.method as 'addon' | 'arping' | 'auto' | undefined,
  });
} catch (err) {
  out({ event: 'fatal', error: errorOf(err) });
  process.exit(2);
}
for (const ev of ['announced', 'claimed', 'released', 'conflict', 'error'] as const) {
  vip.on(ev, (data: unknown) => out({ event: ev, data: data instanceof Error ? errorOf(data) : data, t: now() }));
}

const echo = a['echo-port'] ? createSocket({ type: 'udp6', ipv6Only: false }) : undefined;
if (echo) {
  echo.on('error', (err) => {
    out({ event: 'fatal', error: errorOf(err) });
    process.exit(2);
  });
  echo.on('message', (msg, rinfo) => echo.send(Buffer.from(`${a.name} ${msg.toString()}`), rinfo.port, rinfo.address));
  echo.bind(Number(a['echo-port']), '::', () => out({ event: 'ready', t: now() }));
} else {
  out({ event: 'ready', t: now() });
}

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let cmd: { id?: number; op?: string };
  try {
    cmd = JSON.parse(line);
  } catch {
    return out({ ok: false, error: { code: 'BAD_COMMAND', message: line } });
  }
  const t0 = now();
  try {
    let result: unknown;
    if (cmd.op === 'claim') result = await vip.claim();
    else if (cmd.op === 'release') result = await vip.release();
    else if (cmd.op === 'holds') result = vip.holds();
    else if (cmd.op === 'probe') result = await probeConflict({ address: a.address!, interface: a.interface!, timeoutMs: num(a['probe-timeout']), method: a.method as 'auto' });
    else if (cmd.op === 'close') {
      await vip.close();
      out({ id: cmd.id, ok: true, result: null, t0, t1: now() });
      echo?.close();
      rl.close();
      return;
    } else throw Object.assign(new Error(`unknown op ${cmd.op}`), { code: 'BAD_COMMAND' });
    out({ id: cmd.id, ok: true, result, t0, t1: now() });
  } catch (err) {
    out({ id: cmd.id, ok: false, error: errorOf(err), t0, t1: now() });
  }
});
rl.on('close', () => {
  echo?.close();
  vip.destroy();
});
