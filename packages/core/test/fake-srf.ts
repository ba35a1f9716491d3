/**
 * A fake of the small drachtio-srf surface the core uses (srf-surface.ts), so
 * the B2BUA's logic runs without a SIP server. Each fake records what the core
 * did to it; tests drive the far ends by hand.
 */
import type {
  DialogLike,
  IncomingRequestLike,
  OutgoingRequestLike,
  ResponseLike,
  ServerResponseLike,
  SipMessageLike,
  SrfLike,
} from '../src/srf-surface.js';

type Handler = (...args: any[]) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

function nameAddr(value: string | undefined): { uri: string; params: Record<string, string> } {
  if (!value) return { uri: '', params: {} };
  const m = /<([^>]*)>(.*)$/.exec(value);
  const uri = m ? m[1]! : value.split(';')[0]!.trim();
  const rest = m ? m[2]! : value.slice(uri.length);
  const params: Record<string, string> = {};
  for (const p of rest.split(';').slice(1)) {
    const [k, v] = p.split('=');
    if (k) params[k.trim().toLowerCase()] = (v ?? '').trim();
  }
  return { uri, params };
}

export class FakeMsg implements SipMessageLike {
  headers: Record<string, string>;
  body?: string;
  source_address?: string;
  source_port?: number;
  protocol?: string;
  constructor(headers: Record<string, string> = {}, body?: string) {
    this.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    this.body = body;
  }
  get(name: string): string | undefined {
    return this.headers[name.toLowerCase()];
  }
  has(name: string): boolean {
    return name.toLowerCase() in this.headers;
  }
  getParsedHeader(name: string): unknown {
    const v = this.get(name);
    if (name.toLowerCase() === 'contact') return v ? [nameAddr(v)] : [];
    return nameAddr(v);
  }
}

export class FakeIncomingRequest extends FakeMsg implements IncomingRequestLike {
  method: string;
  uri: string;
  #handlers: Record<string, Handler[]> = {};
  constructor(opts: { method?: string; uri: string; headers?: Record<string, string>; body?: string }) {
    super(opts.headers, opts.body);
    this.method = opts.method ?? 'INVITE';
    this.uri = opts.uri;
    this.source_address = '127.0.0.1';
    this.source_port = 5070;
    this.protocol = 'udp';
  }
  on(event: string, fn: Handler): this {
    (this.#handlers[event] ??= []).push(fn);
    return this;
  }
  emit(event: string, ...args: unknown[]): void {
    for (const h of this.#handlers[event] ?? []) h(...args);
  }
}

export class FakeServerResponse implements ServerResponseLike {
  sent: Array<{ status: number; reason: string; body?: string; headers?: Record<string, string> }> = [];
  get finalResponseSent(): boolean {
    return this.sent.some((s) => s.status >= 200);
  }
  send(status: number, reason: string, opts: { headers?: Record<string, string>; body?: string } = {}, cb?: (err: unknown, msg: SipMessageLike) => void): void {
    if (this.finalResponseSent) {
      cb?.(new Error('final response already sent'), new FakeMsg());
      return;
    }
    this.sent.push({ status, reason, body: opts.body, headers: opts.headers });
    cb?.(null, new FakeMsg());
  }
  statuses(): number[] {
    return this.sent.map((s) => s.status);
  }
}

export function fakeResponse(status: number, reason: string, opts: { body?: string; headers?: Record<string, string> } = {}): ResponseLike & FakeMsg {
  const m = new FakeMsg(opts.headers ?? {}, opts.body) as FakeMsg & ResponseLike;
  m.status = status;
  m.reason = reason;
  m.source_address = '127.0.0.1';
  m.source_port = 5080;
  return m;
}

export interface SentInDialog {
  method: string;
  body?: string;
  headers?: Record<string, string>;
  respond: (status: number, reason: string, opts?: { body?: string; headers?: Record<string, string> }) => void;
  acks: Array<{ body?: string } | undefined>;
}

export class FakeDialog implements DialogLike {
  sip: { callId: string; localTag: string; remoteTag: string };
  local: { uri: string; sdp?: string; contact?: string };
  remote: { uri: string; sdp?: string };
  res?: SipMessageLike;
  /** Like drachtio-srf's Dialog: false once the far end's BYE was handled. */
  connected = true;
  destroyed = 0;
  sent: SentInDialog[] = [];
  #handlers: Record<string, Handler[]> = {};
  #cseq = 1;

  constructor(opts: { callId: string; localTag: string; remoteTag: string; localSdp?: string; remoteSdp?: string; remoteUri?: string }) {
    this.sip = { callId: opts.callId, localTag: opts.localTag, remoteTag: opts.remoteTag };
    this.local = { uri: 'sip:b2bua@127.0.0.1', sdp: opts.localSdp, contact: '<sip:b2bua@127.0.0.1:5060>' };
    this.remote = { uri: opts.remoteUri ?? 'sip:peer@127.0.0.1', sdp: opts.remoteSdp };
  }
  on(event: string, fn: Handler): this {
    (this.#handlers[event] ??= []).push(fn);
    return this;
  }
  emit(event: string, ...args: unknown[]): void {
    for (const h of this.#handlers[event] ?? []) h(...args);
  }
  request(
    opts: { method: string; body?: string; headers?: Record<string, string>; noAck?: boolean },
    cb: (err: unknown, res: ResponseLike, ack?: (o?: { body?: string }) => void) => void,
  ): void {
    const cseq = ++this.#cseq;
    const entry: SentInDialog = {
      method: opts.method,
      body: opts.body,
      headers: opts.headers,
      acks: [],
      respond: (status, reason, o = {}) => {
        const res = fakeResponse(status, reason, { body: o.body, headers: { ...(o.headers ?? {}), CSeq: `${cseq} ${opts.method}` } });
        const ack = (a?: { body?: string }) => entry.acks.push(a);
        if (opts.method === 'INVITE' && !(opts.noAck === true && !opts.body && status === 200)) ack();
        cb(null, res, opts.method === 'INVITE' ? ack : undefined);
      },
    };
    this.sent.push(entry);
  }
  destroy(): Promise<unknown> {
    this.destroyed++;
    return Promise.resolve(new FakeMsg({ CSeq: `${++this.#cseq} BYE` }));
  }
  /** The far end sends an in-dialog request; returns what the core answered. */
  incoming(event: 'modify' | 'update' | 'info', method: string, body?: string, cseq = 10): FakeServerResponse {
    const req = new FakeIncomingRequest({ method, uri: this.local.uri, headers: { CSeq: `${cseq} ${method}`, ...(body ? { 'Content-Type': 'application/sdp' } : {}) }, body });
    const res = new FakeServerResponse();
    this.emit(event, req, res);
    return res;
  }
  bye(cseq = 11): void {
    this.connected = false;
    this.emit('destroy', new FakeMsg({ CSeq: `${cseq} BYE` }));
  }
}

/** One createUAC call the core made, driven by the test. */
export interface PendingUac {
  uri: string;
  opts: { localSdp?: string; headers?: Record<string, string>; noAck?: boolean };
  req: OutgoingRequestLike & { canceled: number };
  provisional(status: number, reason: string, body?: string): void;
  answer(sdp: string): FakeDialog;
  reject(status: number, reason: string): void;
}

export class FakeSrf implements SrfLike {
  handler?: (req: IncomingRequestLike, res: ServerResponseLike) => void;
  uacs: PendingUac[] = [];
  uasDialogs: FakeDialog[] = [];
  /** The caller's BYE arrives in the same socket read as the engine's confirmation of our 200:
   *  drachtio-srf then answers it and emits 'destroy' before createUAS's promise settles. */
  byeWithAnswer = false;
  #n = 0;

  invite(handler: (req: IncomingRequestLike, res: ServerResponseLike) => void): void {
    this.handler = handler;
  }

  /** A caller sends an INVITE. */
  call(opts: { user?: string; body?: string; callId?: string } = {}): { req: FakeIncomingRequest; res: FakeServerResponse } {
    const n = ++this.#n;
    const user = opts.user ?? '1000';
    const req = new FakeIncomingRequest({
      uri: `sip:${user}@127.0.0.1:5060`,
      headers: {
        From: `"Alice" <sip:alice@127.0.0.1:5070>;tag=a${n}`,
        To: `<sip:${user}@127.0.0.1:5060>`,
        'Call-ID': opts.callId ?? `call-a-${n}`,
        CSeq: '1 INVITE',
        Contact: '<sip:alice@127.0.0.1:5070>',
        Via: `SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-a${n}`,
        'Record-Route': '<sip:p1.example;lr>, <sip:p2.example;lr>',
        ...(opts.body !== undefined ? { 'Content-Type': 'application/sdp' } : {}),
      },
      body: opts.body,
    });
    const res = new FakeServerResponse();
    if (!this.handler) throw new Error('no invite handler registered');
    this.handler(req, res);
    return { req, res };
  }

  createUAC(
    uri: string,
    opts: { localSdp?: string; headers?: Record<string, string>; noAck?: boolean },
    progress: { cbRequest?: (err: unknown, req?: OutgoingRequestLike) => void; cbProvisional?: (res: ResponseLike) => void },
  ): Promise<DialogLike> {
    return new Promise((resolve, reject) => {
      const n = this.uacs.length + 1;
      const req = Object.assign(
        new FakeMsg(
          {
            From: `${opts.headers?.From ?? '<sip:b2bua@127.0.0.1>'};tag=b${n}`,
            To: opts.headers?.To ?? `<${uri}>`,
            'Call-ID': `call-b-${n}`,
            CSeq: '1 INVITE',
            Contact: '<sip:b2bua@127.0.0.1:5060>',
            Via: `SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-b${n}`,
          },
          opts.localSdp,
        ),
        { method: 'INVITE', uri, protocol: 'udp', canceled: 0 },
      ) as FakeMsg & OutgoingRequestLike & { canceled: number };
      req.cancel = (_o?: unknown, cb?: (err: unknown) => void) => {
        req.canceled++;
        cb?.(null);
      };
      const pending: PendingUac = {
        uri,
        opts,
        req,
        provisional: (status, reason, body) =>
          progress.cbProvisional?.(fakeResponse(status, reason, { body, headers: { To: `<${uri}>;tag=callee${n}`, ...(body ? { 'Content-Type': 'application/sdp' } : {}) } })),
        answer: (sdp) => {
          const d = new FakeDialog({ callId: `call-b-${n}`, localTag: `b${n}`, remoteTag: `callee${n}`, localSdp: opts.localSdp, remoteSdp: sdp, remoteUri: 'sip:bob@127.0.0.1:5080' });
          d.res = fakeResponse(200, 'OK', { body: sdp, headers: { 'Content-Type': 'application/sdp', 'Record-Route': '<sip:r1;lr>, <sip:r2;lr>' } });
          resolve(d);
          return d;
        },
        reject: (status, reason) => reject(Object.assign(new Error(`${status} ${reason}`), { status, reason })),
      };
      this.uacs.push(pending);
      progress.cbRequest?.(null, req);
    });
  }

  async createUAS(req: IncomingRequestLike, res: ServerResponseLike, opts: { localSdp?: string; headers?: Record<string, string> }): Promise<DialogLike> {
    if (res.finalResponseSent) throw Object.assign(new Error('487 Request Terminated'), { status: 487 });
    res.send(200, 'OK', { body: opts.localSdp, headers: opts.headers });
    const from = req.getParsedHeader('From') as { params: Record<string, string> };
    const d = new FakeDialog({ callId: req.get('Call-ID') ?? '', localTag: `uas${this.uasDialogs.length + 1}`, remoteTag: from.params.tag ?? '', localSdp: opts.localSdp, remoteSdp: req.body });
    this.uasDialogs.push(d);
    if (this.byeWithAnswer) d.bye(2);
    return d;
  }
}

/** Lets pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
