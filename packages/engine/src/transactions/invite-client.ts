/**
 * INVITE client transaction (RFC 3261 §17.1.1, amended by RFC 6026 §8.4: the "Accepted" state).
 */
import { getHeader, getHeaders } from '../messages/headers.js';
import { parseCSeq } from '../messages/fields.js';
import type { Header, SipRequest, SipResponse } from '../messages/types.js';
import { isReliable, type Destination } from '../transport/types.js';
import { TimerSet } from './timers.js';
import {
  TransactionError,
  type ClientTransaction,
  type ClientTransactionUser,
  type TransactionContext,
} from './types.js';

export enum IctState {
  Calling = 'Calling',
  Proceeding = 'Proceeding',
  Completed = 'Completed',
  Accepted = 'Accepted',
  Terminated = 'Terminated',
}

const ALLOWED: Record<IctState, readonly IctState[]> = {
  [IctState.Calling]: [IctState.Proceeding, IctState.Completed, IctState.Accepted, IctState.Terminated],
  [IctState.Proceeding]: [IctState.Completed, IctState.Accepted, IctState.Terminated],
  [IctState.Completed]: [IctState.Terminated],
  [IctState.Accepted]: [IctState.Terminated],
  [IctState.Terminated]: [],
};

export class InviteClientTransaction implements ClientTransaction {
  readonly kind = 'client' as const;
  private _state = IctState.Calling;
  private readonly timers: TimerSet;
  private readonly reliable: boolean;
  private ack: SipRequest | undefined;
  private pendingCancel: { user: ClientTransactionUser; extra?: Header[] } | undefined;
  private cancelSent = false;

  constructor(
    private readonly ctx: TransactionContext,
    readonly id: string,
    readonly branch: string,
    readonly request: SipRequest,
    readonly destination: Destination,
    private readonly user: ClientTransactionUser,
  ) {
    this.timers = new TimerSet(ctx);
    this.reliable = isReliable(destination.transport);
  }

  get state(): IctState {
    return this._state;
  }

  /** State check that TypeScript does not narrow away across calls that may change it. */
  private at(s: IctState): boolean {
    return this._state === s;
  }

  private transition(to: IctState): void {
    if (!ALLOWED[this._state].includes(to)) {
      throw new TransactionError('ERR_ILLEGAL_TRANSITION', `ICT ${this.id}: illegal transition ${this._state} -> ${to}`);
    }
    this._state = to;
    if (to === IctState.Terminated) {
      this.timers.stopAll();
      this.pendingCancel = undefined;
      this.ctx.removed(this);
    }
  }

  /** Sends the INVITE and starts timers A and B. */
  start(): void {
    const t1 = this.ctx.timers.t1;
    // §17.1.1.2: "If an unreliable transport is being used, the client transaction MUST start timer A with a value of T1."
    if (!this.reliable) this.scheduleA(t1);
    // §17.1.1.2: "For any transport, the client transaction MUST start timer B with a value of 64*T1 seconds."
    this.timers.start('B', 64 * t1, () => this.onTimerB());
    this.transmit(this.request);
  }

  /**
   * Takeover: this transaction was started by another node, which already got a provisional response
   * (the caller heard ringing). §17.1.1.2: "If the client transaction receives a provisional response
   * while in the "Calling" state, it transitions to the "Proceeding" state." — so it starts there, with
   * no timer running and nothing sent; the callee's final response completes it as usual.
   */
  resume(): void {
    this.transition(IctState.Proceeding);
  }

  private transmit(msg: SipRequest): void {
    try {
      this.ctx.send(msg, this.destination, (err) => this.onTransportError(err));
    } catch (err) {
      this.onTransportError(err as Error);
    }
  }

  /** A lost ACK is recovered by the peer's retransmission of the final response; a send error only gets logged. */
  private transmitAck(): void {
    if (!this.ack) return;
    const onErr = (err: Error) => this.ctx.logger?.warn({ err, tx: this.id }, 'sending ACK failed');
    try {
      this.ctx.send(this.ack, this.destination, onErr);
    } catch (err) {
      onErr(err as Error);
    }
  }

  private scheduleA(ms: number): void {
    this.timers.start('A', ms, () => {
      if (this._state !== IctState.Calling) return;
      // §17.1.1.2: "When timer A fires, the client transaction MUST retransmit the request by passing it to the transport layer, and MUST reset the timer with a value of 2*T1."
      this.transmit(this.request);
      this.scheduleA(ms * 2);
    });
  }

  private onTimerB(): void {
    if (this._state !== IctState.Calling) return;
    // §17.1.1.2: "If the client transaction is still in the "Calling" state when timer B fires, the client transaction SHOULD inform the TU that a timeout has occurred."
    this.transition(IctState.Terminated);
    this.ctx.callUser('onTimeout', () => this.user.onTimeout(this));
  }

  onTransportError(err: Error): void {
    if (this._state === IctState.Terminated) return;
    // §17.1.4: "the client transaction SHOULD inform the TU that a transport failure has occurred, and the client transaction SHOULD transition directly to the "Terminated" state."
    this.transition(IctState.Terminated);
    this.ctx.callUser('onTransportError', () =>
      this.user.onTransportError ? this.user.onTransportError(this, err) : this.user.onTimeout(this),
    );
  }

  receiveResponse(res: SipResponse): void {
    const s = res.status;
    switch (this._state) {
      case IctState.Calling:
      case IctState.Proceeding:
        if (s < 200) {
          // §17.1.1.2: "If the client transaction receives a provisional response while in the "Calling" state, it transitions to the "Proceeding" state."
          if (this._state === IctState.Calling) {
            this.timers.stop('A');
            this.timers.stop('B');
            this.transition(IctState.Proceeding);
          }
          this.ctx.callUser('onResponse', () => this.user.onResponse(res, this));
          if (this.pendingCancel && this._state === IctState.Proceeding) {
            const p = this.pendingCancel;
            this.pendingCancel = undefined;
            this.sendCancel(p.user, p.extra);
          }
        } else if (s < 300) {
          // RFC 6026 §8.4: "If a 2xx response is received while the client INVITE state machine is in the "Calling" or "Proceeding" states, it MUST transition to the "Accepted" state, pass the 2xx response to the TU, and set Timer M to 64*T1."
          this.timers.stop('A');
          this.timers.stop('B');
          this.pendingCancel = undefined;
          this.transition(IctState.Accepted);
          this.timers.start('M', 64 * this.ctx.timers.t1, () => this.transition(IctState.Terminated));
          this.ctx.callUser('onResponse', () => this.user.onResponse(res, this));
        } else {
          // §17.1.1.2: "When in either the "Calling" or "Proceeding" states, reception of a response with status code from 300-699 MUST cause the client transaction to transition to "Completed". The client transaction MUST pass the received response up to the TU, and the client transaction MUST generate an ACK request, even if the transport is reliable"
          this.timers.stop('A');
          this.timers.stop('B');
          this.pendingCancel = undefined;
          this.transition(IctState.Completed);
          this.ack = this.buildAck(res);
          this.transmitAck();
          // §17.1.1.2: "The client transaction SHOULD start timer D when it enters the "Completed" state, with a value of at least 32 seconds for unreliable transports, and a value of zero seconds for reliable transports."
          if (this.reliable) this.transition(IctState.Terminated);
          else this.timers.start('D', Math.max(32_000, 32 * this.ctx.timers.t1), () => this.transition(IctState.Terminated));
          this.ctx.callUser('onResponse', () => this.user.onResponse(res, this));
        }
        return;
      case IctState.Completed:
        // §17.1.1.2: "Any retransmissions of the final response that are received while in the "Completed" state MUST cause the ACK to be re-passed to the transport layer for retransmission, but the newly received response MUST NOT be passed up to the TU."
        if (s >= 300) this.transmitAck();
        return;
      case IctState.Accepted:
        // RFC 6026 §8.4: "any 2xx responses that match this client transaction and that are received while in the "Accepted" state MUST be passed up to the TU."
        if (s >= 200 && s < 300) this.ctx.callUser('onResponse', () => this.user.onResponse(res, this));
        return;
      case IctState.Terminated:
        return;
    }
  }

  /**
   * §17.1.1.3: "The ACK request constructed by the client transaction MUST contain values for the Call-ID, From, and
   * Request-URI that are equal to the values of those header fields in the request passed to the transport by the
   * client transaction (call this the "original request"). The To header field in the ACK MUST equal the To header
   * field in the response being acknowledged. The ACK MUST contain a single Via header field, and this MUST be equal
   * to the top Via header field of the original request. The CSeq header field in the ACK MUST contain the same value
   * for the sequence number as was present in the original request, but the method parameter MUST be equal to "ACK"."
   * "If the INVITE request whose response is being acknowledged had Route header fields, those header fields MUST
   * appear in the ACK."
   */
  private buildAck(res: SipResponse): SipRequest {
    return this.buildSibling('ACK', getHeader(res, 'To') ?? getHeader(this.request, 'To') ?? '');
  }

  private buildSibling(method: 'ACK' | 'CANCEL', to: string, extra?: Header[]): SipRequest {
    const req = this.request;
    const headers: Header[] = [{ name: 'Via', value: getHeader(req, 'Via')! }];
    const mf = getHeader(req, 'Max-Forwards');
    headers.push({ name: 'Max-Forwards', value: mf ?? '70' });
    headers.push({ name: 'From', value: getHeader(req, 'From') ?? '' });
    headers.push({ name: 'To', value: to });
    headers.push({ name: 'Call-ID', value: getHeader(req, 'Call-ID') ?? '' });
    headers.push({ name: 'CSeq', value: `${parseCSeq(getHeader(req, 'CSeq') ?? '').seq} ${method}` });
    for (const r of getHeaders(req, 'Route')) headers.push({ name: 'Route', value: r });
    if (extra) for (const h of extra) headers.push({ name: h.name, value: h.value });
    return { kind: 'request', method, uri: req.uri, version: 'SIP/2.0', headers, body: Buffer.alloc(0) };
  }

  cancel(user: ClientTransactionUser, extraHeaders?: Header[]): ClientTransaction | undefined {
    if (this.cancelSent || this.pendingCancel) return undefined;
    if (this._state === IctState.Calling) {
      // §9.1: "If no provisional response has been received, the CANCEL request MUST NOT be sent; rather, the client MUST wait for the arrival of a provisional response before sending the request."
      this.pendingCancel = { user, extra: extraHeaders };
      return undefined;
    }
    if (this._state !== IctState.Proceeding) {
      // §9.1: "If the request has already been answered with a final response, the CANCEL has no effect" - not sent.
      return undefined;
    }
    return this.sendCancel(user, extraHeaders);
  }

  /**
   * §9.1: "The Request-URI, Call-ID, To, the numeric part of CSeq, and From header fields in the CANCEL request MUST
   * be identical to those in the request being cancelled, including tags. A CANCEL constructed by a client MUST have
   * only a single Via header field value matching the top Via value in the request being cancelled."
   */
  private sendCancel(user: ClientTransactionUser, extra?: Header[]): ClientTransaction {
    this.cancelSent = true;
    const cancel = this.buildSibling('CANCEL', getHeader(this.request, 'To') ?? '', extra);
    return this.ctx.sendRequest(cancel, this.destination, user);
  }

  /** Layer shutdown: stop everything, no callbacks. */
  abort(): void {
    if (this._state !== IctState.Terminated) this.transition(IctState.Terminated);
  }
}
