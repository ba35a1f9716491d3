/**
 * INVITE server transaction (RFC 3261 §17.2.1, amended by RFC 6026 §8.7: the "Accepted" state).
 */
import { createResponse } from '../messages/response.js';
import type { SipRequest, SipResponse } from '../messages/types.js';
import type { Destination, ReceiveInfo } from '../transport/types.js';
import { ServerTransactionBase } from './server-base.js';
import { TransactionError, type ServerTransaction, type TransactionContext } from './types.js';

export enum IstState {
  Proceeding = 'Proceeding',
  Completed = 'Completed',
  Confirmed = 'Confirmed',
  Accepted = 'Accepted',
  Terminated = 'Terminated',
}

const ALLOWED: Record<IstState, readonly IstState[]> = {
  [IstState.Proceeding]: [IstState.Completed, IstState.Accepted, IstState.Terminated],
  [IstState.Completed]: [IstState.Confirmed, IstState.Terminated],
  [IstState.Confirmed]: [IstState.Terminated],
  [IstState.Accepted]: [IstState.Terminated],
  [IstState.Terminated]: [],
};

/** §17.2.1: "If the TU won't respond within 200ms, the server transaction MUST generate a 100 response". */
export const AUTO_TRYING_MS = 200;

export class InviteServerTransaction extends ServerTransactionBase<IstState> implements ServerTransaction {
  private lastProvisional: SipResponse | undefined;
  private lastFinal: SipResponse | undefined;

  constructor(
    ctx: TransactionContext,
    id: string,
    request: SipRequest,
    source: ReceiveInfo,
    responseDestination: Destination,
    /** Passes an ACK that arrives in the Accepted state to the TU (RFC 6026). */
    private readonly ackToTu: (ack: SipRequest, info: ReceiveInfo) => void,
    /** resumed: re-created at takeover for an INVITE another node already answered provisionally (no 100). */
    opts: { resumed?: boolean } = {},
  ) {
    super(ctx, id, request, source, responseDestination, { name: 'IST', initial: IstState.Proceeding, terminated: IstState.Terminated, allowed: ALLOWED });
    if (opts.resumed) return;
    // §17.2.1: "the server transaction MUST generate a 100 (Trying) response unless it knows that the TU
    // will generate a provisional or final response within 200 ms"
    this.timers.start('Trying', AUTO_TRYING_MS, () => {
      if (this._state === IstState.Proceeding && !this.lastProvisional) this.respond(createResponse(this.request, 100));
    });
  }

  respond(res: SipResponse): void {
    if (!res || res.kind !== 'response') throw new TransactionError('ERR_INVALID_ARGUMENT', 'respond() needs a SipResponse');
    const s = res.status;
    switch (this._state) {
      case IstState.Proceeding:
        this.timers.stop('Trying');
        if (s < 200) {
          // §17.2.1: "The TU passes any number of provisional responses to the server transaction. So long as the server transaction is in the "Proceeding" state, each of these MUST be passed to the transport layer for transmission."
          this.lastProvisional = res;
          this.transmit(res);
        } else if (s < 300) {
          // RFC 6026 §8.5: "If, while in the "Proceeding" state, the TU passes a 2xx response to the server transaction, the server transaction MUST pass this response to the transport layer for transmission. It is not retransmitted by the server transaction; retransmissions of 2xx responses are handled by the TU. The server transaction MUST then transition to the "Accepted" state."
          this.transition(IstState.Accepted);
          // Only the "Proceeding" state retransmits a provisional response: let it go (Accepted lasts 64*T1).
          this.lastProvisional = undefined;
          // RFC 6026 §8.7: Timer L "64*T1": "When Timer L fires and the state machine is in the "Accepted" state, the machine MUST transition to the "Terminated" state."
          this.timers.start('L', 64 * this.ctx.timers.t1, () => this.transition(IstState.Terminated));
          this.transmit(res);
        } else {
          // §17.2.1: "While in the "Proceeding" state, if the TU passes a response with status code from 300 to 699 to the server transaction, the response MUST be passed to the transport layer for transmission, and the state machine MUST enter the "Completed" state."
          this.lastFinal = res;
          this.lastProvisional = undefined;
          this.transition(IstState.Completed);
          if (!this.transmit(res)) return;
          const { t1 } = this.ctx.timers;
          // §17.2.1: "For unreliable transports, timer G is set to fire in T1 seconds, and is not set to fire for reliable transports."
          if (!this.reliable) this.scheduleG(t1);
          // §17.2.1: "When the "Completed" state is entered, timer H MUST be set to fire in 64*T1 seconds for all transports."
          this.timers.start('H', 64 * t1, () => this.onTimerH());
        }
        return;
      case IstState.Accepted:
        // RFC 6026 §8.7: "While in the "Accepted" state, any retransmissions of the 2xx response passed from the TU to the server transaction MUST be passed to the transport layer for transmission."
        if (s >= 200 && s < 300) {
          this.transmit(res);
          return;
        }
        break;
      case IstState.Terminated:
        // The UA core retransmits its 2xx end to end (§13.3.1.4), also after the transaction ended.
        if (s >= 200 && s < 300) {
          try {
            this.ctx.send(res, this.responseDestination);
          } catch (err) {
            this.ctx.logger?.warn({ err, tx: this.id }, 'stateless 2xx retransmission failed');
          }
          return;
        }
        break;
      default:
        break;
    }
    throw new TransactionError('ERR_TRANSACTION_STATE', `IST ${this.id}: cannot send ${s} in state ${this._state}`);
  }

  private scheduleG(ms: number): void {
    this.timers.start('G', ms, () => {
      if (this._state !== IstState.Completed || !this.lastFinal) return;
      // §17.2.1: "If timer G fires, the response is passed to the transport layer once more for retransmission, and timer G is set to fire in MIN(2*T1, T2) seconds. From then on, when timer G fires, the response is passed to the transport again for transmission, and timer G is reset with a value that doubles, unless that value exceeds T2, in which case it is reset with the value of T2."
      if (!this.transmit(this.lastFinal)) return;
      this.scheduleG(Math.min(2 * ms, this.ctx.timers.t2));
    });
  }

  private onTimerH(): void {
    if (this._state !== IstState.Completed) return;
    // §17.2.1: "If timer H fires while in the "Completed" state, it implies that the ACK was never received. In this case, the server transaction MUST transition to the "Terminated" state, and MUST indicate to the TU that a transaction failure has occurred."
    this.emit('timeout');
    if (this.at(IstState.Completed)) this.transition(IstState.Terminated);
  }

  /** A retransmitted INVITE or an ACK that matched this transaction (§17.2.3). */
  receiveRequest(req: SipRequest, info: ReceiveInfo): void {
    if (req.method === 'ACK') {
      switch (this._state) {
        case IstState.Completed: {
          // §17.2.1: "If an ACK is received while the server transaction is in the "Completed" state, the server transaction MUST transition to the "Confirmed" state. As Timer G is ignored in this state, any retransmissions of the response will cease."
          this.timers.stop('G');
          this.timers.stop('H');
          this.transition(IstState.Confirmed);
          // Nothing is retransmitted from here on.
          this.lastFinal = undefined;
          // §17.2.1: "When this state is entered, timer I is set to fire in T4 seconds for unreliable transports, and zero seconds for reliable transports."
          this.emit('ack', req);
          if (!this.at(IstState.Confirmed)) return;
          if (this.reliable) this.transition(IstState.Terminated);
          else this.timers.start('I', this.ctx.timers.t4, () => this.transition(IstState.Terminated));
          return;
        }
        case IstState.Accepted:
          // RFC 6026 §8.7 (Figure 5): in the "Accepted" state an ACK is passed to the TU.
          this.ackToTu(req, info);
          return;
        default:
          // §17.2.1: "The purpose of the "Confirmed" state is to absorb any additional ACK messages that arrive"
          return;
      }
    }
    switch (this._state) {
      case IstState.Proceeding:
        // §17.2.1: "If a request retransmission is received while in the "Proceeding" state, the most recent provisional response that was received from the TU MUST be passed to the transport layer for retransmission."
        if (this.lastProvisional) this.transmit(this.lastProvisional);
        return;
      case IstState.Completed:
        // §17.2.1: "while in the "Completed" state, if a request retransmission is received, the server SHOULD pass the response to the transport for retransmission."
        if (this.lastFinal) this.transmit(this.lastFinal);
        return;
      default:
        // RFC 6026 §8.7: "The purpose of the "Accepted" state is to absorb retransmissions of an accepted INVITE request."
        return;
    }
  }

  abort(): void {
    if (this._state !== IstState.Terminated) this.transition(IstState.Terminated);
  }
}
