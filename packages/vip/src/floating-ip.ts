/** The floating IP: claim (add + announce), release (remove), periodic refresh. */
import { parseAddress, type ParsedAddress } from './address.js';
import { addonAnnouncer, arpingAnnouncer, rawSocketAnnouncer, type Announcer } from './announce.js';
import type { ClaimResult, ReleaseResult, VipController, VipEvents } from './controller.js';
import { VipError } from './errors.js';
import { stderrLogger, TypedEmitter, type VipLogger } from './events.js';
import { loadPacketAddon } from './native.js';
import { buildNaMessage } from './packets.js';
import { probeConflict, type ProbeResult } from './probe.js';
import { addAddress, CAP_NET_ADMIN, hasAddress, hasCap, interfaceInfo, removeAddress, requireCaps, type InterfaceInfo } from './system.js';

export interface AnnounceOptions {
  /** announcements sent at once on claim; default 5 (keepalived's garp_master_repeat) */
  burst?: number;
  /** ms between the packets of a burst; default 0 (back to back, like keepalived) */
  interval?: number;
  /** delay of the second burst after the claim, 0 = none; default 5000 (keepalived's garp_master_delay) */
  secondBurstDelayMs?: number;
  /** packets in the second burst; default = burst */
  secondBurst?: number;
  /** period of a refresh while active, 0 = off (default, like keepalived) */
  refreshMs?: number;
  /** packets per refresh; default 1 */
  refreshRepeat?: number;
}

export interface FloatingIpOptions {
  /** '198.18.0.100/24' or 'fd00::100/64' */
  address: string;
  /** interface in this process's network namespace */
  interface: string;
  announce?: AnnounceOptions;
  /** probe for another MAC answering for the address before adding it; a conflict rejects claim() with VIP_CONFLICT */
  probeConflict?: boolean | { timeoutMs?: number; probes?: number };
  /** 'auto' (default): the AF_PACKET addon, else `arping -U` (IPv4) / raw-socket (IPv6) with a warning */
  method?: 'addon' | 'arping' | 'auto';
  logger?: VipLogger;
}

interface Policy {
  burst: number;
  interval: number;
  secondBurstDelayMs: number;
  secondBurst: number;
  refreshMs: number;
  refreshRepeat: number;
}

function policy(a: AnnounceOptions = {}): Policy {
  const p: Policy = {
    burst: a.burst ?? 5,
    interval: a.interval ?? 0,
    secondBurstDelayMs: a.secondBurstDelayMs ?? 5000,
    secondBurst: a.secondBurst ?? a.burst ?? 5,
    refreshMs: a.refreshMs ?? 0,
    refreshRepeat: a.refreshRepeat ?? 1,
  };
  for (const [k, v] of Object.entries(p)) {
    const min = k === 'burst' || k === 'refreshRepeat' ? 1 : 0;
    if (!Number.isFinite(v) || v < min || (k.endsWith('urst') || k === 'refreshRepeat' ? !Number.isInteger(v) || v > 100 : false)) {
      throw new VipError('VIP_BAD_OPTIONS', `announce.${k} must be ${min === 1 ? 'an integer 1..100' : 'a number >= 0'} (got ${v})`);
    }
  }
  return p;
}

class FloatingIp extends TypedEmitter<VipEvents> implements VipController {
  readonly #addr: ParsedAddress;
  readonly #ifname: string;
  readonly #policy: Policy;
  readonly #opts: FloatingIpOptions;
  readonly #log: VipLogger;
  #held = false;
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();
  #timers = new Set<NodeJS.Timeout>();
  #announcer: Announcer | undefined;
  #warned = false;

  constructor(opts: FloatingIpOptions) {
    const log = opts.logger ?? stderrLogger;
    super(log);
    this.#log = log;
    this.#opts = opts;
    this.#addr = parseAddress(opts.address);
    if (typeof opts.interface !== 'string' || opts.interface.length === 0) {
      throw new VipError('VIP_UNKNOWN_INTERFACE', 'no interface given for the floating IP');
    }
    this.#ifname = opts.interface;
    this.#policy = policy(opts.announce);
    if (opts.method && !['addon', 'arping', 'auto'].includes(opts.method)) {
      throw new VipError('VIP_BAD_OPTIONS', `method must be 'addon', 'arping' or 'auto' (got ${String(opts.method)})`);
    }
  }

  holds(): boolean {
    return this.#held;
  }

  claim(): Promise<ClaimResult> {
    return this.#serial(() => this.#claim());
  }

  release(): Promise<ReleaseResult> {
    return this.#serial(() => this.#release());
  }

  async close(): Promise<void> {
    if (this.#closed) return this.#queue.then(() => undefined, () => undefined);
    const release = this.release().then(() => undefined, (err) => this.#log.warn({ err }, 'vip: release on close failed'));
    this.#closed = true;
    await release;
    this.#announcer?.close();
  }

  destroy(err?: Error): void {
    if (err && !this.#closed) this.#log.warn({ err }, 'vip: destroyed');
    this.#closed = true;
    this.#stopTimers();
    this.#announcer?.close();
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new VipError('VIP_CLOSED', `floating IP ${this.#addr.cidr} controller is closed`));
    const p = this.#queue.then(fn, fn);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  #announcerFor(iface: InterfaceInfo): Announcer {
    if (this.#announcer) return this.#announcer;
    const method = this.#opts.method ?? 'auto';
    const { addon, reason } = method === 'arping' ? { addon: null, reason: "method 'arping'" } : loadPacketAddon();
    if (addon) return (this.#announcer = addonAnnouncer(addon, iface, this.#addr));
    if (method === 'addon') throw new VipError('VIP_UNSUPPORTED', `AF_PACKET addon not available: ${reason}`);
    const fallback =
      this.#addr.family === 4
        ? arpingAnnouncer(iface, this.#addr, (err) => this.emit('error', err))
        : rawSocketAnnouncer(iface, this.#addr, () => buildNaMessage({ srcMac: iface.mac, ip: this.#addr.ip }));
    if (method === 'auto' && !this.#warned) {
      this.#warned = true;
      this.#log.warn({ reason, fallback: fallback.method, address: this.#addr.cidr }, 'vip: AF_PACKET addon not loaded; announcing with the fallback');
    }
    return (this.#announcer = fallback);
  }

  async #claim(): Promise<ClaimResult> {
    const started = performance.now();
    const iface = interfaceInfo(this.#ifname);
    requireCaps({ netAdmin: true, netRaw: true }, `claim ${this.#addr.cidr} on ${iface.name}`);
    const base = { address: this.#addr.cidr, interface: iface.name };
    // held in memory and still on the interface: nothing to do (one `ip` call to be sure)
    if (this.#held && (await hasAddress(iface.name, this.#addr))) {
      return { ...base, changed: false, announced: 0, method: this.#announcerFor(iface).method, elapsedMs: performance.now() - started };
    }
    let probe: ProbeResult | undefined;
    if (this.#opts.probeConflict) {
      const p = typeof this.#opts.probeConflict === 'object' ? this.#opts.probeConflict : {};
      probe = await probeConflict({
        address: this.#addr.cidr,
        interface: iface.name,
        timeoutMs: p.timeoutMs,
        probes: p.probes,
        method: this.#opts.method === 'arping' ? 'arping' : 'auto',
      });
      if (probe.conflict) {
        this.emit('conflict', { address: this.#addr.cidr, mac: probe.mac });
        throw new VipError('VIP_CONFLICT', `${this.#addr.ip} is answered by ${probe.mac ?? 'another node'} on ${iface.name}; not claiming`, { mac: probe.mac });
      }
    }
    const announcer = this.#announcerFor(iface);
    // adding is the check: `ip` says "File exists" when the address is already there
    const present = !(await addAddress(iface.name, this.#addr));
    let announced: number;
    try {
      announced = await announcer.send(this.#policy.burst, this.#policy.interval);
    } catch (err) {
      // never a silent half-claim: take the address back off if this claim added it
      if (!present) await removeAddress(iface.name, this.#addr).catch(() => undefined);
      throw err;
    }
    this.#held = true;
    this.emit('announced', { phase: 'burst', count: announced, method: announcer.method });
    this.#schedule(announcer);
    const result: ClaimResult = { ...base, changed: !present, announced, method: announcer.method, probe, elapsedMs: performance.now() - started };
    this.#log.info({ ...result }, 'vip: claimed');
    this.emit('claimed', result);
    return result;
  }

  #schedule(announcer: Announcer): void {
    this.#stopTimers();
    const p = this.#policy;
    const fire = (phase: 'second-burst' | 'refresh', count: number) => {
      if (!this.#held || this.#closed) return;
      announcer.send(count, p.interval).then(
        (n) => this.emit('announced', { phase, count: n, method: announcer.method }),
        (err) => this.emit('error', err instanceof VipError ? err : new VipError('VIP_ANNOUNCE_FAILED', String(err), { cause: err })),
      );
    };
    if (p.secondBurstDelayMs > 0 && p.secondBurst > 0) {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        fire('second-burst', p.secondBurst);
      }, p.secondBurstDelayMs);
      t.unref();
      this.#timers.add(t);
    }
    if (p.refreshMs > 0) {
      const t = setInterval(() => fire('refresh', p.refreshRepeat), p.refreshMs);
      t.unref();
      this.#timers.add(t);
    }
  }

  #stopTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  async #release(): Promise<ReleaseResult> {
    this.#stopTimers();
    const iface = interfaceInfo(this.#ifname);
    const base = { address: this.#addr.cidr, interface: iface.name };
    let removed = false;
    if (hasCap(CAP_NET_ADMIN)) {
      removed = await removeAddress(iface.name, this.#addr); // false: it was not there
    } else if (await hasAddress(iface.name, this.#addr)) {
      requireCaps({ netAdmin: true }, `remove ${this.#addr.cidr} from ${iface.name}`);
    }
    this.#held = false;
    if (!removed) {
      const result: ReleaseResult = { ...base, changed: false, reason: 'not-held' };
      this.#log.info({ ...result }, `vip: release: ${this.#addr.cidr} is not on ${iface.name}; nothing to do`);
      return result;
    }
    const result: ReleaseResult = { ...base, changed: true };
    this.#log.info({ ...result }, 'vip: released');
    this.emit('released', result);
    return result;
  }
}

/**
 * A floating IP on an interface of this network namespace. Options are checked here:
 * a bad address or prefix throws VIP_BAD_ADDRESS at once; the interface and the
 * capabilities are checked by each claim()/release() (interfaces may come up later).
 */
export function createFloatingIp(opts: FloatingIpOptions): VipController {
  return new FloatingIp(opts);
}
