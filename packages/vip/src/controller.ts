import type { AnnounceMethod } from './announce.js';
import type { VipError } from './errors.js';
import type { ProbeResult } from './probe.js';

export interface ClaimResult {
  /** false when this node already held it (claim is idempotent) */
  changed: boolean;
  /** '198.18.0.100/24', or the port owner's name in single-host mode */
  address: string;
  interface: string;
  /** announcements sent by this claim's first burst (0 when unchanged or single-host) */
  announced: number;
  method: AnnounceMethod | 'port';
  probe?: ProbeResult;
  /** from claim() to the last packet of the first burst */
  elapsedMs: number;
}

export interface ReleaseResult {
  /** false when this node did not hold it (release is idempotent and says so) */
  changed: boolean;
  address: string;
  interface: string;
  /** why nothing changed */
  reason?: 'not-held';
}

export interface AnnouncedEvent {
  phase: 'burst' | 'second-burst' | 'refresh';
  count: number;
  method: AnnounceMethod;
}

export interface VipEvents extends Record<string, unknown[]> {
  claimed: [ClaimResult];
  released: [ReleaseResult];
  announced: [AnnouncedEvent];
  conflict: [{ address: string; mac?: string }];
  /** a background announcement (second burst, refresh) failed */
  error: [VipError];
}

/** What the HA controller sees: the floating IP, or the SIP port in single-host mode. */
export interface VipController {
  claim(): Promise<ClaimResult>;
  release(): Promise<ReleaseResult>;
  /** whether this controller believes it holds the address/port */
  holds(): boolean;
  /** stops announcing and releases what this node holds; idempotent */
  close(): Promise<void>;
  /** stops announcing at once without releasing; idempotent */
  destroy(err?: Error): void;
  on<K extends keyof VipEvents & string>(event: K, listener: (...args: VipEvents[K]) => void): this;
  once<K extends keyof VipEvents & string>(event: K, listener: (...args: VipEvents[K]) => void): this;
  off<K extends keyof VipEvents & string>(event: K, listener: (...args: VipEvents[K]) => void): this;
}
