/**
 * SIP message parser (RFC 3261 §7). Header values stay raw strings; Via, CSeq,
 * URIs and name-addrs are parsed on demand by fields.ts. The only structured
 * checks done here are the ones needed to decide whether a message is usable
 * and, if not, which status a request should be answered with.
 */
import { canonicalName, MULTI_VALUE, splitCommaValues } from './headers.js';
import { isToken, parseCSeq, parseUri, parseVia } from './fields.js';
import { SipParseError, type Header, type SipMessage, type SipRequest } from './types.js';
import { rememberWireBytes } from './serializer.js';

export const DEFAULT_MAX_MESSAGE_SIZE = 65_535;

const EMPTY = Buffer.alloc(0);

export interface ParseOptions {
  /** Largest accepted message in bytes (default 65,535). */
  maxSize?: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const LFLF = Buffer.from('\n\n');

interface Deferred {
  code: string;
  message: string;
  status: number;
}

/** Finds the end of the header section: returns [headEnd, bodyStart]. */
function findHeadEnd(buf: Buffer, from: number): [number, number] {
  const i = buf.indexOf(CRLFCRLF, from);
  if (i !== -1) return [i, i + 4];
  const j = buf.indexOf(LFLF, from);
  if (j !== -1) return [j, j + 2];
  // No empty line: be lenient and treat everything as the header section.
  return [buf.length, buf.length];
}

function parseContentLength(v: string): number {
  const s = v.trim();
  if (s.length === 0 || s.length > 9) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

/**
 * Parses one SIP message from a buffer (one UDP datagram, or one message cut out
 * of a stream by StreamFramer). Throws SipParseError with a stable `code`; when the
 * message is a request that can still be answered (Via, From, To, Call-ID and CSeq
 * readable) the error carries the `status` to answer with and the parsed `request`.
 */
export function parseMessage(buf: Buffer, opts?: ParseOptions): SipMessage {
  const maxSize = opts?.maxSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  if (!Buffer.isBuffer(buf)) throw new SipParseError('BAD_INPUT', 'parseMessage expects a Buffer');
  // §7.5: "Implementations processing SIP messages over stream-oriented transports MUST ignore any CRLF appearing before the start-line"
  let start = 0;
  while (start < buf.length && (buf[start] === 13 || buf[start] === 10)) start++;
  if (start >= buf.length) throw new SipParseError('EMPTY_MESSAGE', 'empty message');
  // A SIP start line begins with a method token or "SIP/"; reject binary garbage early and cheaply.
  const first = buf[start]!;
  if (first < 33 || first > 126) throw new SipParseError('BAD_START_LINE', 'message does not start with a SIP start line');

  let deferred: Deferred | undefined;
  const defer = (code: string, message: string, status: number) => {
    if (!deferred) deferred = { code, message, status };
  };
  if (buf.length > maxSize) {
    // §18.1.1 / §21.5.14: a request too large to process is answered 513 Message Too Large.
    defer('MESSAGE_TOO_LARGE', `message of ${buf.length} bytes exceeds the limit of ${maxSize}`, 513);
  }

  const [headEnd, bodyStart] = findHeadEnd(buf, start);
  const head = buf.toString('utf8', start, headEnd);
  const lines = head.split('\n');
  let startLine = lines[0]!;
  if (startLine.endsWith('\r')) startLine = startLine.slice(0, -1);

  let msg: SipMessage;
  if (startLine.startsWith('SIP/')) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF
    const sp1 = startLine.indexOf(' ');
    if (sp1 === -1) throw new SipParseError('BAD_START_LINE', `bad status line ${JSON.stringify(startLine.slice(0, 80))}`);
    const version = startLine.slice(0, sp1);
    if (version !== 'SIP/2.0') throw new SipParseError('BAD_VERSION', `unsupported SIP version ${version} in a response`);
    const sp2 = startLine.indexOf(' ', sp1 + 1);
    const code = sp2 === -1 ? startLine.slice(sp1 + 1) : startLine.slice(sp1 + 1, sp2);
    const status = code.length === 3 ? Number(code) : NaN;
    if (!Number.isInteger(status) || status < 100 || status > 699) {
      throw new SipParseError('BAD_STATUS', `bad status code ${JSON.stringify(code.slice(0, 20))}`);
    }
    msg = { kind: 'response', status, reason: sp2 === -1 ? '' : startLine.slice(sp2 + 1), version: 'SIP/2.0', headers: [], body: EMPTY };
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version CRLF
    const sp1 = startLine.indexOf(' ');
    const sp2 = sp1 === -1 ? -1 : startLine.indexOf(' ', sp1 + 1);
    if (sp1 === -1 || sp2 === -1 || startLine.indexOf(' ', sp2 + 1) !== -1) {
      throw new SipParseError('BAD_START_LINE', `bad request line ${JSON.stringify(startLine.slice(0, 80))}`);
    }
    const method = startLine.slice(0, sp1);
    if (!isToken(method)) throw new SipParseError('BAD_START_LINE', `bad method ${JSON.stringify(method.slice(0, 40))}`);
    const uri = startLine.slice(sp1 + 1, sp2);
    const version = startLine.slice(sp2 + 1);
    if (version !== 'SIP/2.0') {
      if (!version.startsWith('SIP/')) {
        throw new SipParseError('BAD_START_LINE', `bad SIP version ${JSON.stringify(version.slice(0, 20))}`);
      }
      // §8.2.2 / §21.5.20: a version the server does not support is answered 505.
      defer('BAD_VERSION', `unsupported SIP version ${version}`, 505);
    }
    try {
      const c = uri.indexOf(':');
      const scheme = c > 0 ? uri.slice(0, c).toLowerCase() : '';
      // Validate sip/sips/tel strictly; other well-formed schemes are the UA's call (416).
      if (scheme === 'sip' || scheme === 'sips' || scheme === 'tel' || c <= 0) parseUri(uri);
      else if (!/^[a-z][a-z0-9+.-]*$/.test(scheme) || c === uri.length - 1) parseUri(uri);
    } catch (e) {
      const err = e as SipParseError;
      if (err.code !== 'UNSUPPORTED_URI_SCHEME') defer('BAD_REQUEST_URI', `bad Request-URI: ${err.message}`, 400);
    }
    msg = { kind: 'request', method, uri, version: 'SIP/2.0', headers: [], body: EMPTY };
  }

  // Header lines, with folding (§7.3.1: a line starting with whitespace continues the previous one).
  const headers: Header[] = msg.headers;
  let haveVia = false, haveFrom = false, haveTo = false, haveCallId = false, haveCSeq = false;
  let cseqValue: string | undefined;
  let topVia: string | undefined;
  let contentLength: string | undefined;
  let maxForwards: string | undefined;
  let pendingName: string | undefined;
  let pendingValue = '';
  const flush = () => {
    if (pendingName === undefined) return;
    const name = pendingName;
    const value = pendingValue.trim();
    pendingName = undefined;
    switch (name) {
      case 'Via':
        haveVia = true;
        break;
      case 'From':
        haveFrom = true;
        break;
      case 'To':
        haveTo = true;
        break;
      case 'Call-ID':
        haveCallId = true;
        break;
      case 'CSeq':
        haveCSeq = true;
        if (cseqValue === undefined) cseqValue = value;
        break;
      case 'Content-Length':
        if (contentLength === undefined) contentLength = value;
        break;
      case 'Max-Forwards':
        if (maxForwards === undefined) maxForwards = value;
        break;
    }
    if (MULTI_VALUE.has(name) && value.indexOf(',') !== -1 && value !== '*') {
      for (const v of splitCommaValues(value)) {
        headers.push({ name, value: v });
        if (name === 'Via' && topVia === undefined) topVia = v;
      }
    } else {
      headers.push({ name, value });
      if (name === 'Via' && topVia === undefined) topVia = value;
    }
  };
  for (let li = 1; li < lines.length; li++) {
    let line = lines[li]!;
    if (line.length && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    if (line.length === 0) continue;
    const c0 = line.charCodeAt(0);
    if (c0 === 32 || c0 === 9) {
      if (pendingName === undefined) {
        defer('BAD_HEADER', 'continuation line before any header', 400);
        continue;
      }
      pendingValue += ' ' + line.trim();
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    if (colon <= 0) {
      defer('BAD_HEADER', `malformed header line ${JSON.stringify(line.slice(0, 80))}`, 400);
      continue;
    }
    const rawName = line.slice(0, colon).trimEnd();
    if (!isToken(rawName)) {
      defer('BAD_HEADER', `malformed header name ${JSON.stringify(rawName.slice(0, 40))}`, 400);
      continue;
    }
    pendingName = canonicalName(rawName);
    pendingValue = line.slice(colon + 1);
  }
  flush();

  // Body (§18.3): Content-Length counts bytes; extra datagram bytes are discarded.
  const available = buf.length - bodyStart;
  if (contentLength !== undefined) {
    const cl = parseContentLength(contentLength);
    if (cl < 0) {
      defer('BAD_CONTENT_LENGTH', `bad Content-Length ${JSON.stringify(contentLength.slice(0, 20))}`, 400);
      msg.body = available > 0 ? buf.subarray(bodyStart) : EMPTY;
    } else if (cl > available) {
      // §18.3: "If the transport packet ends before the end of the message body, this is considered an error. If the message is a response, it MUST be discarded. If the message is a request, the element SHOULD generate a 400 (Bad Request) response."
      defer('BODY_TRUNCATED', `Content-Length ${cl} exceeds the ${available} body bytes received`, 400);
      msg.body = available > 0 ? buf.subarray(bodyStart) : EMPTY;
    } else {
      msg.body = cl > 0 ? buf.subarray(bodyStart, bodyStart + cl) : EMPTY;
    }
  } else {
    msg.body = available > 0 ? buf.subarray(bodyStart) : EMPTY;
  }

  // §8.1.1: "A valid SIP request formulated by a UAC MUST, at a minimum, contain the following header fields: To, From, CSeq, Call-ID, Max-Forwards, and Via"
  // Max-Forwards is tolerated when missing (the UA layer may add it); the other five are needed to answer at all.
  const missing: string[] = [];
  if (!haveVia) missing.push('Via');
  if (!haveFrom) missing.push('From');
  if (!haveTo) missing.push('To');
  if (!haveCallId) missing.push('Call-ID');
  if (!haveCSeq) missing.push('CSeq');
  if (missing.length) throw new SipParseError('MISSING_HEADER', `missing mandatory header(s): ${missing.join(', ')}`);
  // §20.22: Max-Forwards = "Max-Forwards" HCOLON 1*DIGIT (the UA answers a well-formed 0 with 483).
  if (maxForwards !== undefined && parseContentLength(maxForwards) < 0) {
    defer('BAD_MAX_FORWARDS', `bad Max-Forwards ${JSON.stringify(maxForwards.slice(0, 20))}`, 400);
  }

  let addressable = true;
  let cseqMethod: string | undefined;
  try {
    cseqMethod = parseCSeq(cseqValue!).method;
  } catch (e) {
    addressable = false;
    deferred = { code: 'BAD_CSEQ', message: (e as Error).message, status: 400 };
  }
  try {
    parseVia(topVia!);
  } catch (e) {
    addressable = false;
    deferred ??= { code: 'BAD_VIA', message: (e as Error).message, status: 400 };
  }
  if (msg.kind === 'request' && cseqMethod !== undefined && cseqMethod !== msg.method) {
    // §20.16: "The method MUST match that of the request." A mismatch is a malformed request.
    defer('CSEQ_METHOD_MISMATCH', `CSeq method ${cseqMethod} does not match request method ${msg.method}`, 400);
  }

  if (deferred) {
    const canAnswer = msg.kind === 'request' && addressable && msg.method !== 'ACK';
    const err = new SipParseError(deferred.code, deferred.message, canAnswer ? deferred.status : undefined);
    if (canAnswer) err.request = msg as SipRequest;
    throw err;
  }
  if (contentLength !== undefined && parseContentLength(contentLength) === msg.body.length) {
    rememberWireBytes(msg, buf.subarray(start, bodyStart + msg.body.length));
  }
  return msg;
}
