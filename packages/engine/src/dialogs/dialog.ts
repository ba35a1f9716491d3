/**
 * A dialog as the engine keeps it (RFC 3261 §12): identifiers, the route set and
 * remote target used to build in-dialog requests, and the local/remote CSeq.
 */
import type { AppConnection } from '../wire/connection.js';

export enum DialogState {
  /** UAS sent a 2xx to the INVITE and waits for the ACK. */
  AwaitingAck = 'awaiting-ack',
  Confirmed = 'confirmed',
  Terminated = 'terminated',
}

const LEGAL: Record<DialogState, DialogState[]> = {
  [DialogState.AwaitingAck]: [DialogState.Confirmed, DialogState.Terminated],
  [DialogState.Confirmed]: [DialogState.Terminated],
  [DialogState.Terminated]: [],
};

export class DialogError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'DialogError';
    this.code = code;
  }
}

export interface PeerHint {
  transport: 'udp' | 'tcp';
  address: string;
  port: number;
  connectionId?: string;
}

export interface DialogInit {
  id: string;
  role: 'uac' | 'uas';
  /** Method that created the dialog (INVITE or SUBSCRIBE). */
  method: string;
  callId: string;
  localTag: string;
  remoteTag: string;
  /** Full From/To header values for our side / their side, tags included. */
  localNameAddr: string;
  remoteNameAddr: string;
  remoteTarget: string;
  routeSet: string[];
  /** Undefined when unknown (a dialog learned after failover). */
  localSeq?: number;
  remoteSeq?: number;
  localContact: string;
  peer: PeerHint;
  owner?: AppConnection;
  state: DialogState;
  /** True when the dialog was learned from traffic the engine did not see begin. */
  learned?: boolean;
}

export class Dialog {
  readonly id: string;
  readonly role: 'uac' | 'uas';
  readonly method: string;
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly localNameAddr: string;
  readonly remoteNameAddr: string;
  remoteTarget: string;
  routeSet: string[];
  localSeq: number | undefined;
  remoteSeq: number | undefined;
  localContact: string;
  peer: PeerHint;
  owner: AppConnection | undefined;
  readonly learned: boolean;
  private _state: DialogState;
  /** UAC: the last INVITE answered 2xx that the app has not ACKed yet, or that was ACKed (for 2xx retransmissions). */
  inviteAck?: { cseq: number; ack?: Buffer; dest?: PeerHint };

  constructor(init: DialogInit) {
    this.id = init.id;
    this.role = init.role;
    this.method = init.method;
    this.callId = init.callId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.localNameAddr = init.localNameAddr;
    this.remoteNameAddr = init.remoteNameAddr;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.localContact = init.localContact;
    this.peer = init.peer;
    this.owner = init.owner;
    this.learned = init.learned ?? false;
    this._state = init.state;
  }

  get state(): DialogState {
    return this._state;
  }

  transition(to: DialogState): void {
    if (to === this._state) return;
    if (!LEGAL[this._state].includes(to)) {
      throw new DialogError('EDIALOG_STATE', `illegal dialog transition ${this._state} -> ${to}`);
    }
    this._state = to;
  }

  /**
   * §12.2.1.1: "Requests within a dialog MUST contain strictly monotonically
   * increasing and contiguous CSeq sequence numbers (increasing-by-one) in each
   * direction". `requested` lets an app that knows the sequence (after a takeover)
   * continue it.
   */
  nextLocalSeq(requested?: number): number {
    let seq: number;
    if (requested !== undefined && (this.localSeq === undefined || requested > this.localSeq)) seq = requested;
    else seq = (this.localSeq ?? 0) + 1;
    this.localSeq = seq;
    return seq;
  }

  /**
   * §12.2.2: "If the remote sequence number was not empty, but the sequence number
   * of the request is lower than the remote sequence number, the request is out of
   * order and MUST be rejected with a 500 (Server Internal Error) response."
   * Returns false for such a request; otherwise records the number.
   */
  acceptRemoteSeq(seq: number, method: string): boolean {
    if (method === 'ACK' || method === 'CANCEL') return true;
    if (this.remoteSeq !== undefined && seq < this.remoteSeq) return false;
    this.remoteSeq = seq;
    return true;
  }
}

export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\n${localTag}\n${remoteTag}`;
}
