/**
 * A fake of the drachtio-srf surface a takeover uses (takeover/types.ts):
 * `srf.request()` records each request built from the mirror and lets the
 * test answer it; method handlers receive requests the test delivers.
 */
import type { AckFn, SentRequestLike, TakeoverHandler, TakeoverResponseLike, TakeoverSrfLike } from '../../src/takeover/types.js';
import type { CallRecord, LegRecord } from '../../src/records/call-record.js';
import type { DialogLike, SipMessageLike } from '../../src/srf-surface.js';
import { FakeDialog, FakeIncomingRequest, FakeMsg, fakeResponse } from '../fake-srf.js';

type Listener = (...args: any[]) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

export class FakeSent extends FakeMsg implements SentRequestLike {
  method: string;
  uri: string;
  #listeners: Listener[] = [];
  constructor(method: string, uri: string, headers: Record<string, string>, body?: string) {
    super(headers, body);
    this.method = method;
    this.uri = uri;
  }
  on(_event: 'response', fn: Listener): this {
    this.#listeners.push(fn);
    return this;
  }
  emitResponse(res: unknown, ack: AckFn): void {
    for (const l of this.#listeners) l(res, ack);
  }
}

export interface SentByCore {
  uri: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
  msg: FakeSent;
  acks: Array<{ body?: string } | undefined>;
  respond(status: number, reason?: string, opts?: { body?: string; headers?: Record<string, string> }): void;
}

export class FakeTakeoverResponse implements TakeoverResponseLike {
  sent: Array<{ status: number; reason: string; body?: string; headers?: Record<string, string> }> = [];
  fnAck?: (ack: SipMessageLike) => void;
  get finalResponseSent(): boolean {
    return this.sent.some((s) => s.status >= 200);
  }
  send(status: number, reason: string, opts: { headers?: Record<string, string>; body?: string } = {}, cb?: (err: unknown, msg: SipMessageLike) => void, fnAck?: (ack: SipMessageLike) => void): void {
    this.sent.push({ status, reason, body: opts.body, headers: opts.headers });
    if (fnAck) this.fnAck = fnAck;
    cb?.(null, new FakeMsg());
  }
  get status(): number | undefined {
    return this.sent.at(-1)?.status;
  }
}

export class FakeTakeoverSrf implements TakeoverSrfLike {
  sent: SentByCore[] = [];
  handlers: Record<string, TakeoverHandler[]> = {};
  added: DialogLike[] = [];
  requestError?: Error;

  request(uri: string, opts: { method: string; headers: Record<string, string>; body?: string }, cb: (err: unknown, req?: SentRequestLike) => void): void {
    if (this.requestError) {
      cb(this.requestError);
      return;
    }
    const msg = new FakeSent(opts.method, uri, opts.headers, opts.body);
    const entry: SentByCore = {
      uri,
      method: opts.method,
      headers: opts.headers,
      body: opts.body,
      msg,
      acks: [],
      respond: (status, reason = status === 200 ? 'OK' : 'Error', o = {}) => {
        const res = fakeResponse(status, reason, { body: o.body, headers: { CSeq: opts.headers['CSeq'] ?? '', 'Call-ID': opts.headers['Call-ID'] ?? '', ...(o.headers ?? {}) } });
        msg.emitResponse(res, (a?: { body?: string }) => entry.acks.push(a));
      },
    };
    this.sent.push(entry);
    cb(null, msg);
  }
  #on(m: string, h: TakeoverHandler): void {
    (this.handlers[m] ??= []).push(h);
  }
  bye(h: TakeoverHandler): void {
    this.#on('bye', h);
  }
  update(h: TakeoverHandler): void {
    this.#on('update', h);
  }
  info(h: TakeoverHandler): void {
    this.#on('info', h);
  }
  options(h: TakeoverHandler): void {
    this.#on('options', h);
  }
  ack(h: TakeoverHandler): void {
    this.#on('ack', h);
  }
  addDialog(d: DialogLike): void {
    this.added.push(d);
  }

  /** A request from the network, not delivered (for CallControl-style offerInvite). */
  incoming(method: string, headers: Record<string, string>, body?: string): { req: FakeIncomingRequest; res: FakeTakeoverResponse } {
    return { req: new FakeIncomingRequest({ method, uri: 'sip:198.18.0.1:5060', headers, body }), res: new FakeTakeoverResponse() };
  }

  /** Delivers a request from the network as drachtio-srf would (a new request, no dialog). */
  deliver(method: string, headers: Record<string, string>, body?: string): FakeTakeoverResponse {
    const req = new FakeIncomingRequest({ method, uri: 'sip:198.18.0.1:5060', headers, body });
    const res = new FakeTakeoverResponse();
    const h = this.handlers[method.toLowerCase()]?.[0];
    if (!h) throw new Error(`no handler for ${method}`);
    h(req, res);
    return res;
  }
}

/** Headers of a request the party on a leg sends us inside the leg's dialog. */
export function fromParty(leg: LegRecord, method: string, cseq: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'Call-ID': leg.callId,
    From: `<${leg.remoteUri}>;tag=${leg.remoteTag}`,
    To: `<${leg.localUri}>;tag=${leg.localTag}`,
    CSeq: `${cseq} ${method}`,
    ...extra,
  };
}

export const SDP_A = 'v=0\r\no=caller 1 1 IN IP4 198.18.0.10\r\ns=-\r\nc=IN IP4 198.18.0.10\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0\r\n';
export const SDP_B = 'v=0\r\no=callee 1 1 IN IP4 198.18.0.20\r\ns=-\r\nc=IN IP4 198.18.0.20\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n';

/** A mirrored record of an answered call, as the old active left it. */
export function answeredRecord(id = 'call-1', over: Partial<CallRecord> = {}): CallRecord {
  return {
    schemaVersion: 1,
    id,
    version: 7,
    epoch: 1,
    state: 'answered',
    createdAt: 1000,
    answeredAt: 2000,
    route: { target: 'sip:198.18.0.20:5080', rule: 'default' },
    a: {
      role: 'uas',
      callId: `${id}-a`,
      localTag: `${id}-a-ours`,
      remoteTag: `${id}-a-caller`,
      localCseq: 0,
      remoteCseq: 1,
      localUri: 'sip:bob@198.18.0.1',
      remoteUri: 'sip:alice@198.18.0.10',
      requestUri: 'sip:bob@198.18.0.1',
      remoteTarget: 'sip:alice@198.18.0.10:5070',
      localContact: '<sip:198.18.0.1:5060>',
      routeSet: [],
      transport: 'udp',
      localSdp: SDP_B,
      remoteSdp: SDP_A,
      state: 'confirmed',
    },
    b: {
      role: 'uac',
      callId: `${id}-b`,
      localTag: `${id}-b-ours`,
      remoteTag: `${id}-b-callee`,
      localCseq: 3,
      remoteCseq: 1,
      localUri: 'sip:alice@198.18.0.10',
      remoteUri: 'sip:bob@198.18.0.20:5080',
      requestUri: 'sip:bob@198.18.0.20:5080',
      remoteTarget: 'sip:bob@198.18.0.20:5080',
      localContact: '<sip:198.18.0.1:5060>',
      routeSet: ['<sip:198.18.0.30;lr>'],
      transport: 'udp',
      localSdp: SDP_A,
      remoteSdp: SDP_B,
      state: 'confirmed',
    },
    ...over,
  };
}

/** A fake `Srf.Dialog` constructor that records what it was built from. */
export function fakeDialogClass() {
  const built: Array<{ srf: unknown; type: string; req: SipMessageLike; res: SipMessageLike; dialog: FakeDialog }> = [];
  class Dialog extends FakeDialog {
    constructor(srf: unknown, type: 'uac' | 'uas', opts: { req: SipMessageLike; res: SipMessageLike }) {
      const tag = (v: string | undefined) => /;tag=([^;>]+)/.exec(v ?? '')?.[1] ?? '';
      super({ callId: opts.res.get('Call-ID') ?? '', localTag: tag(opts.req.get('From')), remoteTag: tag(opts.res.get('To') ?? opts.req.get('To')) });
      built.push({ srf, type, req: opts.req, res: opts.res, dialog: this });
    }
  }
  return { Dialog, built };
}
