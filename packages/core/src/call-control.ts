import { randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { CoreError } from './errors.js';
import { TypedEmitter } from './typed-emitter.js';
import { systemClock, type Clock } from './clock.js';
import { B2BCall } from './call/b2b-call.js';
import { CallState } from './call/call-state.js';
import { CallRecordStore, type RecordSink } from './records/call-record-store.js';
import type { CallRecord } from './records/call-record.js';
import { Router, type RoutingConfig } from './routing/router.js';
import type { IncomingRequestLike, ServerResponseLike, SrfLike } from './srf-surface.js';
import { TakeoverManager, type TakeoverOptions, type TakeoverProgress } from './takeover/takeover-manager.js';
import type { TakeoverResponseLike, TakeoverSrfLike } from './takeover/types.js';
import type { AdoptedCall } from './takeover/adopted-call.js';
import { askWithTimeout, callOfferFrom, type CallOffer, type RouteHook } from './app-api/route-hook.js';
import { userOf } from './routing/sip-uri.js';

/** How to reach a drachtio server (ours or stock) when no connected Srf is given. */
export interface DrachtioConnectOptions {
  host: string;
  port: number;
  secret: string;
  /** How long start() waits for the connection. Default 10 s. */
  connectTimeoutMs?: number;
}

export interface CallControlOptions {
  /** A connected drachtio-srf instance (or anything with the same surface), or where to connect. */
  srf: SrfLike | DrachtioConnectOptions;
  routing: RoutingConfig;
  /** Receives every record change (e.g. the sync layer's SyncNode). */
  sink?: RecordSink;
  /** Current HA epoch; default 0. */
  epoch?: () => number;
  logger?: Logger;
  clock?: Clock;
  /** How long close() waits for calls to end before releasing them. Default 30 s. */
  drainTimeoutMs?: number;
  /** How calls mirrored from a dead active are adopted (see adoptCalls). */
  takeover?: TakeoverOptions;
}

export type CallControlEvents = {
  /** Every change of every call record. */
  record: (record: CallRecord) => void;
  callStarted: (record: CallRecord) => void;
  callAnswered: (record: CallRecord) => void;
  /** The final record of a call (state 'ended' or 'failed'), exactly once per call. */
  callEnded: (record: CallRecord) => void;
  /** A new call's INVITE as applications see it (id, URIs, custom headers); before its first record. */
  callOffered: (offer: CallOffer) => void;
  /** A record the sink could not take (the record is kept regardless). */
  sinkError: (err: unknown, record: CallRecord) => void;
};

type Phase = 'new' | 'starting' | 'running' | 'draining' | 'closed';

/**
 * What to do with a new INVITE (operator drain, switchover): take it, refuse it with a
 * final response (e.g. 503 + Retry-After, or 302 to the peer), or hold it unanswered
 * until the admission changes (the engine has sent 100 Trying already), or drop it
 * unanswered (a node that no longer owns SIP forgets what it held).
 */
export type AdmissionDecision =
  | { action: 'accept' }
  | { action: 'refuse'; status: number; reason?: string; headers?: Record<string, string> }
  | { action: 'hold' }
  | { action: 'drop' };
export type Admission = (req: IncomingRequestLike) => AdmissionDecision;

function isConnectOptions(x: SrfLike | DrachtioConnectOptions): x is DrachtioConnectOptions {
  return typeof (x as DrachtioConnectOptions).host === 'string' && typeof (x as SrfLike).invite !== 'function';
}

/**
 * The B2BUA: takes INVITEs from drachtio-srf, routes them, runs each call as a
 * B2BCall, and keeps the call records.
 */
export class CallControl extends TypedEmitter<CallControlEvents> {
  readonly store: CallRecordStore;
  /** Calls adopted from the peer's mirror at takeover. */
  readonly takeover: TakeoverManager;
  readonly #opts: CallControlOptions;
  readonly #router: Router;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #calls = new Map<string, B2BCall>();
  #srf?: SrfLike;
  #ownSrf = false;
  #phase: Phase = 'new';
  #closing?: Promise<void>;
  #admission?: Admission;
  #held: Array<{ req: IncomingRequestLike; res: ServerResponseLike }> = [];
  #heldDropped = 0;
  /** Set by the application API while a router application is connected. */
  routeHook: RouteHook | undefined;

  constructor(opts: CallControlOptions) {
    super();
    this.#opts = opts;
    this.#router = new Router(opts.routing);
    this.#log = opts.logger ?? pino({ level: 'silent' });
    this.#clock = opts.clock ?? systemClock;
    this.onListenerError = (err, event) => this.#log.error({ err, event }, 'CallControl listener threw');
    this.store = new CallRecordStore({ sink: opts.sink, epoch: opts.epoch, clock: this.#clock });
    this.store.onListenerError = this.onListenerError;
    this.store.on('record', (r) => this.emit('record', r));
    this.store.on('sinkError', (err, r) => {
      this.#log.warn({ err, call: r.id, version: r.version }, 'record sink failed');
      this.emit('sinkError', err, r);
    });
    this.takeover = new TakeoverManager({
      ...opts.takeover,
      srf: () => this.#srf as unknown as TakeoverSrfLike | undefined,
      store: this.store,
      logger: this.#log,
      clock: this.#clock,
    });
    this.takeover.onListenerError = this.onListenerError;
    this.takeover.on('callEnded', (r) => this.emit('callEnded', r));
  }

  /**
   * Takeover: rebuilds live calls from the records mirrored from the dead
   * active (see takeover/takeover-manager.ts). Call after start().
   */
  adoptCalls(records: readonly CallRecord[]): Promise<TakeoverProgress> {
    if (this.#phase !== 'running') {
      return Promise.reject(new CoreError({ code: 'ERR_NOT_STARTED', message: `CallControl cannot adopt calls: it is ${this.#phase}` }));
    }
    return this.takeover.adoptCalls(records);
  }

  /**
   * Drops the local state of every live call WITHOUT sending SIP: for a node that lost
   * the active role (stepped down or fenced), whose calls the new active owns. Held
   * INVITEs are dropped unanswered, calls and adopted calls stop recording, live records
   * are dropped without being published. Returns how many calls were dropped.
   */
  forgetCalls(reason: string): number {
    const held = this.#held.length;
    this.#held = [];
    this.#heldDropped += held;
    let n = 0;
    for (const call of this.#calls.values()) {
      call.forget();
      n++;
    }
    this.#calls.clear();
    n += this.takeover.forgetAll();
    const records = this.store.forgetLive();
    this.#log.info({ reason, calls: n, records, held }, 'forgot live calls (no SIP sent)');
    return n;
  }

  /** Connects (if given connect options) and starts taking calls. */
  async start(): Promise<void> {
    if (this.#phase !== 'new') {
      throw new CoreError({ code: 'ERR_CLOSED', message: `CallControl cannot start: it is ${this.#phase}` });
    }
    this.#phase = 'starting';
    const s = this.#opts.srf;
    if (isConnectOptions(s)) {
      this.#srf = await this.#connect(s);
      this.#ownSrf = true;
    } else {
      this.#srf = s;
    }
    if (this.#phase !== 'starting') return; // destroyed meanwhile
    this.#srf.invite((req, res) => this.#onInvite(req, res));
    this.#phase = 'running';
  }

  async #connect(c: DrachtioConnectOptions): Promise<SrfLike> {
    const { default: Srf } = await import('drachtio-srf');
    const srf = new Srf();
    // drachtio-srf emits 'error' on connection problems; without a listener that would crash the process.
    srf.on('error', (err: Error) => this.#log.warn({ err }, 'drachtio connection error'));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        srf.disconnect();
        reject(new CoreError({ code: 'ERR_CONNECT', message: `no drachtio server at ${c.host}:${c.port} after ${c.connectTimeoutMs ?? 10_000} ms` }));
      }, c.connectTimeoutMs ?? 10_000);
      srf.on('connect', (err: Error | null, hostport: string) => {
        clearTimeout(timer);
        if (err) {
          srf.disconnect();
          reject(new CoreError({ code: 'ERR_CONNECT', message: `drachtio server refused us: ${err.message}`, cause: err }));
          return;
        }
        this.#log.debug({ hostport }, 'connected to drachtio server');
        resolve();
      });
      void srf.connect({ host: c.host, port: c.port, secret: c.secret });
    });
    return srf as unknown as SrfLike;
  }

  #onInvite(req: IncomingRequestLike, res: ServerResponseLike): void {
    // A re-INVITE in a dialog adopted at takeover arrives as a new request.
    if (this.takeover.attached && this.takeover.offerInvite(req, res as unknown as TakeoverResponseLike)) return;
    if (this.#phase !== 'running') {
      // RFC 3261 §21.5.4 503 Service Unavailable: "The server is temporarily
      // unable to process the request due to a temporary overloading or
      // maintenance of the server."
      try {
        res.send(503, 'Service Unavailable', { headers: {} });
      } catch (err) {
        this.#log.warn({ err }, 'could not refuse INVITE');
      }
      return;
    }
    if (this.#admission) {
      let d: AdmissionDecision;
      try {
        d = this.#admission(req);
      } catch (err) {
        this.#log.warn({ err }, 'admission threw: taking the call');
        d = { action: 'accept' };
      }
      if (d.action === 'hold') {
        this.#held.push({ req, res });
        return;
      }
      if (d.action === 'drop') return;
      if (d.action === 'refuse') {
        try {
          res.send(d.status, d.reason ?? '', { headers: d.headers ?? {} });
        } catch (err) {
          this.#log.warn({ err }, 'could not refuse INVITE');
        }
        return;
      }
    }
    const id = randomUUID();
    const offer = callOfferFrom(id, req, userOf(req.uri));
    this.emit('callOffered', offer);
    const hook = this.routeHook;
    const call = new B2BCall({
      id,
      srf: this.#srf!,
      store: this.store,
      router: this.#router,
      logger: this.#log,
      clock: this.#clock,
      req,
      res,
      ...(hook ? { appRoute: () => askWithTimeout(hook, offer, this.#clock) } : {}),
      onForgottenBye: (callId, side, bye) => {
        const adopted = this.takeover.call(callId);
        if (adopted) adopted.byeAnsweredElsewhere(side, bye);
        else this.#log.debug({ call: callId, side }, 'BYE on a forgotten call that this node does not own: answered, nothing else');
      },
      onTransition: (record, from, to) => {
        if (to === CallState.Answered) this.emit('callAnswered', record);
        if (record.ended) this.emit('callEnded', record);
        void from;
      },
    });
    this.#calls.set(id, call);
    void call.done.then(() => this.#calls.delete(id));
    try {
      call.start();
    } catch (err) {
      this.#log.error({ err }, 'could not start call');
      this.#calls.delete(id);
      try {
        res.send(500, 'Server Internal Error', { headers: {} });
      } catch {
        /* nothing more to do */
      }
      return;
    }
    const rec = this.store.get(id);
    if (rec) this.emit('callStarted', rec);
  }

  /**
   * Sets (or with no argument clears) the admission of new INVITEs. INVITEs held so far
   * are decided again under the new admission.
   */
  setAdmission(admission?: Admission): void {
    this.#admission = admission;
    const held = this.#held;
    this.#held = [];
    for (const h of held) this.#onInvite(h.req, h.res);
  }

  /** INVITEs that were held by the admission and dropped unanswered by forgetCalls(), since start. */
  get heldDropped(): number {
    return this.#heldDropped;
  }

  /** INVITEs held unanswered by the admission. */
  get heldInvites(): number {
    return this.#held.length;
  }

  /** Records of the calls in progress. */
  calls(): CallRecord[] {
    return this.store.live();
  }

  /** The live call `id` bridged here (not adopted at takeover), for application commands. */
  liveCall(id: string): B2BCall | undefined {
    return this.#calls.get(id);
  }

  /** A call adopted at takeover, for application commands (hang-up, INFO, REFER). */
  adoptedCall(id: string): AdoptedCall | undefined {
    return this.takeover.call(id);
  }

  /** A call's current (or recent final) record. */
  call(id: string): CallRecord | undefined {
    return this.store.get(id);
  }

  get phase(): Phase {
    return this.#phase;
  }

  /**
   * Drains: refuses new calls with 503, waits up to `timeoutMs` for calls in
   * progress to end, releases what is left, then disconnects. Idempotent.
   */
  close(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const timeoutMs = opts.timeoutMs ?? this.#opts.drainTimeoutMs ?? 30_000;
    this.#phase = this.#phase === 'closed' ? 'closed' : 'draining';
    this.#closing = (async () => {
      const pending = [...this.#calls.values()].map((c) => c.done).concat(this.takeover.pending());
      if (pending.length > 0) {
        this.#log.info({ calls: pending.length, timeoutMs }, 'draining calls');
        let timer: unknown;
        const timedOut = await Promise.race([
          Promise.all(pending).then(() => false),
          new Promise<boolean>((r) => (timer = this.#clock.setTimeout(() => r(true), timeoutMs))),
        ]);
        this.#clock.clearTimeout(timer);
        if (timedOut) await this.#releaseAll('drain-timeout');
      }
      this.#finish();
    })();
    return this.#closing;
  }

  /** Aborts: releases every call at once and disconnects. Idempotent. */
  destroy(err?: Error): void {
    if (this.#phase === 'closed') return;
    if (err) this.#log.error({ err }, 'call control destroyed');
    this.#phase = 'draining';
    void this.#releaseAll('shutdown').finally(() => this.#finish());
    this.#closing ??= Promise.resolve();
  }

  async #releaseAll(reason: string): Promise<void> {
    await Promise.all([...this.#calls.values()].map((c) => c.hangup({ reason }).catch(() => {})).concat(this.takeover.hangupAll(reason)));
  }

  #finish(): void {
    this.#phase = 'closed';
    this.takeover.destroy();
    if (this.#ownSrf) {
      try {
        this.#srf?.disconnect?.();
      } catch {
        /* already gone */
      }
    }
  }
}
