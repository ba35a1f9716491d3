/** Senders of the announcement: the AF_PACKET addon, or `arping -U` / raw-socket as fallbacks. */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ParsedAddress } from './address.js';
import { VipError } from './errors.js';
import type { PacketAddon } from './native.js';
import { buildGratuitousArp, buildUnsolicitedNa } from './packets.js';
import type { InterfaceInfo } from './system.js';

export type AnnounceMethod = 'addon' | 'arping' | 'raw-socket';

export interface Announcer {
  readonly method: AnnounceMethod;
  /** Sends `count` announcements `intervalMs` apart; resolves with the number sent. */
  send(count: number, intervalMs: number): Promise<number>;
  /** frees a kept socket (closing an AF_PACKET socket waits for an RCU grace period, ~10-30 ms) */
  close(): void;
}

export function addonError(err: unknown, what: string): VipError {
  const code = (err as { code?: string }).code;
  if (code === 'EPERM' || code === 'EACCES') {
    return new VipError('VIP_NO_CAP_NET_RAW', `missing CAP_NET_RAW: ${what}: ${(err as Error).message}`, { cause: err });
  }
  if (code === 'ENODEV') return new VipError('VIP_UNKNOWN_INTERFACE', `${what}: ${(err as Error).message}`, { cause: err });
  return new VipError('VIP_ANNOUNCE_FAILED', `${what}: ${(err as Error).message}`, { cause: err });
}

/** Gratuitous ARP or unsolicited NA frames through the project's AF_PACKET addon. */
export function addonAnnouncer(addon: PacketAddon, iface: InterfaceInfo, addr: ParsedAddress): Announcer {
  const frame =
    addr.family === 4 ? buildGratuitousArp({ srcMac: iface.mac, ip: addr.ip }) : buildUnsolicitedNa({ srcMac: iface.mac, ip: addr.ip });
  // a send-only socket (ethertype 0: no receive hook), opened on first use and kept open, because
  // closing an AF_PACKET socket blocks for an RCU grace period that a claim should not wait for
  let fd: number | undefined;
  return {
    method: 'addon',
    async send(count, intervalMs) {
      if (fd === undefined) {
        try {
          fd = addon.open(iface.index, 0);
        } catch (err) {
          throw addonError(err, `cannot open a packet socket on ${iface.name}`);
        }
      }
      let sent = 0;
      for (let i = 0; i < count; i++) {
        if (i > 0 && intervalMs > 0) await sleep(intervalMs);
        if (fd === undefined) break;
        try {
          addon.send(fd, frame);
        } catch (err) {
          throw addonError(err, `cannot send announcement on ${iface.name}`);
        }
        sent++;
      }
      return sent;
    },
    close() {
      if (fd !== undefined) addon.close(fd);
      fd = undefined;
    },
  };
}

/**
 * IPv4 fallback: `arping -U` (iputils) sends gratuitous ARP requests. arping only takes whole
 * seconds between packets and lingers until its deadline after the last one, so send() resolves
 * once arping has run for 100 ms without failing (bad device, missing capability fail at once);
 * a later failure goes to `onLateError`.
 */
export function arpingAnnouncer(iface: InterfaceInfo, addr: ParsedAddress, onLateError: (err: VipError) => void): Announcer {
  const classify = (code: number | null, text: string, args: string[]): VipError => {
    const msg = text.trim();
    if (/Operation not permitted|socket:/i.test(msg)) return new VipError('VIP_NO_CAP_NET_RAW', `missing CAP_NET_RAW: arping: ${msg}`);
    if (/No such device|not available|unknown iface/i.test(msg)) return new VipError('VIP_UNKNOWN_INTERFACE', `arping: ${msg}`);
    return new VipError('VIP_ANNOUNCE_FAILED', `arping ${args.join(' ')} failed (exit ${code}): ${msg}`);
  };
  return {
    method: 'arping',
    close() {},
    send(count, intervalMs) {
      const seconds = Math.round(intervalMs / 1000);
      const args = ['-q', '-U', '-c', String(count), '-i', String(seconds), '-w', String(Math.max(1, seconds * count)), '-I', iface.name, addr.ip];
      return new Promise<number>((resolve, reject) => {
        let settled = false;
        let output = '';
        const child = spawn('arping', args, { stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.on('data', (d) => (output += d));
        child.stderr.on('data', (d) => (output += d));
        const timer = setTimeout(() => {
          settled = true;
          resolve(count);
        }, 100);
        child.on('error', (err) => {
          clearTimeout(timer);
          const e = new VipError('VIP_ANNOUNCE_FAILED', `cannot run arping: ${err.message}`, { cause: err });
          if (settled) onLateError(e);
          else (settled = true), reject(e);
        });
        child.on('exit', (code) => {
          clearTimeout(timer);
          const e = code === 0 ? undefined : classify(code, output, args);
          if (!settled) {
            settled = true;
            if (e) reject(e);
            else resolve(count);
          } else if (e) onLateError(e);
        });
      });
    },
  };
}

interface RawSocket {
  setOption(level: number, option: number, value: number | Buffer, length?: number): void;
  send(buf: Buffer, offset: number, length: number, address: string, before: (() => void) | null, after: (err: Error | null, bytes: number) => void): void;
  close(): void;
}
interface RawSocketModule {
  createSocket(opts: { addressFamily: number; protocol: number }): RawSocket & { on(ev: 'error', l: (e: Error) => void): void };
  AddressFamily: { IPv6: number };
  Protocol: { ICMPv6: number };
  SocketLevel: { SOL_SOCKET: number; IPPROTO_IPV6: number };
  SocketOption: { SO_BINDTODEVICE: number };
}
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;

/**
 * IPv6 fallback: the NA's ICMPv6 part through npm raw-socket (an AF_INET6 raw ICMPv6 socket;
 * the kernel adds the IPv6 header, picks the link-local source and fills in the checksum).
 */
/** How long one raw-socket send may take before the announcement counts as failed. */
const RAW_SEND_TIMEOUT_MS = 1000;

export function rawSocketAnnouncer(iface: InterfaceInfo, addr: ParsedAddress, buildMessage: () => Buffer): Announcer {
  return {
    method: 'raw-socket',
    close() {},
    async send(count, intervalMs) {
      const raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
      let sock: ReturnType<RawSocketModule['createSocket']>;
      try {
        sock = raw.createSocket({ addressFamily: raw.AddressFamily.IPv6, protocol: raw.Protocol.ICMPv6 });
        sock.on('error', () => {});
        sock.setOption(raw.SocketLevel.IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255);
        sock.setOption(raw.SocketLevel.IPPROTO_IPV6, IPV6_MULTICAST_IF, iface.index);
        const name = Buffer.from(iface.name + '\0');
        sock.setOption(raw.SocketLevel.SOL_SOCKET, raw.SocketOption.SO_BINDTODEVICE, name, name.length);
      } catch (err) {
        const msg = (err as Error).message;
        if (/not permitted/i.test(msg)) throw new VipError('VIP_NO_CAP_NET_RAW', `missing CAP_NET_RAW: raw-socket: ${msg}`, { cause: err });
        throw new VipError('VIP_ANNOUNCE_FAILED', `raw-socket: ${msg}`, { cause: err });
      }
      const msg = buildMessage();
      let sent = 0;
      // raw-socket reports some failures on the socket's 'error' event, not to the send
      // callback; a send whose callback never comes must not hold a claim (or a burst)
      // forever: it fails after RAW_SEND_TIMEOUT_MS with the reason.
      let socketError: ((err: Error) => void) | undefined;
      sock.on('error', (err) => socketError?.(err));
      try {
        for (let i = 0; i < count; i++) {
          if (i > 0 && intervalMs > 0) await sleep(intervalMs);
          await new Promise<void>((resolve, reject) => {
            const fail = (why: string, cause?: Error) => {
              clearTimeout(timer);
              socketError = undefined;
              reject(new VipError('VIP_ANNOUNCE_FAILED', `raw-socket send: ${why}`, cause ? { cause } : undefined));
            };
            const timer = setTimeout(() => fail(`no completion within ${RAW_SEND_TIMEOUT_MS} ms`), RAW_SEND_TIMEOUT_MS);
            socketError = (err) => fail(err.message, err);
            sock.send(msg, 0, msg.length, `ff02::1%${iface.name}`, null, (err) => {
              if (err) return fail(err.message, err);
              clearTimeout(timer);
              socketError = undefined;
              resolve();
            });
          });
          sent++;
        }
      } finally {
        sock.close();
      }
      return sent;
    },
  };
}
