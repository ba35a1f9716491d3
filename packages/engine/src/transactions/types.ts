import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Header, SipMessage, SipRequest, SipResponse } from '../messages/types.js';
import type { Destination, ReceiveInfo } from '../transport/types.js';

/** RFC 3261 §17.1.1.1 / Table 4 timer base values in ms. */
export interface TimerConfig {
  t1: number;
  t2: number;
  t4: number;
}

export const DEFAULT_TIMERS: TimerConfig = { t1: 500, t2: 4000, t4: 5000 };

/**
 * How the layer hands a message to the transport. A transport failure is reported
 * either by throwing synchronously or by calling `onError` later (e.g. TCP connect
 * refused); either one fails the transaction that sent it.
 */
export type SendFn = (msg: SipMessage, dest: Destination, onError?: (err: Error) => void) => void;

export interface TransactionUser {
  /**
   * A request that matched no server transaction. For every method except ACK the layer has created a
   * ServerTransaction (st); for ACK st is undefined (ACK for 2xx is end-to-end, the UA layer handles it).
   * Retransmissions of a request are absorbed by the transaction and never reach here again.
   */
  onRequest(req: SipRequest, st: ServerTransaction | undefined, info: ReceiveInfo): void;
  /** A response that matched no client transaction (e.g. a 2xx retransmission after the ICT ended). */
  onStrayResponse(res: SipResponse, info: ReceiveInfo): void;
}

export interface ClientTransactionUser {
  onResponse(res: SipResponse, ct: ClientTransaction): void;
  onTimeout(ct: ClientTransaction): void;
  /** Without it, a transport error is reported through onTimeout. */
  onTransportError?(ct: ClientTransaction, err: Error): void;
}

export interface ClientTransaction {
  readonly id: string;
  readonly branch: string;
  readonly request: SipRequest;
  readonly destination: Destination;
  readonly state: string;
  /**
   * For an INVITE client transaction: build and send the CANCEL for it (§9.1). Returns the CANCEL's own
   * ClientTransaction when it was sent now; returns undefined when it cannot be sent now: before a provisional
   * response the CANCEL is held and sent when one arrives (its responses then reach `user` with the CANCEL's
   * transaction as `ct`); after a final response, or for a non-INVITE, nothing is sent.
   */
  cancel(user: ClientTransactionUser, extraHeaders?: Header[]): ClientTransaction | undefined;
}

export type ServerTransactionEvents = {
  /** The transaction ended (timer, transport error, or layer closed). Fires exactly once. */
  terminated: () => void;
  /** IST only: the ACK for a non-2xx final response arrived (§17.2.1 Completed → Confirmed). */
  ack: (ack: SipRequest) => void;
  /** IST only: Timer H fired, no ACK for the non-2xx final response (§17.2.1). */
  timeout: () => void;
  /** A response could not be sent. */
  transportError: (err: Error) => void;
};

export interface ServerTransaction {
  readonly id: string;
  readonly request: SipRequest;
  readonly source: ReceiveInfo;
  readonly state: string;
  /** Where responses go (§18.2.2). */
  readonly responseDestination: Destination;
  /** Sends a response through the transaction. Throws TransactionError ERR_TRANSACTION_STATE when not allowed. */
  respond(res: SipResponse): void;
  on<K extends keyof ServerTransactionEvents>(ev: K, fn: ServerTransactionEvents[K]): unknown;
  off<K extends keyof ServerTransactionEvents>(ev: K, fn: ServerTransactionEvents[K]): unknown;
}

export class TransactionError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'TransactionError';
    this.code = code;
  }
}

/** What a transaction needs from its layer. */
export interface TransactionContext {
  readonly clock: Clock;
  readonly timers: TimerConfig;
  readonly logger?: Logger;
  send: SendFn;
  /** Called once when a transaction reaches Terminated. */
  removed(tx: { id: string; kind: 'client' | 'server' }): void;
  /** Starts a client transaction through the layer (used by ICT.cancel). */
  sendRequest(req: SipRequest, dest: Destination, user: ClientTransactionUser): ClientTransaction;
  /** Runs a TU callback; its exception is logged, never propagated into the state machine. */
  callUser(what: string, fn: () => void): void;
}
