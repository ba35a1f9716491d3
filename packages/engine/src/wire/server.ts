/**
 * The drachtio protocol server on the admin address: accepts drachtio-srf clients,
 * authenticates them with the shared secret, keeps their route registrations and
 * hands SIP traffic to the WireServerUser (the engine's UA).
 */
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { AppConnection, ConnectionState } from './connection.js';
import { WireError, splitPayload } from './codec.js';

export const SERVER_VERSION = 'v0.9.4-dualsip';

export interface WireServerUser {
  /** `sip|txnId|dialogId[|proxy]` + SIP text from an authenticated app. */
  onAppSip(conn: AppConnection, msgId: string, txnId: string, dialogId: string, route: string, sip: string): void;
  /** `proxy|...` from an authenticated app. */
  onAppProxy(conn: AppConnection, msgId: string, tokens: string[], sip: string): void;
  onAppClosed(conn: AppConnection): void;
  /** Text for the authenticate reply: hostports|version|localHostports. */
  hostports(): { hostports: string; localHostports: string };
}

export interface WireServerOptions {
  address: string;
  port: number;
  secret: string;
  user: WireServerUser;
  logger?: Logger;
  maxFrameSize?: number;
}

export interface WireServerEvents {
  connection: [AppConnection];
  authenticated: [AppConnection];
  'auth-failed': [{ remote: string }];
  closed: [AppConnection];
}

function secretsEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export class WireServer extends EventEmitter<WireServerEvents> {
  private readonly opts: WireServerOptions;
  private server?: net.Server;
  readonly connections = new Set<AppConnection>();
  /** method -> connections in registration order, plus a round-robin cursor. */
  private readonly routes = new Map<string, { conns: AppConnection[]; next: number }>();
  private closing = false;

  constructor(opts: WireServerOptions) {
    super();
    this.opts = opts;
  }

  override emit<K extends keyof WireServerEvents>(event: K, ...args: WireServerEvents[K]): boolean {
    try {
      return (super.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.opts.logger?.error({ err }, 'wire server listener threw');
      return true;
    }
  }

  async start(): Promise<void> {
    const server = net.createServer((s) => this.onSocket(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.logger?.error({ err }, 'admin server error'));
  }

  address(): { address: string; port: number } {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new WireError('EWIRE_NOT_LISTENING', 'admin server is not listening');
    return { address: a.address, port: a.port };
  }

  /** Picks the next authenticated app registered for `method` (round-robin). */
  select(method: string): AppConnection | undefined {
    const r = this.routes.get(method.toUpperCase());
    if (!r || r.conns.length === 0) return undefined;
    const c = r.conns[r.next % r.conns.length]!;
    r.next = (r.next + 1) % r.conns.length;
    return c;
  }

  hasRoute(method: string): boolean {
    const r = this.routes.get(method.toUpperCase());
    return !!r && r.conns.length > 0;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const c of this.connections) c.end();
    const s = this.server;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  destroy(): void {
    this.closing = true;
    for (const c of this.connections) c.destroy();
    this.server?.close();
  }

  private onSocket(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    socket.setKeepAlive(true);
    const conn = new AppConnection({
      socket,
      maxFrameSize: this.opts.maxFrameSize,
      onPayload: (c, p) => this.onPayload(c, p),
      onClose: (c, err) => this.onConnClose(c, err),
    });
    this.connections.add(conn);
    this.emit('connection', conn);
  }

  private onConnClose(conn: AppConnection, err?: Error): void {
    this.connections.delete(conn);
    for (const [, r] of this.routes) {
      const i = r.conns.indexOf(conn);
      if (i !== -1) r.conns.splice(i, 1);
    }
    if (err) this.opts.logger?.info({ remote: conn.remote, code: (err as { code?: string }).code, err: err.message }, 'app connection closed on error');
    try {
      this.opts.user.onAppClosed(conn);
    } catch (e) {
      this.opts.logger?.error({ err: e }, 'onAppClosed threw');
    }
    this.emit('closed', conn);
  }

  private addRoute(conn: AppConnection, method: string): void {
    const m = method.toUpperCase();
    conn.routes.add(m);
    let r = this.routes.get(m);
    if (!r) this.routes.set(m, (r = { conns: [], next: 0 }));
    if (!r.conns.includes(conn)) r.conns.push(conn);
  }

  private removeRoute(conn: AppConnection, method: string): boolean {
    const m = method.toUpperCase();
    conn.routes.delete(m);
    const r = this.routes.get(m);
    const i = r ? r.conns.indexOf(conn) : -1;
    if (i === -1) return false;
    r!.conns.splice(i, 1);
    return true;
  }

  private onPayload(conn: AppConnection, payload: string): void {
    const { tokens, body } = splitPayload(payload);
    const msgId = tokens[0] ?? '';
    const type = tokens[1];
    if (tokens.length < 2 || !msgId) {
      conn.respond(msgId, 'NO|Invalid message format');
      return;
    }
    if (!conn.authenticated) {
      if (type !== 'authenticate') {
        this.opts.logger?.warn({ remote: conn.remote, type }, 'message before authentication; closing');
        conn.respond(msgId, 'NO|authentication required');
        conn.end();
        return;
      }
      const secret = tokens[2] ?? '';
      if (!secretsEqual(secret, this.opts.secret)) {
        this.opts.logger?.warn({ remote: conn.remote }, 'app authentication failed: incorrect secret');
        conn.respond(msgId, 'NO|incorrect secret');
        conn.end();
        this.emit('auth-failed', { remote: conn.remote });
        return;
      }
      conn.tags = tokens[3] ? tokens[3].split(',').filter(Boolean) : [];
      conn.transition(ConnectionState.Authenticated);
      const hp = this.opts.user.hostports();
      conn.respond(msgId, `OK|${hp.hostports}|${SERVER_VERSION}|${hp.localHostports}`);
      this.emit('authenticated', conn);
      return;
    }
    try {
      switch (type) {
        case 'ping':
          conn.respond(msgId, 'OK|pong');
          return;
        case 'route':
          if (!tokens[2]) {
            conn.respond(msgId, 'NO|Route request includes unsupported verb');
            return;
          }
          this.addRoute(conn, tokens[2]);
          conn.respond(msgId, 'OK');
          return;
        case 'remove_route':
          if (!tokens[2] || !this.removeRoute(conn, tokens[2])) {
            conn.respond(msgId, 'NO|Remove route request includes unsupported verb');
            return;
          }
          conn.respond(msgId, 'OK');
          return;
        case 'authenticate':
          conn.respond(msgId, 'NO|already authenticated');
          return;
        case 'sip':
          this.opts.user.onAppSip(conn, msgId, tokens[2] ?? '', tokens[3] ?? '', tokens[4] ?? '', body);
          return;
        case 'proxy':
          this.opts.user.onAppProxy(conn, msgId, tokens, body);
          return;
        default:
          conn.respond(msgId, 'NO|Unknown message type');
      }
    } catch (err) {
      // Bad input from one app never takes the engine down.
      this.opts.logger?.error({ err, remote: conn.remote, type }, 'error handling app message');
      conn.respond(msgId, `NOK|${String((err as Error).message).replace(/[|\r\n]/g, ' ')}`);
    }
  }
}
