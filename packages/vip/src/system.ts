/** The host side: capabilities, interfaces and addresses of the current network namespace. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { formatMac, parseMac, type ParsedAddress } from './address.js';
import { VipError } from './errors.js';
import { loadPacketAddon } from './native.js';

export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;

/** Effective capabilities of this process, from /proc/self/status. */
export function effectiveCaps(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt('0x' + m[1]) : 0n;
}

export function hasCap(cap: number, caps = effectiveCaps()): boolean {
  return (caps & (1n << BigInt(cap))) !== 0n;
}

/** Throws VIP_NO_CAP_NET_ADMIN / VIP_NO_CAP_NET_RAW naming what is missing and why it is needed. */
export function requireCaps(needed: { netAdmin?: boolean; netRaw?: boolean }, why: string): void {
  const caps = effectiveCaps();
  if (needed.netAdmin && !hasCap(CAP_NET_ADMIN, caps)) {
    throw new VipError('VIP_NO_CAP_NET_ADMIN', `missing CAP_NET_ADMIN: needed to ${why} (run as root or grant cap_net_admin)`);
  }
  if (needed.netRaw && !hasCap(CAP_NET_RAW, caps)) {
    throw new VipError('VIP_NO_CAP_NET_RAW', `missing CAP_NET_RAW: needed to ${why} (run as root or grant cap_net_raw)`);
  }
}

export interface InterfaceInfo {
  name: string;
  index: number;
  mac: Buffer;
}

/** Index and MAC of an interface in this namespace; VIP_UNKNOWN_INTERFACE when there is none. */
export function interfaceInfo(name: string): InterfaceInfo {
  if (typeof name !== 'string' || !/^[^\s/]{1,15}$/.test(name)) {
    throw new VipError('VIP_UNKNOWN_INTERFACE', `bad interface name: '${String(name)}'`);
  }
  const { addon } = loadPacketAddon();
  if (addon) {
    try {
      const info = addon.ifInfo(name);
      return { name, index: info.index, mac: info.mac };
    } catch (err) {
      if ((err as { code?: string }).code === 'ENODEV') {
        throw new VipError('VIP_UNKNOWN_INTERFACE', `unknown interface '${name}' in this network namespace`, { cause: err });
      }
      throw new VipError('VIP_COMMAND_FAILED', `cannot read interface '${name}': ${(err as Error).message}`, { cause: err });
    }
  }
  // no addon: sysfs (ip netns exec remounts /sys for the namespace)
  try {
    const index = Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
    const mac = parseMac(readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim());
    return { name, index, mac };
  } catch (err) {
    throw new VipError('VIP_UNKNOWN_INTERFACE', `unknown interface '${name}' in this network namespace`, { cause: err });
  }
}

export function macString(info: InterfaceInfo): string {
  return formatMac(info.mac);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        reject(new VipError('VIP_COMMAND_FAILED', `cannot run ${cmd}: ${err.message}`, { cause: err }));
        return;
      }
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function ipError(r: RunResult, what: string, iface: string): VipError {
  const msg = r.stderr.trim() || r.stdout.trim();
  if (/Cannot find device|does not exist|No such device/i.test(msg)) {
    return new VipError('VIP_UNKNOWN_INTERFACE', `unknown interface '${iface}': ${what} failed: ${msg}`);
  }
  if (/Operation not permitted|Permission denied/i.test(msg)) {
    return new VipError('VIP_NO_CAP_NET_ADMIN', `missing CAP_NET_ADMIN: ${what} failed: ${msg}`);
  }
  return new VipError('VIP_COMMAND_FAILED', `${what} failed (exit ${r.code}): ${msg}`);
}

/** Whether `addr` (same address and prefix) is configured on `iface`. */
export async function hasAddress(iface: string, addr: ParsedAddress): Promise<boolean> {
  const r = await run('ip', ['-j', `-${addr.family}`, 'addr', 'show', 'dev', iface]);
  if (r.code !== 0) throw ipError(r, `ip addr show dev ${iface}`, iface);
  const links = JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  return links.some((l) =>
    (l.addr_info ?? []).some((a) => a.local !== undefined && sameIp(a.local, addr) && a.prefixlen === addr.prefix),
  );
}

function sameIp(text: string, addr: ParsedAddress): boolean {
  return addr.family === 4 ? text === addr.ip : text.toLowerCase() === addr.ip;
}

/**
 * Whether `ip addr add` failed because the address is already on the interface (EEXIST):
 * older iproute2 prints "RTNETLINK answers: File exists", iproute2 6.x with the kernel's
 * extended ack "Error: ipv4: Address already assigned." (seen when a node restarted after a
 * SIGKILL found its predecessor's VIP still on the interface; chaos seed 20240611).
 */
export function isAddressPresent(stderr: string): boolean {
  return /File exists|Address already assigned/i.test(stderr);
}

/** `ip addr add`; false when it was already there. (IPv6 with nodad: the conflict probe is ours, and DAD would delay the claim). */
export async function addAddress(iface: string, addr: ParsedAddress): Promise<boolean> {
  const args = ['addr', 'add', addr.cidr, 'dev', iface];
  if (addr.family === 6) args.push('nodad');
  const r = await run('ip', args);
  if (r.code === 0) return true;
  if (isAddressPresent(r.stderr)) return false;
  throw ipError(r, `ip ${args.join(' ')}`, iface);
}

export async function removeAddress(iface: string, addr: ParsedAddress): Promise<boolean> {
  const args = ['addr', 'del', addr.cidr, 'dev', iface];
  const r = await run('ip', args);
  if (r.code !== 0) {
    if (/Cannot assign requested address|Address not found/i.test(r.stderr)) return false;
    throw ipError(r, `ip ${args.join(' ')}`, iface);
  }
  return true;
}
