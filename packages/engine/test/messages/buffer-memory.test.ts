import { describe, expect, it } from 'vitest';
import { parseMessage, serializeMessage } from '../../src/messages/index.js';
import { parseAppMessage } from '../../src/ua/app-message.js';

// Bytes a transaction may keep for up to 32 s (Timers J, L, M) must not be slices of Node's shared
// 8 KiB Buffer pool: a kept slice keeps the whole slab, and every short-lived buffer cut from it, alive.
const ownMemory = (b: Buffer) => b.byteOffset === 0 && b.buffer.byteLength === b.length;

const RAW =
  'INVITE sip:bob@b SIP/2.0\r\n' +
  'Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\n' +
  'From: <sip:a@a>;tag=1\r\n' +
  'To: <sip:b@b>\r\n' +
  'Call-ID: c1\r\n' +
  'CSeq: 1 INVITE\r\n' +
  'Content-Type: application/sdp\r\n' +
  'Content-Length: 4\r\n\r\nv=0\n';

describe('buffers kept with a message have memory of their own', () => {
  it('a serialized message is not a slice of the shared pool, and its bytes are unchanged', () => {
    const msg = parseMessage(Buffer.from(RAW));
    msg.headers.push({ name: 'X-Changed', value: '1' });
    const out = serializeMessage(msg);
    expect(ownMemory(out)).toBe(true);
    expect(out.toString()).toBe(RAW.replace('Content-Length: 4\r\n', 'Content-Length: 4\r\nX-Changed: 1\r\n'));
  });

  it('the body of a message from the app is not a slice of the shared pool, and holds its UTF-8 bytes', () => {
    const m = parseAppMessage('INVITE sip:bob@b SIP/2.0\r\nContent-Type: text/plain\r\n\r\nhé😀');
    expect(ownMemory(m.body)).toBe(true);
    expect(m.body.toString('utf8')).toBe('hé😀');
    expect(parseAppMessage('BYE sip:bob@b SIP/2.0\r\n\r\n').body.length).toBe(0);
  });
});
