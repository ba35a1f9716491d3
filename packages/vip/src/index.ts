/**
 * @dualsip/vip — claiming, releasing and announcing the floating IP.
 *
 * Public API:
 * - createFloatingIp({ address: '198.18.0.100/24' | 'fd00::100/64', interface, announce?: { burst=5,
 *   interval=0, secondBurstDelayMs=5000, secondBurst=burst, refreshMs=0, refreshRepeat=1 },
 *   probeConflict?, method?: 'addon'|'arping'|'auto', logger? }): VipController
 * - createPortOwnership({ bind, unbind, name?, logger? }): VipController   (single-host mode)
 * - VipController: claim(): Promise<ClaimResult>, release(): Promise<ReleaseResult>, holds(),
 *   close() (releases), destroy(err?) (stops announcing, keeps the address); typed events
 *   'claimed' | 'released' | 'announced' | 'conflict' | 'error'. claim/release are idempotent and
 *   serialized; a release of what this node does not hold resolves { changed: false, reason: 'not-held' }.
 * - probeConflict({ address, interface, timeoutMs?, probes?, method? }): Promise<ProbeResult>
 * - createIcmpEcho({ interface?, attempts? }): IcmpEcho — ICMP/ICMPv6 echo for the HA witness check
 * - packet builders: buildGratuitousArp, buildArpProbe, buildUnsolicitedNa, buildNaMessage,
 *   buildDadSolicitation, and parsers parseArp, parseNeighborMessage.
 * - VipError with stable `code` (VipErrorCode).
 *
 * The code acts on the network namespace of the current process. Announcements go through the
 * package's AF_PACKET addon (native/packet.c, built by `pnpm install`); without it IPv4 falls back
 * to `arping -U` and IPv6 to an ICMPv6 raw socket (npm raw-socket), with a logged warning.
 */
export { createFloatingIp, type AnnounceOptions, type FloatingIpOptions } from './floating-ip.js';
export { createPortOwnership, type PortOwnershipOptions } from './port-ownership.js';
export type { AnnouncedEvent, ClaimResult, ReleaseResult, VipController, VipEvents } from './controller.js';
export type { AnnounceMethod } from './announce.js';
export { probeConflict, type ProbeOptions, type ProbeResult } from './probe.js';
export { createIcmpEcho, type IcmpEcho, type IcmpEchoOptions, type PingResult } from './icmp-echo.js';
export {
  buildArpProbe,
  buildDadSolicitation,
  buildGratuitousArp,
  buildNaMessage,
  buildUnsolicitedNa,
  icmpv6Checksum,
  parseArp,
  parseNeighborMessage,
  type ParsedArp,
  type ParsedNeighborMessage,
} from './packets.js';
export { formatIpv6, formatMac, parseAddress, parseMac, type ParsedAddress } from './address.js';
export { VipError, type VipErrorCode } from './errors.js';
export { silentLogger, stderrLogger, type VipLogger } from './events.js';
export { loadPacketAddon } from './native.js';
