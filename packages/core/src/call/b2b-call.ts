import type { Logger } from 'pino';
import { CallState, isFinal, transition } from './call-state.js';
import { emptyLeg, type CallRecord, type InviteEssentials, type LegRecord } from '../records/call-record.js';
import type { CallRecordStore } from '../records/call-record-store.js';
import type { Router } from '../routing/router.js';
import { requestUriFor, userOf } from '../routing/sip-uri.js';
import type { Clock } from '../clock.js';
import type {
  DialogLike,
  IncomingRequestLike,
  OutgoingRequestLike,
  ResponseLike,
  ServerResponseLike,
  SipMessageLike,
  SrfLike,
  UacDelayedOffer,
} from '../srf-surface.js';
import type { RouteAnswer } from '../app-api/route-hook.js';

type Side = 'a' | 'b';
const other = (s: Side): Side => (s === 'a' ? 'b' : 'a');

/** How long to wait for the callee's final response after we sent it a CANCEL (64*T1, RFC 3261 §17.1.1.2). */
const CANCEL_GUARD_MS = 32_000;

export interface B2BCallOptions {
  id: string;
  srf: SrfLike;
  store: CallRecordStore;
  router: Router;
  logger: Logger;
  clock: Clock;
  req: IncomingRequestLike;
  res: ServerResponseLike;
  /** Asks a router application (bounded by its timeout; undefined: static routing). */
  appRoute?: () => Promise<RouteAnswer | undefined>;
  /** Called after every state change, with the committed record. */
  onTransition?: (record: CallRecord, from: CallState, to: CallState) => void;
  /**
   * A BYE reached this call after forget() (drachtio-srf still routes its dialogs here):
   * if this node has since adopted the call again at a takeover, the adopted call must
   * end it. The BYE has been answered 200 already.
   */
  onForgottenBye?: (id: string, side: Side, bye: SipMessageLike) => void;
}

// ---------- helpers reading drachtio-srf messages ----------

function cseqNumber(msg: SipMessageLike | undefined): number | undefined {
  const v = safeGet(msg, 'CSeq');
  const n = v ? parseInt(v, 10) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function safeGet(msg: SipMessageLike | undefined, name: string): string | undefined {
  try {
    if (!msg || !msg.has(name)) return undefined;
    return msg.get(name) ?? undefined;
  } catch {
    return undefined;
  }
}

function parsedNameAddr(msg: SipMessageLike, name: string): { uri: string; tag?: string } {
  try {
    const h = msg.getParsedHeader(name) as { uri?: string; params?: Record<string, string> } | undefined;
    return { uri: h?.uri ?? '', tag: h?.params?.tag ?? undefined };
  } catch {
    return { uri: '' };
  }
}

function contactUri(msg: SipMessageLike | undefined): string | undefined {
  if (!msg || !msg.has('Contact')) return undefined;
  try {
    const c = msg.getParsedHeader('Contact') as Array<{ uri: string }> | undefined;
    return c?.[0]?.uri;
  } catch {
    return undefined;
  }
}

/** Splits a comma-separated header list, ignoring commas inside <...> and quotes. */
export function splitHeaderList(value: string | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let cur = '';
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '<') depth++;
    else if (!quoted && ch === '>') depth = Math.max(0, depth - 1);
    if (ch === ',' && depth === 0 && !quoted) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function viaBranch(msg: SipMessageLike | undefined): string | undefined {
  const via = safeGet(msg, 'Via');
  return via ? /;\s*branch=([^;,\s]+)/i.exec(via)?.[1] : undefined;
}

function hostPort(msg: SipMessageLike | undefined): string | undefined {
  if (!msg?.source_address) return undefined;
  return `${msg.source_address}:${msg.source_port ?? 5060}`;
}

function bodyHeaders(msg: SipMessageLike): Record<string, string> {
  const ct = safeGet(msg, 'Content-Type');
  return msg.body && ct ? { 'Content-Type': ct } : {};
}

function legFromIncomingInvite(req: IncomingRequestLike): LegRecord {
  const from = parsedNameAddr(req, 'From');
  const to = parsedNameAddr(req, 'To');
  return {
    ...emptyLeg('uas'),
    callId: safeGet(req, 'Call-ID') ?? '',
    remoteTag: from.tag,
    remoteCseq: cseqNumber(req) ?? 0,
    localUri: to.uri,
    remoteUri: from.uri,
    requestUri: req.uri,
    remoteTarget: contactUri(req),
    // RFC 3261 §12.1.1: "The route set MUST be set to the list of URIs in the
    // Record-Route header field from the request, taken in order".
    routeSet: splitHeaderList(safeGet(req, 'Record-Route')),
    transport: (req.protocol ?? 'udp').toLowerCase(),
    localAddress: req.receivedOn,
    remoteAddress: hostPort(req),
    remoteSdp: req.body || undefined,
    inviteBranch: viaBranch(req),
    invite: inviteEssentials(req),
  };
}

/** What a new active needs to resume the caller's INVITE server transaction (see InviteEssentials). */
function inviteEssentials(req: IncomingRequestLike): InviteEssentials | undefined {
  const vias = splitHeaderList(safeGet(req, 'Via'));
  const from = safeGet(req, 'From');
  const to = safeGet(req, 'To');
  const cseq = cseqNumber(req);
  if (vias.length === 0 || !from || !to || cseq === undefined || !req.source_address) return undefined;
  const rr = splitHeaderList(safeGet(req, 'Record-Route'));
  return {
    vias,
    from,
    to,
    cseq,
    ...(safeGet(req, 'Contact') ? { contact: safeGet(req, 'Contact') } : {}),
    ...(rr.length > 0 ? { recordRoute: rr } : {}),
    ...(req.body && safeGet(req, 'Content-Type') ? { contentType: safeGet(req, 'Content-Type') } : {}),
    source: { transport: (req.protocol ?? 'udp').toLowerCase(), address: req.source_address, port: Number(req.source_port ?? 5060) },
  };
}

function errorStatus(err: unknown): { status?: number; reason?: string } {
  const e = err as { status?: unknown; reason?: unknown } | null;
  if (e && typeof e.status === 'number') return { status: e.status, reason: typeof e.reason === 'string' ? e.reason : undefined };
  return {};
}

function isDelayedOffer(x: DialogLike | UacDelayedOffer): x is UacDelayedOffer {
  return typeof (x as UacDelayedOffer).ack === 'function' && !(x as DialogLike).sip;
}

/**
 * One B2BUA call: the A leg (we are UAS to the caller) and the B leg (we are
 * UAC to the callee), tied together here. Every change is committed to the
 * record store.
 */
export class B2BCall {
  readonly id: string;
  #state: CallState = CallState.Routing;
  readonly #o: B2BCallOptions;
  readonly #log: Logger;
  #uas?: DialogLike;
  #uac?: DialogLike;
  #uacReq?: OutgoingRequestLike;
  #provisionalSeen = false;
  #canceled = false;
  #cancelSent = false;
  #cancelGuard?: unknown;
  #bEndedEarly = false;
  /** forget(): this node lost the active role; the call is no longer ours to record. */
  #forgotten = false;
  #relayBusy = false;
  #rerouting = false;
  readonly #pendingAck: Partial<Record<Side, (opts?: { body?: string }) => void>> = {};
  #resolveDone!: () => void;
  /** Resolves once the call is over (ended or failed). */
  readonly done: Promise<void>;

  constructor(opts: B2BCallOptions) {
    this.id = opts.id;
    this.#o = opts;
    this.#log = opts.logger.child({ call: opts.id });
    this.done = new Promise((r) => (this.#resolveDone = r));
  }

  get state(): CallState {
    return this.#state;
  }

  get record(): CallRecord | undefined {
    return this.#o.store.get(this.id);
  }

  /** Starts handling the INVITE. Never throws; failures end the call with a status. */
  start(): void {
    const { req } = this.#o;
    this.#o.store.create({ id: this.id, a: legFromIncomingInvite(req), b: emptyLeg('uac') });
    req.on('cancel', (cancel) => this.#onCancel(cancel));
    this.#run().catch((err) => {
      this.#log.error({ err }, 'call failed unexpectedly');
      this.#fail({ status: 500, reason: 'Server Internal Error', endReason: 'error' });
    });
  }

  // ---------- state and record ----------

  #move(to: CallState, mutate: (r: CallRecord) => void = () => {}): CallRecord | undefined {
    if (this.#forgotten) return undefined;
    const from = this.#state;
    try {
      this.#state = transition(from, to);
    } catch (err) {
      this.#log.warn({ err, from, to }, 'ignored illegal transition');
      return undefined;
    }
    const rec = this.#o.store.update(this.id, (r) => {
      r.state = to;
      mutate(r);
    });
    try {
      this.#o.onTransition?.(rec, from, to);
    } catch (err) {
      this.#log.warn({ err }, 'transition hook threw');
    }
    if (isFinal(to)) {
      if (this.#cancelGuard !== undefined) this.#o.clock.clearTimeout(this.#cancelGuard);
      this.#resolveDone();
    }
    return rec;
  }

  /** A record change that is not a state change (SDP, CSeq, tags). */
  #patch(mutate: (r: CallRecord) => void): void {
    if (isFinal(this.#state) || this.#forgotten) return;
    this.#o.store.update(this.id, mutate);
  }

  #dialog(side: Side): DialogLike | undefined {
    return side === 'a' ? this.#uas : this.#uac;
  }

  // ---------- call setup ----------

  async #run(): Promise<void> {
    const { req, res, srf, router } = this.#o;
    const user = userOf(req.uri);
    const answer = this.#o.appRoute ? await this.#o.appRoute() : undefined;
    if (this.#state !== CallState.Routing) return; // canceled while the application decided
    if (answer?.action === 'reject') {
      this.#fail({ status: answer.status, reason: answer.reason ?? '', endReason: 'app-rejected' });
      return;
    }
    const decision = answer?.action === 'route' ? { target: answer.target, rule: 'app' } : router.route(user);
    if (!decision) {
      // RFC 3261 §21.4.5 404 Not Found: "This status is also returned if the
      // domain in the Request-URI does not match any of the domains handled by
      // the recipient of the request."
      this.#sendA(404, 'Not Found');
      this.#move(CallState.Failed, (r) => {
        r.endStatus = 404;
        r.endReason = 'no-route';
      });
      return;
    }
    const bUri = requestUriFor(decision.target, user);
    this.#move(CallState.Calling, (r) => {
      r.route = { target: decision.target, rule: decision.rule };
      r.b.requestUri = bUri;
    });

    const from = safeGet(req, 'From')?.replace(/;\s*tag=[^;>\s]*/i, '');
    const headers: Record<string, string> = {};
    if (from) headers['From'] = from;
    headers['To'] = `<${bUri}>`;
    if (answer?.action === 'route') Object.assign(headers, answer.headers);
    if (req.body && safeGet(req, 'Content-Type')) headers['Content-Type'] = safeGet(req, 'Content-Type')!;
    const delayed = !req.body;

    let result: DialogLike | UacDelayedOffer;
    try {
      result = await srf.createUAC(
        bUri,
        { localSdp: req.body || undefined, headers, ...(delayed ? { noAck: true } : {}) },
        {
          cbRequest: (err, sent) => this.#onUacRequest(err, sent),
          cbProvisional: (p) => this.#onProvisional(p),
        },
      );
    } catch (err) {
      this.#onUacFailure(err);
      return;
    }

    if (isDelayedOffer(result)) {
      await this.#answerDelayedOffer(result);
      return;
    }
    const uac = result;
    this.#adoptUac(uac);
    if (this.#canceled || this.#bEndedEarly || isFinal(this.#state)) {
      // The callee answered after the caller gave up: release the B leg.
      if (!this.#bEndedEarly) await uac.destroy().catch(() => {});
      this.#fail({ status: 487, reason: 'Request Terminated', endReason: this.#canceled ? 'canceled' : 'callee-bye', alreadySent: true });
      return;
    }
    await this.#answerA(uac.remote.sdp ?? '', uac.res ?? undefined);
  }

  #adoptUac(uac: DialogLike): void {
    this.#uac = uac;
    // Only the current B leg ends the call (a B leg replaced by rerouteB() is released by us).
    uac.on('destroy', (bye) => {
      if (this.#uac === uac) this.#onBye('b', bye);
    });
    this.#patch((r) => {
      r.b.remoteTag = uac.sip.remoteTag;
      r.b.localTag = uac.sip.localTag || r.b.localTag;
      r.b.remoteTarget = uac.remote.uri;
      r.b.remoteSdp = uac.remote.sdp || undefined;
      r.b.localSdp = uac.local.sdp || r.b.localSdp;
      r.b.state = 'confirmed';
      if (uac.res) {
        // RFC 3261 §12.1.2: "The route set MUST be set to the list of URIs in the
        // Record-Route header field from the response, taken in reverse order".
        r.b.routeSet = splitHeaderList(safeGet(uac.res, 'Record-Route')).reverse();
        r.b.remoteAddress = hostPort(uac.res) ?? r.b.remoteAddress;
      }
    });
    // Same race as on the A leg (see #answerA): the callee's BYE may have been handled
    // in the read that resolved createUAC.
    if (uac.connected === false) this.#onBye('b', undefined);
  }

  async #answerA(sdp: string, bRes: SipMessageLike | undefined): Promise<void> {
    const { req, res, srf } = this.#o;
    let uas: DialogLike;
    try {
      const ct = bRes ? safeGet(bRes, 'Content-Type') : undefined;
      uas = await srf.createUAS(req, res, { localSdp: sdp, headers: ct && sdp ? { 'Content-Type': ct } : {} });
    } catch (err) {
      this.#log.info({ err }, 'could not answer the caller; releasing the callee');
      await this.#uac?.destroy().catch(() => {});
      this.#fail({ status: 487, reason: 'Request Terminated', endReason: this.#canceled ? 'canceled' : 'answer-failed', alreadySent: true });
      return;
    }
    this.#uas = uas;
    this.#wire();
    this.#move(CallState.Answered, (r) => {
      r.answeredAt = this.#o.store.now();
      r.a.localTag = uas.sip.localTag;
      r.a.localContact = uas.local.contact;
      r.a.localSdp = sdp || undefined;
      r.a.state = 'confirmed';
    });
    if (this.#bEndedEarly) {
      // The callee hung up while we were answering the caller.
      await this.#teardown('b', 'callee-bye');
      return;
    }
    // drachtio-srf resolves createUAS from inside its socket handler; a BYE that arrived
    // in the same read is answered and 'destroy' emitted before this code resumes, so
    // the listener #wire() attached never fires. The dialog says so itself.
    if (uas.connected === false) this.#onBye('a', undefined);
  }

  async #answerDelayedOffer(offer: UacDelayedOffer): Promise<void> {
    // The caller sent no SDP: the callee's 200 carries the offer, which we pass
    // to the caller; the caller's ACK carries the answer, which we pass back.
    const { req, res, srf } = this.#o;
    if (this.#canceled) {
      await offer.destroy().catch(() => {});
      this.#fail({ status: 487, reason: 'Request Terminated', endReason: 'canceled', alreadySent: true });
      return;
    }
    let uas: DialogLike;
    try {
      const ct = safeGet(offer.res, 'Content-Type');
      uas = await srf.createUAS(req, res, { localSdp: offer.sdp, headers: ct ? { 'Content-Type': ct } : {} });
    } catch {
      await offer.destroy().catch(() => {});
      this.#fail({ status: 487, reason: 'Request Terminated', endReason: this.#canceled ? 'canceled' : 'answer-failed', alreadySent: true });
      return;
    }
    this.#uas = uas;
    await new Promise<void>((resolve) => {
      uas.on('ack', (ack) => {
        if (this.#uac) return;
        offer
          .ack(ack.body ?? '')
          .then((uac) => {
            this.#adoptUac(uac);
            this.#wire();
            this.#move(CallState.Answered, (r) => {
              r.answeredAt = this.#o.store.now();
              r.a.localTag = uas.sip.localTag;
              r.a.localContact = uas.local.contact;
              r.a.localSdp = offer.sdp;
              r.a.remoteSdp = ack.body || undefined;
              r.a.state = 'confirmed';
            });
          })
          .catch(async (err: unknown) => {
            this.#log.warn({ err }, 'callee leg failed on ACK');
            await uas.destroy().catch(() => {});
            this.#fail({ status: 500, reason: 'Server Internal Error', endReason: 'error', alreadySent: true });
          })
          .finally(resolve);
      });
      uas.on('destroy', () => {
        if (!this.#uac) {
          void offer.destroy().catch(() => {});
          this.#fail({ status: 487, reason: 'Request Terminated', endReason: 'caller-bye', alreadySent: true });
          resolve();
        }
      });
    });
  }

  #onUacRequest(err: unknown, sent: OutgoingRequestLike | undefined): void {
    if (err || !sent) return; // the failure also rejects createUAC
    this.#uacReq = sent;
    const from = parsedNameAddr(sent, 'From');
    const to = parsedNameAddr(sent, 'To');
    this.#patch((r) => {
      r.b.callId = safeGet(sent, 'Call-ID') ?? '';
      r.b.localTag = from.tag;
      r.b.localUri = from.uri;
      r.b.remoteUri = to.uri;
      r.b.requestUri = sent.uri || r.b.requestUri;
      r.b.localCseq = cseqNumber(sent) ?? 1;
      r.b.localContact = safeGet(sent, 'Contact');
      r.b.localSdp = sent.body || undefined;
      r.b.transport = (sent.protocol ?? r.b.transport).toLowerCase();
      r.b.inviteBranch = viaBranch(sent);
    });
  }

  #onProvisional(p: ResponseLike): void {
    this.#provisionalSeen = true;
    if (this.#canceled && !this.#cancelSent) this.#sendCancel();
    if (p.status <= 100 || isFinal(this.#state) || this.#canceled) return;
    const to = parsedNameAddr(p, 'To');
    const patch = (r: CallRecord): void => {
      if (to.tag) {
        r.b.remoteTag = to.tag;
        r.b.state = 'early';
      }
      r.b.remoteAddress = hostPort(p) ?? r.b.remoteAddress;
      r.b.remoteTarget = contactUri(p) ?? r.b.remoteTarget;
      if (p.body) r.b.remoteSdp = p.body;
    };
    // Relay the provisional response, SDP unchanged, so early media flows end to end.
    this.#sendA(p.status, p.reason, { body: p.body || undefined, headers: bodyHeaders(p) });
    if (this.#state === CallState.Calling || this.#state === CallState.Ringing) this.#move(CallState.Ringing, patch);
  }

  #onUacFailure(err: unknown): void {
    const { status, reason } = errorStatus(err);
    if (this.#canceled) {
      this.#fail({ status: 487, reason: 'Request Terminated', endReason: 'canceled', alreadySent: true });
      return;
    }
    if (status === undefined) {
      this.#log.warn({ err }, 'B leg failed without a SIP status');
      // RFC 3261 §21.5.1 500 Server Internal Error: "The server encountered an
      // unexpected condition that prevented it from fulfilling the request."
      this.#fail({ status: 500, reason: 'Server Internal Error', endReason: 'error' });
      return;
    }
    // The callee's failure reaches the caller with its status and reason.
    const bRes = (err as { res?: SipMessageLike }).res;
    const headers: Record<string, string> = {};
    if (status >= 300 && status < 400 && bRes && safeGet(bRes, 'Contact')) headers['Contact'] = safeGet(bRes, 'Contact')!;
    this.#fail({ status, reason: reason ?? '', endReason: 'rejected', headers });
  }

  #onCancel(cancel: SipMessageLike): void {
    if (isFinal(this.#state) || this.#state === CallState.Answered || this.#canceled) return;
    this.#canceled = true;
    this.#log.debug('caller canceled');
    this.#patch((r) => {
      r.a.remoteCseq = cseqNumber(cancel) ?? r.a.remoteCseq;
      r.endReason = 'canceled';
    });
    // RFC 3261 §9.2: "the UAS SHOULD then respond to the INVITE with a 487 (Request Terminated)."
    this.#sendA(487, 'Request Terminated');
    if (this.#state === CallState.Routing) {
      this.#fail({ status: 487, reason: 'Request Terminated', endReason: 'canceled', alreadySent: true });
      return;
    }
    // RFC 3261 §9.1: "If no provisional response has been received, the CANCEL
    // request MUST NOT be sent; rather, the client MUST wait for the arrival of
    // a provisional response before sending the request."
    if (this.#provisionalSeen && this.#uacReq) this.#sendCancel();
    this.#cancelGuard = this.#o.clock.setTimeout(() => {
      this.#log.warn('callee never answered our CANCEL; giving up on it');
      this.#fail({ status: 487, reason: 'Request Terminated', endReason: 'canceled', alreadySent: true });
    }, CANCEL_GUARD_MS);
  }

  #sendCancel(): void {
    if (!this.#uacReq || this.#cancelSent) return;
    this.#cancelSent = true;
    try {
      this.#uacReq.cancel({}, (err) => {
        if (err) this.#log.warn({ err }, 'CANCEL to callee failed');
      });
    } catch (err) {
      this.#log.warn({ err }, 'CANCEL to callee failed');
    }
  }

  /** Sends a response to the caller's INVITE unless a final one went already. */
  #sendA(status: number, reason: string, opts: { body?: string; headers?: Record<string, string> } = {}): void {
    const { res } = this.#o;
    if (res.finalResponseSent) return;
    try {
      res.send(status, reason, { headers: opts.headers ?? {}, ...(opts.body ? { body: opts.body } : {}) }, (err, msg) => {
        if (err) {
          this.#log.debug({ err, status }, 'response to caller not sent');
          return;
        }
        // The To tag of our provisional responses is the caller's view of the early dialog: a new active
        // resuming this INVITE after a takeover must answer with the same tag (RFC 3261 §12.1.1).
        if (status > 100 && status < 200) {
          const tag = parsedNameAddr(msg as SipMessageLike, 'To').tag;
          if (tag && this.record?.a.localTag !== tag) this.#patch((r) => (r.a.localTag = tag));
        }
      });
    } catch (err) {
      this.#log.warn({ err, status }, 'response to caller not sent');
    }
  }

  #fail(opts: { status: number; reason: string; endReason: string; alreadySent?: boolean; headers?: Record<string, string> }): void {
    if (isFinal(this.#state) || this.#state === CallState.Answered || this.#state === CallState.Ending) return;
    if (!opts.alreadySent) this.#sendA(opts.status, opts.reason, { headers: opts.headers });
    this.#move(CallState.Failed, (r) => {
      r.endStatus = opts.status;
      r.endReason = opts.endReason;
      r.a.state = 'terminated';
      r.b.state = 'terminated';
    });
  }

  // ---------- established call ----------

  #wire(): void {
    const uas = this.#uas!;
    const uac = this.#uac!;
    uas.on('destroy', (bye) => this.#onBye('a', bye));
    this.#wireLeg('a', uas);
    this.#wireLeg('b', uac);
  }

  #wireLeg(side: Side, d: DialogLike): void {
    {
      const current = (): boolean => this.#dialog(side) === d;
      const stale = (res: ServerResponseLike): void => {
        try {
          // RFC 3261 §21.4.19 481: the dialog was replaced (re-routed) and is being released.
          res.send(481, 'Call/Transaction Does Not Exist', { headers: {} });
        } catch {
          /* nothing more to do */
        }
      };
      d.on('modify', (req, res) => (current() ? this.#relay(side, 'INVITE', req, res) : stale(res)));
      d.on('update', (req, res) => (current() ? this.#relay(side, 'UPDATE', req, res) : stale(res)));
      d.on('info', (req, res) => (current() ? this.#relay(side, 'INFO', req, res) : stale(res)));
      d.on('ack', (ack) => {
        if (!current()) return;
        const pending = this.#pendingAck[side];
        if (!pending) return;
        delete this.#pendingAck[side];
        pending({ body: ack.body });
        this.#patch((r) => {
          if (ack.body) {
            r[side].remoteSdp = ack.body;
            r[other(side)].localSdp = ack.body;
          }
        });
      });
    }
  }

  /** Carries an in-dialog request from one leg to the other and its response back. */
  #relay(from: Side, method: 'INVITE' | 'UPDATE' | 'INFO', req: IncomingRequestLike, res: ServerResponseLike): void {
    const to = other(from);
    const target = this.#dialog(to);
    const reply = (status: number, reason: string, opts: { body?: string; headers?: Record<string, string> } = {}): void => {
      try {
        res.send(status, reason, { headers: opts.headers ?? {}, ...(opts.body ? { body: opts.body } : {}) });
      } catch (err) {
        this.#log.warn({ err, method }, 'could not answer in-dialog request');
      }
    };
    this.#patch((r) => {
      r[from].remoteCseq = cseqNumber(req) ?? r[from].remoteCseq;
    });
    if (!target || this.#state !== CallState.Answered) {
      // RFC 3261 §21.4.19 481: "This status indicates that the UAS received a
      // request that does not match any existing dialog or transaction." The
      // other leg is gone, so there is no dialog to carry the request into.
      reply(481, 'Call/Transaction Does Not Exist');
      return;
    }
    if (method === 'INVITE') {
      if (this.#relayBusy) {
        // RFC 3261 §14.2: "A UAS that receives an INVITE on a dialog while an
        // INVITE it had sent on that dialog is in progress MUST return a 491
        // (Request Pending) response to the received INVITE."
        reply(491, 'Request Pending');
        return;
      }
      this.#relayBusy = true;
    }
    const delayed = method === 'INVITE' && !req.body;
    try {
      target.request(
        { method, ...(req.body ? { body: req.body } : {}), headers: bodyHeaders(req), ...(delayed ? { noAck: true } : {}) },
        (err, bRes, ack) => {
          if (method === 'INVITE') this.#relayBusy = false;
          if (err || !bRes) {
            const { status, reason } = errorStatus(err);
            reply(status ?? 500, reason ?? 'Server Internal Error');
            return;
          }
          if (method === 'INVITE' && delayed && ack && bRes.status === 200) {
            // The answer to the other leg's offer comes in the caller's ACK.
            this.#pendingAck[from] = ack;
          }
          reply(bRes.status, bRes.reason, { body: bRes.body || undefined, headers: bodyHeaders(bRes) });
          const ok = bRes.status >= 200 && bRes.status < 300;
          const fromDialog = this.#dialog(from);
          if (ok && (method === 'INVITE' || method === 'UPDATE')) {
            // Keep drachtio-srf's view of the session in step with what went through.
            if (req.body) target.local.sdp = req.body;
            if (bRes.body) {
              target.remote.sdp = bRes.body;
              if (fromDialog) fromDialog.local.sdp = bRes.body;
            }
          }
          this.#patch((r) => {
            r[to].localCseq = cseqNumber(bRes) ?? r[to].localCseq + 1;
            if (ok && (method === 'INVITE' || method === 'UPDATE')) {
              if (req.body) {
                r[from].remoteSdp = req.body;
                r[to].localSdp = req.body;
              }
              if (bRes.body) {
                r[to].remoteSdp = bRes.body;
                r[from].localSdp = bRes.body;
              }
            }
          });
        },
      );
    } catch (err) {
      if (method === 'INVITE') this.#relayBusy = false;
      this.#log.warn({ err, method }, 'relay failed');
      reply(500, 'Server Internal Error');
    }
  }

  #onBye(from: Side, bye: SipMessageLike | undefined): void {
    if (this.#forgotten) {
      // Not ours any more: no record, no SIP from here (the owner ends the other leg).
      if (bye) this.#o.onForgottenBye?.(this.id, from, bye);
      return;
    }
    if (from === 'b' && !this.#uas) {
      // The callee hung up before the caller's 200 went out; finish answering, then release.
      this.#bEndedEarly = true;
      this.#patch((r) => {
        r.b.remoteCseq = cseqNumber(bye) ?? r.b.remoteCseq;
        r.b.state = 'terminated';
      });
      return;
    }
    // RFC 3261 §15.1.2: "the UAS MUST ... send a 2xx response to the BYE, and
    // terminate the session" — drachtio-srf has answered it; we end the other leg.
    if (this.#state !== CallState.Answered) return;
    this.#patch((r) => {
      r[from].remoteCseq = cseqNumber(bye) ?? r[from].remoteCseq;
    });
    void this.#teardown(from, from === 'a' ? 'caller-bye' : 'callee-bye');
  }

  /** Ends an answered call: `gone` has already left (or undefined to release both legs). */
  async #teardown(gone: Side | undefined, endReason: string): Promise<void> {
    if (this.#state !== CallState.Answered) return;
    this.#move(CallState.Ending, (r) => {
      r.endReason = endReason;
      if (gone) r[gone].state = 'terminated';
    });
    const sides: Side[] = gone ? [other(gone)] : ['a', 'b'];
    const cseqs: Partial<Record<Side, number>> = {};
    await Promise.all(
      sides.map(async (s) => {
        const d = this.#dialog(s);
        if (!d) return;
        try {
          const sent = (await d.destroy()) as SipMessageLike | undefined;
          const n = cseqNumber(sent);
          if (n !== undefined) cseqs[s] = n;
        } catch (err) {
          this.#log.debug({ err, side: s }, 'BYE failed');
        }
      }),
    );
    this.#move(CallState.Ended, (r) => {
      r.a.state = 'terminated';
      r.b.state = 'terminated';
      for (const s of sides) if (cseqs[s] !== undefined) r[s].localCseq = cseqs[s]!;
    });
  }

  /**
   * Transfer by re-routing: calls `target` with the caller's SDP; once it
   * answers, re-INVITEs the caller with the new callee's SDP, releases the old
   * callee (BYE) and ties the new one in. If the new target fails, the call
   * goes on with the old callee and the failure is thrown (status = SIP status).
   */
  async rerouteB(opts: { target: string; headers?: Record<string, string> }): Promise<void> {
    if (this.#state !== CallState.Answered || !this.#uas || !this.#uac) {
      throw Object.assign(new Error(`call ${this.id} is ${this.#state}: only an answered call can be re-routed`), { code: 'ERR_CALL_STATE' });
    }
    if (this.#rerouting || this.#relayBusy) throw Object.assign(new Error(`call ${this.id}: a re-INVITE or re-route is in progress`), { code: 'ERR_CALL_STATE' });
    this.#rerouting = true;
    this.#relayBusy = true; // the caller's re-INVITEs get 491 meanwhile (RFC 3261 §14.2)
    try {
      const { srf, req } = this.#o;
      const rec = this.record!;
      const from = safeGet(req, 'From')?.replace(/;\s*tag=[^;>\s]*/i, '');
      const headers: Record<string, string> = { ...(opts.headers ?? {}), To: `<${opts.target}>` };
      if (from) headers['From'] = from;
      const offer = rec.a.remoteSdp;
      if (offer) headers['Content-Type'] = 'application/sdp';
      let sent: OutgoingRequestLike | undefined;
      const result = await srf.createUAC(opts.target, { ...(offer ? { localSdp: offer } : {}), headers }, { cbRequest: (_e, r) => (sent = r) });
      if (isDelayedOffer(result)) {
        await result.destroy().catch(() => {});
        throw Object.assign(new Error('the new target answered without SDP'), { code: 'ERR_CALL_STATE' });
      }
      const uac = result;
      if (this.#state !== CallState.Answered) {
        await uac.destroy().catch(() => {});
        throw Object.assign(new Error(`call ${this.id} ended during the re-route`), { code: 'ERR_CALL_STATE' });
      }
      const newSdp = uac.remote.sdp;
      if (newSdp && newSdp !== rec.a.localSdp) {
        await new Promise<void>((resolve) => {
          try {
            this.#uas!.request({ method: 'INVITE', body: newSdp, headers: { 'Content-Type': 'application/sdp' } }, (err, res) => {
              if (err || !res || res.status >= 300) this.#log.warn({ err, status: res?.status }, 're-route: caller refused the new session');
              else this.#patch((r) => (r.a.localCseq = cseqNumber(res) ?? r.a.localCseq + 1));
              resolve();
            });
          } catch (err) {
            this.#log.warn({ err }, 're-route: re-INVITE to the caller failed');
            resolve();
          }
        });
        this.#uas.local.sdp = newSdp;
      }
      const old = this.#uac;
      this.#uac = uac;
      this.#uacReq = sent;
      uac.on('destroy', (bye) => {
        if (this.#uac === uac) this.#onBye('b', bye);
      });
      this.#wireLeg('b', uac);
      this.#patch((r) => {
        r.route = { target: opts.target, rule: 'app-reroute' };
        r.b = {
          ...r.b,
          callId: uac.sip.callId,
          localTag: uac.sip.localTag,
          remoteTag: uac.sip.remoteTag,
          localCseq: cseqNumber(sent) ?? 1,
          remoteCseq: 0,
          localUri: sent ? parsedNameAddr(sent, 'From').uri : r.b.localUri,
          remoteUri: sent ? parsedNameAddr(sent, 'To').uri : opts.target,
          requestUri: opts.target,
          remoteTarget: uac.remote.uri,
          localContact: safeGet(sent, 'Contact'),
          routeSet: uac.res ? splitHeaderList(safeGet(uac.res, 'Record-Route')).reverse() : [],
          remoteAddress: hostPort(uac.res) ?? undefined,
          localSdp: offer,
          remoteSdp: newSdp || undefined,
          state: 'confirmed',
          inviteBranch: viaBranch(sent),
        };
        if (newSdp) r.a.localSdp = newSdp;
      });
      await old.destroy().catch((err: unknown) => this.#log.debug({ err }, 're-route: BYE to the old callee failed'));
    } finally {
      this.#rerouting = false;
      this.#relayBusy = false;
    }
  }

  /**
   * Sends an in-dialog request (INFO, REFER, ...) on one leg of an answered
   * call, for applications; resolves with the far end's final response.
   */
  sendRequest(side: Side, opts: { method: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; reason: string }> {
    const d = this.#dialog(side);
    if (!d || this.#state !== CallState.Answered) {
      return Promise.reject(Object.assign(new Error(`call ${this.id} is ${this.#state}: no dialog to send ${opts.method} in`), { code: 'ERR_CALL_STATE' }));
    }
    return new Promise((resolve, reject) => {
      try {
        d.request({ method: opts.method, headers: opts.headers ?? {}, ...(opts.body !== undefined ? { body: opts.body } : {}) }, (err, res) => {
          if (err || !res) {
            const { status, reason } = errorStatus(err);
            if (status !== undefined) resolve({ status, reason: reason ?? '' });
            else reject(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          this.#patch((r) => {
            r[side].localCseq = cseqNumber(res) ?? r[side].localCseq + 1;
          });
          resolve({ status: res.status, reason: res.reason });
        });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /**
   * Ends the call from our side (drain timeout, shutdown): an answered call is
   * released with BYE on both legs, an unanswered one is refused to the caller
   * (503, RFC 3261 §21.5.4) and canceled toward the callee.
   */
  /**
   * Drops the call without sending anything: the node lost the active role and the new
   * active owns the call (its record lives on in the peer's mirror). No record is
   * committed after this; `done` resolves.
   */
  forget(): void {
    if (this.#forgotten || isFinal(this.#state)) return;
    this.#forgotten = true;
    if (this.#cancelGuard !== undefined) this.#o.clock.clearTimeout(this.#cancelGuard);
    this.#resolveDone();
  }

  async hangup(opts: { reason: string }): Promise<void> {
    if (this.#state === CallState.Answered) {
      await this.#teardown(undefined, opts.reason);
      return;
    }
    if (isFinal(this.#state) || this.#state === CallState.Ending) {
      await this.done;
      return;
    }
    this.#canceled = true;
    if (this.#provisionalSeen) this.#sendCancel();
    this.#sendA(503, 'Service Unavailable');
    this.#fail({ status: 503, reason: 'Service Unavailable', endReason: opts.reason, alreadySent: true });
  }
}
