/**
 * What the INVITE and non-INVITE server transactions share: the state field with its
 * `transition()` (rejecting moves the machine's table does not allow), sending a response
 * to the response destination, and the transport-failure rule. Each state machine keeps
 * its own file, table and timers (invite-server.ts, non-invite-server.ts).
 */
import type { SipRequest, SipResponse } from '../messages/types.js';
import { TypedEmitter } from '../transport/typed-emitter.js';
import { isReliable, type Destination, type ReceiveInfo } from '../transport/types.js';
import { TimerSet } from './timers.js';
import { TransactionError, type ServerTransactionEvents, type TransactionContext } from './types.js';

export interface ServerMachine<S extends string> {
  /** "IST" or "NIST", for errors and logs. */
  name: string;
  initial: S;
  terminated: S;
  allowed: Record<S, readonly S[]>;
}

export abstract class ServerTransactionBase<S extends string> extends TypedEmitter<ServerTransactionEvents> {
  readonly kind = 'server' as const;
  protected _state: S;
  protected readonly timers: TimerSet;
  protected readonly reliable: boolean;

  constructor(
    protected readonly ctx: TransactionContext,
    readonly id: string,
    readonly request: SipRequest,
    readonly source: ReceiveInfo,
    readonly responseDestination: Destination,
    private readonly machine: ServerMachine<S>,
  ) {
    super();
    this._state = machine.initial;
    this.timers = new TimerSet(ctx);
    this.reliable = isReliable(responseDestination.transport);
  }

  get state(): S {
    return this._state;
  }

  protected override onListenerError(err: unknown, event: string): void {
    this.ctx.logger?.error({ err, event, tx: this.id }, `${this.machine.name} listener threw`);
  }

  /** State check that TypeScript does not narrow away across calls that may change it. */
  protected at(s: S): boolean {
    return this._state === s;
  }

  protected transition(to: S): void {
    if (!this.machine.allowed[this._state].includes(to)) {
      throw new TransactionError('ERR_ILLEGAL_TRANSITION', `${this.machine.name} ${this.id}: illegal transition ${this._state} -> ${to}`);
    }
    this._state = to;
    if (to === this.machine.terminated) {
      this.timers.stopAll();
      this.ctx.removed(this);
      this.emit('terminated');
    }
  }

  protected transmit(res: SipResponse): boolean {
    let failed: Error | undefined;
    try {
      this.ctx.send(res, this.responseDestination, (err) => this.onTransportError(err));
    } catch (err) {
      failed = err as Error;
    }
    if (failed) this.onTransportError(failed);
    // A send can also fail through its callback before send() returns (no transport for
    // the destination, a datagram too large): the transaction is Terminated by then, and
    // the caller must not move it on (Terminated -> Terminated threw from respond()).
    return !failed && !this.at(this.machine.terminated);
  }

  protected onTransportError(err: Error): void {
    if (this._state === this.machine.terminated) return;
    // §17.2.4: "the server transaction ... SHOULD inform the TU that a transport failure has occurred" and terminate.
    this.emit('transportError', err);
    if (!this.at(this.machine.terminated)) this.transition(this.machine.terminated);
  }
}
