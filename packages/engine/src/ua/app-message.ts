/**
 * Lenient parser for the SIP text an app sends on the wire. drachtio-srf sends
 * partial messages (a response without Via, an ACK with only a start line), so the
 * strict network parser does not apply here.
 */
import { canonicalName, type Header } from '../messages/index.js';

export class AppMessageError extends Error {
  readonly code = 'EAPP_MESSAGE';
  constructor(message: string) {
    super(message);
    this.name = 'AppMessageError';
  }
}

export interface AppRequest {
  kind: 'request';
  method: string;
  uri: string;
  headers: Header[];
  body: Buffer;
}
export interface AppResponse {
  kind: 'response';
  status: number;
  reason: string;
  headers: Header[];
  body: Buffer;
}
export type AppMessage = AppRequest | AppResponse;

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;

export function parseAppMessage(text: string): AppMessage {
  let headEnd = text.indexOf('\r\n\r\n');
  let bodyStart: number;
  if (headEnd === -1) {
    headEnd = text.length;
    bodyStart = text.length;
  } else bodyStart = headEnd + 4;
  const lines = text.slice(0, headEnd).split(/\r?\n/);
  const start = (lines.shift() ?? '').trim();
  if (!start) throw new AppMessageError('empty SIP message');
  const headers: Header[] = [];
  for (const line of lines) {
    if (!line) continue;
    if ((line[0] === ' ' || line[0] === '\t') && headers.length > 0) {
      headers[headers.length - 1]!.value += ' ' + line.trim();
      continue;
    }
    const c = line.indexOf(':');
    if (c <= 0) throw new AppMessageError(`malformed header line: ${line.slice(0, 80)}`);
    const name = line.slice(0, c).trim();
    if (!TOKEN.test(name)) throw new AppMessageError(`invalid header name: ${name.slice(0, 80)}`);
    headers.push({ name: canonicalName(name), value: line.slice(c + 1).trim() });
  }
  const body = ownBytes(text.slice(bodyStart));
  if (start.startsWith('SIP/')) {
    const m = /^SIP\/2\.0\s+(\d{3})(?:\s+(.*))?$/.exec(start);
    if (!m) throw new AppMessageError(`invalid status line: ${start.slice(0, 80)}`);
    const status = Number(m[1]);
    if (status < 100 || status > 699) throw new AppMessageError(`invalid status ${status}`);
    return { kind: 'response', status, reason: m[2] ?? '', headers, body };
  }
  const m = /^([A-Za-z]+)\s+(\S+)(?:\s+SIP\/2\.0)?$/.exec(start);
  if (!m) throw new AppMessageError(`invalid request line: ${start.slice(0, 80)}`);
  return { kind: 'request', method: m[1]!.toUpperCase(), uri: m[2]!, headers, body };
}

/**
 * UTF-8 bytes of `s` in memory of their own. Buffer.from() would cut a small string's bytes from Node's
 * shared 8 KiB pool; a message body lives as long as its transaction (up to 32 s) and would keep the whole
 * slab alive with it.
 */
function ownBytes(s: string): Buffer {
  if (s.length === 0) return Buffer.alloc(0);
  const n = Buffer.byteLength(s, 'utf8');
  const b = Buffer.allocUnsafeSlow(n);
  b.write(s, 0, n, 'utf8');
  return b;
}
