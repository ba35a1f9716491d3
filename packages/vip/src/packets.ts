/**
 * Link-layer frames for announcing and probing a floating IP, built byte by byte here (not
 * in C) so they can be unit-tested. Every builder returns a whole Ethernet II frame.
 */
import { formatIpv6, formatMac, ipv4Bytes, ipv6Bytes, ipv6MulticastMac, solicitedNodeAddress } from './address.js';
import { VipError } from './errors.js';

export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
const BROADCAST = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = Buffer.alloc(6);
/** Minimum Ethernet frame without FCS; shorter frames are padded with zeros. */
const MIN_FRAME = 60;
const ALL_NODES = ipv6Bytes('ff02::1');
const ICMPV6 = 58;
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;

function checkMac(mac: Buffer, what: string): void {
  if (!Buffer.isBuffer(mac) || mac.length !== 6) throw new VipError('VIP_BAD_OPTIONS', `${what} must be a 6-byte Buffer`);
}

function ethernet(dst: Buffer, src: Buffer, type: number, payload: Buffer): Buffer {
  const frame = Buffer.alloc(Math.max(MIN_FRAME, 14 + payload.length));
  dst.copy(frame, 0);
  src.copy(frame, 6);
  frame.writeUInt16BE(type, 12);
  payload.copy(frame, 14);
  return frame;
}

function arp(op: 1 | 2, senderMac: Buffer, senderIp: Buffer, targetMac: Buffer, targetIp: Buffer): Buffer {
  const p = Buffer.alloc(28);
  p.writeUInt16BE(1, 0); // hardware type: Ethernet
  p.writeUInt16BE(ETHERTYPE_IPV4, 2); // protocol type: IPv4
  p[4] = 6; // hardware address length
  p[5] = 4; // protocol address length
  p.writeUInt16BE(op, 6);
  senderMac.copy(p, 8);
  senderIp.copy(p, 14);
  targetMac.copy(p, 18);
  targetIp.copy(p, 24);
  return p;
}

/**
 * Gratuitous ARP (RFC 5227 §3 "ARP Announcement"): broadcast, sender IP = target IP = the
 * VIP, sender MAC = ours, target MAC zero. op 'request' (default, like keepalived and
 * `arping -U`) or 'reply' (like `arping -A`).
 */
export function buildGratuitousArp(opts: { srcMac: Buffer; ip: string; op?: 'request' | 'reply' }): Buffer {
  checkMac(opts.srcMac, 'srcMac');
  const ip = ipv4Bytes(opts.ip);
  return ethernet(BROADCAST, opts.srcMac, ETHERTYPE_ARP, arp(opts.op === 'reply' ? 2 : 1, opts.srcMac, ip, ZERO_MAC, ip));
}

/** ARP probe (RFC 5227 §2.1.1): who has `ip`? sender IP 0.0.0.0 so no receiver learns from it. */
export function buildArpProbe(opts: { srcMac: Buffer; ip: string }): Buffer {
  checkMac(opts.srcMac, 'srcMac');
  return ethernet(BROADCAST, opts.srcMac, ETHERTYPE_ARP, arp(1, opts.srcMac, Buffer.alloc(4), ZERO_MAC, ipv4Bytes(opts.ip)));
}

export interface ParsedArp {
  ethSrc: string;
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

/** Parses an Ethernet frame carrying IPv4-over-Ethernet ARP; null for anything else. */
export function parseArp(frame: Buffer): ParsedArp | null {
  if (frame.length < 42 || frame.readUInt16BE(12) !== ETHERTYPE_ARP) return null;
  const p = frame.subarray(14);
  if (p.readUInt16BE(0) !== 1 || p.readUInt16BE(2) !== ETHERTYPE_IPV4 || p[4] !== 6 || p[5] !== 4) return null;
  return {
    ethSrc: formatMac(frame.subarray(6, 12)),
    op: p.readUInt16BE(6),
    senderMac: formatMac(p.subarray(8, 14)),
    senderIp: [...p.subarray(14, 18)].join('.'),
    targetMac: formatMac(p.subarray(18, 24)),
    targetIp: [...p.subarray(24, 28)].join('.'),
  };
}

/** RFC 4443 §2.3 checksum of an ICMPv6 message with the RFC 8200 §8.1 pseudo-header. */
export function icmpv6Checksum(src: Buffer, dst: Buffer, message: Buffer): number {
  const pseudo = Buffer.alloc(40);
  src.copy(pseudo, 0);
  dst.copy(pseudo, 16);
  pseudo.writeUInt32BE(message.length, 32);
  pseudo[39] = ICMPV6;
  let sum = 0;
  for (const b of [pseudo, message]) {
    for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) + (i + 1 < b.length ? b[i + 1]! : 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv6Packet(src: Buffer, dst: Buffer, message: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0); // version 6, traffic class 0, flow label 0
  h.writeUInt16BE(message.length, 4);
  h[6] = ICMPV6;
  h[7] = 255; // RFC 4861 §7.1.2: a node MUST discard an NA whose hop limit is not 255
  src.copy(h, 8);
  dst.copy(h, 24);
  return Buffer.concat([h, message]);
}

/**
 * The ICMPv6 part of an unsolicited Neighbor Advertisement (RFC 4861 §4.4, §7.2.6):
 * Router=0, Solicited=0, Override=1, target = the VIP, Target Link-Layer Address option =
 * our MAC. The checksum field is left 0 unless src/dst are given (a raw ICMPv6 socket
 * fills it in itself).
 */
export function buildNaMessage(opts: { srcMac: Buffer; ip: string; override?: boolean; checksumFor?: { src: Buffer; dst: Buffer } }): Buffer {
  checkMac(opts.srcMac, 'srcMac');
  const m = Buffer.alloc(32);
  m[0] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
  m[1] = 0; // code
  m[4] = opts.override === false ? 0 : 0x20; // R=0x80 S=0x40 O=0x20
  ipv6Bytes(opts.ip).copy(m, 8);
  m[24] = 2; // option: Target Link-Layer Address
  m[25] = 1; // length in units of 8 octets
  opts.srcMac.copy(m, 26);
  if (opts.checksumFor) m.writeUInt16BE(icmpv6Checksum(opts.checksumFor.src, opts.checksumFor.dst, m), 2);
  return m;
}

/**
 * A whole unsolicited NA frame to all-nodes (ff02::1, 33:33:00:00:00:01), hop limit 255,
 * IPv6 source `srcIp` (default: the VIP itself, an address assigned to the interface).
 */
export function buildUnsolicitedNa(opts: { srcMac: Buffer; ip: string; srcIp?: string; override?: boolean }): Buffer {
  const src = ipv6Bytes(opts.srcIp ?? opts.ip);
  const message = buildNaMessage({ srcMac: opts.srcMac, ip: opts.ip, override: opts.override, checksumFor: { src, dst: ALL_NODES } });
  return ethernet(ipv6MulticastMac(ALL_NODES), opts.srcMac, ETHERTYPE_IPV6, ipv6Packet(src, ALL_NODES, message));
}

/**
 * Duplicate-address-detection Neighbor Solicitation (RFC 4862 §5.4.2): source ::, to the
 * target's solicited-node group, no source link-layer option. An owner answers with an NA
 * to all-nodes.
 */
export function buildDadSolicitation(opts: { srcMac: Buffer; ip: string }): Buffer {
  checkMac(opts.srcMac, 'srcMac');
  const target = ipv6Bytes(opts.ip);
  const dst = solicitedNodeAddress(target);
  const src = Buffer.alloc(16);
  const m = Buffer.alloc(24);
  m[0] = ICMPV6_NEIGHBOR_SOLICITATION;
  target.copy(m, 8);
  m.writeUInt16BE(icmpv6Checksum(src, dst, m), 2);
  return ethernet(ipv6MulticastMac(dst), opts.srcMac, ETHERTYPE_IPV6, ipv6Packet(src, dst, m));
}

export interface ParsedNeighborMessage {
  ethSrc: string;
  srcIp: string;
  dstIp: string;
  hopLimit: number;
  type: number;
  /** NA flags byte (R=0x80 S=0x40 O=0x20) */
  flags: number;
  target: string;
  /** target (NA) or source (NS) link-layer address option */
  lladdr?: string;
  checksumOk: boolean;
}

/** Parses an Ethernet frame carrying an ICMPv6 NS or NA without extension headers; else null. */
export function parseNeighborMessage(frame: Buffer): ParsedNeighborMessage | null {
  if (frame.length < 14 + 40 + 24 || frame.readUInt16BE(12) !== ETHERTYPE_IPV6) return null;
  const ip = frame.subarray(14);
  if (ip[0]! >> 4 !== 6 || ip[6] !== ICMPV6) return null;
  const len = ip.readUInt16BE(4);
  const m = ip.subarray(40, 40 + len);
  if (m.length < 24 || (m[0] !== ICMPV6_NEIGHBOR_SOLICITATION && m[0] !== ICMPV6_NEIGHBOR_ADVERTISEMENT)) return null;
  const src = ip.subarray(8, 24);
  const dst = ip.subarray(24, 40);
  const zeroed = Buffer.from(m);
  zeroed.writeUInt16BE(0, 2);
  let lladdr: string | undefined;
  for (let off = 24; off + 8 <= m.length; ) {
    const type = m[off]!;
    const olen = m[off + 1]! * 8;
    if (olen === 0) break;
    if ((type === 1 || type === 2) && olen >= 8) lladdr = formatMac(m.subarray(off + 2, off + 8));
    off += olen;
  }
  return {
    ethSrc: formatMac(frame.subarray(6, 12)),
    srcIp: formatIpv6(Buffer.from(src)),
    dstIp: formatIpv6(Buffer.from(dst)),
    hopLimit: ip[7]!,
    type: m[0]!,
    flags: m[4]!,
    target: formatIpv6(Buffer.from(m.subarray(8, 24))),
    lladdr,
    checksumOk: icmpv6Checksum(src, dst, zeroed) === m.readUInt16BE(2),
  };
}
