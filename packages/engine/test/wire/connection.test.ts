import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AppConnection } from '../../src/wire/connection.js';
import { FrameDecoder } from '../../src/wire/codec.js';

/** A socket stand-in that records every write. */
function fakeSocket(): { socket: Socket; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const s = Object.assign(new EventEmitter(), {
    remoteAddress: '127.0.0.1',
    remotePort: 1,
    destroyed: false,
    setNoDelay: () => s,
    write: (data: Buffer | string) => {
      writes.push(Buffer.isBuffer(data) ? Buffer.from(data) : Buffer.from(data, 'utf8'));
      return true;
    },
    end: () => s,
    destroy: () => {
      s.destroyed = true;
      return s;
    },
  });
  return { socket: s as unknown as Socket, writes };
}

const nextImmediate = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('AppConnection framing', () => {
  it('frames a SIP message given as bytes after CRLF, with the byte length of the whole payload (UTF-8 included)', async () => {
    const { socket, writes } = fakeSocket();
    const conn = new AppConnection({ socket, onPayload: () => {}, onClose: () => {} });
    const sip = Buffer.from('INVITE sip:é@x SIP/2.0\r\nSubject: 😀\r\nContent-Length: 0\r\n\r\n', 'utf8');
    const id = conn.send('sip|network|ü', sip);
    conn.respond('client-1', 'OK|pong');
    await nextImmediate();
    const payloads = new FrameDecoder().push(Buffer.concat(writes));
    expect(payloads).toEqual([`${id}|sip|network|ü\r\n${sip.toString('utf8')}`, expect.stringMatching(/\|response\|client-1\|OK\|pong$/)]);
  });

  it('writes every frame queued in one turn of the event loop with one socket write, in order', async () => {
    const { socket, writes } = fakeSocket();
    const conn = new AppConnection({ socket, onPayload: () => {}, onClose: () => {} });
    for (let i = 0; i < 5; i++) conn.send(`n|${i}`, i % 2 === 0 ? Buffer.from(`body ${i}`) : undefined);
    expect(writes).toHaveLength(0);
    await nextImmediate();
    expect(writes).toHaveLength(1);
    const payloads = new FrameDecoder().push(writes[0]!);
    expect(payloads.map((p) => p.slice(p.indexOf('|') + 1))).toEqual(['n|0\r\nbody 0', 'n|1', 'n|2\r\nbody 2', 'n|3', 'n|4\r\nbody 4']);
  });

  it('end() writes what is queued before closing; nothing is written after close', async () => {
    const { socket, writes } = fakeSocket();
    const conn = new AppConnection({ socket, onPayload: () => {}, onClose: () => {} });
    conn.send('a|1', Buffer.from('x'));
    conn.end();
    expect(writes).toHaveLength(1);
    conn.send('a|2');
    await nextImmediate();
    expect(writes).toHaveLength(1);
    expect(new FrameDecoder().push(writes[0]!)[0]).toMatch(/\|a\|1\r\nx$/);
  });
});
