/**
 * The parts of drachtio-srf's public API a takeover needs beyond srf-surface.ts:
 * sending requests inside dialogs the SIP server never saw (`srf.request` with
 * Call-ID, tags and CSeq set by us), method handlers for in-dialog requests
 * that arrive as new requests, and wrapping a confirmed dialog (`Srf.Dialog` +
 * `srf.addDialog`).
 */
import type { DialogLike, IncomingRequestLike, ResponseLike, SipMessageLike } from '../srf-surface.js';

export type AckFn = (opts?: { body?: string }) => void;

/** What `srf.request()` hands back: the request as sent; responses arrive as 'response' events. */
export interface SentRequestLike extends SipMessageLike {
  method: string;
  uri: string;
  on(event: 'response', fn: (res: ResponseLike, ack: AckFn) => void): unknown;
  /** drachtio-srf: CANCEL an INVITE sent with srf.request() (after a provisional response). */
  cancel?(opts?: { headers?: Record<string, string> }, cb?: (err: unknown) => void): void;
}

/** A caller's INVITE re-created by our engine at takeover (see resume.ts), as drachtio-srf hands it over. */
export interface ResumedInvite {
  req: IncomingRequestLike;
  res: TakeoverResponseLike;
}

/** drachtio-srf's Response: the 5th argument receives the ACK (2xx to INVITE) or PRACK. */
export interface TakeoverResponseLike {
  readonly finalResponseSent: boolean;
  send(
    status: number,
    reason: string,
    opts: { headers?: Record<string, string>; body?: string },
    cb?: (err: unknown, msg: SipMessageLike) => void,
    fnAck?: (ack: SipMessageLike) => void,
  ): void;
}

export type TakeoverHandler = (req: IncomingRequestLike, res: TakeoverResponseLike, next?: (err?: unknown) => void) => void;

export interface TakeoverSrfLike {
  request(
    uri: string,
    opts: { method: string; headers: Record<string, string>; body?: string; proxy?: string },
    cb: (err: unknown, req?: SentRequestLike) => void,
  ): unknown;
  bye?(h: TakeoverHandler): unknown;
  update?(h: TakeoverHandler): unknown;
  info?(h: TakeoverHandler): unknown;
  options?(h: TakeoverHandler): unknown;
  ack?(h: TakeoverHandler): unknown;
  addDialog?(d: DialogLike): void;
}

/** drachtio-srf's `Srf.Dialog` constructor (lib/dialog.js): reads req/res (and `sent` for 'uas'). */
export type DialogConstructor = new (
  srf: unknown,
  type: 'uac' | 'uas',
  opts: { req: SipMessageLike; res: SipMessageLike; sent?: SipMessageLike },
) => DialogLike;
