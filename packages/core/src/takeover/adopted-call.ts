import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { CallRecord } from '../records/call-record.js';
import type { CallRecordStore } from '../records/call-record-store.js';
import type { DialogLike, IncomingRequestLike, ResponseLike, SipMessageLike } from '../srf-surface.js';
import { AdoptedCallState, isAdoptedFinal, transitionAdopted } from './adopted-call-state.js';
import { cseqOf, header, inDialogHeaders, otherSide, outboundProxyOf, requestUriOf, type Side } from './in-dialog.js';
import type { AckFn, DialogConstructor, ResumedInvite, SentRequestLike, TakeoverResponseLike, TakeoverSrfLike } from './types.js';
import { canResume, controlUri, RESUME_UAS, resumeConfirmed, resumeUacHeaders, resumeUasHeader } from './resume.js';
import { tagOf } from './in-dialog.js';

/** 64*T1: how long a transaction may take (RFC 3261 §17.1.1.2 Timer B). */
const TXN_TIMEOUT_MS = 32_000;

export type AdoptionMode = 'app' | 'reinvite';

export interface AdoptedCallOptions {
  /** The record as adopted into `store` (live, not ended). */
  record: CallRecord;
  store: CallRecordStore;
  srf: TakeoverSrfLike;
  logger: Logger;
  clock: Clock;
  mode: AdoptionMode;
  /** Added to the first CSeq we send on each leg, above the mirrored one (margin for mirror lag). */
  cseqSkip: number;
  /** A resumed ringing call answered here: how long the caller's ACK may take (default 64*T1). */
  ackTimeoutMs?: number;
  /** drachtio-srf's Dialog class ('reinvite' mode). */
  Dialog?: DialogConstructor;
  /** Called once with the final record of the call. */
  onFinal: (record: CallRecord) => void;
  /** 'app' mode: waits for the caller's INVITE re-created by the engine (offered to the manager). */
  awaitResumed?: (aCallId: string) => { promise: Promise<ResumedInvite>; cancel: () => void };
  /** Both legs' tags are known now (a resumed call was answered): match in-dialog requests to it. */
  onLegsKnown?: (call: AdoptedCall) => void;
}

/** How long the engine may take to hand back the resumed INVITE. */
const RESUME_WAIT_MS = 2_000;

interface SendOpts {
  body?: string;
  contentType?: string;
  noAck?: boolean;
  /** Extra headers (an application's); the dialog's own headers take precedence. */
  headers?: Record<string, string>;
}

interface Final {
  res: ResponseLike;
  ack?: AckFn;
  sent?: SentRequestLike;
  cseq?: number;
}

function isOk(status: number): boolean {
  return status >= 200 && status < 300;
}

function splitList(v: string | undefined): string[] {
  if (!v) return [];
  return v.split(/,(?![^<]*>)/).map((x) => x.trim()).filter(Boolean);
}

function bodyHeaders(msg: SipMessageLike): Record<string, string> {
  const ct = header(msg, 'Content-Type');
  return msg.body && ct ? { 'Content-Type': ct } : {};
}

/**
 * One call rebuilt from its mirrored record after a takeover: in-dialog
 * requests from either party are matched to it (by the takeover manager),
 * answered, and carried to the other party with the mirrored dialog state.
 */
export class AdoptedCall {
  readonly id: string;
  readonly #o: AdoptedCallOptions;
  readonly #log: Logger;
  #state: AdoptedCallState;
  /** Last CSeq we sent per leg (the record's localCseq trails it by at most one commit). */
  readonly #cseq: Record<Side, number>;
  readonly #skipped: Record<Side, boolean> = { a: false, b: false };
  /** 'reinvite' mode: the srf Dialog wrapping each re-adopted leg. */
  readonly #dialogs: Partial<Record<Side, DialogLike>> = {};
  readonly #pendingAck: Partial<Record<Side, AckFn>> = {};
  #relayBusy = false;
  #forgotten = false;
  /** A resumed call's 2xx to the caller waits for its ACK (either way it arrives: srf's fnAck or a matched ACK). */
  #ackFromA?: () => void;
  #resolveDone!: () => void;
  readonly done: Promise<void>;

  constructor(opts: AdoptedCallOptions) {
    this.#o = opts;
    this.id = opts.record.id;
    this.#log = opts.logger.child({ call: opts.record.id, takeover: true });
    this.#cseq = { a: opts.record.a.localCseq, b: opts.record.b.localCseq };
    this.done = new Promise((r) => (this.#resolveDone = r));
    const answered = opts.record.state === 'answered' || opts.record.state === 'ending';
    this.#state = !answered ? AdoptedCallState.Ringing : opts.mode === 'reinvite' ? AdoptedCallState.Adopting : AdoptedCallState.Answered;
  }

  get state(): AdoptedCallState {
    return this.#state;
  }

  get record(): CallRecord | undefined {
    return this.#o.store.get(this.id);
  }

  #rec(): CallRecord {
    return this.#o.store.get(this.id)!;
  }

  // ---------- state and record ----------

  #move(to: AdoptedCallState, mutate: (r: CallRecord) => void): boolean {
    if (this.#forgotten) return false;
    try {
      this.#state = transitionAdopted(this.#state, to);
    } catch (err) {
      this.#log.debug({ err }, 'ignored illegal transition');
      return false;
    }
    let rec: CallRecord | undefined;
    try {
      rec = this.#o.store.update(this.id, mutate);
    } catch (err) {
      this.#log.error({ err }, 'could not commit record');
    }
    if (isAdoptedFinal(to)) {
      if (rec?.ended) {
        try {
          this.#o.onFinal(rec);
        } catch (err) {
          this.#log.warn({ err }, 'final hook threw');
        }
      }
      this.#resolveDone();
    }
    return true;
  }

  #patch(mutate: (r: CallRecord) => void): void {
    if (isAdoptedFinal(this.#state) || this.#forgotten) return;
    try {
      this.#o.store.update(this.id, mutate);
    } catch (err) {
      this.#log.warn({ err }, 'could not commit record');
    }
  }

  // ---------- sending on a leg ----------

  /**
   * RFC 3261 §12.2.1.1: "Requests within a dialog MUST contain strictly
   * monotonically increasing and contiguous CSeq sequence numbers
   * (increasing-by-one) in each direction (excepting ACK and CANCEL of course,
   * whose numbers equal the requests being acknowledged or cancelled).
   * Therefore, if the local sequence number is not empty, the value of the
   * local sequence number MUST be incremented by one, and this value MUST be
   * placed into the CSeq header field." The mirrored localCseq is the last
   * one the old active sent; we continue above it.
   */
  #nextCseq(side: Side): number {
    let n = this.#cseq[side] + 1;
    if (!this.#skipped[side]) {
      this.#skipped[side] = true;
      n += this.#o.cseqSkip;
    }
    this.#cseq[side] = n;
    return n;
  }

  /** Sends a request on a leg and resolves with its final response. Rejects only on local failure. */
  #send(side: Side, method: string, opts: SendOpts = {}): Promise<Final> {
    const d = this.#dialogs[side];
    if (d) return this.#sendOnDialog(side, d, method, opts);
    const leg = this.#rec()[side];
    const cseq = this.#nextCseq(side);
    // The dialog's own headers win over an application's (it cannot move the request
    // out of the dialog by setting Call-ID, From, To, CSeq or Route).
    const headers = { ...opts.headers, ...inDialogHeaders(leg, method, cseq) };
    if (opts.body) headers['Content-Type'] = opts.contentType ?? 'application/sdp';
    this.#patch((r) => {
      r[side].localCseq = Math.max(r[side].localCseq, cseq);
    });
    return new Promise<Final>((resolve, reject) => {
      const guard = this.#o.clock.setTimeout(() => reject(Object.assign(new Error(`${method} on leg ${side}: no final response`), { status: 408 })), TXN_TIMEOUT_MS);
      const done = (fn: () => void): void => {
        this.#o.clock.clearTimeout(guard);
        fn();
      };
      try {
        const uri = requestUriOf(leg);
        const proxy = outboundProxyOf(leg, uri);
        this.#o.srf.request(uri, { method, headers, ...(opts.body ? { body: opts.body } : {}), ...(proxy ? { proxy } : {}) }, (err, sent) => {
          if (err || !sent) {
            done(() => reject(err ?? new Error('request not sent')));
            return;
          }
          sent.on('response', (res, ack) => {
            if (res.status >= 200) done(() => resolve({ res, ack, sent, cseq }));
          });
        });
      } catch (err) {
        done(() => reject(err));
      }
    });
  }

  #sendOnDialog(side: Side, d: DialogLike, method: string, opts: SendOpts): Promise<Final> {
    if (method === 'BYE') {
      return d.destroy().then((sent) => {
        const cseq = cseqOf(sent as SipMessageLike | undefined);
        if (cseq !== undefined) this.#cseq[side] = Math.max(this.#cseq[side], cseq);
        return { res: { status: 200, reason: 'OK', get: () => undefined, has: () => false, getParsedHeader: () => undefined }, cseq };
      });
    }
    return new Promise<Final>((resolve, reject) => {
      try {
        d.request(
          {
            method,
            ...(opts.body ? { body: opts.body } : {}),
            headers: { ...opts.headers, ...(opts.body ? { 'Content-Type': opts.contentType ?? 'application/sdp' } : {}) },
            ...(opts.noAck ? { noAck: true } : {}),
          },
          (err, res, ack) => {
            if (err || !res) {
              const e = err as { status?: number } | undefined;
              if (e && typeof e.status === 'number') {
                resolve({ res: { status: e.status, reason: '', get: () => undefined, has: () => false, getParsedHeader: () => undefined } });
                return;
              }
              reject(err ?? new Error('no response'));
              return;
            }
            const cseq = cseqOf(res);
            if (cseq !== undefined) this.#cseq[side] = Math.max(this.#cseq[side], cseq);
            resolve({ res, ack, cseq });
          },
        );
      } catch (err) {
        reject(err);
      }
    });
  }

  // ---------- adoption ----------

  /**
   * Starts the adopted call: 'app' mode needs nothing sent; 'reinvite' mode
   * re-INVITEs both legs (see `reinvite()`); an unanswered call is released.
   */
  async start(): Promise<void> {
    const rec = this.#rec();
    if (this.#state === AdoptedCallState.Ringing) {
      if (this.#o.mode === 'app' && this.#o.awaitResumed && canResume(rec)) {
        if (await this.#resumeRinging()) return;
      }
      if (this.#state === AdoptedCallState.Ringing) await this.#releaseUnanswered();
      return;
    }
    if (this.#state === AdoptedCallState.Answered && rec.state === 'ending') {
      // The old active was tearing the call down when it died: finish the job.
      const gone = (['a', 'b'] as Side[]).find((s) => rec[s].state === 'terminated');
      await this.#teardown(gone, rec.endReason ?? 'takeover-ending');
    }
  }

  /**
   * 'reinvite' mode: a stock drachtio-server answers 481 to BYE, UPDATE and
   * re-INVITE in dialogs it does not know, so each leg is re-INVITEd from the
   * mirrored state; its 200 makes the server learn the dialog, and we wrap it
   * as an srf Dialog so later requests arrive on it normally.
   * RFC 3264 §8: "If the version in the origin line does not increment, the
   * SDP MUST be identical to the SDP with that version number." — we offer
   * the leg's current SDP unchanged, so the media session does not change.
   * Resolves true when both legs were adopted.
   */
  async reinvite(): Promise<boolean> {
    if (this.#state !== AdoptedCallState.Adopting) return this.#state === AdoptedCallState.Answered;
    const results = await Promise.all((['a', 'b'] as Side[]).map((s) => this.#reinviteLeg(s)));
    if (this.#state !== AdoptedCallState.Adopting) return false; // a BYE arrived meanwhile
    if (results.every(Boolean)) {
      this.#move(AdoptedCallState.Answered, () => {});
      if (this.#rec().state === 'ending') await this.start();
      return true;
    }
    const failed = (['a', 'b'] as Side[]).filter((_, i) => !results[i]);
    this.#log.warn({ failed }, 're-INVITE adoption failed; releasing the call');
    await this.#teardown(failed.length === 2 ? undefined : failed[0], 'takeover-reinvite-failed', failed);
    return false;
  }

  async #reinviteLeg(side: Side): Promise<boolean> {
    const leg = this.#rec()[side];
    if (leg.state === 'terminated') return false;
    let f: Final;
    try {
      f = await this.#send(side, 'INVITE', { body: leg.localSdp });
    } catch (err) {
      this.#log.warn({ err, side }, 're-INVITE not sent');
      return false;
    }
    if (!isOk(f.res.status)) {
      this.#log.info({ side, status: f.res.status }, 're-INVITE refused');
      return false;
    }
    try {
      f.ack?.();
    } catch (err) {
      this.#log.warn({ err, side }, 'ACK not sent');
    }
    const Dialog = this.#o.Dialog;
    if (Dialog && f.sent) {
      try {
        const d = new Dialog(this.#o.srf, 'uac', { req: f.sent, res: f.res });
        this.#o.srf.addDialog?.(d);
        this.#wireDialog(side, d);
      } catch (err) {
        // e.g. a 200 without Contact: the dialog stays usable through srf.request().
        this.#log.warn({ err, side }, 'could not wrap the re-adopted leg as a Dialog');
      }
    }
    this.#patch((r) => {
      if (f.res.body) r[side].remoteSdp = f.res.body;
    });
    return true;
  }

  #wireDialog(side: Side, d: DialogLike): void {
    this.#dialogs[side] = d;
    d.on('destroy', (bye) => this.#byeArrived(side, bye));
    d.on('modify', (req, res) => this.#relay(side, 'INVITE', req, res as unknown as TakeoverResponseLike));
    d.on('update', (req, res) => this.#relay(side, 'UPDATE', req, res as unknown as TakeoverResponseLike));
    d.on('info', (req, res) => this.#relay(side, 'INFO', req, res as unknown as TakeoverResponseLike));
    d.on('ack', (ack) => this.onAck(side, ack));
  }

  /** The control request of resume.ts: resolves true when the engine re-created the caller's INVITE. */
  #askResumeUas(rec: CallRecord): Promise<boolean> {
    return new Promise((resolve) => {
      const guard = this.#o.clock.setTimeout(() => resolve(false), RESUME_WAIT_MS);
      const done = (v: boolean): void => {
        this.#o.clock.clearTimeout(guard);
        resolve(v);
      };
      try {
        this.#o.srf.request(
          controlUri(rec.a),
          {
            method: 'OPTIONS',
            headers: { [RESUME_UAS]: resumeUasHeader(rec.a), ...(rec.a.remoteSdp ? { 'Content-Type': rec.a.invite?.contentType ?? 'application/sdp' } : {}) },
            ...(rec.a.remoteSdp ? { body: rec.a.remoteSdp } : {}),
          },
          (err, sent) => {
            if (err || !sent) {
              this.#log.info({ err }, 'resume: the SIP server refused the control request');
              done(false);
              return;
            }
            sent.on('response', (res) => {
              if (res.status >= 200) done(resumeConfirmed(res));
            });
          },
        );
      } catch (err) {
        this.#log.info({ err }, 'resume: control request not sent');
        done(false);
      }
    });
  }

  /**
   * A ringing call on our engine: resume the caller's INVITE server transaction and our INVITE client
   * transaction toward the callee (resume.ts), then carry the callee's answer to the caller as the dead
   * active would have: RFC 3261 §13.3.1.4 "If the invitation is accepted, the UAS generates a 2xx
   * response"; a callee failure reaches the caller with the same status (§16.7-like B2BUA relay); the
   * caller's CANCEL is carried to the callee (§9.1). Resolves false when nothing could be resumed (the
   * call is then released as before).
   */
  async #resumeRinging(): Promise<boolean> {
    const rec = this.#rec();
    const waiter = this.#o.awaitResumed!(rec.a.callId);
    if (!(await this.#askResumeUas(rec))) {
      waiter.cancel();
      this.#log.info('resume: the SIP server can not resume transactions; releasing the ringing call');
      return false;
    }
    let a: ResumedInvite;
    try {
      a = await Promise.race([
        waiter.promise,
        new Promise<never>((_, rej) => this.#o.clock.setTimeout(() => rej(new Error('resumed INVITE did not arrive')), RESUME_WAIT_MS)),
      ]);
    } catch (err) {
      waiter.cancel();
      this.#log.warn({ err }, 'resume: no resumed INVITE');
      return false;
    }
    this.#log.info('resume: caller INVITE resumed; resuming the callee INVITE');
    const b = rec.b;
    let canceled = false;
    let sentB: SentRequestLike | undefined;
    let bProvisional = b.state === 'early';
    const replyA = (
      status: number,
      reason: string,
      opts: { body?: string; headers?: Record<string, string> } = {},
      cb?: (err: unknown, msg: SipMessageLike) => void,
      fnAck?: (ack: SipMessageLike) => void,
    ): void => {
      try {
        if (a.res.finalResponseSent || canceled) return;
        a.res.send(status, reason, { headers: opts.headers ?? {}, ...(opts.body ? { body: opts.body } : {}) }, cb, fnAck);
      } catch (err) {
        this.#log.warn({ err, status }, 'resume: response to the caller not sent');
      }
    };
    const cancelB = (): void => {
      if (!sentB?.cancel || !bProvisional) return;
      try {
        sentB.cancel({}, (err) => {
          if (err) this.#log.info({ err }, 'resume: CANCEL to the callee failed');
        });
      } catch (err) {
        this.#log.info({ err }, 'resume: CANCEL to the callee failed');
      }
    };
    let giveUp: (() => void) | undefined;
    a.req.on('cancel', () => {
      // RFC 3261 §9.2: the engine answered the CANCEL 200 and the INVITE 487; we cancel the callee.
      canceled = true;
      this.#patch((r) => (r.endReason = 'canceled'));
      cancelB();
      // §9.1: "If there is no final response for the original request in 64*T1 seconds ..., the client SHOULD
      // then consider the original transaction cancelled and SHOULD destroy the client transaction handling
      // the original request." (A callee that lost its connection with the old active may never answer.)
      this.#o.clock.setTimeout(() => giveUp?.(), this.#o.ackTimeoutMs ?? TXN_TIMEOUT_MS);
    });
    return new Promise<boolean>((resolve) => {
      const fail = (status: number, reason: string, endReason: string): void => {
        replyA(status, reason);
        this.#move(AdoptedCallState.Failed, (r) => {
          r.state = 'failed';
          r.endReason = canceled ? 'canceled' : endReason;
          r.endStatus = canceled ? 487 : status;
          r.a.state = 'terminated';
          r.b.state = 'terminated';
        });
        resolve(true);
      };
      giveUp = () => {
        if (this.#state === AdoptedCallState.Ringing) fail(487, 'Request Terminated', 'canceled');
      };
      try {
        const proxyB = outboundProxyOf(b, b.requestUri);
        this.#o.srf.request(b.requestUri, { method: 'INVITE', headers: resumeUacHeaders(b), ...(b.localSdp ? { body: b.localSdp } : {}), ...(proxyB ? { proxy: proxyB } : {}) }, (err, sent) => {
          if (err || !sent) {
            this.#log.warn({ err }, 'resume: callee INVITE not resumed');
            // RFC 3261 §21.4.18 480: "the callee's end system was contacted successfully but the callee is currently unavailable"
            fail(480, 'Temporarily Unavailable', 'takeover-unanswered');
            return;
          }
          sentB = sent;
          if (canceled) cancelB();
          sent.on('response', (res, ack) => {
            if (res.status < 200) {
              if (res.status === 100) return;
              bProvisional = true;
              if (canceled) {
                cancelB();
                return;
              }
              const tag = tagOf(header(res, 'To'));
              this.#patch((r) => {
                if (tag) r.b.remoteTag = tag;
                if (res.body) r.b.remoteSdp = res.body;
              });
              replyA(res.status, res.reason, { body: res.body || undefined, headers: bodyHeaders(res) });
              return;
            }
            if (!isOk(res.status)) {
              fail(res.status, res.reason, 'rejected');
              return;
            }
            // §13.2.2.4: "The UAC core MUST generate an ACK request for each 2xx received from the transaction layer".
            try {
              ack();
            } catch (e) {
              this.#log.warn({ err: e }, 'resume: ACK to the callee not sent');
            }
            const bTag = tagOf(header(res, 'To'));
            const bContact = /<([^>]*)>/.exec(header(res, 'Contact') ?? '')?.[1] ?? header(res, 'Contact');
            const bRoutes = splitList(header(res, 'Record-Route')).reverse();
            if (canceled) {
              // the caller gave up while the callee answered: release the callee
              this.#patch((r) => {
                if (bTag) r.b.remoteTag = bTag;
                if (bContact) r.b.remoteTarget = bContact;
                r.b.routeSet = bRoutes;
              });
              void this.#send('b', 'BYE').catch(() => {});
              fail(487, 'Request Terminated', 'canceled');
              return;
            }
            // RFC 3261 §13.3.1.4: "If the server retransmits the 2xx response for 64*T1 seconds without receiving
            // an ACK, the dialog is confirmed, but the session SHOULD be terminated. This is accomplished with a
            // BYE". The SIP server BYEs the caller itself (drachtio-server and our engine alike); the callee's leg
            // is ours to release.
            let acked = false;
            const ackGuard = this.#o.clock.setTimeout(() => {
              if (acked || this.#state !== AdoptedCallState.Answered) return;
              this.#log.info('resume: no ACK from the caller for the 200; releasing the callee');
              void this.#teardown('a', 'ack-timeout');
            }, this.#o.ackTimeoutMs ?? TXN_TIMEOUT_MS);
            const onAckA = (): void => {
              acked = true;
              this.#ackFromA = undefined;
              this.#o.clock.clearTimeout(ackGuard);
            };
            this.#ackFromA = onAckA;
            replyA(200, 'OK', { body: res.body || undefined, headers: bodyHeaders(res) }, (e, msg) => {
              if (e) this.#o.clock.clearTimeout(ackGuard);
              if (e) {
                this.#log.warn({ err: e }, 'resume: 200 to the caller not sent; releasing the callee');
                this.#patch((r) => {
                  if (bTag) r.b.remoteTag = bTag;
                  if (bContact) r.b.remoteTarget = bContact;
                });
                void this.#send('b', 'BYE').catch(() => {});
                fail(500, 'Server Internal Error', 'answer-failed');
                return;
              }
              const aTag = tagOf(header(msg, 'To'));
              const aContact = header(msg, 'Contact');
              this.#move(AdoptedCallState.Answered, (r) => {
                r.state = 'answered';
                r.answeredAt = this.#o.store.now();
                if (aTag) r.a.localTag = aTag;
                if (aContact) r.a.localContact = aContact;
                r.a.localSdp = res.body || undefined;
                r.a.state = 'confirmed';
                if (bTag) r.b.remoteTag = bTag;
                if (bContact) r.b.remoteTarget = bContact;
                r.b.routeSet = bRoutes;
                r.b.remoteSdp = res.body || undefined;
                r.b.state = 'confirmed';
              });
              this.#o.onLegsKnown?.(this);
              this.#log.info('resume: ringing call answered after takeover');
              resolve(true);
            }, onAckA);
          });
        });
      } catch (err) {
        this.#log.warn({ err }, 'resume: callee INVITE not sent');
        fail(480, 'Temporarily Unavailable', 'takeover-unanswered');
      }
    });
  }

  /**
   * An unanswered call: the caller's INVITE server transaction and our INVITE
   * client transaction toward the callee died with the old active, and
   * drachtio-srf's API can neither answer that INVITE nor see the callee's
   * late 2xx (the engine drops a response that matches no transaction). What
   * is left is to stop the callee ringing and close the record.
   * RFC 3261 §15: "The caller's UA MAY send a BYE for either confirmed or
   * early dialogs" — so the callee's early dialog (known when its provisional
   * response carried a To tag) is released with a BYE. The caller is left to
   * its own timers: "the callee's UA MUST NOT send a BYE on early dialogs".
   */
  async #releaseUnanswered(): Promise<void> {
    const b = this.#rec().b;
    if (b.callId && b.localTag && b.remoteTag && b.state !== 'terminated') {
      try {
        const f = await this.#send('b', 'BYE');
        this.#log.info({ status: f.res.status }, 'released the callee of an unanswered call');
      } catch (err) {
        this.#log.info({ err }, 'could not release the callee of an unanswered call');
      }
    }
    this.#move(AdoptedCallState.Failed, (r) => {
      r.state = 'failed';
      r.endReason = 'takeover-unanswered';
      r.endStatus = 480;
      r.a.state = 'terminated';
      r.b.state = 'terminated';
    });
  }

  // ---------- requests from the parties ----------

  /** An in-dialog request from the party on `side` (already matched by Call-ID and tags). */
  onRequest(side: Side, req: IncomingRequestLike, res: TakeoverResponseLike): void {
    const m = req.method.toUpperCase();
    if (m === 'ACK') {
      this.onAck(side, req);
      return;
    }
    const cseq = cseqOf(req);
    const remote = this.#rec()?.[side].remoteCseq ?? 0;
    if (cseq !== undefined && remote > 0 && cseq < remote && !isAdoptedFinal(this.#state)) {
      // RFC 3261 §12.2.2: "If the remote sequence number was not empty, but the
      // sequence number of the request is lower than the remote sequence
      // number, the request is out of order and MUST be rejected with a 500
      // (Server Internal Error) response."
      this.#reply(res, 500, 'Server Internal Error');
      return;
    }
    if (m === 'BYE') {
      // RFC 3261 §15.1.2: "Whether or not it ends its participation in the
      // session, the UAS core MUST generate a 2xx response to the BYE, and
      // MUST pass that to the server transaction for transmission."
      this.#reply(res, 200, 'OK');
      this.#byeArrived(side, req);
      return;
    }
    if (m === 'OPTIONS') {
      // An in-dialog OPTIONS is a liveness probe of the dialog: we are alive.
      this.#reply(res, 200, 'OK', { headers: { Allow: 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE' } });
      return;
    }
    if (m === 'INVITE' || m === 'UPDATE' || m === 'INFO') {
      this.#relay(side, m, req, res);
      return;
    }
    // RFC 3261 §21.4.6 405: "The method specified in the Request-Line is
    // understood, but not allowed for the address identified by the Request-URI."
    this.#reply(res, 405, 'Method Not Allowed', { headers: { Allow: 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE' } });
  }

  onAck(side: Side, ack: SipMessageLike): void {
    if (side === 'a') this.#ackFromA?.();
    const pending = this.#pendingAck[side];
    if (!pending) return;
    delete this.#pendingAck[side];
    try {
      pending(ack.body ? { body: ack.body } : undefined);
    } catch (err) {
      this.#log.warn({ err }, 'ACK not relayed');
    }
    if (ack.body) {
      this.#patch((r) => {
        r[side].remoteSdp = ack.body;
        r[otherSide(side)].localSdp = ack.body;
      });
    }
  }

  #reply(res: TakeoverResponseLike, status: number, reason: string, opts: { body?: string; headers?: Record<string, string> } = {}, fnAck?: (ack: SipMessageLike) => void): void {
    try {
      if (res.finalResponseSent) return;
      res.send(status, reason, { headers: opts.headers ?? {}, ...(opts.body ? { body: opts.body } : {}) }, undefined, fnAck);
    } catch (err) {
      this.#log.warn({ err, status }, 'response not sent');
    }
  }

  /**
   * A BYE on one leg that the SIP stack answered elsewhere: drachtio-srf delivered it to
   * the dialog of the call this node bridged before it stepped down (it keeps forgotten
   * dialogs), not to the takeover handlers. It ends this call like any BYE.
   */
  byeAnsweredElsewhere(side: Side, bye: SipMessageLike): void {
    this.#byeArrived(side, bye);
  }

  #byeArrived(side: Side, bye: SipMessageLike): void {
    if (this.#state === AdoptedCallState.Answered || this.#state === AdoptedCallState.Adopting) {
      this.#patch((r) => {
        r[side].remoteCseq = cseqOf(bye) ?? r[side].remoteCseq;
      });
      void this.#teardown(side, side === 'a' ? 'caller-bye' : 'callee-bye');
    }
    // Otherwise the call is over already (a retransmission, or the callee
    // ending a dialog we released): the 200 is all that is owed.
  }

  /** Carries a re-INVITE, UPDATE or INFO to the other leg and its final response back. */
  #relay(from: Side, method: 'INVITE' | 'UPDATE' | 'INFO', req: IncomingRequestLike, res: TakeoverResponseLike): void {
    const to = otherSide(from);
    if (this.#state !== AdoptedCallState.Answered) {
      // RFC 3261 §21.4.19 481: "This status indicates that the UAS received a
      // request that does not match any existing dialog or transaction."
      this.#reply(res, isAdoptedFinal(this.#state) ? 481 : 491, isAdoptedFinal(this.#state) ? 'Call/Transaction Does Not Exist' : 'Request Pending');
      return;
    }
    this.#patch((r) => {
      r[from].remoteCseq = cseqOf(req) ?? r[from].remoteCseq;
    });
    if (method === 'INVITE') {
      if (this.#relayBusy) {
        // RFC 3261 §14.2: "A UAS that receives an INVITE on a dialog while an
        // INVITE it had sent on that dialog is in progress MUST return a 491
        // (Request Pending) response to the received INVITE."
        this.#reply(res, 491, 'Request Pending');
        return;
      }
      this.#relayBusy = true;
    }
    const delayed = method === 'INVITE' && !req.body;
    this.#send(to, method, { body: req.body || undefined, contentType: header(req, 'Content-Type'), noAck: delayed })
      .then((f) => {
        if (method === 'INVITE') this.#relayBusy = false;
        const ok = isOk(f.res.status);
        let fnAck: ((ack: SipMessageLike) => void) | undefined;
        if (method === 'INVITE' && ok) {
          if (delayed && f.ack) {
            // The offer came in the other leg's 2xx; its answer comes in this leg's ACK.
            this.#pendingAck[from] = f.ack;
          } else {
            try {
              f.ack?.();
            } catch (err) {
              this.#log.warn({ err }, 'ACK not sent');
            }
          }
          fnAck = (ack) => this.onAck(from, ack);
        }
        this.#reply(res, f.res.status, f.res.reason, { body: f.res.body || undefined, headers: bodyHeaders(f.res) }, fnAck);
        this.#patch((r) => {
          if (f.cseq !== undefined) r[to].localCseq = Math.max(r[to].localCseq, f.cseq);
          if (ok && (method === 'INVITE' || method === 'UPDATE')) {
            if (req.body) {
              r[from].remoteSdp = req.body;
              r[to].localSdp = req.body;
            }
            if (f.res.body) {
              r[to].remoteSdp = f.res.body;
              r[from].localSdp = f.res.body;
            }
          }
        });
      })
      .catch((err: unknown) => {
        if (method === 'INVITE') this.#relayBusy = false;
        const status = (err as { status?: unknown } | null)?.status;
        this.#log.warn({ err, method }, 'relay failed');
        this.#reply(res, typeof status === 'number' ? status : 500, typeof status === 'number' ? 'Request Timeout' : 'Server Internal Error');
      });
  }

  // ---------- ending ----------

  /**
   * Ends the call: BYE every leg still up except `gone` (and `skip`), then one
   * final record.
   */
  async #teardown(gone: Side | undefined, endReason: string, skip: Side[] = []): Promise<void> {
    if (!this.#move(AdoptedCallState.Ending, (r) => {
      r.state = 'ending';
      r.endReason = endReason;
      if (gone) r[gone].state = 'terminated';
    })) return;
    const sides = (['a', 'b'] as Side[]).filter((s) => s !== gone && !skip.includes(s) && this.#rec()[s].state !== 'terminated');
    await Promise.all(
      sides.map(async (s) => {
        try {
          const f = await this.#send(s, 'BYE');
          if (!isOk(f.res.status)) this.#log.info({ side: s, status: f.res.status }, 'BYE refused');
        } catch (err) {
          this.#log.info({ err, side: s }, 'BYE failed');
        }
      }),
    );
    this.#move(AdoptedCallState.Ended, (r) => {
      r.state = 'ended';
      r.a.state = 'terminated';
      r.b.state = 'terminated';
      for (const s of sides) r[s].localCseq = Math.max(r[s].localCseq, this.#cseq[s]);
    });
  }

  /** Drops the call without sending anything (this node lost the active role); `done` resolves. */
  forget(): void {
    if (this.#forgotten || isAdoptedFinal(this.#state)) return;
    this.#forgotten = true;
    this.#resolveDone();
  }

  /**
   * Sends an in-dialog request an application asked for (INFO, REFER, ...) on one leg
   * of the answered call, with the CSeq continued above the mirrored one, and resolves
   * with the far end's final status. The same contract as a call bridged here.
   */
  async sendRequest(side: Side, opts: { method: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; reason: string }> {
    if (this.#state !== AdoptedCallState.Answered) {
      throw Object.assign(new Error(`adopted call ${this.id} is ${this.#state}: no dialog to send ${opts.method} in`), { code: 'ERR_CALL_STATE' });
    }
    const headers: Record<string, string> = {};
    let contentType: string | undefined;
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (k.toLowerCase() === 'content-type') contentType = v;
      else headers[k] = v;
    }
    if (opts.body !== undefined && contentType === undefined) {
      throw Object.assign(new Error(`${opts.method} with a body needs a Content-Type`), { code: 'ERR_BAD_REQUEST' });
    }
    const f = await this.#send(side, opts.method, {
      headers,
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      ...(contentType !== undefined ? { contentType } : {}),
    });
    return { status: f.res.status, reason: f.res.reason ?? '' };
  }

  /** Ends the call from our side (drain, shutdown, call limits): BYE on both legs. */
  async hangup(opts: { reason: string }): Promise<void> {
    if (this.#state === AdoptedCallState.Answered || this.#state === AdoptedCallState.Adopting) {
      await this.#teardown(undefined, opts.reason);
      return;
    }
    await this.done;
  }
}
