/**
 * The engine: SIP transports + transaction layer + UA core + the drachtio wire
 * protocol server, so an unmodified drachtio-srf app connects to it like to a stock
 * drachtio-server.
 */
import { EventEmitter } from 'node:events';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import { systemClock, type Clock } from './clock.js';
import { DEFAULT_MAX_MESSAGE_SIZE, SipParseError, createResponse, getHeader, parseMessage, parseVia, reasonPhrase, serializeMessage, wireBytes, type SipMessage } from './messages/index.js';
import { DropLog } from './drop-log.js';
import { TransactionLayer, responseDestination } from './transactions/index.js';
import { WireServer } from './wire/server.js';
import { UserAgent, type UnknownDialogPolicy, type UserAgentStats } from './ua/agent.js';
import { TransportLayer, type ListenSpec } from './transport/index.js';
import type { Dest, RecvInfo, Transport } from './ua/types.js';

export type { ListenSpec } from './transport/index.js';
export type { UnknownDialogPolicy } from './ua/agent.js';

export interface EngineOptions {
  sip: {
    listen: ListenSpec[];
    /** Address to put in Via/Contact (e.g. the floating IP). */
    externalAddress?: string;
  };
  admin: { address: string; port: number; secret: string };
  timers?: { t1?: number; t2?: number; t4?: number };
  unknownDialogPolicy?: UnknownDialogPolicy;
  maxMessageSize?: number;
  clock?: Clock;
  logger?: Logger;
  /** UDP SO_RCVBUF/SO_SNDBUF request (default 16 MiB each). */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** TCP connections idle this long are closed (default 120 s). */
  tcpIdleTimeoutMs?: number;
}

export class EngineError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
  }
}

export enum EngineState {
  Idle = 'idle',
  Starting = 'starting',
  Running = 'running',
  Closing = 'closing',
  Closed = 'closed',
}

const LEGAL: Record<EngineState, EngineState[]> = {
  [EngineState.Idle]: [EngineState.Starting, EngineState.Closed],
  [EngineState.Starting]: [EngineState.Running, EngineState.Closing, EngineState.Closed],
  [EngineState.Running]: [EngineState.Closing, EngineState.Closed],
  [EngineState.Closing]: [EngineState.Closed],
  [EngineState.Closed]: [],
};

export interface EngineStats extends UserAgentStats {
  state: EngineState;
  apps: number;
  transactions: number;
  parseErrors: number;
  /** Malformed messages answered with an error status (400, 505, 513 ...). */
  malformedAnswered: number;
  /** Malformed messages (and TCP streams) dropped unanswered, by code; logged rate-limited. */
  malformedDropped: number;
  malformedDroppedByCode: Record<string, number>;
  listen: ListenSpec[];
}

export interface EngineEvents {
  error: [Error];
  'app-connected': [{ remote: string }];
  'app-auth-failed': [{ remote: string }];
}

/** One bound SIP address: its own TransportLayer, so it can be added and removed at run time. */
interface Listener {
  spec: ListenSpec;
  transport: TransportLayer;
  bound: ListenSpec;
  family: 4 | 6;
}

function sameSpec(a: ListenSpec, b: ListenSpec): boolean {
  return a.transport === b.transport && a.address === b.address && a.port === b.port;
}

export class Engine extends EventEmitter<EngineEvents> {
  private readonly opts: EngineOptions;
  private readonly clock: Clock;
  private state = EngineState.Idle;
  private readonly binds: Listener[] = [];
  private readonly wire: WireServer;
  private readonly txl: TransactionLayer;
  private readonly ua: UserAgent;
  private parseErrors = 0;
  private malformedAnswered = 0;
  private readonly drops: DropLog;

  constructor(opts: EngineOptions) {
    super();
    if (!opts?.admin || typeof opts.admin.secret !== 'string' || !opts.sip || !Array.isArray(opts.sip.listen)) {
      throw new EngineError('EENGINE_OPTIONS', 'Engine needs { sip: { listen: [...] }, admin: { address, port, secret } }');
    }
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.drops = new DropLog({ clock: this.clock, logger: opts.logger });
    const t1 = opts.timers?.t1 ?? 500;
    const t2 = opts.timers?.t2 ?? 4000;
    const t4 = opts.timers?.t4 ?? 5000;
    this.txl = new TransactionLayer({
      clock: this.clock,
      timers: { t1, t2, t4 },
      logger: opts.logger,
      send: (msg, dest, onError) => this.sendMessage(msg, dest, onError),
      user: {
        onRequest: (req, st, info) => this.ua.onRequest(req, st, info as RecvInfo),
        onStrayResponse: (res, info) => this.ua.onStrayResponse(res, info as RecvInfo),
      },
    });
    this.wire = new WireServer({
      address: opts.admin.address,
      port: opts.admin.port,
      secret: opts.admin.secret,
      logger: opts.logger,
      user: {
        onAppSip: (c, m, t, d, r, s) => this.ua.onAppSip(c, m, t, d, r, s),
        onAppProxy: (c, m, t, s) => this.ua.onAppProxy(c, m, t, s),
        onAppClosed: (c) => this.ua.onAppClosed(c),
        hostports: () => this.hostports(),
      },
    });
    this.wire.on('authenticated', (c) => this.emit('app-connected', { remote: c.remote }));
    this.wire.on('auth-failed', (e) => this.emit('app-auth-failed', e));
    this.ua = new UserAgent({
      clock: this.clock,
      timers: { t1, t2 },
      router: this.wire,
      transactions: this.txl,
      unknownDialogPolicy: opts.unknownDialogPolicy,
      logger: opts.logger,
      sendRaw: (buf, dest) => this.sendBuffer(buf, dest),
      local: (t) => this.local(t),
      isLocal: (host, port) => this.binds.some((l) => l.bound.port === port && (l.bound.address === host || host === this.opts.sip.externalAddress)),
    });
  }

  override emit<K extends keyof EngineEvents>(event: K, ...args: EngineEvents[K]): boolean {
    if (event === 'error' && this.listenerCount('error') === 0) {
      this.opts.logger?.error({ err: args[0] }, 'engine error');
      return false;
    }
    try {
      return (super.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.opts.logger?.error({ err }, 'engine listener threw');
      return true;
    }
  }

  private transition(to: EngineState): void {
    if (!LEGAL[this.state].includes(to)) throw new EngineError('EENGINE_STATE', `illegal engine transition ${this.state} -> ${to}`);
    this.state = to;
  }

  async start(): Promise<void> {
    this.transition(EngineState.Starting);
    try {
      await this.wire.start();
      for (const spec of this.opts.sip.listen) await this.listenSamePort(spec);
    } catch (err) {
      this.destroy(err as Error);
      throw err;
    }
    this.transition(EngineState.Running);
  }

  /** The admin (drachtio protocol) address actually bound. */
  adminAddress(): { address: string; port: number } {
    return this.wire.address();
  }

  /** SIP addresses actually bound (ports resolved when 0 was asked). */
  sipAddresses(): ListenSpec[] {
    return this.binds.map((l) => l.bound);
  }

  /**
   * Port 0 for a second transport on an address that is already bound: take the same port, so UDP and TCP
   * share one SIP port as a SIP server's do (§18: both on 5060); any port if that one is taken for this transport.
   */
  private async listenSamePort(spec: ListenSpec): Promise<ListenSpec> {
    const same = spec.port === 0 ? this.binds.find((l) => l.spec.address === spec.address && l.spec.port === 0) : undefined;
    if (!same) return this.addListen(spec);
    try {
      const bound = await this.addListen({ ...spec, port: same.bound.port });
      const l = this.binds[this.binds.length - 1]!;
      l.spec = spec;
      return bound;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
      return this.addListen(spec);
    }
  }

  /** Binds one more SIP address at run time (the HA layer does this when the node becomes active). */
  async addListen(spec: ListenSpec): Promise<ListenSpec> {
    if (this.state === EngineState.Closing || this.state === EngineState.Closed) {
      throw new EngineError('EENGINE_CLOSED', 'engine is closed');
    }
    const existing = this.binds.find((l) => sameSpec(l.spec, spec));
    if (existing) return existing.bound;
    const transport = new TransportLayer({
      listen: [spec],
      recvBufferSize: this.opts.recvBufferSize,
      sendBufferSize: this.opts.sendBufferSize,
      maxMessageSize: this.opts.maxMessageSize,
      idleTimeoutMs: this.opts.tcpIdleTimeoutMs,
      logger: this.opts.logger,
      onMalformedStream: (err, remote) => this.drops.drop('MALFORMED_STREAM', remote, `${(err as { code?: string }).code ?? ''} ${err.message}`, 'tcp'),
    });
    transport.on('message', (buf, info) => this.onSipMessage(buf, info));
    transport.on('error', (err) => this.opts.logger?.warn({ err }, 'sip transport error'));
    await transport.start();
    const bound = transport.listening()[0] ?? spec;
    this.binds.push({ spec, transport, bound, family: isIPv6(bound.address) ? 6 : 4 });
    this.opts.logger?.info({ listen: bound }, 'sip listening');
    return bound;
  }

  /** Unbinds a SIP address (the HA layer does this when the node becomes passive). */
  async removeListen(spec: ListenSpec): Promise<boolean> {
    const i = this.binds.findIndex((l) => sameSpec(l.spec, spec) || sameSpec(l.bound, spec));
    if (i === -1) return false;
    const [l] = this.binds.splice(i, 1);
    await l!.transport.close();
    return true;
  }

  stats(): EngineStats {
    return {
      state: this.state,
      apps: [...this.wire.connections].filter((c) => c.authenticated).length,
      transactions: this.txl.size,
      parseErrors: this.parseErrors,
      malformedAnswered: this.malformedAnswered,
      malformedDropped: this.drops.total,
      malformedDroppedByCode: this.drops.snapshot().byCode,
      listen: this.sipAddresses(),
      ...this.ua.stats(),
    };
  }

  async close(): Promise<void> {
    if (this.state === EngineState.Closed || this.state === EngineState.Closing) return;
    this.transition(EngineState.Closing);
    this.drops.flush();
    this.ua.close();
    // let final responses leave before the sockets go
    await new Promise((r) => setImmediate(r));
    this.txl.close();
    await this.wire.close();
    for (const l of this.binds.splice(0)) await l.transport.close();
    this.transition(EngineState.Closed);
  }

  destroy(err?: Error): void {
    if (this.state === EngineState.Closed) return;
    this.state = EngineState.Closed;
    try {
      this.ua.close();
      this.txl.close();
      this.wire.destroy();
      for (const l of this.binds.splice(0)) l.transport.destroy();
    } finally {
      if (err) this.emit('error', err);
    }
  }

  // --------------------------------------------------------------- internals

  private hostports(): { hostports: string; localHostports: string } {
    const hp = this.binds.map((l) => `${l.bound.transport}/${this.opts.sip.externalAddress ?? l.bound.address}:${l.bound.port}`);
    const local = this.binds.map((l) => `${l.bound.transport}/${l.bound.address}:${l.bound.port}`);
    return { hostports: hp.join(','), localHostports: local.join(',') };
  }

  private local(t: Transport): { host: string; port: number } | undefined {
    const l = this.binds.find((x) => x.bound.transport === t);
    if (!l) return undefined;
    let host = this.opts.sip.externalAddress ?? l.bound.address;
    if (host === '0.0.0.0' || host === '::') host = '127.0.0.1';
    if (host.includes(':')) host = `[${host}]`;
    return { host, port: l.bound.port };
  }

  /**
   * The listener a message to `dest` leaves from. §18.2.2: "If the "sent-protocol" is a reliable transport
   * protocol such as TCP ..., the response MUST be sent using the existing connection to the source of the
   * original request that created the transaction, if that connection is still open" — so a TCP destination
   * with a connection id goes to the listener that owns that connection; otherwise the first listener of the
   * destination's transport and address family.
   */
  private transportFor(dest: Dest): TransportLayer | undefined {
    if (dest.connectionId !== undefined) {
      for (const l of this.binds) if (l.transport.hasConnection(dest.connectionId)) return l.transport;
    }
    const family = dest.address.includes(':') ? 6 : 4;
    let sameTransport: TransportLayer | undefined;
    for (const l of this.binds) {
      if (l.bound.transport !== dest.transport) continue;
      if (l.family === family) return l.transport;
      sameTransport ??= l.transport;
    }
    return sameTransport;
  }

  private sendBuffer(buf: Buffer, dest: Dest, onError?: (err: Error) => void): void {
    const t = this.transportFor(dest);
    if (!t) throw new EngineError('EENGINE_NO_TRANSPORT', `no ${dest.transport} transport is listening`);
    t.send(buf, dest, onError);
  }

  private sendMessage(msg: SipMessage, dest: Dest, onError?: (err: Error) => void): void {
    try {
      const buf = wireBytes(msg);
      // A message UDP cannot carry (e.g. an answer copying a request's hundreds of Vias) would fail in the kernel
      // with EMSGSIZE and vanish; it is dropped here instead, counted and logged (rate-limited) like bad input.
      if (dest.transport === 'udp' && buf.length > MAX_UDP_PAYLOAD) {
        const what = msg.kind === 'request' ? msg.method : String(msg.status);
        this.drops.drop('TOO_LARGE_FOR_UDP', { address: dest.address, port: dest.port }, `a ${what} of ${buf.length} bytes does not fit a UDP datagram`, 'udp');
        onError?.(new EngineError('EENGINE_TOO_LARGE', `${what} of ${buf.length} bytes exceeds the UDP payload limit`));
        return;
      }
      this.sendBuffer(buf, dest, onError);
    } catch (err) {
      if (onError) onError(err as Error);
      else this.opts.logger?.warn({ err }, 'send failed');
    }
  }

  private onSipMessage(buf: Buffer, info: RecvInfo): void {
    let msg: SipMessage;
    try {
      msg = parseMessage(buf, { maxSize: this.opts.maxMessageSize });
    } catch (err) {
      this.parseErrors++;
      // §21.4.1 / §8.2: answer a malformed request when it can be answered, otherwise drop it (logged, rate-limited).
      if (err instanceof SipParseError && err.status && err.request) this.answerMalformed(err, info);
      else this.drops.drop((err as { code?: string }).code ?? 'PARSE_FAILED', info.remote, (err as Error).message, info.transport);
      return;
    }
    try {
      this.txl.receive(msg, info);
    } catch (err) {
      this.opts.logger?.error({ err }, 'error processing SIP message');
    }
  }

  /** Answers a request the parser found malformed with the status it chose (400, 505, 513 ...). */
  private answerMalformed(err: SipParseError, info: RecvInfo): void {
    const req = err.request!;
    try {
      // §21.4.1: "The reason phrase SHOULD identify the syntax problem in more detail" (a fixed phrase per
      // code: nothing of the malformed input is reflected).
      const detail = MALFORMED_REASON[err.code];
      const res = createResponse(req, err.status!, detail ? `${reasonPhrase(err.status!)} - ${detail}` : undefined);
      // §18.2.1: the answer goes where the packet came from, as for any request: the server stamps "received"
      // with the source address itself, a received= the sender wrote is not trusted (it would aim our answer
      // at any address it names).
      const via = parseVia(getHeader(req, 'Via') ?? '');
      via.received = info.remote.address;
      if (via.rport === null) via.rport = info.remote.port;
      const out = serializeMessage(res);
      // An answer copies every Via: to an oversize request it can itself exceed what may be sent.
      if (out.length > (this.opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE)) {
        this.drops.drop('ANSWER_TOO_LARGE', info.remote, `the ${err.status} answer to a ${err.code} request would be ${out.length} bytes`, info.transport);
        return;
      }
      this.malformedAnswered++;
      this.sendBuffer(out, responseDestination(via, info));
    } catch (e2) {
      this.drops.drop(err.code, info.remote, `unanswerable: ${(e2 as Error).message}`, info.transport);
    }
  }
}

/** The largest UDP payload over IPv4 (65,535 - 8 - 20). */
const MAX_UDP_PAYLOAD = 65_507;

/** Reason phrase details for the answers to malformed requests. */
const MALFORMED_REASON: Record<string, string> = {
  BAD_CONTENT_LENGTH: 'Malformed Content-Length',
  BODY_TRUNCATED: 'Body Shorter Than Content-Length',
  BAD_HEADER: 'Malformed Header Line',
  BAD_REQUEST_URI: 'Malformed Request-URI',
  CSEQ_METHOD_MISMATCH: 'CSeq Method Does Not Match',
  BAD_MAX_FORWARDS: 'Malformed Max-Forwards',
};
