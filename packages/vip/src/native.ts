import { createRequire } from 'node:module';

/** The AF_PACKET addon (native/packet.c), built by `pnpm install` into build/Release. */
export interface PacketAddon {
  /** non-blocking AF_PACKET/SOCK_RAW socket bound to `ifindex` for one ethertype */
  open(ifindex: number, ethertype: number): number;
  send(fd: number, frame: Buffer): number;
  /** one queued frame, or null */
  recv(fd: number): Buffer | null;
  close(fd: number): void;
  ifInfo(name: string): { index: number; mac: Buffer };
}

let cached: { addon: PacketAddon | null; reason?: string } | undefined;

/** Loads the addon once; `addon` is null (with the reason) when it is not built or not loadable. */
export function loadPacketAddon(): { addon: PacketAddon | null; reason?: string } {
  if (cached) return cached;
  if (process.env.DUALSIP_VIP_NO_ADDON === '1') {
    cached = { addon: null, reason: 'disabled by DUALSIP_VIP_NO_ADDON=1' };
    return cached;
  }
  try {
    const require = createRequire(import.meta.url);
    cached = { addon: require('../build/Release/vip_packet.node') as PacketAddon };
  } catch (err) {
    cached = { addon: null, reason: (err as Error).message.split('\n')[0] };
  }
  return cached;
}
