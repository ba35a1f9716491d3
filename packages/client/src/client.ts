/**
 * DualsipClient — a telephony application's view of a dualsip pair. It
 * connects to every node, follows the active, re-subscribes after a reconnect,
 * retries commands across a takeover, and delivers each call event once:
 * events carry the call id and seq (the call record's version, which the new
 * active continues), so duplicates from a replay or from both nodes are dropped.
 */
import { ConnectionState } from './connection-state.js';
import { ClientError } from './errors.js';
import { NodeConnection } from './node-connection.js';
import type { CallEvent, CallOffer, Leg, PairEvent, PairView, RouteDecision, ServerMessage, CallSummary } from './protocol.js';
import { TypedEmitter } from './typed-emitter.js';

export interface DualsipClientOptions {
  /** WebSocket URLs of the nodes (one for a standalone node, two for a pair). */
  nodes: string[];
  token: string;
  /** Application name (must match the token's name on the node when given). */
  name?: string;
  /** What to receive; default both. */
  subscribe?: { calls?: boolean; pair?: boolean };
  /** Makes this application a router: asked for every new call. Return undefined or {action:'static'} for static routing. */
  router?: (offer: CallOffer) => RouteDecision | undefined | Promise<RouteDecision | undefined>;
  /** Per-request reply timeout. Default 5000 ms. */
  requestTimeoutMs?: number;
  /** How long a command keeps looking for the active (across a takeover). Default 10000 ms. */
  retryForMs?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

export type DualsipClientEvents = {
  callOffered: (ev: CallEvent) => void;
  callRinging: (ev: CallEvent) => void;
  callAnswered: (ev: CallEvent) => void;
  callModified: (ev: CallEvent) => void;
  callEnded: (ev: CallEvent) => void;
  /** Every pair event (role, takeoverStarted, takeoverFinished, peerLost, peerBack, syncNotReady, syncReady). */
  pair: (ev: PairEvent) => void;
  role: (ev: PairEvent) => void;
  takeoverStarted: (ev: PairEvent) => void;
  takeoverFinished: (ev: PairEvent) => void;
  peerLost: (ev: PairEvent) => void;
  peerBack: (ev: PairEvent) => void;
  syncNotReady: (ev: PairEvent) => void;
  syncReady: (ev: PairEvent) => void;
  /** The node the client sends commands to changed (null: none known). */
  activeChanged: (node: string | null, previous: string | null) => void;
  connection: (info: { url: string; node: string | null; state: ConnectionState }) => void;
  /** A permanent problem (e.g. a node refused the token). */
  error: (err: ClientError) => void;
};

const CALL_EVENT = {
  'call.offered': 'callOffered',
  'call.ringing': 'callRinging',
  'call.answered': 'callAnswered',
  'call.modified': 'callModified',
  'call.ended': 'callEnded',
} as const;
const PAIR_EVENT = {
  'pair.role': 'role',
  'pair.takeoverStarted': 'takeoverStarted',
  'pair.takeoverFinished': 'takeoverFinished',
  'pair.peerLost': 'peerLost',
  'pair.peerBack': 'peerBack',
  'pair.syncNotReady': 'syncNotReady',
  'pair.syncReady': 'syncReady',
} as const;
/** Lifecycle events delivered at most once per call; 'call.modified' may repeat (with a higher seq). */
const ONCE = new Set(['call.offered', 'call.ringing', 'call.answered', 'call.ended']);
const COMMANDING = new Set(['active', 'draining', 'standalone']);
const ENDED_MEMORY = 10_000;

type ResolvedOptions = Required<Omit<DualsipClientOptions, 'router' | 'name'>> & Pick<DualsipClientOptions, 'router' | 'name'>;

interface CallTrack {
  seq: number;
  delivered: Set<string>;
  last: CallSummary;
}

export class DualsipClient extends TypedEmitter<DualsipClientEvents> {
  readonly #o: ResolvedOptions;
  readonly #conns: NodeConnection[];
  readonly #calls = new Map<string, CallTrack>();
  readonly #ended = new Set<string>();
  readonly #pairSeen = new Map<string, number>();
  #active: string | null = null;
  #closed = false;

  constructor(opts: DualsipClientOptions) {
    super();
    if (!Array.isArray(opts.nodes) || opts.nodes.length === 0 || opts.nodes.some((u) => typeof u !== 'string' || !/^wss?:\/\//.test(u))) {
      throw new ClientError({ code: 'ERR_BAD_OPTIONS', message: 'nodes: one or more ws:// or wss:// URLs' });
    }
    if (typeof opts.token !== 'string' || opts.token === '') throw new ClientError({ code: 'ERR_BAD_OPTIONS', message: 'token: required' });
    this.#o = {
      subscribe: { calls: opts.subscribe?.calls ?? true, pair: opts.subscribe?.pair ?? true },
      requestTimeoutMs: 5000,
      retryForMs: 10_000,
      reconnectMinMs: 100,
      reconnectMaxMs: 2000,
      ...opts,
    } as ResolvedOptions;
    this.#conns = opts.nodes.map(
      (url) =>
        new NodeConnection({
          url,
          token: opts.token,
          ...(opts.name ? { name: opts.name } : {}),
          subscribe: { calls: this.#o.subscribe.calls ?? true, pair: this.#o.subscribe.pair ?? true },
          router: !!opts.router,
          requestTimeoutMs: this.#o.requestTimeoutMs,
          reconnectMinMs: this.#o.reconnectMinMs,
          reconnectMaxMs: this.#o.reconnectMaxMs,
        }),
    );
    for (const c of this.#conns) {
      c.on('state', (state) => {
        this.emit('connection', { url: c.url, node: c.node, state });
        if (state !== ConnectionState.Ready) this.#recompute();
      });
      c.on('ready', () => this.#recompute());
      c.on('message', (m) => this.#onMessage(c, m));
      c.on('error', (err) => this.emit('error', err));
    }
  }

  /** The node commands go to (null while none is known). */
  get active(): string | null {
    return this.#active;
  }

  /** Connects to every node; resolves once one is ready (rejects after requestTimeoutMs × 2 if none). */
  start(): Promise<void> {
    for (const c of this.#conns) c.start();
    return new Promise((resolve, reject) => {
      const check = (): boolean => this.#conns.some((c) => c.state === ConnectionState.Ready);
      if (check()) return resolve();
      const timer = setTimeout(() => {
        done();
        reject(new ClientError({ code: 'ERR_TIMEOUT', message: `no node ready among ${this.#conns.map((c) => c.url).join(', ')}` }));
      }, this.#o.requestTimeoutMs * 2);
      const done = (): void => {
        clearTimeout(timer);
        for (const c of this.#conns) {
          c.off('ready', onReady);
          c.off('error', onError);
        }
      };
      const onReady = (): void => {
        done();
        resolve();
      };
      // Every node refused us (token): no point in waiting.
      const onError = (err: ClientError): void => {
        if (!this.#conns.every((c) => c.state === ConnectionState.Closed)) return;
        done();
        reject(err);
      };
      for (const c of this.#conns) {
        c.on('ready', onReady);
        c.on('error', onError);
      }
    });
  }

  /** Connections by URL with their node id and state (for diagnostics). */
  connections(): Array<{ url: string; node: string | null; state: ConnectionState; view: PairView | null }> {
    return this.#conns.map((c) => ({ url: c.url, node: c.node, state: c.state, view: c.view }));
  }

  // ------------------------------------------------------------ active tracking

  #recompute(): void {
    const ready = this.#conns.filter((c) => c.state === ConnectionState.Ready && c.view);
    let next: string | null = ready.find((c) => COMMANDING.has(c.view!.role))?.node ?? null;
    if (next === null) {
      const named = ready.map((c) => c.view!.active).find((a) => a !== null) ?? null;
      if (named && ready.some((c) => c.node === named)) next = named;
    }
    if (next !== this.#active) {
      const prev = this.#active;
      this.#active = next;
      this.emit('activeChanged', next, prev);
      if (next !== null && prev !== null) void this.#reconcile(next);
    }
  }

  async #refreshViews(): Promise<void> {
    await Promise.all(
      this.#conns
        .filter((c) => c.state === ConnectionState.Ready)
        .map(async (c) => {
          try {
            c.view = (await c.request({ type: 'query.pair' })) as PairView;
          } catch {
            /* the connection's own state change will recompute */
          }
        }),
    );
    this.#recompute();
  }

  #connFor(node: string | null): NodeConnection | undefined {
    return this.#conns.find((c) => c.node === node && c.state === ConnectionState.Ready);
  }

  // ------------------------------------------------------------ incoming

  #onMessage(c: NodeConnection, m: ServerMessage): void {
    if (m.type === 'route.request') {
      void this.#route(c, m.request, m.offer);
      return;
    }
    if (m.type !== 'event') return;
    if (m.event.startsWith('call.')) this.#callEvent(m as unknown as CallEvent);
    else this.#pairEvent(m as unknown as PairEvent);
  }

  #callEvent(ev: CallEvent): void {
    const { call, seq, event } = ev;
    if (this.#ended.has(call)) return;
    let t = this.#calls.get(call);
    if (t) {
      if (t.delivered.has(event) && ONCE.has(event)) return;
      if (seq <= t.seq && event !== 'call.ended') return;
    } else {
      t = { seq: 0, delivered: new Set(), last: ev.data };
      this.#calls.set(call, t);
    }
    t.seq = Math.max(t.seq, seq);
    t.delivered.add(event);
    t.last = ev.data;
    if (event === 'call.ended') {
      this.#calls.delete(call);
      this.#ended.add(call);
      if (this.#ended.size > ENDED_MEMORY) this.#ended.delete(this.#ended.values().next().value!);
    }
    const out: CallEvent = { event, node: ev.node, call, seq, data: ev.data, ...(ev.replay ? { replay: true } : {}), ...(ev.synthesized ? { synthesized: true } : {}) };
    this.emit(CALL_EVENT[event], out);
  }

  #pairEvent(ev: PairEvent): void {
    const key = `${ev.node}/${ev.boot}`;
    if ((this.#pairSeen.get(key) ?? 0) >= ev.seq) return;
    this.#pairSeen.set(key, ev.seq);
    const out: PairEvent = { event: ev.event, node: ev.node, boot: ev.boot, seq: ev.seq, data: ev.data };
    this.emit('pair', out);
    const name = PAIR_EVENT[ev.event];
    if (name) this.emit(name, out);
    // Roles moved: ask every node where things stand now.
    void this.#refreshViews().then(() => {
      if (ev.event === 'pair.takeoverFinished' && this.#active) void this.#reconcile(this.#active);
    });
  }

  async #route(c: NodeConnection, request: string, offer: CallOffer): Promise<void> {
    let d: RouteDecision | undefined;
    try {
      d = await this.#o.router?.(offer);
    } catch {
      d = undefined;
    }
    c.send({ type: 'route.decision', request, ...(d ?? { action: 'static' }) });
  }

  /**
   * After a takeover: calls we saw that the new active neither has live nor
   * knows ended were lost with the old active (never mirrored); their end is
   * reported once, marked `synthesized`, so no call stays open forever.
   */
  async #reconcile(node: string): Promise<void> {
    const c = this.#connFor(node);
    if (!c || this.#calls.size === 0) return;
    let live: Array<{ call: string }>;
    try {
      live = ((await c.request({ type: 'query.calls' })) as { calls: Array<{ call: string }> }).calls;
    } catch {
      return;
    }
    const known = new Set(live.map((x) => x.call));
    for (const [call, t] of [...this.#calls]) {
      if (known.has(call)) continue;
      try {
        const r = (await c.request({ type: 'query.call', call })) as CallSummary & { call: string; seq: number };
        if (r.state === 'ended' || r.state === 'failed') this.#callEvent({ event: 'call.ended', node, call, seq: r.seq, data: r });
      } catch (err) {
        if ((err as ClientError).code !== 'ERR_UNKNOWN_CALL') continue;
        if (!this.#calls.has(call)) continue;
        this.#callEvent({
          event: 'call.ended',
          node,
          call,
          seq: t.seq + 1,
          synthesized: true,
          data: { ...t.last, state: 'ended', endReason: 'unknown-after-takeover' },
        });
      }
    }
  }

  // ------------------------------------------------------------ commands

  async #command(msg: Record<string, unknown>, opts: { idempotent: boolean }): Promise<unknown> {
    if (this.#closed) throw new ClientError({ code: 'ERR_CLOSED', message: 'client closed' });
    const deadline = Date.now() + this.#o.retryForMs;
    let last: ClientError | undefined;
    while (Date.now() < deadline && !this.#closed) {
      const c = this.#connFor(this.#active);
      if (!c) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      try {
        return await c.request(msg);
      } catch (err) {
        const e = err as ClientError;
        last = e;
        if (e.code === 'ERR_NOT_ACTIVE') {
          // Refused, so not done: find the active and try again.
          if (c.view) c.view = { ...c.view, role: 'passive', active: e.active ?? null };
          await this.#refreshViews();
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        if ((e.code === 'ERR_DISCONNECTED' || e.code === 'ERR_TIMEOUT') && opts.idempotent) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        throw e;
      }
    }
    throw last ?? new ClientError({ code: 'ERR_NO_ACTIVE', message: `no active node within ${this.#o.retryForMs} ms` });
  }

  /** Ends the call on both legs (idempotent: retried across a takeover). */
  hangup(call: string, opts: { reason?: string } = {}): Promise<{ call: string; state: string; endReason: string | null }> {
    return this.#command({ type: 'call.hangup', call, ...(opts.reason ? { reason: opts.reason } : {}) }, { idempotent: true }) as Promise<{ call: string; state: string; endReason: string | null }>;
  }

  /** Sends INFO on a leg of an answered call (not retried once sent: INFO is not idempotent). */
  sendInfo(call: string, opts: { leg?: Leg; contentType?: string; body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; reason: string }> {
    return this.#command({ type: 'call.info', call, ...opts }, { idempotent: false }) as Promise<{ status: number; reason: string }>;
  }

  /** Transfers a leg with REFER (default the caller's). */
  refer(call: string, opts: { referTo: string; leg?: Leg; headers?: Record<string, string> }): Promise<{ status: number; reason: string }> {
    return this.#command({ type: 'call.refer', call, ...opts }, { idempotent: false }) as Promise<{ status: number; reason: string }>;
  }

  /** Transfers the call by re-routing its B leg to `target` (the caller stays; the old callee gets a BYE). Not retried once sent. */
  reroute(call: string, opts: { target: string; headers?: Record<string, string> }): Promise<{ call: string; target: string; state: string }> {
    return this.#command({ type: 'call.reroute', call, ...opts }, { idempotent: false }) as Promise<{ call: string; target: string; state: string }>;
  }

  queryPair(): Promise<PairView & { calls: number }> {
    return this.#command({ type: 'query.pair' }, { idempotent: true }) as Promise<PairView & { calls: number }>;
  }

  queryCalls(): Promise<{ node: string; calls: Array<CallSummary & { call: string; seq: number }> }> {
    return this.#command({ type: 'query.calls' }, { idempotent: true }) as Promise<{ node: string; calls: Array<CallSummary & { call: string; seq: number }> }>;
  }

  queryCall(call: string): Promise<CallSummary & { call: string; seq: number }> {
    return this.#command({ type: 'query.call', call }, { idempotent: true }) as Promise<CallSummary & { call: string; seq: number }>;
  }

  /** Asks one node directly (any role), e.g. the passive's view of the pair. */
  queryNode(node: string): Promise<PairView & { calls: number }> {
    const c = this.#connFor(node);
    if (!c) return Promise.reject(new ClientError({ code: 'ERR_DISCONNECTED', message: `not connected to node ${node}` }));
    return c.request({ type: 'query.pair' }) as Promise<PairView & { calls: number }>;
  }

  /** Cuts every connection now; each reconnects and re-subscribes (for tests, and for a node that stopped answering). */
  dropConnections(): void {
    for (const c of this.#conns) c.drop();
  }

  /** Closes every connection. Idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const c of this.#conns) c.close();
    }
    return Promise.resolve();
  }

  /** Same as close() (there is nothing to drain). Idempotent. */
  destroy(): void {
    void this.close();
  }
}
