/**
 * SIP probe from the passive (ha.sipTrafficLoss.probeIntervalMs): while the peer is active,
 * the passive sends an out-of-dialog OPTIONS over UDP from its own SIP address to the
 * service address (the floating IP). The request crosses the SIP network into the active
 * exactly like a caller's, so the active's inbound request count never stands still while
 * its inbound SIP path works, even when callers go quiet; when inbound SIP is lost, the
 * probes are lost with it. The answers (the active replies 200) are read and discarded.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from './clock.js';
import type { HaLogger } from './emitter.js';

export interface SipProbeOptions {
  /** The service address probed (floating IP or the SIP address in port mode). */
  target: { address: string; port: number };
  /** Local address to send from (this node's own SIP address). */
  source: string;
  intervalMs: number;
  /** Probe only while this holds (this node passive and the peer active). */
  shouldProbe: () => boolean;
  clock: Clock;
  logger?: HaLogger;
}

const hex = (n: number) => randomBytes(n).toString('hex');

/** The OPTIONS request (RFC 3261 §11, "Querying for Capabilities"): no body, Max-Forwards 70. */
export function sipProbeRequest(o: { target: { address: string; port: number }; source: { address: string; port: number }; seq: number }): string {
  const host = (a: string) => (a.includes(':') ? `[${a}]` : a);
  const t = `${host(o.target.address)}:${o.target.port}`;
  const s = `${host(o.source.address)}:${o.source.port}`;
  return [
    `OPTIONS sip:${t} SIP/2.0`,
    `Via: SIP/2.0/UDP ${s};branch=z9hG4bK-dsprobe-${hex(8)};rport`,
    'Max-Forwards: 70',
    `From: <sip:ha-probe@${s}>;tag=${hex(6)}`,
    `To: <sip:${t}>`,
    `Call-ID: dsprobe-${hex(12)}`,
    `CSeq: ${o.seq} OPTIONS`,
    `Contact: <sip:ha-probe@${s}>`,
    'Accept: application/sdp',
    'User-Agent: dualsip-ha-probe',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

export class SipProbeSender {
  private readonly o: SipProbeOptions;
  private socket: Socket | undefined;
  private timer: TimerHandle | undefined;
  private seq = 0;
  private closed = false;
  private warned = false;
  sent = 0;
  answers = 0;

  constructor(o: SipProbeOptions) {
    if (!(o.intervalMs > 0)) throw new RangeError('SipProbeSender: intervalMs must be > 0');
    this.o = o;
  }

  async start(): Promise<void> {
    const sock = createSocket({ type: this.o.source.includes(':') ? 'udp6' : 'udp4' });
    sock.on('message', () => {
      this.answers++;
    });
    sock.on('error', (err) => this.o.logger?.warn({ err: String(err) }, 'SIP probe socket error'));
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: this.o.source, port: 0 }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.unref();
    this.socket = sock;
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = undefined;
      this.tick();
      this.schedule();
    }, this.o.intervalMs);
  }

  private tick(): void {
    const sock = this.socket;
    if (!sock || this.closed) return;
    let go = false;
    try {
      go = this.o.shouldProbe();
    } catch {
      go = false;
    }
    if (!go) return;
    const local = sock.address();
    const msg = sipProbeRequest({ target: this.o.target, source: { address: this.o.source, port: local.port }, seq: ++this.seq });
    sock.send(msg, this.o.target.port, this.o.target.address, (err) => {
      if (err && !this.warned) {
        this.warned = true;
        this.o.logger?.warn({ err: String(err), target: this.o.target }, 'SIP probe could not be sent');
      }
    });
    this.sent++;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
    try {
      this.socket?.close();
    } catch {
      /* already closed */
    }
    this.socket = undefined;
  }
}
