/**
 * Non-INVITE server transaction (RFC 3261 §17.2.2).
 */
import type { SipRequest, SipResponse } from '../messages/types.js';
import type { Destination, ReceiveInfo } from '../transport/types.js';
import { ServerTransactionBase } from './server-base.js';
import { TransactionError, type ServerTransaction, type TransactionContext } from './types.js';

export enum NistState {
  Trying = 'Trying',
  Proceeding = 'Proceeding',
  Completed = 'Completed',
  Terminated = 'Terminated',
}

const ALLOWED: Record<NistState, readonly NistState[]> = {
  [NistState.Trying]: [NistState.Proceeding, NistState.Completed, NistState.Terminated],
  [NistState.Proceeding]: [NistState.Completed, NistState.Terminated],
  [NistState.Completed]: [NistState.Terminated],
  [NistState.Terminated]: [],
};

export class NonInviteServerTransaction extends ServerTransactionBase<NistState> implements ServerTransaction {
  private lastResponse: SipResponse | undefined;

  constructor(ctx: TransactionContext, id: string, request: SipRequest, source: ReceiveInfo, responseDestination: Destination) {
    super(ctx, id, request, source, responseDestination, { name: 'NIST', initial: NistState.Trying, terminated: NistState.Terminated, allowed: ALLOWED });
  }

  respond(res: SipResponse): void {
    if (!res || res.kind !== 'response') throw new TransactionError('ERR_INVALID_ARGUMENT', 'respond() needs a SipResponse');
    if (this._state !== NistState.Trying && this._state !== NistState.Proceeding) {
      // §17.2.2: "Any other final responses passed by the TU to the server transaction MUST be discarded while in the "Completed" state."
      throw new TransactionError('ERR_TRANSACTION_STATE', `NIST ${this.id}: cannot send ${res.status} in state ${this._state}`);
    }
    this.lastResponse = res;
    if (res.status < 200) {
      // §17.2.2: "While in the "Trying" state, if the TU passes a provisional response to the server transaction, the server transaction MUST enter the "Proceeding" state."
      if (this._state === NistState.Trying) this.transition(NistState.Proceeding);
      this.transmit(res);
      return;
    }
    // §17.2.2: "If the TU passes a final response (status codes 200-699) to the server while in the "Proceeding" state, the transaction MUST enter the "Completed" state, and the response MUST be passed to the transport layer for transmission."
    this.transition(NistState.Completed);
    if (!this.transmit(res)) return;
    // §17.2.2: "When the server transaction enters the "Completed" state, it MUST set Timer J to fire in 64*T1 seconds for unreliable transports, and zero seconds for reliable transports."
    if (this.reliable) this.transition(NistState.Terminated);
    else this.timers.start('J', 64 * this.ctx.timers.t1, () => this.transition(NistState.Terminated));
  }

  /** A retransmission of the request (§17.2.3 matched). */
  receiveRequest(_req: SipRequest, _info: ReceiveInfo): void {
    switch (this._state) {
      case NistState.Trying:
        // §17.2.2: "Once in the "Trying" state, any further request retransmissions are discarded."
        return;
      case NistState.Proceeding:
      case NistState.Completed:
        // §17.2.2: "If a retransmission of the request is received while in the "Proceeding" state, the most recently sent provisional response MUST be passed to the transport layer for retransmission."
        // "While in the "Completed" state, the server transaction MUST pass the final response to the transport layer for retransmission whenever a retransmission of the request is received."
        if (this.lastResponse) this.transmit(this.lastResponse);
        return;
      default:
        return;
    }
  }

  abort(): void {
    if (this._state !== NistState.Terminated) this.transition(NistState.Terminated);
  }
}
