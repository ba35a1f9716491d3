/**
 * One connection to one node: connects, says hello, subscribes, registers as
 * router when asked, and reconnects with backoff until closed. Requests get
 * one reply each, or ERR_TIMEOUT / ERR_DISCONNECTED.
 */
import WebSocket from 'ws';
import { ConnectionState, ConnectionStateMachine } from './connection-state.js';
import { ClientError } from './errors.js';
import type { PairView, ServerMessage } from './protocol.js';
import { TypedEmitter } from './typed-emitter.js';

export interface NodeConnectionOptions {
  url: string;
  token: string;
  name?: string;
  subscribe: { calls: boolean; pair: boolean };
  router: boolean;
  requestTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

export type NodeConnectionEvents = {
  state: (state: ConnectionState, previous: ConnectionState) => void;
  /** hello and subscriptions done; `view` is the node's pair view. */
  ready: (info: { node: string; view: PairView }) => void;
  message: (msg: ServerMessage) => void;
  /** Permanent failure (token refused). */
  error: (err: ClientError) => void;
};

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: ClientError) => void;
  timer: NodeJS.Timeout;
}

export class NodeConnection extends TypedEmitter<NodeConnectionEvents> {
  readonly url: string;
  /** The node id, once a hello succeeded. */
  node: string | null = null;
  view: PairView | null = null;
  readonly #o: NodeConnectionOptions;
  readonly #sm = new ConnectionStateMachine();
  #ws: WebSocket | undefined;
  #pending = new Map<string, Pending>();
  #n = 0;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: NodeConnectionOptions) {
    super();
    this.#o = opts;
    this.url = opts.url;
  }

  get state(): ConnectionState {
    return this.#sm.state;
  }

  #to(s: ConnectionState): void {
    const prev = this.#sm.transition(s);
    this.emit('state', s, prev);
  }

  start(): void {
    if (this.#sm.state !== ConnectionState.Idle) return;
    this.#connect();
  }

  #connect(): void {
    this.#to(ConnectionState.Connecting);
    const ws = new WebSocket(this.#o.url, { handshakeTimeout: this.#o.requestTimeoutMs });
    this.#ws = ws;
    ws.on('open', () => void this.#handshake(ws));
    ws.on('message', (data) => this.#onMessage(ws, data.toString()));
    ws.on('error', () => {
      /* 'close' follows */
    });
    ws.on('close', (code, reason) => this.#onClose(ws, code, reason.toString()));
  }

  async #handshake(ws: WebSocket): Promise<void> {
    if (ws !== this.#ws || this.#sm.state !== ConnectionState.Connecting) return;
    this.#to(ConnectionState.Authenticating);
    try {
      const hello = (await this.request({ type: 'hello', token: this.#o.token, ...(this.#o.name ? { name: this.#o.name } : {}) })) as { node: string; view: PairView };
      this.node = hello.node;
      this.view = hello.view;
      if (this.#o.router) await this.request({ type: 'router.register' });
      if (this.#o.subscribe.calls || this.#o.subscribe.pair) {
        const sub = (await this.request({ type: 'subscribe', calls: this.#o.subscribe.calls, pair: this.#o.subscribe.pair })) as { view: PairView };
        this.view = sub.view;
      }
    } catch (err) {
      const e = err as ClientError;
      if (e.code === 'ERR_AUTH') {
        this.#shutdown(e);
        this.emit('error', e);
        return;
      }
      ws.terminate();
      return;
    }
    if (ws !== this.#ws || (this.#sm.state as ConnectionState) !== ConnectionState.Authenticating) return;
    this.#attempt = 0;
    this.#to(ConnectionState.Ready);
    this.emit('ready', { node: this.node!, view: this.view! });
  }

  #onMessage(ws: WebSocket, text: string): void {
    if (ws !== this.#ws) return;
    let m: ServerMessage;
    try {
      m = JSON.parse(text) as ServerMessage;
    } catch {
      return;
    }
    if ((m.type === 'result' || m.type === 'error') && m.id !== null) {
      const p = this.#pending.get(String(m.id));
      if (p) {
        this.#pending.delete(String(m.id));
        clearTimeout(p.timer);
        if (m.type === 'result') p.resolve(m.data);
        else p.reject(new ClientError({ code: m.code, message: m.message, ...(m.status !== undefined ? { status: m.status } : {}), ...(m.active !== undefined ? { active: m.active } : {}) }));
        return;
      }
    }
    this.emit('message', m);
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    this.#ws = undefined;
    this.#failPending(new ClientError({ code: 'ERR_DISCONNECTED', message: `connection to ${this.url} closed (${code}${reason ? ` ${reason}` : ''})` }));
    const st = this.#sm.state;
    if (st === ConnectionState.Closed) return;
    if (code === 4401) {
      const e = new ClientError({ code: 'ERR_AUTH', message: `${this.url} refused the token: ${reason}` });
      this.#shutdown(e);
      this.emit('error', e);
      return;
    }
    this.#to(ConnectionState.Backoff);
    const delay = Math.min(this.#o.reconnectMaxMs, this.#o.reconnectMinMs * 2 ** Math.min(this.#attempt++, 10));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#sm.state === ConnectionState.Backoff) this.#connect();
    }, delay);
  }

  #failPending(err: ClientError): void {
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  /** Sends a request and waits for its reply. */
  request(msg: Record<string, unknown>): Promise<unknown> {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ClientError({ code: 'ERR_DISCONNECTED', message: `not connected to ${this.url}` }));
    }
    const id = `c${++this.#n}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ClientError({ code: 'ERR_TIMEOUT', message: `${String(msg['type'])} to ${this.url}: no reply in ${this.#o.requestTimeoutMs} ms` }));
      }, this.#o.requestTimeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...msg, id }));
    });
  }

  /** Sends a message that gets no reply (route.decision). */
  send(msg: Record<string, unknown>): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(msg));
  }

  #shutdown(err?: ClientError): void {
    if (this.#sm.state === ConnectionState.Closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#to(ConnectionState.Closed);
    this.#failPending(err ?? new ClientError({ code: 'ERR_CLOSED', message: 'client closed' }));
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws) {
      try {
        ws.close(1000, 'client closing');
      } catch {
        /* not open */
      }
      setTimeout(() => ws.terminate(), 500).unref();
    }
  }

  /** Closes for good. Idempotent. */
  close(): void {
    this.#shutdown();
  }

  /** Cuts the connection now (it reconnects); for tests and for a node that stopped answering. */
  drop(): void {
    this.#ws?.terminate();
  }
}
