import { DEFAULT_MAX_MESSAGE_SIZE } from './parser.js';
import { SipParseError } from './types.js';

export interface StreamFramerOptions {
  /** Largest accepted message (headers + body) in bytes. */
  maxSize?: number;
}

/**
 * Cuts a TCP byte stream into whole SIP messages (RFC 3261 §18.3).
 * §18.3: "In the case of stream-oriented transports such as TCP, the Content-Length header field indicates the
 * size of the body. All SIP implementations MUST be able to process the Content-Length header field when it is
 * sent over a stream-oriented transport, and it MUST be used with stream-oriented transports."
 * CRLF keep-alives between messages (RFC 5626 §3.5.1 "\r\n\r\n" pings and "\r\n" pongs) are skipped and counted
 * in `keepAlives`. A stream that breaks these rules throws SipParseError: the caller should close the connection,
 * as the framing is lost.
 */
export class StreamFramer {
  readonly maxSize: number;
  /** CRLF keep-alive sequences seen between messages (a "\r\n\r\n" ping counts once). */
  keepAlives = 0;
  private buf: Buffer = EMPTY;
  private failed: SipParseError | undefined;

  constructor(opts: StreamFramerOptions = {}) {
    this.maxSize = opts.maxSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  }

  /** Bytes buffered waiting for the rest of a message. */
  get buffered(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): Buffer[] {
    if (this.failed) throw this.failed;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    try {
      for (;;) {
        let b = this.buf;
        // skip CRLF keep-alives
        let i = 0;
        while (i < b.length && (b[i] === 13 || b[i] === 10)) i++;
        if (i > 0) {
          this.keepAlives++;
          b = this.buf = b.subarray(i);
        }
        if (b.length === 0) break;
        const headEnd = b.indexOf(CRLFCRLF);
        if (headEnd === -1) {
          if (b.length > this.maxSize) {
            throw new SipParseError('MESSAGE_TOO_LARGE', `no end of headers within ${this.maxSize} bytes`);
          }
          break;
        }
        const cl = contentLength(b, headEnd);
        const total = headEnd + 4 + cl;
        if (total > this.maxSize) {
          throw new SipParseError('MESSAGE_TOO_LARGE', `message of ${total} bytes exceeds the limit of ${this.maxSize}`);
        }
        if (b.length < total) break;
        out.push(b.subarray(0, total));
        this.buf = b.subarray(total);
      }
    } catch (e) {
      this.failed = e as SipParseError;
      this.buf = EMPTY;
      throw e;
    }
    if (this.buf.length === 0) this.buf = EMPTY;
    return out;
  }
}

const EMPTY = Buffer.alloc(0);
const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Finds Content-Length (or compact "l") in the header block b[0..headEnd). */
function contentLength(b: Buffer, headEnd: number): number {
  let lineStart = b.indexOf(10) + 1; // skip the start line
  if (lineStart <= 0 || lineStart > headEnd) throw missing();
  while (lineStart < headEnd) {
    let lineEnd = b.indexOf(10, lineStart);
    if (lineEnd === -1 || lineEnd > headEnd) lineEnd = headEnd;
    const c = b[lineStart]! | 0x20;
    if (c === 0x6c /* l */ || (c === 0x63 /* c */ && lineEnd - lineStart > 15)) {
      const line = b.toString('latin1', lineStart, lineEnd);
      const colon = line.indexOf(':');
      if (colon > 0) {
        const name = line.slice(0, colon).trimEnd().toLowerCase();
        if (name === 'content-length' || name === 'l') {
          const v = line.slice(colon + 1).trim();
          if (v.length === 0 || v.length > 9 || !/^[0-9]+$/.test(v)) {
            throw new SipParseError('BAD_CONTENT_LENGTH', `bad Content-Length ${JSON.stringify(v.slice(0, 20))} on a stream`);
          }
          return Number(v);
        }
      }
    }
    lineStart = lineEnd + 1;
  }
  throw missing();
}

function missing(): SipParseError {
  return new SipParseError('MISSING_CONTENT_LENGTH', 'a message on a stream transport has no Content-Length (RFC 3261 §18.3)');
}
