/**
 * A minimal UDP transport with the TransportLayer's shape, used by the Engine when
 * no transport factory is given and until the full transport layer is wired in.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv6 } from 'node:net';
import type { Dest, RecvInfo, Transport } from './types.js';

export interface ListenSpec {
  transport: Transport;
  address: string;
  port: number;
}

export interface TransportLike {
  on(event: 'message', fn: (buf: Buffer, info: RecvInfo) => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
  start(): Promise<void> | void;
  send(buf: Buffer, dest: Dest): void;
  listening(): ListenSpec[];
  close(): Promise<void> | void;
  destroy?(): void;
}

export interface BasicUdpTransportOptions {
  listen: ListenSpec[];
  recvBufferSize?: number;
  sendBufferSize?: number;
}

export class BasicUdpTransport extends EventEmitter implements TransportLike {
  private readonly socks: { spec: ListenSpec; sock: dgram.Socket }[] = [];
  private readonly opts: BasicUdpTransportOptions;

  constructor(opts: BasicUdpTransportOptions) {
    super();
    this.opts = opts;
    for (const l of opts.listen) {
      if (l.transport !== 'udp') throw Object.assign(new Error('BasicUdpTransport supports udp only'), { code: 'ENOTSUP' });
    }
  }

  async start(): Promise<void> {
    for (const spec of this.opts.listen) {
      const sock = dgram.createSocket({
        type: isIPv6(spec.address) ? 'udp6' : 'udp4',
        recvBufferSize: this.opts.recvBufferSize ?? 4 * 1024 * 1024,
        sendBufferSize: this.opts.sendBufferSize ?? 4 * 1024 * 1024,
      });
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(spec.port, spec.address, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      const bound = { transport: 'udp' as const, address: spec.address, port: sock.address().port };
      sock.on('message', (buf, rinfo) => {
        this.emit('message', buf, { transport: 'udp', remote: { address: rinfo.address, port: rinfo.port }, local: { address: bound.address, port: bound.port } });
      });
      sock.on('error', (err) => this.emit('error', err));
      this.socks.push({ spec: bound, sock });
    }
  }

  send(buf: Buffer, dest: Dest): void {
    const s = this.socks[0];
    if (!s) throw Object.assign(new Error('transport not started'), { code: 'ENOTSTARTED' });
    s.sock.send(buf, dest.port, dest.address, (err) => {
      if (err) this.emit('error', err);
    });
  }

  listening(): ListenSpec[] {
    return this.socks.map((s) => s.spec);
  }

  close(): void {
    for (const s of this.socks) s.sock.close();
    this.socks.length = 0;
  }

  destroy(): void {
    this.close();
  }
}
