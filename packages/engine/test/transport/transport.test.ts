import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMessage, type SipRequest } from '../../src/messages/index.js';
import { TransportLayer, type ReceiveInfo } from '../../src/transport/index.js';

const msg = (n: number, body = '') =>
  Buffer.from(
    `MESSAGE sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK${n}\r\nFrom: <sip:a@a>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: c${n}\r\nCSeq: ${n} MESSAGE\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );

const open: TransportLayer[] = [];
async function layer(listen: Array<{ transport: 'udp' | 'tcp' }>, extra: { idleTimeoutMs?: number } = {}) {
  const t = new TransportLayer({ listen: listen.map((l) => ({ ...l, address: '127.0.0.1', port: 0 })), tuneSysctl: false, ...extra });
  open.push(t);
  await t.start();
  return t;
}
const next = <T>(t: TransportLayer, ev: 'message' | 'connectionClosed' | 'connection') =>
  new Promise<T>((resolve) => t.once(ev, ((...a: unknown[]) => resolve(a as T)) as never));

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

describe('TransportLayer', () => {
  it('binds port 0 and reports the real ports', async () => {
    const t = await layer([{ transport: 'udp' }, { transport: 'tcp' }]);
    const l = t.listening();
    expect(l.map((x) => x.transport)).toEqual(['udp', 'tcp']);
    for (const x of l) expect(x.port).toBeGreaterThan(0);
  });

  it('fails start() with EADDRINUSE naming the address', async () => {
    const a = await layer([{ transport: 'udp' }]);
    const port = a.listening()[0]!.port;
    const b = new TransportLayer({ listen: [{ transport: 'udp', address: '127.0.0.1', port }], tuneSysctl: false });
    await expect(b.start()).rejects.toMatchObject({ code: 'EADDRINUSE', message: expect.stringContaining(`127.0.0.1:${port}`) });
  });

  it('rejects bad options with a clear code', () => {
    expect(() => new TransportLayer({ listen: [] })).toThrowError(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new TransportLayer({ listen: [{ transport: 'udp', address: 'localhost', port: 0 }] })).toThrowError(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    );
  });

  it('UDP: receives datagrams with addressing info and sends to a destination', async () => {
    const t = await layer([{ transport: 'udp' }]);
    const port = t.listening()[0]!.port;
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    const got = next<[Buffer, ReceiveInfo]>(t, 'message');
    peer.send(msg(1), port, '127.0.0.1');
    const [buf, info] = await got;
    expect((parseMessage(buf) as SipRequest).method).toBe('MESSAGE');
    expect(info).toEqual({ transport: 'udp', remote: { address: '127.0.0.1', port: peer.address().port }, local: { address: '127.0.0.1', port } });
    const back = new Promise<Buffer>((r) => peer.once('message', (b) => r(b)));
    t.send(msg(2), { transport: 'udp', address: '127.0.0.1', port: peer.address().port });
    expect((await back).toString()).toBe(msg(2).toString());
    peer.close();
  });

  it('UDP: asks for large socket buffers (default 16 MiB, capped by net.core.rmem_max)', async () => {
    const t = await layer([{ transport: 'udp' }]);
    const [b] = t.udpBufferSizes();
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    // Linux doubles the requested value for bookkeeping, capped at 2 * rmem_max
    expect(b!.recv).toBe(2 * Math.min(rmemMax, 16 * 1024 * 1024));
    expect(b!.recv).toBeGreaterThan(212_992 * 2); // more than the default
    const small = new TransportLayer({ listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }], recvBufferSize: 65536, tuneSysctl: false });
    open.push(small);
    await small.start();
    expect(small.udpBufferSizes()[0]!.recv).toBe(131072);
  });

  it('sends made in one turn of the event loop arrive in order, UDP and TCP', async () => {
    const t = await layer([{ transport: 'udp' }, { transport: 'tcp' }]);
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const got: number[] = [];
    const all = new Promise<void>((resolve) =>
      sock.on('message', (b) => {
        got.push(Number(/CSeq: (\d+)/.exec(b.toString())![1]));
        if (got.length === 20) resolve();
      }),
    );
    for (let i = 1; i <= 20; i++) t.send(msg(i), { transport: 'udp', address: '127.0.0.1', port: sock.address().port });
    await all;
    sock.close();
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    let text = '';
    const tcpAll = new Promise<void>((resolve) =>
      server.on('connection', (c) =>
        c.on('data', (d) => {
          text += d.toString();
          if ((text.match(/CSeq: /g) ?? []).length === 20) resolve();
        }),
      ),
    );
    const port = (server.address() as net.AddressInfo).port;
    for (let i = 1; i <= 20; i++) t.send(msg(i), { transport: 'tcp', address: '127.0.0.1', port });
    await tcpAll;
    expect([...text.matchAll(/CSeq: (\d+)/g)].map((m) => Number(m[1]))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(t.connectionCount).toBe(1);
    await t.close();
    await new Promise((r) => server.close(r));
  });

  it('send() never throws: bad destinations and missing transports go to onError', async () => {
    const t = await layer([{ transport: 'udp' }]);
    const errs: string[] = [];
    t.send(msg(1), { transport: 'udp', address: 'not-an-ip', port: 5060 }, (e) => errs.push((e as { code?: string }).code ?? ''));
    t.send(msg(1), { transport: 'udp', address: '::1', port: 5060 }, (e) => errs.push((e as { code?: string }).code ?? ''));
    expect(errs).toEqual(['ERR_BAD_DESTINATION', 'ERR_NO_TRANSPORT']);
  });

  it('TCP: frames a stream into messages and answers on the same connection', async () => {
    const t = await layer([{ transport: 'tcp' }]);
    const port = t.listening()[0]!.port;
    const client = net.connect(port, '127.0.0.1');
    const received: Array<[Buffer, ReceiveInfo]> = [];
    const two = new Promise<void>((r) =>
      t.on('message', (b, i) => {
        received.push([b, i]);
        if (received.length === 2) r();
      }),
    );
    const all = Buffer.concat([msg(1, 'hello'), Buffer.from('\r\n\r\n'), msg(2)]);
    client.write(all.subarray(0, 37));
    client.write(all.subarray(37));
    await two;
    expect(received.map(([b]) => parseMessage(b).body.toString())).toEqual(['hello', '']);
    const info = received[0]![1];
    expect(info.transport).toBe('tcp');
    expect(info.connectionId).toMatch(/^tcp-/);
    expect(info.remote.port).toBe(client.localPort);
    const reply = new Promise<Buffer>((r) => client.once('data', (d) => r(d)));
    // address:port deliberately wrong: the connectionId wins
    t.send(msg(3), { transport: 'tcp', address: '127.0.0.1', port: 1, connectionId: info.connectionId });
    expect((await reply).toString()).toBe(msg(3).toString());
    expect(t.connectionCount).toBe(1);
    client.destroy();
  });

  it('TCP: connects out, reuses the open connection, and receives on it', async () => {
    const server = await layer([{ transport: 'tcp' }]);
    const client = await layer([{ transport: 'tcp' }]);
    const dest = { transport: 'tcp' as const, address: '127.0.0.1', port: server.listening()[0]!.port };
    const got: ReceiveInfo[] = [];
    const two = new Promise<void>((r) => server.on('message', (_b, i) => (got.push(i), got.length === 2 && r())));
    client.send(msg(1), dest);
    client.send(msg(2), dest);
    await two;
    expect(got[0]!.connectionId).toBe(got[1]!.connectionId);
    expect(client.connectionCount).toBe(1);
    const back = next<[Buffer, ReceiveInfo]>(client, 'message');
    server.send(msg(9), { transport: 'tcp', address: '127.0.0.1', port: 0, connectionId: got[0]!.connectionId });
    const [b, info] = await back;
    expect(parseMessage(b).headers.find((h) => h.name === 'Call-ID')!.value).toBe('c9');
    expect(info.connectionId).toMatch(/^tcp-/);
  });

  it('TCP: when the connection is gone, a new one to connectPort (§18.2.2 sent-by), from the listening address', async () => {
    const server = await layer([{ transport: 'tcp' }]);
    // the far end listens here; its first connection came from elsewhere and is closed
    const phone = net.createServer();
    await new Promise<void>((r) => phone.listen(0, '127.0.0.1', () => r()));
    const phonePort = (phone.address() as net.AddressInfo).port;
    const accepted = new Promise<net.Socket>((r) => phone.once('connection', r));
    const client = net.connect(server.listening()[0]!.port, '127.0.0.1');
    const [, info] = await (client.write(msg(1)), next<[Buffer, ReceiveInfo]>(server, 'message'));
    const closed = next(server, 'connectionClosed');
    client.destroy();
    await closed;
    server.send(msg(2), { transport: 'tcp', address: '127.0.0.1', port: info.remote.port, connectionId: info.connectionId, connectPort: phonePort });
    const sock = await accepted;
    const data = await new Promise<Buffer>((r) => sock.once('data', r));
    expect(data.toString()).toBe(msg(2).toString());
    // "the address it knows us by": the listener's address, not whatever the route picks
    expect(sock.remoteAddress).toBe('127.0.0.1');
    expect(server.connectionCount).toBe(1);
    sock.destroy();
    await new Promise<void>((r) => phone.close(() => r()));
  });

  it('TCP: a new connection leaves from the listening address when it is a specific one', async () => {
    const server = await layer([{ transport: 'tcp' }]);
    const from = new TransportLayer({ listen: [{ transport: 'tcp', address: '127.0.0.2', port: 0 }], tuneSysctl: false });
    open.push(from);
    await from.start();
    const got = next<[Buffer, ReceiveInfo]>(server, 'message');
    from.send(msg(1), { transport: 'tcp', address: '127.0.0.1', port: server.listening()[0]!.port });
    const [, info] = await got;
    expect(info.remote.address).toBe('127.0.0.2');
  });

  it('TCP: a refused connect is reported to onError', async () => {
    const t = await layer([{ transport: 'udp' }]);
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const err = await new Promise<Error>((r) => t.send(msg(1), { transport: 'tcp', address: '127.0.0.1', port }, r));
    expect((err as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('TCP: a malformed stream (no Content-Length) closes that connection with a reason', async () => {
    const t = await layer([{ transport: 'tcp' }]);
    const client = net.connect(t.listening()[0]!.port, '127.0.0.1');
    const closed = next<[string, string]>(t, 'connectionClosed');
    const clientClosed = new Promise<void>((r) => client.on('close', () => r()));
    client.on('error', () => {});
    client.write(Buffer.from(msg(1).toString().replace('Content-Length: 0\r\n', '')));
    const [, reason] = await closed;
    expect(reason).toMatch(/malformed stream.*Content-Length/);
    await clientClosed;
    expect(t.connectionCount).toBe(0);
  });

  it('TCP: idle connections are closed after the timeout', async () => {
    const t = await layer([{ transport: 'tcp' }], { idleTimeoutMs: 150 });
    const client = net.connect(t.listening()[0]!.port, '127.0.0.1');
    await next(t, 'connection');
    const start = Date.now();
    const [, reason] = await next<[string, string]>(t, 'connectionClosed');
    expect(Date.now() - start).toBeGreaterThanOrEqual(100);
    expect(reason).toBe('idle timeout');
    client.destroy();
    expect(t.connectionCount).toBe(0);
  });

  it('close() and destroy() are idempotent; send after close reports ERR_NOT_STARTED', async () => {
    const t = await layer([{ transport: 'udp' }, { transport: 'tcp' }]);
    await Promise.all([t.close(), t.close()]);
    t.destroy();
    const err = await new Promise<Error>((r) => t.send(msg(1), { transport: 'udp', address: '127.0.0.1', port: 9 }, r));
    expect((err as { code?: string }).code).toBe('ERR_NOT_STARTED');
  });
});
