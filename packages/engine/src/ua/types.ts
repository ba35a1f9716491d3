/**
 * The narrow views the UA needs of the transaction and transport layers (their
 * classes satisfy these structurally), so the UA is unit-testable with fakes.
 */
import type { Header, SipRequest, SipResponse } from '../messages/index.js';

export type Transport = 'udp' | 'tcp';

export interface RecvInfo {
  transport: Transport;
  remote: { address: string; port: number };
  local: { address: string; port: number };
  connectionId?: string;
}

export interface Dest {
  transport: Transport;
  address: string;
  port: number;
  connectionId?: string;
}

export interface ServerTxn {
  id: string;
  request: SipRequest;
  respond(res: SipResponse): void;
}

export interface ClientTxnUser {
  onResponse(res: SipResponse, ct: ClientTxn): void;
  onTimeout(ct: ClientTxn): void;
  onTransportError?(ct: ClientTxn, err: Error): void;
}

export interface ClientTxn {
  id: string;
  request: SipRequest;
  cancel(user: ClientTxnUser, extraHeaders?: Header[]): unknown;
}

export interface TxnLayerView {
  sendRequest(req: SipRequest, dest: Dest, user: ClientTxnUser): ClientTxn;
  findInviteForCancel(cancel: SipRequest): ServerTxn | undefined;
  /** Takeover (policy 'app'): an INVITE client transaction in "Proceeding", nothing sent. */
  resumeInviteClient?(req: SipRequest, dest: Dest, user: ClientTxnUser): ClientTxn;
  /** Takeover (policy 'app'): an INVITE server transaction in "Proceeding", nothing sent. */
  resumeInviteServer?(req: SipRequest, info: RecvInfo): ServerTxn;
}
