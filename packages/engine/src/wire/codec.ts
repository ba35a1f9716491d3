/**
 * Framing of the drachtio wire protocol: every message is `<byte-length>#<payload>`,
 * where byte-length is the decimal length of the UTF-8 payload in bytes. TCP delivers
 * frames split and coalesced arbitrarily; FrameDecoder reassembles them.
 */

export class WireError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'WireError';
    this.code = code;
  }
}

export interface FrameDecoderOptions {
  /** Largest payload accepted, in bytes (default 1 MiB). */
  maxFrameSize?: number;
}

const HASH = 0x23; // '#'
/** More digits than this cannot be a sane length. */
const MAX_LENGTH_DIGITS = 9;

export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private readonly maxFrameSize: number;

  constructor(opts: FrameDecoderOptions = {}) {
    this.maxFrameSize = opts.maxFrameSize ?? 1024 * 1024;
  }

  /** Bytes held while waiting for the rest of a frame. */
  get buffered(): number {
    return this.buf.length;
  }

  /**
   * Feeds bytes, returns every payload completed by them (possibly none).
   * Throws WireError (code EWIRE_FRAME / EWIRE_TOO_BIG) on a malformed length: the
   * stream cannot be resynchronised after that, so the caller closes the connection.
   */
  push(chunk: Buffer): string[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: string[] = [];
    let off = 0;
    for (;;) {
      const avail = this.buf.length - off;
      if (avail === 0) break;
      const limit = Math.min(this.buf.length, off + MAX_LENGTH_DIGITS + 1);
      let hash = -1;
      let len = 0;
      for (let i = off; i < limit; i++) {
        const c = this.buf[i]!;
        if (c === HASH) {
          hash = i;
          break;
        }
        if (c < 0x30 || c > 0x39) {
          throw new WireError('EWIRE_FRAME', `invalid frame length specifier (byte 0x${c.toString(16)})`);
        }
        len = len * 10 + (c - 0x30);
      }
      if (hash === -1) {
        if (limit - off > MAX_LENGTH_DIGITS) throw new WireError('EWIRE_FRAME', 'frame length specifier too long');
        break; // length itself is split across reads
      }
      if (hash === off || len === 0) throw new WireError('EWIRE_FRAME', 'empty or zero frame length');
      if (len > this.maxFrameSize) throw new WireError('EWIRE_TOO_BIG', `frame of ${len} bytes exceeds ${this.maxFrameSize}`);
      const start = hash + 1;
      if (this.buf.length - start < len) break;
      out.push(this.buf.toString('utf8', start, start + len));
      off = start + len;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    // Keep a partial frame in its own memory so a huge read buffer is not pinned.
    if (off > 0 && this.buf.length > 0) this.buf = Buffer.from(this.buf);
    return out;
  }
}

/** Frames one payload. */
export function encodeFrame(payload: string): string {
  return `${Buffer.byteLength(payload, 'utf8')}#${payload}`;
}

/** Splits a payload into its `|` tokens (first line only) and the SIP text after CRLF. */
export function splitPayload(payload: string): { tokens: string[]; body: string } {
  const nl = payload.indexOf('\r\n');
  const head = nl === -1 ? payload : payload.slice(0, nl);
  return { tokens: head.split('|'), body: nl === -1 ? '' : payload.slice(nl + 2) };
}
