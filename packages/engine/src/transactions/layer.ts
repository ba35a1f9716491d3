/**
 * The transaction layer (RFC 3261 §17): owns every client and server transaction,
 * matches incoming messages to them (§17.1.3, §17.2.3) and hands the rest to the TU.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { getHeader, setHeader } from '../messages/headers.js';
import { formatVia, getTag, parseCSeq, parseVia } from '../messages/fields.js';
import { BRANCH_MAGIC } from '../messages/ids.js';
import type { ParsedVia, SipMessage, SipRequest, SipResponse } from '../messages/types.js';
import { isReliable, type Destination, type ReceiveInfo } from '../transport/types.js';
import { InviteClientTransaction } from './invite-client.js';
import { InviteServerTransaction } from './invite-server.js';
import { NonInviteClientTransaction } from './non-invite-client.js';
import { NonInviteServerTransaction } from './non-invite-server.js';
import {
  DEFAULT_TIMERS,
  TransactionError,
  type ClientTransaction,
  type ClientTransactionUser,
  type SendFn,
  type ServerTransaction,
  type TimerConfig,
  type TransactionContext,
  type TransactionUser,
} from './types.js';

type AnyClient = InviteClientTransaction | NonInviteClientTransaction;
type AnyServer = InviteServerTransaction | NonInviteServerTransaction;

export interface TransactionLayerOptions {
  clock: Clock;
  timers?: Partial<TimerConfig>;
  send: SendFn;
  user: TransactionUser;
  logger?: Logger;
}

/** §17.1.3: a response matches a client transaction by the top Via branch and the CSeq method. */
function clientKey(branch: string, method: string): string {
  return `${branch}|${method}`;
}

/**
 * §17.2.3: "the branch parameter in the request is equal to the one in the top Via header field of the request that
 * created the transaction, the sent-by value in the top Via of the request is equal to the one in the request that
 * created the transaction, and the method of the request matches the one that created the transaction, except for
 * ACK, where the method of the request that created the transaction is INVITE."
 */
function serverKey(req: SipRequest, via: ParsedVia): string {
  const method = req.method === 'ACK' ? 'INVITE' : req.method;
  const sentBy = `${via.host.toLowerCase()}:${via.port ?? ''}`;
  if (via.branch !== undefined && via.branch.startsWith(BRANCH_MAGIC)) return `${via.branch}|${sentBy}|${method}`;
  // RFC 2543 peers (no magic cookie, §17.2.3): match on Call-ID, From tag, CSeq number, sent-by and method.
  let seq = '';
  try {
    seq = String(parseCSeq(getHeader(req, 'CSeq') ?? '').seq);
  } catch {
    /* keyed without it */
  }
  const fromTag = getTag(getHeader(req, 'From') ?? '') ?? '';
  return `2543|${getHeader(req, 'Call-ID') ?? ''}|${fromTag}|${seq}|${sentBy}|${via.branch ?? ''}|${method}`;
}

export class TransactionLayer {
  private readonly clients = new Map<string, AnyClient>();
  private readonly servers = new Map<string, AnyServer>();
  private readonly ctx: TransactionContext;
  private readonly user: TransactionUser;
  private readonly logger?: Logger;
  private readonly sendFn: SendFn;
  private closed = false;

  constructor(opts: TransactionLayerOptions) {
    if (!opts || !opts.clock || typeof opts.send !== 'function' || !opts.user) {
      throw new TransactionError('ERR_INVALID_ARGUMENT', 'TransactionLayer needs { clock, send, user }');
    }
    const timers = { ...DEFAULT_TIMERS, ...(opts.timers ?? {}) };
    for (const k of ['t1', 't2', 't4'] as const) {
      if (!Number.isFinite(timers[k]) || timers[k] <= 0) throw new TransactionError('ERR_INVALID_ARGUMENT', `timer ${k} must be > 0`);
    }
    this.user = opts.user;
    this.logger = opts.logger;
    this.sendFn = opts.send;
    const logger = opts.logger;
    this.ctx = {
      clock: opts.clock,
      timers,
      logger,
      send: opts.send,
      removed: (tx) => {
        if (tx.kind === 'client') this.clients.delete(tx.id);
        else this.servers.delete(tx.id);
      },
      sendRequest: (req, dest, user) => this.sendRequest(req, dest, user),
      callUser: (what, fn) => {
        try {
          fn();
        } catch (err) {
          logger?.error({ err, callback: what }, 'transaction user callback threw');
        }
      },
    };
  }

  /** Live transactions (client + server), for leak tests and metrics. */
  get size(): number {
    return this.clients.size + this.servers.size;
  }

  /** Feed every parsed message from the transport here. */
  receive(msg: SipMessage, info: ReceiveInfo): void {
    if (this.closed) return;
    if (msg.kind === 'response') this.receiveResponse(msg, info);
    else this.receiveRequest(msg, info);
  }

  private receiveResponse(res: SipResponse, info: ReceiveInfo): void {
    let key: string | undefined;
    try {
      const via = parseVia(getHeader(res, 'Via') ?? '');
      const cseq = parseCSeq(getHeader(res, 'CSeq') ?? '');
      if (via.branch) key = clientKey(via.branch, cseq.method);
    } catch (err) {
      this.logger?.warn({ err, from: info.remote }, 'dropping response with unreadable Via/CSeq');
      return;
    }
    const ct = key === undefined ? undefined : this.clients.get(key);
    if (ct) {
      ct.receiveResponse(res);
      return;
    }
    this.ctx.callUser('onStrayResponse', () => this.user.onStrayResponse(res, info));
  }

  private receiveRequest(req: SipRequest, info: ReceiveInfo): void {
    let via: ParsedVia;
    try {
      via = parseVia(getHeader(req, 'Via') ?? '');
    } catch (err) {
      this.logger?.warn({ err, from: info.remote }, 'dropping request with unreadable top Via');
      return;
    }
    this.stampVia(req, via, info);
    const key = serverKey(req, via);
    const st = this.servers.get(key);
    if (st) {
      st.receiveRequest(req, info);
      return;
    }
    if (req.method === 'ACK') {
      this.ctx.callUser('onRequest', () => this.user.onRequest(req, undefined, info));
      return;
    }
    const dest = responseDestination(via, info);
    const created: AnyServer =
      req.method === 'INVITE'
        ? new InviteServerTransaction(this.ctx, key, req, info, dest, (ack, i) =>
            this.ctx.callUser('onRequest', () => this.user.onRequest(ack, undefined, i)),
          )
        : new NonInviteServerTransaction(this.ctx, key, req, info, dest);
    this.servers.set(key, created);
    this.ctx.callUser('onRequest', () => this.user.onRequest(req, created, info));
  }

  /**
   * §18.2.1: "When the server transport receives a request over any transport, it MUST examine the value of the
   * "sent-by" parameter in the top Via header field value. If the host portion of the "sent-by" parameter contains a
   * domain name, or if it contains an IP address that differs from the packet source address, the server MUST add a
   * "received" parameter to that Via header field value." RFC 3581 §4: an empty rport gets the source port, and then
   * received is added too.
   */
  private stampVia(req: SipRequest, via: ParsedVia, info: ReceiveInfo): void {
    const src = info.remote.address;
    const host = via.host.startsWith('[') ? via.host.slice(1, -1) : via.host;
    const needReceived = host !== src || via.rport === null;
    if (!needReceived && via.rport !== null) return;
    if (needReceived) via.received = src;
    if (via.rport === null) via.rport = info.remote.port;
    const i = req.headers.findIndex((h) => h.name === 'Via' || h.name.toLowerCase() === 'via');
    if (i !== -1) req.headers[i] = { name: 'Via', value: formatVia(via) };
  }

  /** Create and start a client transaction; the request must already carry its top Via with a fresh branch. */
  sendRequest(req: SipRequest, dest: Destination, user: ClientTransactionUser): ClientTransaction {
    const ct = this.createClient(req, dest, user);
    ct.start();
    return ct;
  }

  /**
   * Takeover: re-creates the INVITE client transaction another node started (same top Via branch, same
   * destination) in the "Proceeding" state without sending anything, so the callee's later responses
   * (and 2xx retransmissions) match it (§17.1.3) and reach `user`.
   */
  resumeInviteClient(req: SipRequest, dest: Destination, user: ClientTransactionUser): ClientTransaction {
    if (req?.method !== 'INVITE') throw new TransactionError('ERR_INVALID_ARGUMENT', 'only an INVITE client transaction can be resumed');
    const ct = this.createClient(req, dest, user) as InviteClientTransaction;
    ct.resume();
    return ct;
  }

  /**
   * Takeover: re-creates the INVITE server transaction of a caller's INVITE that another node received
   * (the request as that node stamped it, §18.2.1), in the "Proceeding" state, sending nothing. Its key is
   * the one §17.2.3 computes, so the caller's CANCEL and INVITE retransmissions match it.
   */
  resumeInviteServer(req: SipRequest, info: ReceiveInfo): ServerTransaction {
    if (this.closed) throw new TransactionError('ERR_CLOSED', 'transaction layer is closed');
    if (req?.method !== 'INVITE') throw new TransactionError('ERR_INVALID_ARGUMENT', 'only an INVITE server transaction can be resumed');
    let via: ParsedVia;
    try {
      via = parseVia(getHeader(req, 'Via') ?? '');
    } catch {
      throw new TransactionError('ERR_NO_VIA', 'the resumed INVITE needs its top Via');
    }
    const key = serverKey(req, via);
    if (this.servers.has(key)) throw new TransactionError('ERR_DUPLICATE_TRANSACTION', `a server transaction ${key} exists already`);
    const st = new InviteServerTransaction(
      this.ctx,
      key,
      req,
      info,
      responseDestination(via, info),
      (ack, i) => this.ctx.callUser('onRequest', () => this.user.onRequest(ack, undefined, i)),
      { resumed: true },
    );
    this.servers.set(key, st);
    return st;
  }

  private createClient(req: SipRequest, dest: Destination, user: ClientTransactionUser): AnyClient {
    if (this.closed) throw new TransactionError('ERR_CLOSED', 'transaction layer is closed');
    if (!req || req.kind !== 'request') throw new TransactionError('ERR_INVALID_ARGUMENT', 'sendRequest needs a SipRequest');
    if (req.method === 'ACK') {
      throw new TransactionError('ERR_ACK_NOT_TRANSACTIONAL', 'an ACK for a 2xx is not a transaction (§17.1.1.3): use sendStateless()');
    }
    let via: ParsedVia;
    try {
      via = parseVia(getHeader(req, 'Via') ?? '');
    } catch {
      throw new TransactionError('ERR_NO_VIA', 'the request needs a top Via with a branch before sendRequest()');
    }
    if (!via.branch || !via.branch.startsWith(BRANCH_MAGIC)) {
      throw new TransactionError('ERR_NO_BRANCH', `top Via branch must start with ${BRANCH_MAGIC} (§8.1.1.7)`);
    }
    let cseqMethod: string;
    try {
      cseqMethod = parseCSeq(getHeader(req, 'CSeq') ?? '').method;
    } catch {
      throw new TransactionError('ERR_BAD_CSEQ', 'the request needs a valid CSeq');
    }
    if (cseqMethod !== req.method) setHeader(req, 'CSeq', `${parseCSeq(getHeader(req, 'CSeq')!).seq} ${req.method}`);
    const key = clientKey(via.branch, req.method);
    if (this.clients.has(key)) throw new TransactionError('ERR_DUPLICATE_TRANSACTION', `a client transaction ${key} exists already`);
    const ct: AnyClient =
      req.method === 'INVITE'
        ? new InviteClientTransaction(this.ctx, key, via.branch, req, dest, user)
        : new NonInviteClientTransaction(this.ctx, key, via.branch, req, dest, user);
    this.clients.set(key, ct);
    return ct;
  }

  /** Sends a message outside any transaction (ACK for 2xx, stateless answers). */
  sendStateless(msg: SipMessage, dest: Destination, onError?: (err: Error) => void): void {
    this.sendFn(msg, dest, onError);
  }

  /** The INVITE server transaction a CANCEL refers to (§9.2), if any. */
  findInviteForCancel(cancel: SipRequest): ServerTransaction | undefined {
    try {
      const via = parseVia(getHeader(cancel, 'Via') ?? '');
      const invite: SipRequest = { ...cancel, method: 'INVITE' };
      // §9.2: "the CANCEL request ... matched using the procedures of Section 17.2.3" against the INVITE; the
      // Via (and so the branch) of a CANCEL equals the INVITE's.
      const st = this.servers.get(serverKey(invite, via));
      return st instanceof InviteServerTransaction ? st : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stops every transaction and timer; no callbacks afterwards. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of [...this.clients.values(), ...this.servers.values()]) t.abort();
    this.clients.clear();
    this.servers.clear();
  }
}

/**
 * §18.2.2: "If the "sent-protocol" is a reliable transport protocol such as TCP or SCTP, or TLS over those, the
 * response MUST be sent using the existing connection to the source of the original request that created the
 * transaction, if that connection is still open." "Otherwise, if the Via header field value contains a "received"
 * parameter, the response MUST be sent to the address in the "received" parameter, using the port indicated in the
 * "sent-by" value, or using port 5060 if none is specified explicitly." RFC 3581 §4: with rport, to the source port.
 */
export function responseDestination(via: ParsedVia, info: ReceiveInfo): Destination {
  const address = via.received ?? info.remote.address;
  const port = via.rport !== undefined || isReliable(info.transport) ? info.remote.port : (via.port ?? 5060);
  const d: Destination = { transport: info.transport, address, port };
  if (info.connectionId !== undefined) d.connectionId = info.connectionId;
  // §18.2.2: "If the connection is no longer open, the server SHOULD open a connection to the IP address in the
  // received parameter, if present, using the port in the sent-by value, or the default port for that transport,
  // if no port is specified." (The source port of a connection the far end opened is usually an ephemeral one.)
  if (isReliable(info.transport)) {
    const sentBy = via.port ?? 5060;
    if (sentBy !== port) d.connectPort = sentBy;
  }
  return d;
}
