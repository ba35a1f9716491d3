/**
 * One application connection on the admin port (a drachtio-srf client). The
 * connection must authenticate before anything else; it then registers routes and
 * exchanges SIP messages. Outgoing frames are batched and written once per tick.
 */
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { FrameDecoder, WireError, encodeFrame } from './codec.js';

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
  private pending: string[] = [];
  private flushScheduled = false;
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

  /** Queues `msgId|payload` (a fresh msgId is generated) for the next flush; returns the msgId. */
  send(payload: string): string {
    // unique per engine run: a random prefix and a counter (a UUID per message showed in profiles)
    const msgId = `${ID_PREFIX}${(++msgSeq).toString(36)}`;
    this.sendRaw(`${msgId}|${payload}`);
    return msgId;
  }

  /** Sends `response|<clientMsgId>|<rest>`. */
  respond(clientMsgId: string, rest: string): void {
    this.send(`response|${clientMsgId}|${rest}`);
  }

  private sendRaw(full: string): void {
    if (this.closed) return;
    this.pending.push(encodeFrame(full));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0 || this.closed || this.socket.destroyed) {
      this.pending = [];
      return;
    }
    const data = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.socket.write(data);
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
    try {
      this.opts.onClose(this, err);
    } catch {
      /* a listener's exception never corrupts state */
    }
  }
}
