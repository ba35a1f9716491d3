/**
 * One application connection on the admin port (a drachtio-srf client). The
 * connection must authenticate before anything else; it then registers routes and
 * exchanges SIP messages. Outgoing frames are batched: everything queued while the
 * event loop handles one round of I/O (a read of up to 32 datagrams, several app
 * frames) leaves in one socket write, in a setImmediate after it. A SIP message goes
 * into its frame as the bytes it was serialized to or received as, not re-encoded
 * from a string.
 */
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { FrameDecoder, WireError } from './codec.js';

export enum ConnectionState {
  Connected = 'connected',
  Authenticated = 'authenticated',
  Closed = 'closed',
}

const LEGAL: Record<ConnectionState, ConnectionState[]> = {
  [ConnectionState.Connected]: [ConnectionState.Authenticated, ConnectionState.Closed],
  [ConnectionState.Authenticated]: [ConnectionState.Closed],
  [ConnectionState.Closed]: [],
};

export interface AppConnectionOptions {
  socket: Socket;
  maxFrameSize?: number;
  onPayload: (conn: AppConnection, payload: string) => void;
  onClose: (conn: AppConnection, err?: Error) => void;
}

let nextConnId = 0;
const ID_PREFIX = `${randomUUID().slice(0, 8)}-`;
let msgSeq = 0;

export class AppConnection {
  readonly id = ++nextConnId;
  readonly remote: string;
  state = ConnectionState.Connected;
  tags: string[] = [];
  /** Methods (and cdr:* records) this app asked for, upper-cased. */
  readonly routes = new Set<string>();
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  /** Frames queued for the next flush: frame heads as strings, SIP bytes as Buffers. */
  private pending: Array<string | Buffer> = [];
  /** UTF-8 bytes in `pending`. */
  private pendingBytes = 0;
  private flushScheduled = false;
  private readonly flushNow = (): void => this.flush();
  private readonly opts: AppConnectionOptions;

  constructor(opts: AppConnectionOptions) {
    this.opts = opts;
    this.socket = opts.socket;
    this.remote = `${opts.socket.remoteAddress}:${opts.socket.remotePort}`;
    this.decoder = new FrameDecoder({ maxFrameSize: opts.maxFrameSize });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.finish(err));
    this.socket.on('close', () => this.finish());
  }

  get authenticated(): boolean {
    return this.state === ConnectionState.Authenticated;
  }

  get closed(): boolean {
    return this.state === ConnectionState.Closed;
  }

  transition(to: ConnectionState): void {
    if (!LEGAL[this.state].includes(to)) {
      throw new WireError('EWIRE_STATE', `illegal connection transition ${this.state} -> ${to}`);
    }
    this.state = to;
  }

  /**
   * Queues `msgId|payload` (a fresh msgId is generated) for the next flush; returns the msgId.
   * With `sip`, the frame is `msgId|payload` CRLF followed by those bytes (a SIP message).
   */
  send(payload: string, sip?: Buffer): string {
    // unique per engine run: a random prefix and a counter (a UUID per message showed in profiles)
    const msgId = `${ID_PREFIX}${(++msgSeq).toString(36)}`;
    this.queue(sip === undefined ? `${msgId}|${payload}` : `${msgId}|${payload}\r\n`, sip);
    return msgId;
  }

  /** Sends `response|<clientMsgId>|<rest>` (CRLF and `sip` after it when given). */
  respond(clientMsgId: string, rest: string, sip?: Buffer): void {
    this.send(`response|${clientMsgId}|${rest}`, sip);
  }

  private queue(head: string, sip: Buffer | undefined): void {
    if (this.closed) return;
    const headBytes = Buffer.byteLength(head, 'utf8');
    const sipBytes = sip === undefined ? 0 : sip.length;
    const len = String(headBytes + sipBytes);
    this.pending.push(`${len}#${head}`);
    // the length and '#' are ASCII: one byte per character
    this.pendingBytes += len.length + 1 + headBytes;
    if (sip !== undefined && sip.length > 0) {
      this.pending.push(sip);
      this.pendingBytes += sip.length;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
  }

  /** Writes everything queued in one socket write (one syscall). */
  flush(): void {
    this.flushScheduled = false;
    const pending = this.pending;
    const total = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    if (pending.length === 0 || this.closed || this.socket.destroyed) return;
    const out = Buffer.allocUnsafe(total);
    let off = 0;
    for (let i = 0; i < pending.length; i++) {
      const c = pending[i]!;
      off += typeof c === 'string' ? out.write(c, off, 'utf8') : c.copy(out, off);
    }
    this.socket.write(off === total ? out : out.subarray(0, off));
  }

  /** Flushes what is queued, then half-closes. */
  end(): void {
    if (this.closed) return;
    this.flush();
    this.socket.end();
    this.finish();
  }

  destroy(err?: Error): void {
    if (this.closed) return;
    this.pending = [];
    this.pendingBytes = 0;
    this.socket.destroy();
    this.finish(err);
  }

  private onData(chunk: Buffer): void {
    let payloads: string[];
    try {
      payloads = this.decoder.push(chunk);
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    for (const p of payloads) {
      if (this.closed) return;
      this.opts.onPayload(this, p);
    }
  }

  private finish(err?: Error): void {
    if (this.closed) return;
    this.transition(ConnectionState.Closed);
    this.pending = [];
    this.pendingBytes = 0;
    try {
      this.opts.onClose(this, err);
    } catch {
      /* a listener's exception never corrupts state */
    }
  }
}
