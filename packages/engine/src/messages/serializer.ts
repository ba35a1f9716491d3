import type { Header, SipMessage } from './types.js';

/**
 * The bytes a message last serialized to (or was parsed from), with a snapshot of what they were made
 * of. A relayed or retransmitted message that nobody changed is sent as those bytes again instead of
 * being rebuilt. The check compares the header objects by identity (Header objects are replaced, never
 * edited in place: setHeader/removeHeader/stampVia all do so), so any change (a header replaced, pushed
 * or removed, a new body, Request-URI or status) makes a fresh serialization.
 */
interface Memo {
  buf: Buffer;
  a: string | number;
  b: string;
  body: Buffer;
  /** The header objects, in order (the engine replaces a Header, it never edits one in place). */
  hs: Header[];
  /** true: the bytes the message arrived as (not the canonical form). */
  received: boolean;
}
const memos = new WeakMap<SipMessage, Memo>();

function snapshot(msg: SipMessage, buf: Buffer, received: boolean): void {
  memos.set(msg, {
    buf,
    a: msg.kind === 'request' ? msg.method : msg.status,
    b: msg.kind === 'request' ? msg.uri : msg.reason,
    body: msg.body,
    hs: msg.headers.slice(),
    received,
  });
}

function cached(msg: SipMessage, acceptReceived: boolean): Buffer | undefined {
  const m = memos.get(msg);
  if (m === undefined || m.body !== msg.body || (m.received && !acceptReceived)) return undefined;
  if (msg.kind === 'request' ? m.a !== msg.method || m.b !== msg.uri : m.a !== msg.status || m.b !== msg.reason) return undefined;
  const hs = msg.headers;
  const was = m.hs;
  if (hs.length !== was.length) return undefined;
  for (let i = 0; i < hs.length; i++) if (hs[i] !== was[i]) return undefined;
  return m.buf;
}

/**
 * The parser records the bytes a message arrived as (start line to end of body, with a correct
 * Content-Length), so relaying it unchanged relays those bytes.
 */
export function rememberWireBytes(msg: SipMessage, buf: Buffer): void {
  snapshot(msg, buf, true);
}

/**
 * Bytes to put on the wire for `msg`: what it arrived as if it is unchanged since it was parsed, else its
 * serialization (also remembered, so a retransmission or a relay of the same unchanged message reuses it).
 */
export function wireBytes(msg: SipMessage): Buffer {
  return cached(msg, true) ?? serializeMessage(msg);
}

/**
 * Serializes a message to bytes: start line, one "Name: value" line per header,
 * Content-Length (rewritten from body.length in place, or appended), empty line,
 * body. Header names and values are written as stored.
 */
export function serializeMessage(msg: SipMessage): Buffer {
  const hit = cached(msg, false);
  if (hit !== undefined) return hit;
  const out = build(msg);
  snapshot(msg, out, false);
  return out;
}

function build(msg: SipMessage): Buffer {
  let head =
    msg.kind === 'request' ? `${msg.method} ${msg.uri} SIP/2.0\r\n` : `SIP/2.0 ${msg.status} ${msg.reason}\r\n`;
  const body = msg.body ?? EMPTY;
  let wroteLength = false;
  const hs = msg.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    const n = h.name;
    if (n.length === 14 && (n === 'Content-Length' || n.toLowerCase() === 'content-length')) {
      if (!wroteLength) head += `Content-Length: ${body.length}\r\n`;
      wroteLength = true;
      continue;
    }
    if (n === 'l' || n === 'L') {
      if (!wroteLength) head += `Content-Length: ${body.length}\r\n`;
      wroteLength = true;
      continue;
    }
    head += n + ': ' + h.value + '\r\n';
  }
  if (!wroteLength) head += `Content-Length: ${body.length}\r\n`;
  head += '\r\n';
  const headLen = Buffer.byteLength(head, 'utf8');
  // Its own memory, not a slice of Node's shared 8 KiB pool: these bytes live as long as the message (a
  // transaction keeps its response up to 32 s for retransmissions), and a pooled slice would keep the
  // whole slab, and all the short-lived buffers cut from it, alive that long (~9 KB per call at 300 calls/s).
  const out = Buffer.allocUnsafeSlow(headLen + body.length);
  out.write(head, 0, headLen, 'utf8');
  if (body.length) body.copy(out, headLen);
  return out;
}

const EMPTY = Buffer.alloc(0);
