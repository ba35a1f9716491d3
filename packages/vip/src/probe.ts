/** Conflict probe: is another MAC answering for the VIP on this link? */
import { setTimeout as sleep } from 'node:timers/promises';
import { formatMac, parseAddress } from './address.js';
import { addonError } from './announce.js';
import { VipError } from './errors.js';
import { loadPacketAddon } from './native.js';
import {
  buildArpProbe,
  buildDadSolicitation,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV6,
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  parseArp,
  parseNeighborMessage,
} from './packets.js';
import { interfaceInfo, requireCaps, run } from './system.js';

export interface ProbeOptions {
  /** '198.18.0.100/24', 'fd00::100/64' (prefix optional) */
  address: string;
  interface: string;
  /** how long to listen for an answer; default 300 ms */
  timeoutMs?: number;
  /** probes sent, spread over the first half of the window; default 2 */
  probes?: number;
  method?: 'addon' | 'arping' | 'auto';
}

export interface ProbeResult {
  conflict: boolean;
  /** the MAC that answered for the address */
  mac?: string;
  method: 'addon' | 'arping';
  elapsedMs: number;
}

/**
 * Sends RFC 5227 ARP probes (IPv4) or RFC 4862 DAD neighbour solicitations (IPv6) for the
 * address and reports whether another MAC answered within `timeoutMs`. Frames this node
 * sent itself are ignored, so a node that already holds the address sees no conflict.
 */
export async function probeConflict(opts: ProbeOptions): Promise<ProbeResult> {
  const addr = parseAddress(opts.address);
  const timeoutMs = opts.timeoutMs ?? 300;
  const probes = Math.max(1, opts.probes ?? 2);
  const iface = interfaceInfo(opts.interface);
  requireCaps({ netRaw: true }, `probe ${addr.ip} on ${iface.name}`);
  const own = formatMac(iface.mac);
  const started = performance.now();
  const { addon, reason } = opts.method === 'arping' ? { addon: null, reason: 'method arping' } : loadPacketAddon();

  if (!addon) {
    if (opts.method === 'addon') throw new VipError('VIP_UNSUPPORTED', `AF_PACKET addon not available: ${reason}`);
    if (addr.family === 6) throw new VipError('VIP_UNSUPPORTED', `IPv6 conflict probe needs the AF_PACKET addon (${reason})`);
    const args = ['-D', '-c', String(probes), '-w', String(Math.max(1, Math.ceil(timeoutMs / 1000))), '-I', iface.name, addr.ip];
    const r = await run('arping', args, timeoutMs + 5000);
    const m = /reply from \S+ \[([0-9A-Fa-f:]{17})\]/.exec(r.stdout);
    if (r.code !== 0 && !m) throw new VipError('VIP_COMMAND_FAILED', `arping ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`);
    return { conflict: !!m, mac: m?.[1]?.toLowerCase(), method: 'arping', elapsedMs: performance.now() - started };
  }

  const ethertype = addr.family === 4 ? ETHERTYPE_ARP : ETHERTYPE_IPV6;
  const frame = addr.family === 4 ? buildArpProbe({ srcMac: iface.mac, ip: addr.ip }) : buildDadSolicitation({ srcMac: iface.mac, ip: addr.ip });
  let fd: number;
  try {
    fd = addon.open(iface.index, ethertype);
  } catch (err) {
    throw addonError(err, `cannot open a packet socket on ${iface.name}`);
  }
  try {
    const sendAt = Array.from({ length: probes }, (_, i) => (i * timeoutMs) / (2 * probes));
    let next = 0;
    while (performance.now() - started < timeoutMs) {
      const now = performance.now() - started;
      while (next < sendAt.length && sendAt[next]! <= now) {
        addon.send(fd, frame);
        next++;
      }
      for (let f = addon.recv(fd); f; f = addon.recv(fd)) {
        const mac = answerFrom(f, addr.family, addr.ip, own);
        if (mac) return { conflict: true, mac, method: 'addon', elapsedMs: performance.now() - started };
      }
      await sleep(5);
    }
    return { conflict: false, method: 'addon', elapsedMs: performance.now() - started };
  } catch (err) {
    throw err instanceof VipError ? err : addonError(err, `probe on ${iface.name}`);
  } finally {
    addon.close(fd);
  }
}

/** The MAC of another node claiming `ip` in this frame, or undefined. */
function answerFrom(frame: Buffer, family: 4 | 6, ip: string, own: string): string | undefined {
  if (family === 4) {
    const a = parseArp(frame);
    // a reply for the address, or anyone announcing it as its sender address
    if (a && a.senderIp === ip && a.senderMac !== own && a.ethSrc !== own) return a.senderMac;
    return undefined;
  }
  const n = parseNeighborMessage(frame);
  if (n && n.type === ICMPV6_NEIGHBOR_ADVERTISEMENT && n.target === ip && n.ethSrc !== own && n.checksumOk) return n.lladdr ?? n.ethSrc;
  return undefined;
}
