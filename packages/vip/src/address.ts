import { isIPv4, isIPv6 } from 'node:net';
import { VipError } from './errors.js';

export interface ParsedAddress {
  family: 4 | 6;
  /** the address without prefix, as given (IPv6 in canonical compressed form) */
  ip: string;
  prefix: number;
  /** '198.18.0.100/24' */
  cidr: string;
  bytes: Buffer;
}

/** Parses '198.18.0.100/24' or 'fd00::100/64'. A missing prefix means /32 or /128. */
export function parseAddress(input: string): ParsedAddress {
  if (typeof input !== 'string' || input.length === 0) throw new VipError('VIP_BAD_ADDRESS', `bad address: ${String(input)}`);
  const [ip, prefixText, extra] = input.split('/');
  if (extra !== undefined || ip === undefined) throw new VipError('VIP_BAD_ADDRESS', `bad address: '${input}'`);
  const family = isIPv4(ip) ? 4 : isIPv6(ip) ? 6 : 0;
  if (family === 0) throw new VipError('VIP_BAD_ADDRESS', `bad address: '${input}' is not an IPv4 or IPv6 address`);
  if (ip.includes('%')) throw new VipError('VIP_BAD_ADDRESS', `bad address: '${input}' has a zone id`);
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max || Number(prefixText) < 1) {
      throw new VipError('VIP_BAD_ADDRESS', `bad prefix in '${input}': must be 1..${max}`);
    }
    prefix = Number(prefixText);
  }
  const bytes = family === 4 ? ipv4Bytes(ip) : ipv6Bytes(ip);
  const canon = family === 4 ? ip : formatIpv6(bytes);
  if (family === 4 && (bytes[0] === 0 || bytes[0]! >= 224 || bytes[0] === 127)) {
    throw new VipError('VIP_BAD_ADDRESS', `bad address: '${input}' is not a unicast address`);
  }
  if (family === 6 && (bytes[0] === 0xff || bytes.every((b, i) => (i < 15 ? b === 0 : b <= 1)))) {
    throw new VipError('VIP_BAD_ADDRESS', `bad address: '${input}' is not a unicast address`);
  }
  return { family, ip: canon, prefix, cidr: `${canon}/${prefix}`, bytes };
}

export function ipv4Bytes(ip: string): Buffer {
  if (!isIPv4(ip)) throw new VipError('VIP_BAD_ADDRESS', `not an IPv4 address: '${ip}'`);
  return Buffer.from(ip.split('.').map(Number));
}

export function ipv6Bytes(ip: string): Buffer {
  if (!isIPv6(ip)) throw new VipError('VIP_BAD_ADDRESS', `not an IPv6 address: '${ip}'`);
  let text = ip;
  const out = Buffer.alloc(16);
  // an embedded dotted quad at the end ('::ffff:1.2.3.4') becomes two groups
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const b = ipv4Bytes(dotted[1]!);
    text = text.slice(0, -dotted[1]!.length) + `${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups =
    tail === undefined ? headGroups : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** RFC 5952 text form: lowercase, longest run of zero groups (length ≥ 2) compressed. */
export function formatIpv6(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function parseMac(mac: string): Buffer {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new VipError('VIP_BAD_OPTIONS', `bad MAC address: '${mac}'`);
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function formatMac(mac: Buffer): string {
  return [...mac.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** RFC 4291 §2.7.1: solicited-node multicast address ff02::1:ffXX:XXXX of an IPv6 address. */
export function solicitedNodeAddress(ip6: Buffer): Buffer {
  const out = ipv6Bytes('ff02::1:ff00:0');
  ip6.copy(out, 13, 13, 16);
  return out;
}

/** RFC 2464 §7: Ethernet destination 33:33 + the low 32 bits of an IPv6 multicast address. */
export function ipv6MulticastMac(group: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x33, 0x33]), group.subarray(12, 16)]);
}
