/**
 * The engine's SIP message model (RFC 3261 §7). This file is the contract between
 * the layers: transport hands raw bytes to `parseMessage`, the transaction and UA
 * layers work on these objects, `serializeMessage` turns them back into bytes.
 *
 * Header names are stored in their canonical long form ("Via", "Call-ID", "CSeq",
 * "Content-Length", ...): compact forms (v, i, f, t, m, l, c, k, s, e, o, u, r, b)
 * are expanded by the parser. Lookups are case-insensitive. Header values are kept
 * as raw strings (trimmed, line folding removed); a header that carried several
 * comma-separated values on one line is split into separate entries only for the
 * headers RFC 3261 §7.3.1 allows that for and the layers need split (Via, Route,
 * Record-Route, Contact), so `getAll('Via')` always returns one entry per hop.
 */

export type SipTransport = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

export interface Header {
  name: string;
  value: string;
}

export interface SipMessageCommon {
  headers: Header[];
  body: Buffer;
}

export interface SipRequest extends SipMessageCommon {
  kind: 'request';
  method: string;
  /** Request-URI exactly as it appears on the start line. */
  uri: string;
  version: 'SIP/2.0';
}

export interface SipResponse extends SipMessageCommon {
  kind: 'response';
  status: number;
  reason: string;
  version: 'SIP/2.0';
}

export type SipMessage = SipRequest | SipResponse;

/** Where a message came from or goes to. */
export interface Endpoint {
  transport: SipTransport;
  address: string;
  port: number;
}

export interface ParsedUri {
  scheme: 'sip' | 'sips' | 'tel';
  user?: string;
  password?: string;
  host: string;
  port?: number;
  /** ;name=value URI parameters, lower-cased names; value null for ";lr" style. */
  params: Record<string, string | null>;
  /** ?name=value URI headers. */
  headers: Record<string, string>;
}

export interface NameAddr {
  displayName?: string;
  uri: string;
  /** header parameters after the URI (";tag=..."), lower-cased names. */
  params: Record<string, string | null>;
}

export interface ParsedVia {
  transport: string; // "UDP", "TCP", ... as written
  host: string;
  port?: number;
  branch?: string;
  received?: string;
  rport?: number | null; // null when ";rport" has no value
  params: Record<string, string | null>;
}

export interface ParsedCSeq {
  seq: number;
  method: string;
}

/**
 * Parse failures carry a stable code and, where the message was readable enough to
 * answer, the SIP status the engine should answer a request with (400, 413, 505 ...).
 */
export class SipParseError extends Error {
  readonly code: string;
  readonly status?: number;
  /** Set together with `status`: the request as far as it was parsed, to build the answer from. */
  request?: SipRequest;
  constructor(code: string, message: string, status?: number) {
    super(message);
    this.name = 'SipParseError';
    this.code = code;
    this.status = status;
  }
}
