/**
 * Call takeover: turns the call records mirrored from a dead active into live
 * adopted calls on the new active.
 *
 * Two ways to make the SIP server carry on dialogs it never saw:
 * - 'app' (our engine with `unknownDialogPolicy: 'app'`): in-dialog requests
 *   for unknown dialogs reach us as new requests; we match them to the
 *   adopted call by Call-ID and tags (either leg), answer them, and carry
 *   them to the other leg with `srf.request()` built from the mirror. No
 *   request is sent at takeover, so there is no window in which a BYE or
 *   re-INVITE is refused.
 * - 'reinvite' (a stock drachtio-server, which answers 481 to BYE, UPDATE
 *   and re-INVITE in unknown dialogs itself): each leg is re-INVITEd with its
 *   current SDP, rate-limited; the 200 makes the server learn the dialog and
 *   we wrap it as an srf Dialog, after which requests arrive normally.
 *
 * Unanswered (ringing) calls: in 'app' mode, on our engine, both setup
 * transactions are resumed from the mirror (resume.ts, AdoptedCall
 * #resumeRinging) and the call completes or fails as it would have. Else
 * (a stock drachtio-server, an older record) the setup transactions died
 * with the old active and drachtio-srf's API can reach neither of them, so
 * such a call is closed (callee released with BYE when its early dialog is
 * known) and recorded as failed; see AdoptedCall#releaseUnanswered. A caller that had no
 * provisional response yet retransmits its INVITE, which arrives here as a
 * new INVITE and is set up as a fresh call.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { CoreError } from '../errors.js';
import { TypedEmitter } from '../typed-emitter.js';
import { isTerminalState, validateCallRecord, type CallRecord } from '../records/call-record.js';
import type { CallRecordStore } from '../records/call-record-store.js';
import type { IncomingRequestLike } from '../srf-surface.js';
import { AdoptedCall, type AdoptionMode } from './adopted-call.js';
import { AdoptedCallState } from './adopted-call-state.js';
import { dialogIdOf, header, legKey, type Side } from './in-dialog.js';
import { canResume, RESUME_MARK } from './resume.js';
import type { DialogConstructor, ResumedInvite, TakeoverHandler, TakeoverResponseLike, TakeoverSrfLike } from './types.js';

export interface TakeoverOptions {
  /** 'app' for our engine (default), 'reinvite' for a stock drachtio-server. */
  adoptionMode?: AdoptionMode;
  /** 'reinvite' mode: calls re-adopted per second (both legs of a call count as one). Default 100. */
  reinviteRate?: number;
  /** Added once to the first CSeq sent on each leg, above the mirrored one. Default 0. */
  cseqSkip?: number;
  /** How long an ended adopted call still answers late requests (e.g. BYE retransmissions) with 200. Default 32 s (64*T1). */
  lingerMs?: number;
  /** A ringing call resumed and answered here: how long the caller's ACK may take before the callee is released. Default 32 s (64*T1). */
  ackTimeoutMs?: number;
  /** drachtio-srf's `Srf.Dialog` ('reinvite' mode); loaded from drachtio-srf when not given. */
  Dialog?: DialogConstructor;
}

export interface TakeoverProgress {
  mode: AdoptionMode;
  total: number;
  /** Calls live and relayed (answered ones). */
  adopted: number;
  /** 'reinvite' mode: calls whose re-INVITEs are not done yet. */
  pending: number;
  /** Calls that could not be kept (ringing ones, refused re-INVITEs). */
  failed: number;
  /** Records skipped: invalid, already ended, or already known. */
  skipped: number;
  /** 'app' mode: ringing calls whose setup transactions are being resumed (resume.ts). */
  resuming: number;
}

export type TakeoverManagerEvents = {
  progress: (p: TakeoverProgress) => void;
  /** The final record of an adopted call, exactly once per call. */
  callEnded: (record: CallRecord) => void;
};

export interface TakeoverManagerOptions extends TakeoverOptions {
  srf: () => TakeoverSrfLike | undefined;
  store: CallRecordStore;
  logger: Logger;
  clock: Clock;
}

const HANDLED_METHODS = ['bye', 'update', 'info', 'options', 'ack'] as const;

export class TakeoverManager extends TypedEmitter<TakeoverManagerEvents> {
  readonly #o: TakeoverManagerOptions;
  readonly #calls = new Map<string, AdoptedCall>();
  readonly #byLeg = new Map<string, { call: AdoptedCall; side: Side }>();
  /** Ringing calls waiting for their resumed INVITE, by the caller's Call-ID. */
  readonly #resumeWaiters = new Map<string, (r: ResumedInvite) => void>();
  #attached = false;
  #destroyed = false;
  readonly #timers = new Set<unknown>();

  constructor(opts: TakeoverManagerOptions) {
    super();
    this.#o = opts;
  }

  get mode(): AdoptionMode {
    return this.#o.adoptionMode ?? 'app';
  }

  /** Adopted calls not over yet. */
  get size(): number {
    let n = 0;
    for (const c of this.#calls.values()) if (c.state !== AdoptedCallState.Ended && c.state !== AdoptedCallState.Failed) n++;
    return n;
  }

  /** Whether in-dialog requests are being matched (after the first adoption). */
  get attached(): boolean {
    return this.#attached;
  }

  /** The adopted call `id`, if this node adopted it and it is not forgotten (application commands). */
  call(id: string): AdoptedCall | undefined {
    return this.#calls.get(id);
  }

  pending(): Promise<void>[] {
    return [...this.#calls.values()].map((c) => c.done);
  }

  #srf(): TakeoverSrfLike {
    const s = this.#o.srf();
    if (!s || typeof s.request !== 'function') {
      throw new CoreError({ code: 'ERR_NOT_STARTED', message: 'takeover needs a connected drachtio-srf with request()' });
    }
    return s;
  }

  /** Registers the method handlers that match in-dialog requests to adopted calls. Idempotent. */
  attach(): void {
    if (this.#attached) return;
    const srf = this.#srf();
    for (const m of HANDLED_METHODS) {
      const register = srf[m];
      if (typeof register === 'function') register.call(srf, ((req, res, next) => this.#onMethod(req, res, next)) as TakeoverHandler);
    }
    this.#attached = true;
  }

  #onMethod(req: IncomingRequestLike, res: TakeoverResponseLike, next?: (err?: unknown) => void): void {
    try {
      if (this.handle(req, res)) return;
      const method = req.method.toUpperCase();
      if (method === 'ACK') return; // an ACK that matches nothing is dropped (RFC 3261 §17.2.3)
      if (method === 'OPTIONS') {
        res.send(200, 'OK', { headers: { Allow: 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE' } });
        return;
      }
      if (next && !dialogIdOf(req).toTag) {
        next();
        return;
      }
      // RFC 3261 §12.2.2: "If the UAS wishes to reject the request because it
      // does not wish to recreate the dialog, it MUST respond to the request
      // with a 481 (Call/Transaction Does Not Exist) status code and pass that
      // to the server transaction."
      res.send(481, 'Call/Transaction Does Not Exist', { headers: {} });
    } catch (err) {
      this.#o.logger.warn({ err, method: req.method }, 'takeover: could not handle request');
    }
  }

  /**
   * Offers a request to the adopted calls: true when it belongs to one (it is
   * then answered by that call). Call it for re-INVITEs (INVITE with a To tag)
   * before treating an INVITE as a new call.
   */
  handle(req: IncomingRequestLike, res: TakeoverResponseLike): boolean {
    const { callId, fromTag, toTag } = dialogIdOf(req);
    if (!callId || !fromTag || !toTag) return false;
    const hit = this.#byLeg.get(legKey(callId, toTag, fromTag));
    if (!hit) return false;
    hit.call.onRequest(hit.side, req, res);
    return true;
  }

  /**
   * For CallControl's INVITE handler: true when the INVITE is a re-INVITE (it
   * has a To tag) and was answered here — relayed by its adopted call, or
   * refused 481 (RFC 3261 §12.2.2) when it matches none. False for an INVITE
   * that starts a new call.
   */
  offerInvite(req: IncomingRequestLike, res: TakeoverResponseLike): boolean {
    if (this.#offerResumed(req, res)) return true;
    if (this.handle(req, res)) return true;
    if (!dialogIdOf(req).toTag) return false;
    try {
      res.send(481, 'Call/Transaction Does Not Exist', { headers: {} });
    } catch (err) {
      this.#o.logger.warn({ err }, 'takeover: could not refuse re-INVITE');
    }
    return true;
  }

  /**
   * Rebuilds live calls from mirrored records. Ended, invalid and already
   * known records are skipped. In 'reinvite' mode resolves when every
   * re-INVITE is done; in 'app' mode as soon as the calls are matched.
   */
  async adoptCalls(records: readonly CallRecord[]): Promise<TakeoverProgress> {
    if (this.#destroyed) throw new CoreError({ code: 'ERR_CLOSED', message: 'takeover manager is closed' });
    const srf = this.#srf();
    this.attach();
    const progress: TakeoverProgress = { mode: this.mode, total: records.length, adopted: 0, pending: 0, failed: 0, skipped: 0, resuming: 0 };
    const report = (): void => this.emit('progress', { ...progress });
    const toReinvite: AdoptedCall[] = [];
    const starts: Promise<void>[] = [];
    let Dialog = this.#o.Dialog;
    if (this.mode === 'reinvite' && !Dialog) Dialog = await loadSrfDialog();

    for (const input of records) {
      const problems = validateCallRecord(input);
      if (problems.length > 0 || isTerminalState(input.state) || input.ended || this.#o.store.get(input.id)) {
        if (problems.length > 0) this.#o.logger.warn({ call: (input as { id?: unknown })?.id, problems }, 'takeover: record skipped');
        progress.skipped++;
        continue;
      }
      let adoptedRecord: CallRecord;
      try {
        adoptedRecord = this.#o.store.adopt(input);
      } catch (err) {
        this.#o.logger.warn({ err }, 'takeover: record refused by the store');
        progress.skipped++;
        continue;
      }
      const call = new AdoptedCall({
        record: adoptedRecord,
        store: this.#o.store,
        srf,
        logger: this.#o.logger,
        clock: this.#o.clock,
        mode: this.mode,
        cseqSkip: this.#o.cseqSkip ?? 0,
        ackTimeoutMs: this.#o.ackTimeoutMs,
        Dialog,
        onFinal: (rec) => this.emit('callEnded', rec),
        awaitResumed: (aCallId) => this.#awaitResumed(aCallId),
        onLegsKnown: (c) => this.#indexLegs(c),
      });
      this.#calls.set(call.id, call);
      this.#indexLegs(call);
      void call.done.then(() => this.#linger(call));
      if (call.state === AdoptedCallState.Ringing) {
        if (this.mode === 'app' && canResume(adoptedRecord)) progress.resuming++;
        else progress.failed++;
        starts.push(call.start());
      } else if (call.state === AdoptedCallState.Adopting) {
        progress.pending++;
        toReinvite.push(call);
      } else {
        progress.adopted++;
        starts.push(call.start());
      }
    }
    report();
    if (toReinvite.length > 0) await this.#reinviteAll(toReinvite, progress, report);
    // Releasing unanswered calls and finishing interrupted teardowns go on in the background.
    for (const p of starts) p.catch((err: unknown) => this.#o.logger.warn({ err }, 'takeover: adopted call failed to start'));
    return { ...progress };
  }

  #indexLegs(call: AdoptedCall): void {
    const rec = call.record;
    if (!rec) return;
    for (const side of ['a', 'b'] as const) {
      const leg = rec[side];
      if (leg.callId && leg.localTag && leg.remoteTag) this.#byLeg.set(legKey(leg.callId, leg.localTag, leg.remoteTag), { call, side });
    }
  }

  #awaitResumed(aCallId: string): { promise: Promise<ResumedInvite>; cancel: () => void } {
    let resolve!: (r: ResumedInvite) => void;
    const promise = new Promise<ResumedInvite>((r) => (resolve = r));
    this.#resumeWaiters.set(aCallId, resolve);
    return { promise, cancel: () => this.#resumeWaiters.delete(aCallId) };
  }

  /**
   * A caller's INVITE our engine re-created at takeover (marked X-Dualsip-Resumed): handed to the
   * ringing call waiting for it. True when it was one (it is then answered here, or refused 481 when no
   * call waits for it any more).
   */
  #offerResumed(req: IncomingRequestLike, res: TakeoverResponseLike): boolean {
    const mark = header(req, RESUME_MARK);
    if (mark === undefined) return false;
    const callId = header(req, 'Call-ID') ?? mark;
    const waiter = this.#resumeWaiters.get(callId);
    if (!waiter) {
      try {
        // RFC 3261 §21.4.19 481: "the UAS received a request that does not match any existing dialog or transaction"
        res.send(481, 'Call/Transaction Does Not Exist', { headers: {} });
      } catch (err) {
        this.#o.logger.warn({ err }, 'takeover: could not refuse a resumed INVITE');
      }
      return true;
    }
    this.#resumeWaiters.delete(callId);
    waiter({ req, res });
    return true;
  }

  /** Re-INVITEs the calls at `reinviteRate` calls per second. */
  async #reinviteAll(calls: AdoptedCall[], progress: TakeoverProgress, report: () => void): Promise<void> {
    const rate = Math.max(0.001, this.#o.reinviteRate ?? 100);
    const gapMs = 1000 / rate;
    const runs: Promise<void>[] = [];
    for (let i = 0; i < calls.length; i++) {
      if (this.#destroyed) break;
      if (i > 0) await this.#sleep(gapMs);
      const call = calls[i]!;
      runs.push(
        call.reinvite().then(
          (ok) => {
            progress.pending--;
            if (ok) progress.adopted++;
            else progress.failed++;
            report();
          },
          () => {
            progress.pending--;
            progress.failed++;
            report();
          },
        ),
      );
    }
    await Promise.all(runs);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = this.#o.clock.setTimeout(() => {
        this.#timers.delete(t);
        r();
      }, ms);
      this.#timers.add(t);
    });
  }

  /** Keeps an ended call matchable for a while so late requests get 200/481 from it, not from nobody. */
  #linger(call: AdoptedCall): void {
    const t = this.#o.clock.setTimeout(() => {
      this.#timers.delete(t);
      this.#forget(call);
    }, this.#o.lingerMs ?? 32_000);
    this.#timers.add(t);
  }

  #forget(call: AdoptedCall): void {
    this.#calls.delete(call.id);
    for (const [k, v] of this.#byLeg) if (v.call === call) this.#byLeg.delete(k);
  }

  /**
   * Drops every adopted call without sending anything (this node lost the active role).
   * Requests for those dialogs are no longer matched. Returns how many were live.
   */
  forgetAll(): number {
    let n = 0;
    for (const c of this.#calls.values()) {
      if (c.state !== AdoptedCallState.Ended && c.state !== AdoptedCallState.Failed) n++;
      c.forget();
    }
    this.#calls.clear();
    this.#byLeg.clear();
    this.#resumeWaiters.clear();
    for (const t of this.#timers) this.#o.clock.clearTimeout(t);
    this.#timers.clear();
    return n;
  }

  /** Ends every adopted call from our side (BYE on both legs). */
  async hangupAll(reason: string): Promise<void> {
    await Promise.all([...this.#calls.values()].map((c) => c.hangup({ reason }).catch(() => {})));
  }

  /** Stops timers; adopted calls are left as they are (call hangupAll first to end them). Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const t of this.#timers) this.#o.clock.clearTimeout(t);
    this.#timers.clear();
  }
}

async function loadSrfDialog(): Promise<DialogConstructor> {
  const mod = (await import('drachtio-srf')) as unknown as { default: { Dialog: DialogConstructor } };
  return mod.default.Dialog;
}
