import type { SipMessage } from './types.js';

/**
 * Serializes a message to bytes: start line, one "Name: value" line per header,
 * Content-Length (rewritten from body.length in place, or appended), empty line,
 * body. Header names and values are written as stored.
 */
export function serializeMessage(msg: SipMessage): Buffer {
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
  const out = Buffer.allocUnsafe(headLen + body.length);
  out.write(head, 0, headLen, 'utf8');
  if (body.length) body.copy(out, headLen);
  return out;
}

const EMPTY = Buffer.alloc(0);
