/**
 * ICMP / ICMPv6 echo ("ping") through npm raw-socket, for the HA witness check.
 *
 * Why ICMP echo and not an ARP probe: the question is "does this node's IP path to the
 * SIP network work", and the failure modes include a host firewall that drops
 * everything. An ARP probe (layer 2, AF_PACKET) passes such a firewall and would call a
 * cut-off node connected; an echo goes through the IP stack (routes, netfilter) like the
 * SIP traffic does. Gateways and SBCs answer echo by default; it also reaches a witness
 * beyond the first hop, which ARP cannot. Needs CAP_NET_RAW, as announcing the VIP does.
 *
 * One raw socket per address family, opened on first use and shared by every ping;
 * replies are matched by identifier, sequence number and source address.
 */
import { randomInt } from 'node:crypto';
import { createRequire } from 'node:module';
import net from 'node:net';
import { VipError } from './errors.js';

interface RawSocket {
  send(buf: Buffer, offset: number, length: number, address: string, cb: (err: Error | null, bytes: number) => void): void;
  setOption(level: number, option: number, value: Buffer | number, length?: number): void;
  on(ev: 'message', l: (buf: Buffer, source: string) => void): void;
  on(ev: 'error', l: (err: Error) => void): void;
  close(): void;
}

interface RawSocketModule {
  createSocket(opts: { addressFamily: number; protocol: number; bufferSize?: number }): RawSocket;
  AddressFamily: { IPv4: number; IPv6: number };
  Protocol: { ICMP: number; ICMPv6: number };
  SocketLevel: { SOL_SOCKET: number };
  SocketOption: { SO_BINDTODEVICE: number };
  createChecksum(buf: Buffer): number;
  writeChecksum(buf: Buffer, offset: number, checksum: number): void;
}

export interface IcmpEchoOptions {
  /** Send only through this interface (SO_BINDTODEVICE), e.g. the SIP interface. */
  interface?: string;
  /** Echo requests per ping, spread over the first two thirds of the timeout. Default 3. */
  attempts?: number;
}

export interface PingResult {
  ok: boolean;
  rttMs?: number;
  /** Why there was no answer (send error), when known. */
  error?: string;
}

export interface IcmpEcho {
  /** Opens the sockets now (throws VIP_NO_CAP_NET_RAW without the capability). */
  open(family?: 4 | 6): void;
  /** Resolves ok:true on the first echo reply from `address` within timeoutMs; never rejects for a lost echo. */
  ping(address: string, timeoutMs: number): Promise<PingResult>;
  close(): void;
}

const ICMP_ECHO_REQUEST = 8;
const ICMP_ECHO_REPLY = 0;
const ICMPV6_ECHO_REQUEST = 128;
const ICMPV6_ECHO_REPLY = 129;

interface Pending {
  address: string;
  sentAt: number;
  resolve: (r: PingResult) => void;
}

export function createIcmpEcho(opts: IcmpEchoOptions = {}): IcmpEcho {
  const attempts = Math.max(1, opts.attempts ?? 3);
  const ident = randomInt(0, 0x10000);
  let seq = randomInt(0, 0x10000);
  let raw: RawSocketModule | undefined;
  const sockets = new Map<4 | 6, RawSocket>();
  const pending = new Map<number, Pending>();
  let closed = false;

  const load = (): RawSocketModule => (raw ??= createRequire(import.meta.url)('raw-socket') as RawSocketModule);

  function onMessage(family: 4 | 6, buf: Buffer, source: string): void {
    // IPv4 raw sockets hand over the IP header; IPv6 ones do not.
    const off = family === 4 ? (buf[0]! & 0x0f) * 4 : 0;
    if (buf.length < off + 8) return;
    const type = buf[off]!;
    if (type !== (family === 4 ? ICMP_ECHO_REPLY : ICMPV6_ECHO_REPLY)) return;
    if (buf.readUInt16BE(off + 4) !== ident) return;
    const p = pending.get(buf.readUInt16BE(off + 6));
    if (!p || !sameAddress(p.address, source)) return;
    p.resolve({ ok: true, rttMs: performance.now() - p.sentAt });
  }

  function socket(family: 4 | 6): RawSocket {
    if (closed) throw new VipError('VIP_CLOSED', 'ICMP echo closed');
    const have = sockets.get(family);
    if (have) return have;
    const r = load();
    let s: RawSocket;
    try {
      s = r.createSocket({
        addressFamily: family === 4 ? r.AddressFamily.IPv4 : r.AddressFamily.IPv6,
        protocol: family === 4 ? r.Protocol.ICMP : r.Protocol.ICMPv6,
      });
      if (opts.interface) {
        const name = Buffer.from(opts.interface + '\0');
        s.setOption(r.SocketLevel.SOL_SOCKET, r.SocketOption.SO_BINDTODEVICE, name, name.length);
      }
    } catch (err) {
      const msg = (err as Error).message;
      if (/not permitted/i.test(msg)) throw new VipError('VIP_NO_CAP_NET_RAW', `missing CAP_NET_RAW: ICMP echo socket: ${msg}`, { cause: err });
      throw new VipError('VIP_UNSUPPORTED', `ICMP echo socket: ${msg}`, { cause: err });
    }
    s.on('error', () => {
      // raw-socket closes a socket after an error: open a fresh one on the next ping.
      if (sockets.get(family) === s) sockets.delete(family);
    });
    s.on('message', (buf, source) => onMessage(family, buf, source));
    sockets.set(family, s);
    return s;
  }

  function request(family: 4 | 6, sq: number): Buffer {
    const b = Buffer.alloc(16);
    b[0] = family === 4 ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST;
    b.writeUInt16BE(ident, 4);
    b.writeUInt16BE(sq, 6);
    b.write('dsipwtns', 8, 'latin1');
    // ICMPv6: the kernel fills in the checksum (it covers a pseudo-header).
    if (family === 4) load().writeChecksum(b, 2, load().createChecksum(b));
    return b;
  }

  return {
    open(family = 4) {
      socket(family);
    },
    ping(address, timeoutMs) {
      const family = net.isIP(address) as 0 | 4 | 6;
      if (family === 0) return Promise.resolve({ ok: false, error: `not an IP address: ${address}` });
      let s: RawSocket;
      try {
        s = socket(family);
      } catch (err) {
        return Promise.reject(err);
      }
      return new Promise<PingResult>((resolve) => {
        const mine: number[] = [];
        const timers: NodeJS.Timeout[] = [];
        let lastError: string | undefined;
        let done = false;
        const finish = (r: PingResult) => {
          if (done) return;
          done = true;
          for (const t of timers) clearTimeout(t);
          for (const q of mine) pending.delete(q);
          resolve(r);
        };
        const sendOne = () => {
          if (done || closed) return;
          seq = (seq + 1) & 0xffff;
          const sq = seq;
          mine.push(sq);
          pending.set(sq, { address, sentAt: performance.now(), resolve: finish });
          const b = request(family, sq);
          s.send(b, 0, b.length, address, (err) => {
            if (err) lastError = err.message;
          });
        };
        for (let i = 0; i < attempts; i++) {
          const at = Math.floor((i * 2 * timeoutMs) / (3 * attempts));
          if (at === 0) sendOne();
          else timers.push(setTimeout(sendOne, at));
        }
        timers.push(setTimeout(() => finish({ ok: false, ...(lastError ? { error: lastError } : {}) }), timeoutMs));
      });
    },
    close() {
      closed = true;
      for (const p of pending.values()) p.resolve({ ok: false, error: 'closed' });
      pending.clear();
      for (const s of sockets.values()) {
        try {
          s.close();
        } catch {
          // already closed
        }
      }
      sockets.clear();
    },
  };
}

function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  if (net.isIPv6(a) && net.isIPv6(b)) return expand6(a) === expand6(b);
  return false;
}

function expand6(a: string): string {
  const [head, tail] = a.toLowerCase().split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((x) => x.padStart(4, '0')).join(':');
}
