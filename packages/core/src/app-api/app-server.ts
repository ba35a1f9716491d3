/**
 * AppServer — the application API of one node: a WebSocket server (JSON text
 * frames, see protocol.ts) on the node's own address. Applications
 * authenticate with a per-application token, subscribe to call and pair
 * events, register as routers, act on calls and query the pair.
 *
 * The core never waits on an application: routing questions are bounded by
 * `routeTimeoutMs` (then static routing applies), and a connection whose
 * unsent data exceeds `maxBacklog` bytes is closed (4008).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { CallRecord } from '../records/call-record.js';
import { TypedEmitter } from '../typed-emitter.js';
import { CallEventMapper, stateEvent, summarize, type CallEvent } from './call-events.js';
import { AppApiError, CLOSE_AUTH_FAILED, CLOSE_BACKLOG, CLOSE_SHUTDOWN, type AppApiErrorCode } from './errors.js';
import type { PairSource } from './pair-source.js';
import {
  APP_API_VERSION,
  parseClientMessage,
  requestIdOf,
  type ClientRequest,
  type PairEventName,
  type PairView,
  type RequestId,
  type ServerMessage,
} from './protocol.js';
import type { CallOffer, RouteAnswer, RouteHook } from './route-hook.js';

/** A live call as the application API drives it (B2BCall satisfies it). */
export interface AppCallHandle {
  hangup(opts: { reason: string }): Promise<void>;
  sendRequest(side: 'a' | 'b', opts: { method: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; reason: string }>;
  /** Transfer by re-routing the B leg to a new target. */
  rerouteB?(opts: { target: string; headers?: Record<string, string> }): Promise<void>;
}

/** The slice of CallControl the application API uses. */
export interface AppCallSource {
  on(event: 'record', fn: (r: CallRecord) => void): unknown;
  on(event: 'callOffered', fn: (o: CallOffer) => void): unknown;
  off(event: 'record', fn: (r: CallRecord) => void): unknown;
  off(event: 'callOffered', fn: (o: CallOffer) => void): unknown;
  calls(): CallRecord[];
  call(id: string): CallRecord | undefined;
  liveCall(id: string): AppCallHandle | undefined;
  /** Calls adopted at takeover: hang-up, INFO and REFER (not re-route: no B2BCall behind them). */
  adoptedCall?(id: string): AppCallHandle | undefined;
  routeHook: RouteHook | undefined;
}

export interface AppServerOptions {
  calls: AppCallSource;
  /** HA status and events; none for a standalone node. */
  pair?: PairSource;
  /** This node's id (the pair's node.id; any stable name for a standalone node). */
  nodeId: string;
  address: string;
  /** 0: an ephemeral port. */
  port: number;
  /** Application name → token. */
  tokens: Record<string, string>;
  /** Longest the core waits for a router application. Default 1000 ms. */
  routeTimeoutMs?: number;
  /** Unsent bytes a connection may queue before it is closed. Default 1 MiB. */
  maxBacklog?: number;
  /** Time to send a valid hello. Default 5000 ms. */
  authTimeoutMs?: number;
  /** Largest accepted frame. Default 256 KiB. */
  maxPayload?: number;
  logger?: Logger;
}

export type AppServerEvents = {
  connection: (info: { session: number; remote: string }) => void;
  authenticated: (info: { session: number; app: string }) => void;
  disconnected: (info: { session: number; app: string | null; code: number; reason: string }) => void;
  /** A router question was not answered in time (static routing applied). */
  routeTimeout: (info: { call: string; app: string }) => void;
};

type Phase = 'new' | 'listening' | 'closing' | 'closed';

interface Session {
  id: number;
  ws: WebSocket;
  remote: string;
  app: string | null;
  calls: boolean;
  pair: boolean;
  router: boolean;
  closed: boolean;
  authTimer?: NodeJS.Timeout;
}

interface PendingRoute {
  session: Session;
  call: string;
  resolve: (a: RouteAnswer | undefined) => void;
  timer: NodeJS.Timeout;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export class AppServer extends TypedEmitter<AppServerEvents> {
  readonly #o: AppServerOptions;
  readonly #log: Logger;
  readonly #tokens: Array<{ app: string; hash: Buffer }>;
  readonly #sessions = new Set<Session>();
  readonly #routers: Session[] = [];
  readonly #pending = new Map<string, PendingRoute>();
  readonly #mapper = new CallEventMapper();
  readonly #offers = new Map<string, Record<string, string>>();
  readonly #boot = randomBytes(4).toString('hex');
  readonly #routeTimeoutMs: number;
  readonly #maxBacklog: number;
  #pair: PairSource | undefined;
  #pairSeq = 0;
  #nextSession = 1;
  #nextRequest = 1;
  #wss: WebSocketServer | undefined;
  #phase: Phase = 'new';
  #closing: Promise<void> | undefined;
  #address: AddressInfo | undefined;

  readonly #onRecord = (r: CallRecord): void => this.#record(r);
  readonly #onOffered = (o: CallOffer): void => {
    if (Object.keys(o.headers).length > 0) this.#offers.set(o.call, o.headers);
  };
  readonly #onPairEvent = (name: PairEventName, data: Record<string, unknown>): void => this.#pairEvent(name, data);
  readonly #hook: RouteHook;

  constructor(opts: AppServerOptions) {
    super();
    const problems: string[] = [];
    if (!opts.calls) problems.push('calls: required');
    if (typeof opts.nodeId !== 'string' || !opts.nodeId) problems.push('nodeId: required');
    if (!opts.tokens || typeof opts.tokens !== 'object') problems.push('tokens: must be an object of application name → token');
    else for (const [app, t] of Object.entries(opts.tokens)) if (typeof t !== 'string' || t.length < 8) problems.push(`tokens.${app}: must be a string of at least 8 characters`);
    if (opts.routeTimeoutMs !== undefined && !(opts.routeTimeoutMs > 0)) problems.push('routeTimeoutMs: must be > 0');
    if (opts.maxBacklog !== undefined && !(opts.maxBacklog > 0)) problems.push('maxBacklog: must be > 0');
    if (problems.length > 0) throw new AppApiError({ code: 'ERR_BAD_OPTIONS', message: problems.join('; ') });
    this.#o = opts;
    this.#log = opts.logger ?? pino({ level: 'silent' });
    this.onListenerError = (err, event) => this.#log.error({ err, event }, 'AppServer listener threw');
    this.#tokens = Object.entries(opts.tokens).map(([app, t]) => ({ app, hash: digest(t) }));
    this.#routeTimeoutMs = opts.routeTimeoutMs ?? 1000;
    this.#maxBacklog = opts.maxBacklog ?? 1024 * 1024;
    this.#hook = { timeoutMs: this.#routeTimeoutMs, ask: (offer) => this.#ask(offer) };
    if (opts.pair) this.attachPair(opts.pair);
  }

  /** Where the server listens (after start()). */
  get address(): AddressInfo {
    if (!this.#address) throw new AppApiError({ code: 'ERR_CLOSED', message: 'the application API is not listening' });
    return this.#address;
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  /** Starts listening; resolves with the bound address. */
  async start(): Promise<AddressInfo> {
    if (this.#phase !== 'new') throw new AppApiError({ code: 'ERR_CLOSED', message: `the application API cannot start: it is ${this.#phase}` });
    const wss = new WebSocketServer({ host: this.#o.address, port: this.#o.port, maxPayload: this.#o.maxPayload ?? 256 * 1024, clientTracking: false });
    this.#wss = wss;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new AppApiError({ code: 'ERR_LISTEN', message: `application API cannot listen on ${this.#o.address}:${this.#o.port}: ${err.message}`, cause: err }));
      };
      wss.once('error', onError);
      wss.once('listening', () => {
        wss.off('error', onError);
        resolve();
      });
    });
    wss.on('error', (err) => this.#log.error({ err }, 'application API server error'));
    wss.on('connection', (ws, req) => this.#accept(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`));
    this.#address = wss.address() as AddressInfo;
    this.#o.calls.on('record', this.#onRecord);
    this.#o.calls.on('callOffered', this.#onOffered);
    this.#phase = 'listening';
    this.#log.info({ address: this.#address.address, port: this.#address.port }, 'application API listening');
    return this.#address;
  }

  /** Connects the HA layer (the CLI builds the HaNode after call control). */
  attachPair(pair: PairSource): void {
    this.#pair?.off('event', this.#onPairEvent);
    this.#pair = pair;
    pair.on('event', this.#onPairEvent);
  }

  #view(): PairView {
    if (this.#pair) return this.#pair.view();
    return { node: this.#o.nodeId, role: 'standalone', epoch: 0, ready: true, readyReasons: [], active: this.#o.nodeId, peer: null };
  }

  #isActive(): boolean {
    return this.#pair ? this.#pair.isActive() : true;
  }

  // ------------------------------------------------------------ connections

  #accept(ws: WebSocket, remote: string): void {
    if (this.#phase !== 'listening') {
      ws.close(CLOSE_SHUTDOWN, 'node shutting down');
      return;
    }
    const s: Session = { id: this.#nextSession++, ws, remote, app: null, calls: false, pair: false, router: false, closed: false };
    this.#sessions.add(s);
    s.authTimer = setTimeout(() => this.#closeSession(s, CLOSE_AUTH_FAILED, 'authentication timeout'), this.#o.authTimeoutMs ?? 5000);
    s.authTimer.unref();
    ws.on('message', (data, isBinary) => this.#onMessage(s, data, isBinary));
    ws.on('close', (code, reason) => this.#gone(s, code, reason.toString()));
    ws.on('error', (err) => this.#log.debug({ err, session: s.id }, 'application connection error'));
    this.emit('connection', { session: s.id, remote });
  }

  #gone(s: Session, code: number, reason: string): void {
    if (!this.#sessions.delete(s)) return;
    s.closed = true;
    if (s.authTimer) clearTimeout(s.authTimer);
    this.#dropRouter(s);
    this.#log.info({ session: s.id, app: s.app, code, reason }, 'application disconnected');
    this.emit('disconnected', { session: s.id, app: s.app, code, reason });
  }

  #closeSession(s: Session, code: number, reason: string): void {
    if (s.closed) return;
    s.closed = true;
    this.#dropRouter(s);
    try {
      s.ws.close(code, reason);
    } catch {
      /* already closing */
    }
    // A peer that never completes the closing handshake (e.g. it does not read) is cut off.
    setTimeout(() => s.ws.terminate(), 1000).unref();
  }

  #send(s: Session, msg: ServerMessage): void {
    if (s.closed || s.ws.readyState !== WebSocket.OPEN) return;
    const text = JSON.stringify(msg);
    if (s.ws.bufferedAmount + text.length > this.#maxBacklog) {
      this.#log.warn({ session: s.id, app: s.app, backlog: s.ws.bufferedAmount }, 'application does not read its events: disconnecting');
      this.#closeSession(s, CLOSE_BACKLOG, 'backlog exceeded');
      return;
    }
    s.ws.send(text);
  }

  #reply(s: Session, id: RequestId, data: unknown): void {
    this.#send(s, { type: 'result', id, data });
  }

  #error(s: Session, id: RequestId | null, err: unknown): void {
    const e =
      err instanceof AppApiError
        ? err
        : new AppApiError({ code: 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) });
    this.#send(s, {
      type: 'error',
      id,
      code: e.code,
      message: e.message,
      ...(e.status !== undefined ? { status: e.status } : {}),
      ...(e.active !== undefined ? { active: e.active } : {}),
    });
  }

  #onMessage(s: Session, data: RawData, isBinary: boolean): void {
    if (s.closed) return;
    if (isBinary) {
      this.#error(s, null, new AppApiError({ code: 'ERR_BAD_MESSAGE', message: 'messages are JSON text frames' }));
      return;
    }
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    let msg: ClientRequest;
    try {
      msg = parseClientMessage(text);
    } catch (err) {
      let id: RequestId | null = null;
      try {
        id = requestIdOf(JSON.parse(text));
      } catch {
        /* not JSON: no id */
      }
      this.#error(s, id, err);
      return;
    }
    // hello is handled at once, so requests pipelined right behind it see the session authenticated.
    if (msg.type === 'hello') {
      this.#hello(s, msg);
      return;
    }
    if (s.app === null) {
      this.#error(s, requestIdOf(msg), new AppApiError({ code: 'ERR_NOT_AUTHENTICATED', message: 'send hello with your token first' }));
      return;
    }
    Promise.resolve()
      .then(() => this.#handle(s, msg))
      .catch((err: unknown) => {
        if (!(err instanceof AppApiError)) this.#log.error({ err, type: msg.type }, 'application request failed');
        this.#error(s, requestIdOf(msg), err);
      });
  }

  async #handle(s: Session, m: ClientRequest): Promise<void> {
    switch (m.type) {
      case 'hello':
        this.#hello(s, m);
        return;
      case 'ping':
        this.#reply(s, m.id, { node: this.#o.nodeId, at: Date.now() });
        return;
      case 'subscribe': {
        const all = m.calls === undefined && m.pair === undefined;
        const calls = all || m.calls === true;
        const pair = all || m.pair === true;
        if (pair) s.pair = true;
        // The reply first, then a snapshot of live calls (replay: true) so a client that
        // (re)subscribes after a takeover learns what it missed; it dedupes by call and seq.
        this.#reply(s, m.id, { calls: s.calls || calls, pair: s.pair, view: this.#view() });
        if (calls && !s.calls) {
          s.calls = true;
          for (const r of this.#o.calls.calls()) {
            const ev = stateEvent(r);
            if (ev) this.#send(s, { type: 'event', event: ev, node: this.#o.nodeId, call: r.id, seq: r.version, replay: true, data: summarize(r, this.#offers.get(r.id)) });
          }
        }
        return;
      }
      case 'unsubscribe': {
        const all = m.calls === undefined && m.pair === undefined;
        if (all || m.calls) s.calls = false;
        if (all || m.pair) s.pair = false;
        this.#reply(s, m.id, { calls: s.calls, pair: s.pair });
        return;
      }
      case 'router.register':
        if (!s.router) {
          s.router = true;
          this.#routers.push(s);
          this.#o.calls.routeHook = this.#hook;
        }
        this.#reply(s, m.id, { router: true, timeoutMs: this.#routeTimeoutMs });
        return;
      case 'router.unregister':
        this.#dropRouter(s);
        this.#reply(s, m.id, { router: false });
        return;
      case 'route.decision': {
        const p = this.#pending.get(m.request);
        if (!p || p.session !== s) {
          if (m.id !== undefined) this.#error(s, m.id, new AppApiError({ code: 'ERR_UNKNOWN_REQUEST', message: `no routing question ${m.request} is waiting (answered already or timed out)` }));
          return;
        }
        this.#pending.delete(m.request);
        clearTimeout(p.timer);
        p.resolve(
          m.action === 'route'
            ? { action: 'route', target: m.target, ...(m.headers ? { headers: m.headers } : {}) }
            : m.action === 'reject'
              ? { action: 'reject', status: m.status, ...(m.reason ? { reason: m.reason } : {}) }
              : undefined,
        );
        if (m.id !== undefined) this.#reply(s, m.id, { accepted: true });
        return;
      }
      case 'query.pair':
        this.#reply(s, m.id, { ...this.#view(), calls: this.#o.calls.calls().length, apiVersion: APP_API_VERSION });
        return;
      case 'query.calls':
        this.#reply(s, m.id, {
          node: this.#o.nodeId,
          active: this.#isActive(),
          calls: this.#o.calls.calls().map((r) => ({ call: r.id, seq: r.version, ...summarize(r, this.#offers.get(r.id)) })),
        });
        return;
      case 'query.call': {
        const r = this.#o.calls.call(m.call);
        if (!r) throw this.#unknownCall(m.call);
        this.#reply(s, m.id, { call: r.id, seq: r.version, ...summarize(r, this.#offers.get(r.id)) });
        return;
      }
      case 'call.hangup': {
        this.#requireActive();
        const r = this.#o.calls.call(m.call);
        if (!r) throw this.#unknownCall(m.call);
        // Idempotent: hanging up a call that is over already succeeds (a retry after a takeover).
        if (!r.ended) {
          const reason = m.reason ?? 'app-hangup';
          const live = this.#o.calls.liveCall(m.call) ?? this.#o.calls.adoptedCall?.(m.call);
          if (!live) throw new AppApiError({ code: 'ERR_CALL_STATE', message: `call ${m.call} is not controlled by this node` });
          await live.hangup({ reason });
        }
        const after = this.#o.calls.call(m.call) ?? r;
        this.#reply(s, m.id, { call: m.call, state: after.state, endReason: after.endReason ?? null });
        return;
      }
      case 'call.reroute': {
        this.#requireActive();
        const r = this.#o.calls.call(m.call);
        if (!r) throw this.#unknownCall(m.call);
        const live = this.#o.calls.liveCall(m.call);
        if (!live?.rerouteB || r.state !== 'answered') throw new AppApiError({ code: 'ERR_CALL_STATE', message: `call ${m.call} is ${r.state}${live ? '' : ' and not controlled by this node'}: call.reroute needs an answered call` });
        try {
          await live.rerouteB({ target: m.target, ...(m.headers ? { headers: m.headers } : {}) });
        } catch (err) {
          const status = (err as { status?: unknown }).status;
          if (typeof status === 'number') throw new AppApiError({ code: 'ERR_SIP', status, message: `re-route to ${m.target} failed: ${status}; the call goes on with the old callee`, cause: err });
          throw new AppApiError({ code: 'ERR_CALL_STATE', message: `re-route failed: ${(err as Error).message}`, cause: err });
        }
        const after = this.#o.calls.call(m.call) ?? r;
        this.#reply(s, m.id, { call: m.call, target: after.route.target, state: after.state });
        return;
      }
      case 'call.info':
      case 'call.refer': {
        this.#requireActive();
        const r = this.#o.calls.call(m.call);
        if (!r) throw this.#unknownCall(m.call);
        const live = this.#o.calls.liveCall(m.call) ?? this.#o.calls.adoptedCall?.(m.call);
        if (!live || r.state !== 'answered') throw new AppApiError({ code: 'ERR_CALL_STATE', message: `call ${m.call} is ${r.state}${live ? '' : ' and not controlled by this node'}: ${m.type} needs an answered call` });
        const headers: Record<string, string> = { ...(m.headers ?? {}) };
        let body: string | undefined;
        let method: string;
        if (m.type === 'call.info') {
          method = 'INFO';
          if (m.contentType) headers['Content-Type'] = m.contentType;
          body = m.body;
        } else {
          method = 'REFER';
          headers['Refer-To'] = `<${m.referTo}>`;
        }
        let res: { status: number; reason: string };
        try {
          res = await live.sendRequest(m.leg ?? 'a', { method, headers, ...(body !== undefined ? { body } : {}) });
        } catch (err) {
          throw new AppApiError({ code: 'ERR_CALL_STATE', message: `${method} not sent: ${(err as Error).message}`, cause: err });
        }
        if (res.status >= 300) throw new AppApiError({ code: 'ERR_SIP', status: res.status, message: `${method} answered ${res.status} ${res.reason}` });
        this.#reply(s, m.id, { call: m.call, status: res.status, reason: res.reason });
        return;
      }
    }
  }

  #hello(s: Session, m: Extract<ClientRequest, { type: 'hello' }>): void {
    if (s.app !== null) {
      this.#reply(s, m.id, this.#helloData(s.app));
      return;
    }
    const got = digest(m.token);
    const hit = this.#tokens.find((t) => timingSafeEqual(t.hash, got));
    if (!hit || (m.name !== undefined && m.name !== hit.app)) {
      this.#log.warn({ session: s.id, remote: s.remote, name: m.name }, 'application authentication failed');
      this.#error(s, m.id, new AppApiError({ code: 'ERR_AUTH', message: 'unknown token for this node' }));
      this.#closeSession(s, CLOSE_AUTH_FAILED, 'authentication failed');
      return;
    }
    s.app = hit.app;
    if (s.authTimer) clearTimeout(s.authTimer);
    this.#log.info({ session: s.id, app: s.app, remote: s.remote }, 'application connected');
    this.emit('authenticated', { session: s.id, app: s.app });
    this.#reply(s, m.id, this.#helloData(s.app));
    return;
  }

  #helloData(app: string): Record<string, unknown> {
    return { node: this.#o.nodeId, app, apiVersion: APP_API_VERSION, boot: this.#boot, routeTimeoutMs: this.#routeTimeoutMs, view: this.#view() };
  }

  #unknownCall(id: string): AppApiError {
    return new AppApiError({ code: 'ERR_UNKNOWN_CALL', message: `no call ${id} on node ${this.#o.nodeId}` });
  }

  #requireActive(): void {
    if (this.#isActive()) return;
    const v = this.#view();
    throw new AppApiError({
      code: 'ERR_NOT_ACTIVE',
      active: v.active,
      message: `node ${this.#o.nodeId} is ${v.role}; ${v.active ? `the active is ${v.active}` : 'no active node is known'}`,
    });
  }

  // ------------------------------------------------------------ routing

  #dropRouter(s: Session): void {
    if (!s.router) return;
    s.router = false;
    const i = this.#routers.indexOf(s);
    if (i >= 0) this.#routers.splice(i, 1);
    for (const [rid, p] of this.#pending) {
      if (p.session !== s) continue;
      this.#pending.delete(rid);
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    if (this.#routers.length === 0 && this.#o.calls.routeHook === this.#hook) this.#o.calls.routeHook = undefined;
  }

  #ask(offer: CallOffer): Promise<RouteAnswer | undefined> {
    // The most recently registered router that is still connected decides.
    const s = this.#routers[this.#routers.length - 1];
    if (!s || s.closed) return Promise.resolve(undefined);
    const rid = `r${this.#nextRequest++}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (!this.#pending.delete(rid)) return;
        this.#log.warn({ call: offer.call, app: s.app, timeoutMs: this.#routeTimeoutMs }, 'router application did not answer in time: static routing');
        this.emit('routeTimeout', { call: offer.call, app: s.app ?? '' });
        resolve(undefined);
      }, this.#routeTimeoutMs);
      timer.unref();
      this.#pending.set(rid, { session: s, call: offer.call, resolve, timer });
      this.#send(s, { type: 'route.request', request: rid, offer, timeoutMs: this.#routeTimeoutMs });
      if (s.closed) this.#dropRouter(s); // the send found it not reading
    });
  }

  // ------------------------------------------------------------ events

  #record(r: CallRecord): void {
    let ev: CallEvent | undefined;
    try {
      ev = this.#mapper.map(r, this.#offers.get(r.id));
    } catch (err) {
      this.#log.error({ err, call: r.id }, 'call event mapping failed');
      return;
    }
    if (r.ended) this.#offers.delete(r.id);
    if (!ev) return;
    const msg: ServerMessage = { type: 'event', event: ev.event, node: this.#o.nodeId, call: ev.call, seq: ev.seq, data: ev.data };
    for (const s of this.#sessions) if (s.calls && s.app !== null) this.#send(s, msg);
  }

  #pairEvent(name: PairEventName, data: Record<string, unknown>): void {
    if (name === 'pair.role' && data['role'] !== 'active') this.#mapper.clear();
    const msg: ServerMessage = { type: 'event', event: name, node: this.#o.nodeId, boot: this.#boot, seq: ++this.#pairSeq, data };
    for (const s of this.#sessions) if (s.pair && s.app !== null) this.#send(s, msg);
  }

  // ------------------------------------------------------------ lifecycle

  #detach(): void {
    this.#o.calls.off('record', this.#onRecord);
    this.#o.calls.off('callOffered', this.#onOffered);
    this.#pair?.off('event', this.#onPairEvent);
    if (this.#o.calls.routeHook === this.#hook) this.#o.calls.routeHook = undefined;
    for (const [rid, p] of this.#pending) {
      this.#pending.delete(rid);
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
  }

  /** Says goodbye to every application (1001) and stops listening. Idempotent. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    const wss = this.#wss;
    this.#phase = 'closing';
    this.#detach();
    for (const s of [...this.#sessions]) this.#closeSession(s, CLOSE_SHUTDOWN, 'node shutting down');
    this.#closing = (async () => {
      if (wss) {
        const deadline = Date.now() + 1500;
        while (this.#sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        for (const s of [...this.#sessions]) s.ws.terminate();
        await new Promise<void>((r) => wss.close(() => r()));
      }
      this.#phase = 'closed';
    })();
    return this.#closing;
  }

  /** Drops every connection at once. Idempotent. */
  destroy(err?: Error): void {
    if (this.#phase === 'closed') return;
    if (err) this.#log.error({ err }, 'application API destroyed');
    this.#phase = 'closed';
    this.#detach();
    for (const s of [...this.#sessions]) {
      s.closed = true;
      s.ws.terminate();
    }
    this.#wss?.close();
    this.#closing ??= Promise.resolve();
  }
}

export type { AppApiErrorCode };
