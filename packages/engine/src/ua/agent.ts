/**
 * The engine's user agent core: what drachtio-server's controller does between the
 * SIP side (server and client transactions) and the apps on the wire protocol.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import {
  createResponse,
  getHeader,
  getHeaders,
  getTag,
  newBranch,
  newCallId,
  newTag,
  parseCSeq,
  parseNameAddr,
  parseUri,
  removeHeader,
  serializeMessage,
  setHeader,
  wireBytes,
  type Header,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../messages/index.js';
import type { AppConnection } from '../wire/connection.js';
import { Dialog, DialogState, type DialogInit } from '../dialogs/dialog.js';
import { DialogTable } from '../dialogs/table.js';
import { AckWait } from './ack-wait.js';
import { parseAppMessage, type AppRequest, type AppResponse } from './app-message.js';
import type { ClientTxn, ClientTxnUser, Dest, RecvInfo, ServerTxn, Transport, TxnLayerView } from './types.js';

export type UnknownDialogPolicy = 'reject' | 'app';

/**
 * Takeover extension, honoured only with unknownDialogPolicy 'app'. On an INVITE the app sends: its value is
 * the branch of the INVITE the dead active sent; the engine sends nothing and resumes that client transaction.
 * As the answer to the resume-UAS control request it reads 'ok'.
 */
export const RESUME_UAC = 'X-Dualsip-Resume';
/** Takeover extension: a control request carrying the essentials of a caller's INVITE to resume (ResumeUas). */
export const RESUME_UAS = 'X-Dualsip-Resume-Uas';
/** Marks the resumed INVITE the engine hands to the app; its value is the caller's Call-ID. */
export const RESUME_MARK = 'X-Dualsip-Resumed';
const RESUME_UAC_LC = RESUME_UAC.toLowerCase();
const RESUME_UAS_LC = RESUME_UAS.toLowerCase();

/** What the app mirrored of a caller's INVITE (as the engine that received it stamped it, §18.2.1). */
export interface ResumeUas {
  uri: string;
  /** Every Via of the INVITE, top first, with received/rport as stamped. */
  vias: string[];
  from: string;
  /** To without tag, as the caller sent it. */
  to: string;
  /** The To tag of the provisional responses the caller already got. */
  toTag?: string;
  callId: string;
  cseq: number;
  contact?: string;
  recordRoute?: string[];
  contentType?: string;
  transport: string;
  /** Where the INVITE came from. */
  address: string;
  port: number;
}

export function encodeResumeUas(r: ResumeUas): string {
  return Buffer.from(JSON.stringify(r), 'utf8').toString('base64url');
}

export function decodeResumeUas(value: string): ResumeUas {
  let r: ResumeUas;
  try {
    r = JSON.parse(Buffer.from(value.trim(), 'base64url').toString('utf8')) as ResumeUas;
  } catch {
    throw new Error(`${RESUME_UAS}: not base64url JSON`);
  }
  if (!r || !Array.isArray(r.vias) || r.vias.length === 0 || typeof r.from !== 'string' || typeof r.to !== 'string' ||
    typeof r.callId !== 'string' || !Number.isInteger(r.cseq) || typeof r.address !== 'string' || !Number.isInteger(r.port) || typeof r.uri !== 'string') {
    throw new Error(`${RESUME_UAS}: missing fields`);
  }
  return r;
}

export interface AppRouter {
  select(method: string): AppConnection | undefined;
}

export interface UserAgentOptions {
  clock: Clock;
  timers: { t1: number; t2: number };
  router: AppRouter;
  transactions: TxnLayerView;
  /** Sends bytes without a transaction (ACK for 2xx). */
  sendRaw: (buf: Buffer, dest: Dest) => void;
  /** Address to advertise (Via, Contact) for a transport; undefined if none is listening. */
  local: (transport: Transport) => { host: string; port: number } | undefined;
  /** True if host:port is one of the engine's own SIP addresses. */
  isLocal?: (host: string, port: number) => boolean;
  unknownDialogPolicy?: UnknownDialogPolicy;
  logger?: Logger;
}

export const KNOWN_METHODS = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'INFO', 'PRACK', 'UPDATE',
  'SUBSCRIBE', 'NOTIFY', 'REFER', 'MESSAGE', 'PUBLISH',
]);
const ALLOW = [...KNOWN_METHODS].join(', ');
const SUPPORTED_SCHEME = /^(sips?|tel):/i;
/** Headers an app may not set: the engine owns them (as drachtio-server's makeTags). */
const IMMUTABLE = new Set(['via', 'route', 'record-route', 'rseq', 'content-length']);
const DIALOG_HDRS = new Set(['from', 'to', 'call-id', 'cseq']);
const NEEDS_CONTACT = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY', 'UPDATE']);

interface ServerEntry {
  txnId: string;
  st: ServerTxn;
  req: SipRequest;
  info: RecvInfo;
  conn: AppConnection;
  dialog?: Dialog;
  /** dialog id reported to the app for a dialog-creating request. */
  dialogId?: string;
  toTag?: string;
  finalSent: boolean;
  /** request with a To tag for a dialog the engine does not know (policy 'app'). */
  unknownDialog: boolean;
}

interface ClientEntry {
  txnId: string;
  conn: AppConnection;
  req: SipRequest;
  dest: Dest;
  ct?: ClientTxn;
  dialog?: Dialog;
  dialogId?: string;
  /** request carrying both tags for a dialog the engine does not know: learn it on 2xx. */
  learn: boolean;
  final: boolean;
  user: ClientTxnUser;
}

export interface UserAgentStats {
  dialogs: number;
  serverTransactions: number;
  clientTransactions: number;
  requestsIn: number;
  requestsOut: number;
  rejected481: number;
  rejected503: number;
  ackTimeouts: number;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** drachtio's time stamp: HH:MM:SS.uuuuuu (UTC). */
let lastWireMs = NaN;
let lastWireTime = '';
export function wireTime(ms: number): string {
  if (ms === lastWireMs) return lastWireTime;
  lastWireMs = ms;
  const d = new Date(ms);
  lastWireTime = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds() * 1000, 6)}`;
  return lastWireTime;
}

function uriOf(nameAddrOrUri: string): string {
  try {
    return parseNameAddr(nameAddrOrUri).uri;
  } catch {
    return nameAddrOrUri.replace(/^<|>$/g, '');
  }
}

function lower(name: string): string {
  return name.toLowerCase();
}

export class UserAgent {
  readonly dialogs = new DialogTable();
  private readonly opts: UserAgentOptions;
  private readonly policy: UnknownDialogPolicy;
  private readonly serverByTxnId = new Map<string, ServerEntry>();
  private readonly serverBySt = new Map<ServerTxn, ServerEntry>();
  private readonly clientByTxnId = new Map<string, ClientEntry>();
  private readonly ackWaits = new Map<Dialog, { cseq: number; wait: AckWait }>();
  private readonly counters = { requestsIn: 0, requestsOut: 0, rejected481: 0, rejected503: 0, ackTimeouts: 0 };
  private closed = false;

  constructor(opts: UserAgentOptions) {
    this.opts = opts;
    this.policy = opts.unknownDialogPolicy ?? 'reject';
  }

  stats(): UserAgentStats {
    return {
      dialogs: this.dialogs.size,
      serverTransactions: this.serverByTxnId.size,
      clientTransactions: this.clientByTxnId.size,
      ...this.counters,
    };
  }

  // ---------------------------------------------------------------- helpers

  private log(): Logger | undefined {
    return this.opts.logger;
  }

  private localFor(transport: Transport): { host: string; port: number } {
    const l = this.opts.local(transport) ?? this.opts.local(transport === 'udp' ? 'tcp' : 'udp');
    if (!l) throw Object.assign(new Error('requested protocol/transport not available'), { code: 'ENOTRANSPORT' });
    return l;
  }

  private contactFor(transport: Transport): string {
    const l = this.localFor(transport);
    return `<sip:${l.host}:${l.port}${transport === 'tcp' ? ';transport=tcp' : ''}>`;
  }

  private viaFor(transport: Transport, branch = newBranch()): string {
    const l = this.localFor(transport);
    return `SIP/2.0/${transport.toUpperCase()} ${l.host}:${l.port};rport;branch=${branch}`;
  }

  private replaceLocalhost(value: string, transport: Transport): string {
    if (!value.includes('@localhost')) return value;
    const l = this.localFor(transport);
    return value.replace(/@localhost(:\d+)?/, `@${l.host}:${l.port}`);
  }

  private meta(source: 'network' | 'application', bytes: number, transport: string, address: string, port: number): string {
    return `${source}|${bytes}|${transport}|${address}|${port}|${wireTime(this.opts.clock.now())}`;
  }

  /** Sends `payload`, and with `sip`, CRLF and those bytes after it. */
  private safeSend(conn: AppConnection | undefined, payload: string, sip?: Buffer): void {
    if (!conn || conn.closed) return;
    conn.send(payload, sip);
  }

  private reply(conn: AppConnection, msgId: string, text: string, sip?: Buffer): void {
    if (!conn.closed) conn.respond(msgId, text, sip);
  }

  private nok(conn: AppConnection, msgId: string, reason: string): void {
    this.reply(conn, msgId, `NOK|${reason.replace(/[|\r\n]/g, ' ')}`);
  }

  /** A cdr:* record, only when some app asked for it (the message is serialized only then). */
  private cdr(kind: 'attempt' | 'start' | 'stop', source: 'network' | 'application', extra: string | undefined, msg: SipMessage | string): void {
    const conn = this.opts.router.select(`cdr:${kind}`);
    if (!conn) return;
    const text = typeof msg === 'string' ? msg : wireBytes(msg).toString('utf8');
    const t = wireTime(this.opts.clock.now());
    conn.send(`cdr:${kind}|${source}|${t}${extra !== undefined ? '|' + extra : ''}\r\n${text}`);
  }

  private respondStateless(st: ServerTxn, req: SipRequest, status: number, extra?: Header[]): void {
    const res = createResponse(req, status);
    if (extra) for (const h of extra) res.headers.push(h);
    try {
      st.respond(res);
    } catch (err) {
      this.log()?.warn({ err, status }, 'failed to send response');
    }
  }

  /** Resolves where a request goes: first Route, else the Request-URI (RFC 3261 §8.1.2). */
  private async resolve(target: string, routeSet: string[], hint?: Dest): Promise<Dest> {
    const next = routeSet.length > 0 ? uriOf(routeSet[0]!) : target;
    const u = parseUri(next);
    let host = u.host.replace(/^\[|\]$/g, '');
    const tp = (u.params['transport'] ?? '').toLowerCase();
    const transport: Transport = tp === 'tcp' ? 'tcp' : tp === 'udp' ? 'udp' : (hint?.transport ?? 'udp');
    const port = u.port ?? (u.scheme === 'sips' ? 5061 : 5060);
    if (!isIP(host)) host = (await lookup(host)).address;
    const dest: Dest = { transport, address: host, port };
    if (hint?.connectionId !== undefined && hint.address === host && hint.port === port && hint.transport === transport) {
      dest.connectionId = hint.connectionId;
    }
    return dest;
  }

  // ------------------------------------------------------- network -> app

  /** TransactionUser.onRequest */
  onRequest(req: SipRequest, st: ServerTxn | undefined, info: RecvInfo): void {
    if (this.closed) return;
    this.counters.requestsIn++;
    try {
      if (req.method === 'ACK' || !st) {
        this.onAck(req, info);
        return;
      }
      // §8.2.2.1: "If the Request-URI uses a scheme not supported by the UAS, it SHOULD reject the request with a
      // 416 (Unsupported URI Scheme) response." (The parser lets other well-formed schemes through to here.)
      if (!SUPPORTED_SCHEME.test(req.uri)) {
        this.respondStateless(st, req, 416);
        return;
      }
      if (req.method === 'CANCEL') {
        this.onCancel(req, st, info);
        return;
      }
      // §8.2.1: "If a UAS does not understand the method of a request, it MUST respond with a 501 (Not Implemented)."
      if (!KNOWN_METHODS.has(req.method)) {
        this.respondStateless(st, req, 501, [{ name: 'Allow', value: ALLOW }]);
        return;
      }
      const callId = getHeader(req, 'Call-ID') ?? '';
      const fromTag = getTag(getHeader(req, 'From') ?? '') ?? '';
      const toTag = getTag(getHeader(req, 'To') ?? '');
      // §16.3 step 3: "If the Max-Forwards value is zero, the element MUST NOT forward the request. If the request
      // was for OPTIONS, the element MAY act as the final recipient and respond per Section 11. Otherwise, the
      // element MUST return a 483 (Too many hops) response." A B2BUA forwards every new request as a new one.
      if (!toTag && req.method !== 'OPTIONS' && /^\s*0+\s*$/.test(getHeader(req, 'Max-Forwards') ?? '')) {
        this.respondStateless(st, req, 483);
        return;
      }
      if (toTag) {
        const d = this.dialogs.find(callId, toTag, fromTag);
        if (d) {
          this.onInDialog(d, req, st, info);
          return;
        }
        // Stock drachtio-server: in-dialog BYE, UPDATE and re-INVITE for a dialog it
        // does not know are answered 481 by the server itself.
        if (this.policy === 'reject' && (req.method === 'INVITE' || req.method === 'BYE' || req.method === 'UPDATE' || req.method === 'PRACK')) {
          this.counters.rejected481++;
          this.respondStateless(st, req, 481);
          return;
        }
      }
      this.onNewRequest(req, st, info, !!toTag);
    } catch (err) {
      this.log()?.error({ err, method: req.method }, 'error handling incoming request');
      if (st) this.respondStateless(st, req, 500);
    }
  }

  private forward(conn: AppConnection, req: SipRequest, info: RecvInfo, txnId: string, dialogId: string): void {
    // drachtio-server hands the app the request as it arrived; unchanged, those are its received bytes
    const buf = wireBytes(req);
    const meta = this.meta('network', buf.length, info.transport, info.remote.address, info.remote.port);
    conn.send(`sip|${meta}|${txnId}|${dialogId}|${info.local.address}|${info.local.port}|`, buf);
  }

  private onNewRequest(req: SipRequest, st: ServerTxn, info: RecvInfo, unknownDialog: boolean): void {
    const conn = this.opts.router.select(req.method);
    if (!conn) {
      this.counters.rejected503++;
      // debug only: any peer's OPTIONS pings would otherwise write a line each (counted in stats().rejected503)
      this.log()?.debug({ method: req.method }, 'no app registered for method: 503');
      this.respondStateless(st, req, 503);
      if (req.method === 'INVITE') this.cdr('stop', 'application', 'call-rejected', req);
      return;
    }
    if (req.method === 'INVITE') {
      // §17.2.1: "the server transaction MUST generate a 100 (Trying) response unless it knows that the TU
      // will generate a provisional or final response within 200 ms" — the INVITE server transaction sends
      // it after 200 ms if the app has not answered by then (drachtio-server sends it at once). A caller
      // whose INVITE reaches a node that dies before answering then retransmits it to the new active.
      if (!unknownDialog) this.cdr('attempt', 'network', undefined, req);
    }
    const txnId = randomUUID();
    const entry: ServerEntry = { txnId, st, req, info, conn, finalSent: false, unknownDialog };
    this.serverByTxnId.set(txnId, entry);
    this.serverBySt.set(st, entry);
    this.forward(conn, req, info, txnId, '');
  }

  private onInDialog(d: Dialog, req: SipRequest, st: ServerTxn, info: RecvInfo): void {
    const cseq = parseCSeq(getHeader(req, 'CSeq') ?? '');
    if (!d.acceptRemoteSeq(cseq.seq, req.method)) {
      this.respondStateless(st, req, 500);
      return;
    }
    let conn = d.owner && !d.owner.closed ? d.owner : undefined;
    if (!conn) {
      conn = this.opts.router.select(req.method);
      d.owner = conn;
    }
    if (!conn) {
      this.counters.rejected503++;
      this.respondStateless(st, req, 503);
      return;
    }
    // A re-INVITE gets its 100 Trying from the server transaction after 200 ms (§17.2.1), as a new INVITE.
    if (req.method === 'BYE') this.cdr('stop', 'network', 'normal-release', req);
    const txnId = randomUUID();
    const entry: ServerEntry = { txnId, st, req, info, conn, dialog: d, dialogId: d.id, finalSent: false, unknownDialog: false };
    this.serverByTxnId.set(txnId, entry);
    this.serverBySt.set(st, entry);
    this.forward(conn, req, info, txnId, d.id);
  }

  private onAck(req: SipRequest, info: RecvInfo): void {
    const callId = getHeader(req, 'Call-ID') ?? '';
    const fromTag = getTag(getHeader(req, 'From') ?? '') ?? '';
    const toTag = getTag(getHeader(req, 'To') ?? '') ?? '';
    const d = this.dialogs.find(callId, toTag, fromTag);
    if (!d) {
      this.log()?.debug({ callId }, 'ACK for unknown dialog dropped');
      return;
    }
    const cseq = parseCSeq(getHeader(req, 'CSeq') ?? '').seq;
    const w = this.ackWaits.get(d);
    if (w && w.cseq === cseq) {
      w.wait.ack();
      this.ackWaits.delete(d);
      if (d.state === DialogState.AwaitingAck) d.transition(DialogState.Confirmed);
    } else {
      // an ACK retransmission, or the ACK of a non-2xx: nothing to tell the app
      return;
    }
    const conn = d.owner && !d.owner.closed ? d.owner : this.opts.router.select('INVITE');
    if (conn) this.forward(conn, req, info, randomUUID(), d.id);
  }

  private onCancel(req: SipRequest, st: ServerTxn, info: RecvInfo): void {
    const inv = this.opts.transactions.findInviteForCancel(req);
    const entry = inv ? this.serverBySt.get(inv) : undefined;
    if (!inv || !entry) {
      // §9.2: "If the UAS did not find a matching transaction for the CANCEL according to
      // the procedure above, it SHOULD respond to the CANCEL with a 481".
      this.respondStateless(st, req, 481);
      return;
    }
    // §9.2: "the UAS SHOULD respond to the INVITE with a 487 (Request Terminated)" ...
    // "a CANCEL request has no impact on the processing of transactions with any other
    // method" and the CANCEL itself is answered 200.
    this.respondStateless(st, req, 200);
    if (entry.finalSent) return;
    entry.finalSent = true;
    const r487 = createResponse(entry.req, 487, undefined, { toTag: (entry.toTag ??= newTag()) });
    try {
      inv.respond(r487);
    } catch (err) {
      this.log()?.warn({ err }, 'failed to send 487');
    }
    this.cdr('stop', 'network', 'call-canceled', req);
    this.forward(entry.conn, req, info, entry.txnId, '');
    this.dropServer(entry);
  }

  private dropServer(entry: ServerEntry): void {
    this.serverByTxnId.delete(entry.txnId);
    this.serverBySt.delete(entry.st);
  }

  // ------------------------------------------------------- app -> network

  onAppSip(conn: AppConnection, msgId: string, txnId: string, dialogId: string, route: string, text: string): void {
    if (this.closed) {
      this.nok(conn, msgId, 'engine is shutting down');
      return;
    }
    let msg;
    try {
      msg = parseAppMessage(text);
    } catch (err) {
      this.nok(conn, msgId, (err as Error).message);
      return;
    }
    if (msg.kind === 'response') {
      if (!txnId) {
        this.nok(conn, msgId, 'transaction id missing');
        return;
      }
      this.appResponse(conn, msgId, txnId, msg);
      return;
    }
    if (dialogId) {
      const d = this.dialogs.get(dialogId);
      if (!d) {
        this.nok(conn, msgId, `unable to find dialog for dialog id ${dialogId}`);
        return;
      }
      void this.appInDialog(conn, msgId, d, msg).catch((err) => this.nok(conn, msgId, (err as Error).message));
      return;
    }
    if (txnId && msg.method === 'CANCEL') {
      this.appCancel(conn, msgId, txnId, msg);
      return;
    }
    if (this.policy === 'app' && hdr(msg.headers, RESUME_UAS_LC) !== undefined) {
      try {
        this.appResumeUas(conn, msgId, msg);
      } catch (err) {
        this.nok(conn, msgId, `resume failed: ${(err as Error).message}`);
      }
      return;
    }
    const callId = hdr(msg.headers, 'call-id');
    const fromTag = getTag(hdr(msg.headers, 'from') ?? '');
    const toTag = getTag(hdr(msg.headers, 'to') ?? '');
    if (callId && fromTag && toTag) {
      const d = this.dialogs.find(callId, fromTag, toTag);
      if (d) {
        void this.appInDialog(conn, msgId, d, msg).catch((err) => this.nok(conn, msgId, (err as Error).message));
        return;
      }
    }
    void this.appOutOfDialog(conn, msgId, msg, route, !!(callId && fromTag && toTag)).catch((err) =>
      this.nok(conn, msgId, (err as Error).message),
    );
  }

  onAppProxy(conn: AppConnection, msgId: string, tokens: string[], _sip: string): void {
    this.nok(conn, msgId, 'proxy is not supported by this engine');
    const entry = this.serverByTxnId.get(tokens[2] ?? '');
    if (entry && !entry.finalSent) {
      entry.finalSent = true;
      this.respondStateless(entry.st, entry.req, 500, []);
      this.dropServer(entry);
    }
  }

  onAppClosed(conn: AppConnection): void {
    for (const entry of [...this.serverByTxnId.values()]) {
      if (entry.conn !== conn) continue;
      if (!entry.finalSent) {
        entry.finalSent = true;
        this.respondStateless(entry.st, entry.req, 480);
      }
      this.dropServer(entry);
    }
    for (const d of this.dialogs.values()) if (d.owner === conn) d.owner = undefined;
  }

  private appResponse(conn: AppConnection, msgId: string, txnId: string, app: AppResponse): void {
    const entry = this.serverByTxnId.get(txnId);
    if (!entry) {
      this.nok(conn, msgId, 'unknown transaction id');
      return;
    }
    if (entry.finalSent) {
      this.nok(conn, msgId, 'final response already sent');
      return;
    }
    const req = entry.req;
    const isInvite = req.method === 'INVITE';
    const status = app.status;
    const appTo = hdr(app.headers, 'to');
    const appToTag = appTo ? getTag(appTo) : undefined;
    if (!entry.toTag) entry.toTag = appToTag ?? newTag();
    const res = createResponse(req, status, app.reason || undefined, { toTag: entry.toTag });
    const transport = entry.info.transport;
    const names = new Set<string>();
    for (const h of app.headers) {
      const n = lower(h.name);
      if (IMMUTABLE.has(n) || DIALOG_HDRS.has(n)) continue;
      if (!names.has(n)) {
        names.add(n);
        removeHeader(res, h.name);
      }
      res.headers.push({ name: h.name, value: n === 'contact' ? this.replaceLocalhost(h.value, transport) : h.value });
    }
    const createsDialog = (isInvite || req.method === 'SUBSCRIBE') && status > 100;
    if (createsDialog && !names.has('contact')) res.headers.push({ name: 'Contact', value: this.contactFor(transport) });
    // §12.1.1: "When a UAS responds to a request with a response that establishes a
    // dialog (such as a 2xx to INVITE), the UAS MUST copy all Record-Route header field
    // values from the request into the response (including the URIs, URI parameters,
    // and any Record-Route header field parameters, whether they are known or unknown
    // to the UAS) and MUST maintain the order of those values."
    if (createsDialog && status < 300) for (const rr of getHeaders(req, 'Record-Route')) res.headers.push({ name: 'Record-Route', value: rr });
    if (app.body.length > 0) {
      res.body = app.body;
      if (!names.has('content-type') && app.body.subarray(0, 3).toString() === 'v=0') {
        res.headers.push({ name: 'Content-Type', value: 'application/sdp' });
      }
    }
    try {
      entry.st.respond(res);
    } catch (err) {
      this.nok(conn, msgId, `failed sending: ${(err as Error).message}`);
      return;
    }
    const final = status >= 200;
    let d = entry.dialog;
    const callId = getHeader(req, 'Call-ID') ?? '';
    const fromTag = getTag(getHeader(req, 'From') ?? '') ?? '';
    if (!entry.dialogId && (isInvite || req.method === 'SUBSCRIBE') && !entry.unknownDialog) {
      entry.dialogId = this.dialogs.makeId(callId, fromTag);
    }
    if (status >= 200 && status < 300) {
      if (d) {
        // §12.2.2: a target refresh request (re-INVITE, UPDATE) "MAY be used to update the remote target".
        const c = getHeader(req, 'Contact');
        if (c && (isInvite || req.method === 'UPDATE')) d.remoteTarget = uriOf(c);
      } else if (createsDialog && !entry.unknownDialog) {
        d = this.newDialog({
          id: entry.dialogId!,
          role: 'uas',
          method: req.method,
          callId,
          localTag: entry.toTag,
          remoteTag: fromTag,
          localNameAddr: getHeader(res, 'To') ?? '',
          remoteNameAddr: getHeader(req, 'From') ?? '',
          remoteTarget: uriOf(getHeader(req, 'Contact') ?? `sip:${entry.info.remote.address}:${entry.info.remote.port}`),
          routeSet: getHeaders(req, 'Record-Route'),
          remoteSeq: parseCSeq(getHeader(req, 'CSeq') ?? '').seq,
          localContact: getHeader(res, 'Contact') ?? '',
          info: entry.info,
          conn,
          awaitingAck: isInvite,
        });
        if (isInvite) this.cdr('start', 'application', 'uas', res);
      } else if (entry.unknownDialog && req.method !== 'BYE') {
        // learned after a takeover: the app answered an in-dialog request for a dialog we never saw
        const toTag = getTag(getHeader(req, 'To') ?? '') ?? '';
        d = this.dialogs.find(callId, toTag, fromTag);
        if (!d) {
          d = this.newDialog({
            id: this.dialogs.makeId(callId, fromTag),
            role: 'uas',
            method: 'INVITE',
            callId,
            localTag: toTag,
            remoteTag: fromTag,
            localNameAddr: getHeader(req, 'To') ?? '',
            remoteNameAddr: getHeader(req, 'From') ?? '',
            remoteTarget: uriOf(getHeader(req, 'Contact') ?? `sip:${entry.info.remote.address}:${entry.info.remote.port}`),
            routeSet: getHeaders(req, 'Record-Route'),
            remoteSeq: parseCSeq(getHeader(req, 'CSeq') ?? '').seq,
            localContact: getHeader(res, 'Contact') ?? this.contactFor(transport),
            info: entry.info,
            conn,
            awaitingAck: false,
            learned: true,
          });
        }
      }
      if (d && isInvite) this.startAckWait(d, entry.st, res, parseCSeq(getHeader(req, 'CSeq') ?? '').seq);
    } else if (final && isInvite && !entry.dialog && !entry.unknownDialog) {
      this.cdr('stop', 'application', 'call-rejected', res);
    }
    if (final && req.method === 'BYE' && d) this.removeDialog(d);
    const buf = serializeMessage(res);
    const meta = this.meta('application', buf.length, transport, entry.info.remote.address, entry.info.remote.port);
    const dialogId = d?.id ?? entry.dialogId ?? '';
    this.reply(conn, msgId, `OK|${meta}|${txnId}|${dialogId}||Msg sent:|`, buf);
    if (final) {
      entry.finalSent = true;
      this.dropServer(entry);
    }
  }

  private newDialog(p: Omit<DialogInit, 'peer' | 'owner' | 'state'> & { info?: RecvInfo; dest?: Dest; conn: AppConnection; awaitingAck: boolean }): Dialog {
    const { info, dest, conn, awaitingAck, ...init } = p;
    const peer = info
      ? { transport: info.transport, address: info.remote.address, port: info.remote.port, connectionId: info.connectionId }
      : { transport: dest!.transport, address: dest!.address, port: dest!.port, connectionId: dest!.connectionId };
    const d = new Dialog({ ...init, peer, owner: conn, state: awaitingAck ? DialogState.AwaitingAck : DialogState.Confirmed });
    this.dialogs.add(d);
    return d;
  }

  private removeDialog(d: Dialog): void {
    const w = this.ackWaits.get(d);
    if (w) {
      w.wait.cancel();
      this.ackWaits.delete(d);
    }
    this.dialogs.remove(d);
  }

  private startAckWait(d: Dialog, st: ServerTxn, res: SipResponse, cseq: number): void {
    const prev = this.ackWaits.get(d);
    if (prev) prev.wait.cancel();
    const wait = new AckWait({
      clock: this.opts.clock,
      t1: this.opts.timers.t1,
      t2: this.opts.timers.t2,
      retransmit: () => st.respond(res),
      onTimeout: () => this.onAckTimeout(d),
    });
    this.ackWaits.set(d, { cseq, wait });
  }

  /** drachtio-server: no ACK for our 2xx within 64*T1: BYE the far end, tell the app with an unsolicited BYE. */
  private onAckTimeout(d: Dialog): void {
    this.counters.ackTimeouts++;
    this.ackWaits.delete(d);
    this.log()?.warn({ dialogId: d.id }, 'never received ACK for 2xx to INVITE; sending BYE');
    if (d.state === DialogState.AwaitingAck) d.transition(DialogState.Confirmed);
    const bye = this.buildInDialog(d, 'BYE', [{ name: 'Reason', value: 'SIP ;cause=200 ;text="ACK timeout"' }], Buffer.alloc(0));
    const conn = d.owner;
    this.dialogs.remove(d);
    void this.resolve(bye.uri, d.routeSet, d.peer)
      .then((dest) => {
        const user: ClientTxnUser = { onResponse: () => {}, onTimeout: () => {}, onTransportError: () => {} };
        this.opts.transactions.sendRequest(bye, dest, user);
        this.counters.requestsOut++;
        const buf = serializeMessage(bye);
        const meta = this.meta('application', buf.length, dest.transport, dest.address, dest.port);
        this.safeSend(conn, `sip|${meta}|unsolicited|${d.id}|`, buf);
        this.cdr('stop', 'application', 'session-expired', buf.toString('utf8'));
      })
      .catch((err) => this.log()?.warn({ err }, 'failed to send BYE after ACK timeout'));
  }

  private buildInDialog(d: Dialog, method: string, extra: Header[], body: Buffer, requestedSeq?: number): SipRequest {
    const seq = method === 'ACK' || method === 'CANCEL' ? (d.localSeq ?? 1) : d.nextLocalSeq(requestedSeq);
    const transport = d.peer.transport;
    const headers: Header[] = [
      { name: 'Via', value: this.viaFor(transport) },
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: d.localNameAddr },
      { name: 'To', value: d.remoteNameAddr },
      { name: 'Call-ID', value: d.callId },
      { name: 'CSeq', value: `${seq} ${method}` },
    ];
    for (const r of d.routeSet) headers.push({ name: 'Route', value: r });
    for (const h of extra) headers.push(h);
    return { kind: 'request', method, uri: d.remoteTarget, version: 'SIP/2.0', headers, body };
  }

  private appHeaders(app: AppRequest, transport: Transport, keepRoute: boolean): { headers: Header[]; names: Set<string> } {
    const headers: Header[] = [];
    const names = new Set<string>();
    for (const h of app.headers) {
      const n = lower(h.name);
      if (IMMUTABLE.has(n) && !(keepRoute && n === 'route')) continue;
      names.add(n);
      let v = h.value;
      if (n === 'from' || n === 'to' || n === 'contact' || n === 'p-asserted-identity') v = this.replaceLocalhost(v, transport);
      headers.push({ name: h.name, value: v });
    }
    return { headers, names };
  }

  private addBody(req: SipRequest, app: AppRequest, names: Set<string>): void {
    if (app.body.length === 0) return;
    req.body = app.body;
    if (!names.has('content-type')) {
      if (app.body.subarray(0, 3).toString() === 'v=0') req.headers.push({ name: 'Content-Type', value: 'application/sdp' });
      else throw Object.assign(new Error('missing content-type'), { code: 'EMISSINGCT' });
    }
  }

  private async appInDialog(conn: AppConnection, msgId: string, d: Dialog, app: AppRequest): Promise<void> {
    const method = app.method;
    const transport = d.peer.transport;
    if (method === 'ACK') {
      this.appAck(conn, msgId, d, app);
      return;
    }
    const { headers, names } = this.appHeaders(app, transport, false);
    const extra = headers.filter((h) => !DIALOG_HDRS.has(lower(h.name)));
    if (NEEDS_CONTACT.has(method) && !names.has('contact') && d.localContact) extra.push({ name: 'Contact', value: d.localContact });
    const appCSeq = hdr(app.headers, 'cseq');
    let requested: number | undefined;
    if (appCSeq) {
      try {
        requested = parseCSeq(appCSeq).seq;
      } catch {
        /* ignore a malformed CSeq from the app */
      }
    }
    const req = this.buildInDialog(d, method, extra, Buffer.alloc(0), requested);
    this.addBody(req, app, names);
    if (method === 'BYE') {
      const w = this.ackWaits.get(d);
      if (w) {
        w.wait.cancel();
        this.ackWaits.delete(d);
      }
      this.cdr('stop', 'application', 'normal-release', req);
    }
    const dest = await this.resolve(req.uri, d.routeSet, d.peer);
    this.sendClient(conn, msgId, req, dest, { dialog: d, dialogId: d.id, learn: false });
  }

  /** §13.2.2.4: the ACK for a 2xx is built by the UAC core and sent outside any transaction. */
  private appAck(conn: AppConnection, msgId: string, d: Dialog, app: AppRequest): void {
    const ia = d.inviteAck;
    if (!ia) {
      // ACK for a non-2xx final response: the transaction layer already sent it.
      this.reply(conn, msgId, 'OK');
      return;
    }
    const { headers, names } = this.appHeaders(app, d.peer.transport, false);
    const extra = headers.filter((h) => !DIALOG_HDRS.has(lower(h.name)) && lower(h.name) !== 'contact');
    // §13.2.2.4: "The header fields of the ACK are constructed in the same way as for any
    // request sent within a dialog (see Section 12) with the exception of the CSeq and the
    // header fields related to authentication. The sequence number of the CSeq header field
    // MUST be the same as the INVITE being acknowledged, but the CSeq method MUST be ACK."
    const ack: SipRequest = {
      kind: 'request',
      method: 'ACK',
      uri: d.remoteTarget,
      version: 'SIP/2.0',
      headers: [
        { name: 'Via', value: this.viaFor(d.peer.transport) },
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: d.localNameAddr },
        { name: 'To', value: d.remoteNameAddr },
        { name: 'Call-ID', value: d.callId },
        { name: 'CSeq', value: `${ia.cseq} ACK` },
        ...d.routeSet.map((r) => ({ name: 'Route', value: r })),
        ...extra,
      ],
      body: Buffer.alloc(0),
    };
    try {
      this.addBody(ack, app, names);
    } catch (err) {
      this.nok(conn, msgId, (err as Error).message);
      return;
    }
    const buf = serializeMessage(ack);
    void this.resolve(ack.uri, d.routeSet, d.peer)
      .then((dest) => {
        ia.ack = buf;
        ia.dest = dest;
        this.opts.sendRaw(buf, dest);
        const meta = this.meta('application', buf.length, dest.transport, dest.address, dest.port);
        this.reply(conn, msgId, `OK|${meta}|${randomUUID()}|Msg sent:|`, buf);
      })
      .catch((err) => this.nok(conn, msgId, (err as Error).message));
  }

  private async appOutOfDialog(conn: AppConnection, msgId: string, app: AppRequest, route: string, learn: boolean): Promise<void> {
    const method = app.method;
    let uri = app.uri;
    if (!/^(sips?|tel):/i.test(uri)) uri = `sip:${uri}`;
    parseUri(uri); // throws on an invalid Request-URI
    // Transport: from the URI's transport param, else UDP if we listen on it.
    const hintTp = (/;transport=(\w+)/i.exec(route || uri)?.[1] ?? '').toLowerCase();
    const transport: Transport = hintTp === 'tcp' ? 'tcp' : this.opts.local('udp') ? 'udp' : 'tcp';
    let { headers, names } = this.appHeaders(app, transport, learn);
    // Takeover extension (policy 'app' only; elsewhere the header is just sent on, as drachtio-server does).
    const resumeBranch = this.policy === 'app' && method === 'INVITE' ? hdr(app.headers, RESUME_UAC_LC) : undefined;
    if (resumeBranch !== undefined) {
      if (!resumeBranch.startsWith('z9hG4bK')) throw new Error(`${RESUME_UAC}: not an RFC 3261 branch`);
      headers = headers.filter((h) => lower(h.name) !== RESUME_UAC_LC);
      names.delete(RESUME_UAC_LC);
    }
    const req: SipRequest = { kind: 'request', method, uri, version: 'SIP/2.0', headers: [], body: Buffer.alloc(0) };
    req.headers.push({ name: 'Via', value: resumeBranch !== undefined ? this.viaFor(transport, resumeBranch) : this.viaFor(transport) });
    if (!names.has('max-forwards')) req.headers.push({ name: 'Max-Forwards', value: '70' });
    for (const h of headers) req.headers.push(h);
    let from = getHeader(req, 'From');
    if (!from) from = `${this.contactFor(transport)}`;
    if (!getTag(from)) from = `${from};tag=${newTag()}`;
    setHeader(req, 'From', from);
    if (!names.has('to')) setHeader(req, 'To', `<${uri}>`);
    if (!names.has('call-id')) setHeader(req, 'Call-ID', newCallId());
    let seq = 1;
    const appCSeq = getHeader(req, 'CSeq');
    if (appCSeq) {
      try {
        seq = parseCSeq(appCSeq).seq;
      } catch {
        seq = 1;
      }
    }
    setHeader(req, 'CSeq', `${seq} ${method}`);
    if ((method === 'INVITE' || method === 'SUBSCRIBE' || method === 'REFER') && !names.has('contact')) {
      req.headers.push({ name: 'Contact', value: this.contactFor(transport) });
    }
    this.addBody(req, app, names);
    const routes = learn ? getHeaders(req, 'Route') : [];
    const target = route ? (/^(sips?):/i.test(route) ? route : `sip:${route}`) : uri;
    const dest = await this.resolve(target, route ? [] : routes);
    if (this.opts.isLocal?.(dest.address, dest.port)) throw new Error('can not send request to myself');
    const callId = getHeader(req, 'Call-ID')!;
    const fromTag = getTag(getHeader(req, 'From')!)!;
    let dialogId: string | undefined;
    if (!learn && (method === 'INVITE' || method === 'SUBSCRIBE')) {
      dialogId = this.dialogs.makeId(callId, fromTag);
      if (method === 'INVITE' && resumeBranch === undefined) this.cdr('attempt', 'application', undefined, req);
    }
    this.sendClient(conn, msgId, req, dest, { dialogId, learn, resume: resumeBranch !== undefined });
  }

  private sendClient(
    conn: AppConnection,
    msgId: string,
    req: SipRequest,
    dest: Dest,
    p: { dialog?: Dialog; dialogId?: string; learn: boolean; resume?: boolean },
  ): void {
    const txnId = randomUUID();
    const entry: ClientEntry = {
      txnId,
      conn,
      req,
      dest,
      dialog: p.dialog,
      dialogId: p.dialogId,
      learn: p.learn,
      final: false,
      user: {
        onResponse: (res) => this.onClientResponse(entry, res),
        onTimeout: () => this.onClientFailure(entry, 408),
        onTransportError: () => this.onClientFailure(entry, 503),
      },
    };
    this.clientByTxnId.set(txnId, entry);
    try {
      if (p.resume) {
        const resume = this.opts.transactions.resumeInviteClient;
        if (!resume) throw new Error('this engine can not resume transactions');
        // Nothing goes on the wire: the INVITE with this branch was sent by the node that died.
        entry.ct = resume.call(this.opts.transactions, req, dest, entry.user);
      } else {
        entry.ct = this.opts.transactions.sendRequest(req, dest, entry.user);
      }
    } catch (err) {
      this.clientByTxnId.delete(txnId);
      throw err;
    }
    if (!p.resume) this.counters.requestsOut++;
    const buf = serializeMessage(req);
    const meta = this.meta('application', buf.length, dest.transport, dest.address, dest.port);
    this.reply(conn, msgId, `OK|${meta}|${txnId}|Msg sent:|`, buf);
  }

  /**
   * Takeover extension (policy 'app'): re-creates the INVITE server transaction of a caller whose INVITE
   * the dead active received and answered provisionally, from the essentials the app mirrored (header
   * X-Dualsip-Resume-Uas, base64url JSON: ResumeUas; body: the caller's SDP). Nothing is sent to the
   * caller. The INVITE reaches the asking app as a new incoming INVITE marked X-Dualsip-Resumed, so it
   * answers it with ordinary responses (the To tag of the provisional responses the caller already has
   * is kept); the caller's CANCEL and retransmissions match the transaction again. The control request
   * itself is answered at once with a local 200 carrying `X-Dualsip-Resume: ok`.
   */
  private appResumeUas(conn: AppConnection, msgId: string, app: AppRequest): void {
    const resume = this.opts.transactions.resumeInviteServer;
    if (!resume) throw new Error('this engine can not resume transactions');
    const r = decodeResumeUas(hdr(app.headers, RESUME_UAS_LC)!);
    const transport: Transport = r.transport === 'tcp' ? 'tcp' : 'udp';
    const local = this.localFor(transport);
    const req: SipRequest = { kind: 'request', method: 'INVITE', uri: r.uri, version: 'SIP/2.0', headers: [], body: app.body };
    for (const v of r.vias) req.headers.push({ name: 'Via', value: v });
    req.headers.push({ name: 'Max-Forwards', value: '70' });
    req.headers.push({ name: 'From', value: r.from });
    req.headers.push({ name: 'To', value: r.to });
    req.headers.push({ name: 'Call-ID', value: r.callId });
    req.headers.push({ name: 'CSeq', value: `${r.cseq} INVITE` });
    if (r.contact) req.headers.push({ name: 'Contact', value: r.contact });
    for (const rr of r.recordRoute ?? []) req.headers.push({ name: 'Record-Route', value: rr });
    if (app.body.length > 0) req.headers.push({ name: 'Content-Type', value: r.contentType ?? 'application/sdp' });
    const info: RecvInfo = { transport, remote: { address: r.address, port: r.port }, local: { address: local.host, port: local.port } };
    const st = resume.call(this.opts.transactions, req, info);
    const txnId = randomUUID();
    const entry: ServerEntry = { txnId, st, req, info, conn, finalSent: false, unknownDialog: false, toTag: r.toTag || undefined };
    this.serverByTxnId.set(txnId, entry);
    this.serverBySt.set(st, entry);
    // the control request: echoed as "sent", answered locally
    const ctl: SipRequest = {
      kind: 'request',
      method: app.method,
      uri: app.uri,
      version: 'SIP/2.0',
      headers: [{ name: 'Via', value: this.viaFor(transport) }, ...app.headers.filter((h) => lower(h.name) !== RESUME_UAS_LC && !IMMUTABLE.has(lower(h.name)))],
      body: Buffer.alloc(0),
    };
    if (!getHeader(ctl, 'Call-ID')) ctl.headers.push({ name: 'Call-ID', value: newCallId() });
    if (!getHeader(ctl, 'From')) ctl.headers.push({ name: 'From', value: `${this.contactFor(transport)};tag=${newTag()}` });
    if (!getHeader(ctl, 'To')) ctl.headers.push({ name: 'To', value: `<${app.uri}>` });
    if (!getHeader(ctl, 'CSeq')) ctl.headers.push({ name: 'CSeq', value: `1 ${app.method}` });
    const ctlTxn = randomUUID();
    const cbuf = serializeMessage(ctl);
    this.reply(conn, msgId, `OK|${this.meta('application', cbuf.length, transport, local.host, local.port)}|${ctlTxn}|Msg sent:|`, cbuf);
    // the resumed INVITE, as if it had just arrived from the caller
    const marked: SipRequest = { ...req, headers: [...req.headers, { name: RESUME_MARK, value: r.callId }] };
    this.forward(conn, marked, info, txnId, '');
    const ok = createResponse(ctl, 200, 'OK', { toTag: newTag() });
    ok.headers.push({ name: RESUME_UAC, value: 'ok' });
    const obuf = serializeMessage(ok);
    this.safeSend(conn, `sip|${this.meta('network', obuf.length, transport, local.host, local.port)}|${ctlTxn}||`, obuf);
  }

  private appCancel(conn: AppConnection, msgId: string, txnId: string, app: AppRequest): void {
    const entry = this.clientByTxnId.get(txnId);
    if (!entry || !entry.ct || entry.final || entry.req.method !== 'INVITE') {
      this.nok(conn, msgId, 'unable to find transaction to cancel');
      return;
    }
    const extra = app.headers.filter((h) => !IMMUTABLE.has(lower(h.name)) && !DIALOG_HDRS.has(lower(h.name)));
    entry.ct.cancel({ onResponse: () => {}, onTimeout: () => {}, onTransportError: () => {} }, extra.length ? extra : undefined);
    // §9.1: the CANCEL copies Request-URI, Call-ID, To, From, the CSeq number and the top Via of the request.
    const inv = entry.req;
    const cancel: SipRequest = {
      kind: 'request',
      method: 'CANCEL',
      uri: inv.uri,
      version: 'SIP/2.0',
      headers: [
        { name: 'Via', value: getHeader(inv, 'Via') ?? '' },
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: getHeader(inv, 'From') ?? '' },
        { name: 'To', value: getHeader(inv, 'To') ?? '' },
        { name: 'Call-ID', value: getHeader(inv, 'Call-ID') ?? '' },
        { name: 'CSeq', value: `${parseCSeq(getHeader(inv, 'CSeq') ?? '').seq} CANCEL` },
        ...extra,
      ],
      body: Buffer.alloc(0),
    };
    const buf = serializeMessage(cancel);
    const meta = this.meta('application', buf.length, entry.dest.transport, entry.dest.address, entry.dest.port);
    this.reply(conn, msgId, `OK|${meta}|${txnId}|Msg sent:|`, buf);
  }

  private relayResponse(entry: ClientEntry, res: SipResponse, dialogId: string): void {
    const buf = wireBytes(res);
    const meta = this.meta('network', buf.length, entry.dest.transport, entry.dest.address, entry.dest.port);
    this.safeSend(entry.conn, `sip|${meta}|${entry.txnId}|${dialogId}|`, buf);
  }

  private onClientResponse(entry: ClientEntry, res: SipResponse): void {
    try {
      this.handleClientResponse(entry, res);
    } catch (err) {
      this.log()?.error({ err }, 'error handling response');
    }
  }

  private handleClientResponse(entry: ClientEntry, res: SipResponse): void {
    const req = entry.req;
    const method = req.method;
    const status = res.status;
    if (entry.final) {
      // §13.2.2.4: "The UAC core MUST generate an ACK request for each 2xx received from
      // the transaction layer." Retransmitted 2xx: resend the ACK the app already sent.
      if (method === 'INVITE' && status >= 200 && status < 300) this.resendAck(res);
      return;
    }
    if (status >= 200) {
      entry.final = true;
      this.clientByTxnId.delete(entry.txnId);
    }
    let d = entry.dialog;
    const is2xx = status >= 200 && status < 300;
    if (method === 'INVITE' || method === 'SUBSCRIBE') {
      const createsDialog = (method === 'INVITE' && status === 200) || (method === 'SUBSCRIBE' && (status === 200 || status === 202));
      if (createsDialog) {
        const contact = getHeader(res, 'Contact');
        if (d) {
          if (contact) d.remoteTarget = uriOf(contact);
        } else if (!entry.learn && entry.dialogId) {
          const callId = getHeader(req, 'Call-ID')!;
          d = this.newDialog({
            id: this.dialogs.get(entry.dialogId) ? this.dialogs.makeId(callId, getTag(getHeader(req, 'From')!)!) : entry.dialogId,
            role: 'uac',
            method,
            callId,
            localTag: getTag(getHeader(req, 'From')!)!,
            remoteTag: getTag(getHeader(res, 'To') ?? '') ?? '',
            localNameAddr: getHeader(req, 'From')!,
            remoteNameAddr: getHeader(res, 'To') ?? getHeader(req, 'To')!,
            remoteTarget: contact ? uriOf(contact) : req.uri,
            // §12.1.2: "The route set MUST be set to the list of URIs in the Record-Route
            // header field from the response, taken in reverse order"
            routeSet: getHeaders(res, 'Record-Route').reverse(),
            localSeq: parseCSeq(getHeader(req, 'CSeq')!).seq,
            localContact: getHeader(req, 'Contact') ?? '',
            dest: entry.dest,
            conn: entry.conn,
            awaitingAck: false,
          });
          entry.dialogId = d.id;
          if (method === 'INVITE') this.cdr('start', 'network', 'uac', res);
        }
        if (d && method === 'INVITE') d.inviteAck = { cseq: parseCSeq(getHeader(req, 'CSeq')!).seq };
      } else if (status >= 300 && method === 'INVITE' && !entry.dialog && !entry.learn) {
        this.cdr('stop', 'network', status === 487 ? 'call-canceled' : 'call-rejected', res);
      }
    }
    if (is2xx && entry.learn && !d && method !== 'BYE') {
      d = this.learnFromUac(entry, res);
      if (d && method === 'INVITE') d.inviteAck = { cseq: parseCSeq(getHeader(req, 'CSeq')!).seq };
    }
    if (method === 'BYE' && status >= 200 && d) this.removeDialog(d);
    this.relayResponse(entry, res, d?.id ?? entry.dialogId ?? '');
  }

  /** A 2xx to a request the app built for a dialog the engine never saw (after a takeover). */
  private learnFromUac(entry: ClientEntry, res: SipResponse): Dialog | undefined {
    const req = entry.req;
    const callId = getHeader(req, 'Call-ID')!;
    const localTag = getTag(getHeader(req, 'From')!)!;
    const remoteTag = getTag(getHeader(req, 'To')!)!;
    const existing = this.dialogs.find(callId, localTag, remoteTag);
    if (existing) return existing;
    const contact = getHeader(res, 'Contact');
    const routes = getHeaders(req, 'Route');
    return this.newDialog({
      id: this.dialogs.makeId(callId, localTag),
      role: 'uac',
      method: 'INVITE',
      callId,
      localTag,
      remoteTag,
      localNameAddr: getHeader(req, 'From')!,
      remoteNameAddr: getHeader(req, 'To')!,
      remoteTarget: contact ? uriOf(contact) : req.uri,
      routeSet: routes.length > 0 ? routes : getHeaders(res, 'Record-Route').reverse(),
      localSeq: parseCSeq(getHeader(req, 'CSeq')!).seq,
      localContact: getHeader(req, 'Contact') ?? this.contactFor(entry.dest.transport),
      dest: entry.dest,
      conn: entry.conn,
      awaitingAck: false,
      learned: true,
    });
  }

  private resendAck(res: SipResponse): void {
    const callId = getHeader(res, 'Call-ID') ?? '';
    const localTag = getTag(getHeader(res, 'From') ?? '') ?? '';
    const remoteTag = getTag(getHeader(res, 'To') ?? '') ?? '';
    const d = this.dialogs.find(callId, localTag, remoteTag);
    const ia = d?.inviteAck;
    if (!ia?.ack || !ia.dest) return;
    if (parseCSeq(getHeader(res, 'CSeq') ?? '').seq !== ia.cseq) return;
    this.opts.sendRaw(ia.ack, ia.dest);
  }

  /** TransactionUser.onStrayResponse: a 2xx retransmission after the client transaction ended. */
  onStrayResponse(res: SipResponse, _info: RecvInfo): void {
    try {
      if (res.status >= 200 && res.status < 300 && parseCSeq(getHeader(res, 'CSeq') ?? '').method === 'INVITE') this.resendAck(res);
    } catch (err) {
      this.log()?.debug({ err }, 'stray response dropped');
    }
  }

  private onClientFailure(entry: ClientEntry, status: number): void {
    if (entry.final) return;
    // sofia-sip reports a timeout or transport failure to drachtio as a locally made 408 / 503.
    const res = createResponse(entry.req, status);
    this.handleClientResponse(entry, res);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const { wait } of this.ackWaits.values()) wait.cancel();
    this.ackWaits.clear();
    for (const entry of this.serverByTxnId.values()) {
      if (!entry.finalSent) this.respondStateless(entry.st, entry.req, 503);
    }
    this.serverByTxnId.clear();
    this.serverBySt.clear();
    this.clientByTxnId.clear();
  }
}

function hdr(headers: Header[], lowerName: string): string | undefined {
  for (const h of headers) if (h.name.toLowerCase() === lowerName) return h.value;
  return undefined;
}
