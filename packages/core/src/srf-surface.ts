/**
 * The small part of drachtio-srf's public API the core uses. The real
 * drachtio-srf objects satisfy it at run time; tests pass a fake.
 */
export interface SipMessageLike {
  body?: string;
  get(name: string): string | undefined;
  has(name: string): boolean;
  getParsedHeader(name: string): any; // eslint-disable-line @typescript-eslint/no-explicit-any
  source_address?: string;
  source_port?: number | string;
  protocol?: string;
}

export interface IncomingRequestLike extends SipMessageLike {
  method: string;
  uri: string;
  receivedOn?: string;
  on(event: 'cancel', fn: (cancel: SipMessageLike) => void): unknown;
}

export interface OutgoingRequestLike extends SipMessageLike {
  method: string;
  uri: string;
  cancel(opts?: { headers?: Record<string, string> }, cb?: (err: unknown) => void): void;
}

export interface ResponseLike extends SipMessageLike {
  status: number;
  reason: string;
}

export interface ServerResponseLike {
  readonly finalResponseSent: boolean;
  send(status: number, reason: string, opts: { headers?: Record<string, string>; body?: string }, cb?: (err: unknown, msg: SipMessageLike) => void): void;
}

export interface DialogLike {
  sip: { callId: string; localTag: string; remoteTag: string };
  local: { uri: string; sdp?: string; contact?: string };
  remote: { uri: string; sdp?: string };
  req?: SipMessageLike;
  res?: SipMessageLike;
  /** drachtio-srf clears this when the dialog ended (e.g. the far end's BYE was answered). */
  connected?: boolean;
  on(event: 'destroy', fn: (bye: SipMessageLike, reason?: string) => void): unknown;
  on(event: 'modify' | 'update' | 'info', fn: (req: IncomingRequestLike, res: ServerResponseLike) => void): unknown;
  on(event: 'ack', fn: (ack: SipMessageLike) => void): unknown;
  request(
    opts: { method: string; body?: string; headers?: Record<string, string>; noAck?: boolean },
    cb: (err: unknown, res: ResponseLike, ack?: (opts?: { body?: string }) => void) => void,
  ): unknown;
  destroy(opts?: { headers?: Record<string, string> }): Promise<unknown>;
}

export interface UacDelayedOffer {
  sdp: string;
  ack(localSdp: string): Promise<DialogLike>;
  destroy(): Promise<void>;
  res: ResponseLike;
}

export interface SrfLike {
  invite(handler: (req: IncomingRequestLike, res: ServerResponseLike) => void): unknown;
  createUAS(req: IncomingRequestLike, res: ServerResponseLike, opts: { localSdp?: string; headers?: Record<string, string> }): Promise<DialogLike>;
  createUAC(
    uri: string,
    opts: { localSdp?: string; headers?: Record<string, string>; noAck?: boolean },
    progress: {
      cbRequest?: (err: unknown, req?: OutgoingRequestLike) => void;
      cbProvisional?: (res: ResponseLike) => void;
    },
  ): Promise<DialogLike | UacDelayedOffer>;
  disconnect?(): void;
}
