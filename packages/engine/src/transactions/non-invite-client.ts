/**
 * Non-INVITE client transaction (RFC 3261 §17.1.2).
 */
import type { Header, SipRequest, SipResponse } from '../messages/types.js';
import { isReliable, type Destination } from '../transport/types.js';
import { TimerSet } from './timers.js';
import {
  TransactionError,
  type ClientTransaction,
  type ClientTransactionUser,
  type TransactionContext,
} from './types.js';

export enum NictState {
  Trying = 'Trying',
  Proceeding = 'Proceeding',
  Completed = 'Completed',
  Terminated = 'Terminated',
}

const ALLOWED: Record<NictState, readonly NictState[]> = {
  [NictState.Trying]: [NictState.Proceeding, NictState.Completed, NictState.Terminated],
  [NictState.Proceeding]: [NictState.Completed, NictState.Terminated],
  [NictState.Completed]: [NictState.Terminated],
  [NictState.Terminated]: [],
};

export class NonInviteClientTransaction implements ClientTransaction {
  readonly kind = 'client' as const;
  private _state = NictState.Trying;
  private readonly timers: TimerSet;
  private readonly reliable: boolean;

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

  get state(): NictState {
    return this._state;
  }

  /** State check that TypeScript does not narrow away across calls that may change it. */
  private at(s: NictState): boolean {
    return this._state === s;
  }

  private transition(to: NictState): void {
    if (!ALLOWED[this._state].includes(to)) {
      throw new TransactionError('ERR_ILLEGAL_TRANSITION', `NICT ${this.id}: illegal transition ${this._state} -> ${to}`);
    }
    this._state = to;
    if (to === NictState.Terminated) {
      this.timers.stopAll();
      this.ctx.removed(this);
    }
  }

  start(): void {
    const t1 = this.ctx.timers.t1;
    // §17.1.2.2: "The "Trying" state is entered when the TU initiates a new client transaction with a request. When entering this state, the client transaction SHOULD set timer F to fire in 64*T1 seconds."
    this.timers.start('F', 64 * t1, () => this.onTimerF());
    // §17.1.2.2: "If an unreliable transport is in use, the client transaction MUST set timer E to fire in T1 seconds."
    if (!this.reliable) this.scheduleE(t1);
    this.transmit();
  }

  private transmit(): void {
    try {
      this.ctx.send(this.request, this.destination, (err) => this.onTransportError(err));
    } catch (err) {
      this.onTransportError(err as Error);
    }
  }

  private scheduleE(ms: number): void {
    this.timers.start('E', ms, () => {
      if (this._state !== NictState.Trying && this._state !== NictState.Proceeding) return;
      this.transmit();
      // §17.1.2.2: "If timer E fires while still in this state, the timer is reset, but this time with a value of MIN(2*T1, T2)."
      // "If Timer E fires while in the "Proceeding" state, the request MUST be passed to the transport layer for retransmission, and Timer E MUST be reset with a value of T2 seconds."
      const t2 = this.ctx.timers.t2;
      this.scheduleE(this._state === NictState.Proceeding ? t2 : Math.min(2 * ms, t2));
    });
  }

  private onTimerF(): void {
    if (this._state !== NictState.Trying && this._state !== NictState.Proceeding) return;
    // §17.1.2.2: "If Timer F fires while the client transaction is still in the "Trying" state, the client transaction SHOULD inform the TU about the timeout, and then it SHOULD enter the "Terminated" state."
    this.transition(NictState.Terminated);
    this.ctx.callUser('onTimeout', () => this.user.onTimeout(this));
  }

  onTransportError(err: Error): void {
    if (this._state === NictState.Terminated || this._state === NictState.Completed) return;
    // §17.1.4: "the client transaction SHOULD inform the TU that a transport failure has occurred, and the client transaction SHOULD transition directly to the "Terminated" state."
    this.transition(NictState.Terminated);
    this.ctx.callUser('onTransportError', () =>
      this.user.onTransportError ? this.user.onTransportError(this, err) : this.user.onTimeout(this),
    );
  }

  receiveResponse(res: SipResponse): void {
    if (this._state !== NictState.Trying && this._state !== NictState.Proceeding) {
      // Completed: retransmissions of the final response are absorbed (§17.1.2.2 Timer K "to buffer any additional response retransmissions").
      return;
    }
    if (res.status < 200) {
      // §17.1.2.2: "If a provisional response is received while in the "Trying" state, the response MUST be passed to the TU, and then the client transaction SHOULD move to the "Proceeding" state."
      if (this._state === NictState.Trying) this.transition(NictState.Proceeding);
      this.ctx.callUser('onResponse', () => this.user.onResponse(res, this));
      return;
    }
    // §17.1.2.2: "If a final response (status codes 200-699) is received while in the "Trying" state, the response MUST be passed to the TU, and the client transaction MUST transition to the "Completed" state."
    this.timers.stop('E');
    this.timers.stop('F');
    this.transition(NictState.Completed);
    // §17.1.2.2: "Once the client transaction enters the "Completed" state, it MUST set Timer K to fire in T4 seconds for unreliable transports, and zero seconds for reliable transports."
    if (this.reliable) this.transition(NictState.Terminated);
    else this.timers.start('K', this.ctx.timers.t4, () => this.transition(NictState.Terminated));
    this.ctx.callUser('onResponse', () => this.user.onResponse(res, this));
  }

  cancel(_user: ClientTransactionUser, _extra?: Header[]): ClientTransaction | undefined {
    // §9.1: "CANCEL ... it has no effect on a request to which a UAS has already given a final response" - and only INVITE can be cancelled here.
    return undefined;
  }

  abort(): void {
    if (this._state !== NictState.Terminated) this.transition(NictState.Terminated);
  }
}
