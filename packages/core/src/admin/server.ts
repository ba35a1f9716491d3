/**
 * AdminServer — the node's admin API: HTTP + JSON on the node's own management address
 * (never the floating IP), every request carrying `Authorization: Bearer <token>`.
 *
 *   GET    /v1/status        NodeStatusView
 *   GET    /v1/calls         CallView[]   (?state=connected|ringing|<state>&minAgeMs=&match=&limit=)
 *   GET    /v1/drain         DrainStatus
 *   POST   /v1/drain         start draining {code?, retryAfter?, redirect?, timeoutMs?} → 202 DrainStatus
 *   DELETE /v1/drain         cancel the drain → DrainStatus
 *   POST   /v1/switchover    {force?, timeoutMs?} → SwitchoverReport (runs to the end)
 *   POST   /v1/calls/lookup  {ids} → CallLookup[] (live, recently ended and how, or unknown; drills)
 *   POST   /v1/drill         a drill this node took over in (drill.ts) → DrillRecord; shown in status and /metrics
 *   GET    /metrics          Prometheus text format
 *   GET    /health/live|ready|active   (and HEAD) probes for load balancers, see health.ts:
 *                           200/503 + {status, role, epoch, reasons}; WITHOUT the token
 *                           unless `healthProbe: false`; logged at debug level only
 *
 * Errors are JSON `{error: {code, message}}` with the status from httpStatusFor(code).
 * A wrong or missing token is answered 401 and logged with the client's address.
 * beginShutdown() (the node is stopping): the probes keep answering (503 'closing' for
 * ready and active), everything else is answered 503 ERR_ADMIN_CLOSED.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual, createHash } from 'node:crypto';
import { TypedEmitter } from '../typed-emitter.js';
import { AdminError, httpStatusFor } from './errors.js';
import { parseDrillRecord, parseLookup } from './drill.js';
import { evaluateHealth, HEALTH_CHECKS, isHealthCheck, type HealthInput } from './health.js';
import type { AdminNode, CallFilter, DrainOptions, NodeStatusView, SwitchoverOptions } from './types.js';

export interface AdminLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  /** Per-probe lines (/health), which load balancers send every second or so. */
  debug?(obj: object, msg: string): void;
}

const silent: AdminLogger = { info() {}, warn() {}, error() {} };

export interface AdminServerOptions {
  node: AdminNode;
  /** Management address of this node (not the floating IP). */
  address: string;
  /** 0: any free port (see `port` after listen()). */
  port: number;
  token: string;
  logger?: AdminLogger;
  /** Largest request body accepted. Default 64 KiB. */
  maxBodyBytes?: number;
  /** Serve /health/* without the token (load balancer probes). Default true; false: they need the token too. */
  healthProbe?: boolean;
}

export type AdminServerEvents = {
  unauthorized: (remote: string, path: string) => void;
  request: (method: string, path: string, status: number) => void;
};

const MAX_BODY = 64 * 1024;

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export class AdminServer extends TypedEmitter<AdminServerEvents> {
  readonly #o: AdminServerOptions;
  readonly #log: AdminLogger;
  readonly #tokenDigest: Buffer;
  readonly #http: http.Server;
  #listening?: Promise<void>;
  #closing?: Promise<void>;
  #shuttingDown = false;

  constructor(opts: AdminServerOptions) {
    super();
    if (!opts?.node) throw new AdminError({ code: 'ERR_ADMIN_BAD_OPTIONS', message: 'AdminServer needs a node' });
    if (typeof opts.token !== 'string' || opts.token.length < 8) {
      throw new AdminError({ code: 'ERR_ADMIN_BAD_OPTIONS', message: 'admin token must be at least 8 characters' });
    }
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
      throw new AdminError({ code: 'ERR_ADMIN_BAD_OPTIONS', message: `admin port must be 0..65535 (got ${String(opts.port)})` });
    }
    this.#o = opts;
    this.#log = opts.logger ?? silent;
    this.#tokenDigest = digest(opts.token);
    this.#http = http.createServer((req, res) => void this.#handle(req, res));
    this.#http.keepAliveTimeout = 2000;
  }

  /** Binds the admin address. Rejects with the listen error (e.g. EADDRINUSE, EADDRNOTAVAIL). */
  listen(): Promise<void> {
    this.#listening ??= new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.#http.once('error', onError);
      this.#http.listen(this.#o.port, this.#o.address, () => {
        this.#http.off('error', onError);
        this.#http.on('error', (err) => this.#log.error({ err: String(err) }, 'admin server error'));
        resolve();
      });
    });
    return this.#listening;
  }

  get address(): string {
    const a = this.#http.address() as AddressInfo | null;
    return a?.address ?? this.#o.address;
  }

  get port(): number {
    const a = this.#http.address() as AddressInfo | null;
    return a?.port ?? this.#o.port;
  }

  /** http://address:port of the bound server. */
  get url(): string {
    const host = this.address.includes(':') ? `[${this.address}]` : this.address;
    return `http://${host}:${this.port}`;
  }

  /**
   * The node is shutting down (call before closing the node, close() this server last):
   * the /health probes keep answering, 503 'closing' for ready and active, so a load
   * balancer sees the node go; the rest of the API answers 503 ERR_ADMIN_CLOSED.
   */
  beginShutdown(): void {
    this.#shuttingDown = true;
  }

  /** Stops listening and ends idle connections; waits for requests under way. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#http.listening) return resolve();
      this.#http.close(() => resolve());
      this.#http.closeIdleConnections();
    });
    return this.#closing;
  }

  /** Drops every connection at once. Idempotent. */
  destroy(): void {
    this.#closing ??= Promise.resolve();
    this.#http.close();
    this.#http.closeAllConnections();
  }

  #authorized(req: http.IncomingMessage): boolean {
    const h = req.headers.authorization;
    if (typeof h !== 'string') return false;
    const m = /^Bearer\s+(.+)$/i.exec(h.trim());
    if (!m) return false;
    return timingSafeEqual(digest(m[1]!), this.#tokenDigest);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
    } catch {
      url = new URL('http://admin/');
    }
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const health = path === '/health' || path.startsWith('/health/');
    if (health && this.#o.healthProbe !== false) return this.#health(req, res, method, path, remote);
    if (this.#closing || (this.#shuttingDown && !health)) {
      req.resume();
      this.#send(res, method, path, 503, { error: { code: 'ERR_ADMIN_CLOSED', message: 'admin server is closing' } });
      return;
    }
    if (!this.#authorized(req)) {
      this.#log.warn({ remote, method, path, hadToken: req.headers.authorization !== undefined }, 'admin API: wrong or missing token, refused 401');
      this.emit('unauthorized', remote, path);
      req.resume();
      res.setHeader('WWW-Authenticate', 'Bearer realm="dualsip"');
      this.#send(res, method, path, 401, { error: { code: 'ERR_ADMIN_UNAUTHORIZED', message: 'wrong or missing admin token' } });
      return;
    }
    if (health) return this.#health(req, res, method, path, remote);
    try {
      const node = this.#o.node;
      const route = `${method} ${path}`;
      switch (route) {
        case 'GET /v1/status':
          return this.#send(res, method, path, 200, node.status());
        case 'GET /v1/calls':
          return this.#send(res, method, path, 200, node.calls(parseFilter(url.searchParams)));
        case 'GET /v1/drain':
          return this.#send(res, method, path, 200, node.drainStatus());
        case 'POST /v1/drain': {
          const body = await this.#body(req);
          return this.#send(res, method, path, 202, node.drain(parseDrain(body)));
        }
        case 'DELETE /v1/drain':
          return this.#send(res, method, path, 200, node.cancelDrain());
        case 'POST /v1/switchover': {
          const body = await this.#body(req);
          const opts = parseSwitchover(body);
          this.#log.info({ remote, ...opts }, 'admin API: switchover requested');
          const report = await node.switchover(opts);
          this.#log.info({ remote, ...report }, 'admin API: switchover done');
          return this.#send(res, method, path, 200, report);
        }
        case 'POST /v1/calls/lookup':
        case 'POST /v1/drill': {
          const body = await this.#body(req);
          if (!node.lookupCalls || !node.recordDrill) throw new AdminError({ code: 'ERR_ADMIN_NOT_FOUND', message: `no such endpoint: ${path} (this node keeps no drills)` });
          if (path === '/v1/calls/lookup') return this.#send(res, method, path, 200, node.lookupCalls(parseLookup(body)));
          const d = node.recordDrill(parseDrillRecord(body));
          this.#log.info({ remote, kind: d.kind, ok: d.ok }, 'admin API: drill recorded');
          return this.#send(res, method, path, 201, d);
        }
        case 'GET /metrics': {
          const text = await node.metrics.metrics();
          res.setHeader('Content-Type', node.metrics.contentType);
          res.statusCode = 200;
          res.end(text);
          this.emit('request', method, path, 200);
          return;
        }
        default: {
          const known = ['/v1/status', '/v1/calls', '/v1/drain', '/v1/switchover', '/v1/calls/lookup', '/v1/drill', '/metrics'].includes(path);
          throw new AdminError(
            known
              ? { code: 'ERR_ADMIN_METHOD', message: `${method} is not allowed on ${path}` }
              : { code: 'ERR_ADMIN_NOT_FOUND', message: `no such endpoint: ${path}` },
          );
        }
      }
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      const code = typeof e?.code === 'string' ? e.code : 'ERR_ADMIN_INTERNAL';
      const status = httpStatusFor(code);
      if (status >= 500) this.#log.error({ remote, method, path, code, err: String(e?.message ?? err) }, 'admin API request failed');
      else this.#log.info({ remote, method, path, code, err: String(e?.message ?? err) }, 'admin API request refused');
      this.#send(res, method, path, status, { error: { code, message: String(e?.message ?? err) } });
    }
  }

  /** A /health probe: from in-memory state only, never waits; debug log only. */
  #health(req: http.IncomingMessage, res: http.ServerResponse, method: string, path: string, remote: string): void {
    req.resume();
    const check = path.slice('/health/'.length);
    let status: number;
    let body: unknown;
    if (path === '/health' || !isHealthCheck(check)) {
      status = 404;
      body = { error: { code: 'ERR_ADMIN_NOT_FOUND', message: `no such health check: ${path} (try ${HEALTH_CHECKS.map((c) => `/health/${c}`).join(', ')})` } };
    } else if (method !== 'GET' && method !== 'HEAD') {
      status = 405;
      res.setHeader('Allow', 'GET, HEAD');
      body = { error: { code: 'ERR_ADMIN_METHOD', message: `${method} is not allowed on ${path}` } };
    } else {
      let input: HealthInput;
      try {
        const node = this.#o.node;
        input = node.health ? node.health() : healthFromStatus(node.status());
        if (this.#closing || this.#shuttingDown) input = { ...input, closing: true };
        const view = evaluateHealth(check, input);
        status = view.status === 'ok' ? 200 : 503;
        body = view;
      } catch (err) {
        // A bug, not a state: say so, but never let a probe take the process down.
        this.#log.warn({ remote, path, err: String(err) }, 'health probe failed');
        status = 503;
        body = { status: 'fail', role: 'unknown', epoch: 0, reasons: [`health check failed: ${(err as Error)?.message ?? String(err)}`] };
      }
    }
    this.#log.debug?.({ remote, method, path, status }, 'health probe');
    const text = JSON.stringify(body);
    res.setHeader('Content-Length', Buffer.byteLength(text));
    this.#send(res, method, path, status, body, text);
  }

  #body(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const max = this.#o.maxBodyBytes ?? MAX_BODY;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > max) {
          reject(new AdminError({ code: 'ERR_ADMIN_BAD_REQUEST', message: `request body over ${max} bytes` }));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('error', reject);
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8').trim();
        if (text === '') return resolve({});
        try {
          const v: unknown = JSON.parse(text);
          if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
          resolve(v as Record<string, unknown>);
        } catch (err) {
          reject(new AdminError({ code: 'ERR_ADMIN_BAD_REQUEST', message: `request body must be a JSON object (${(err as Error).message})` }));
        }
      });
    });
  }

  #send(res: http.ServerResponse, method: string, path: string, status: number, body: unknown, text = JSON.stringify(body)): void {
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(text);
    this.emit('request', method, path, status);
  }
}

/** For an AdminNode without health(): the same judgement from its status view. */
export function healthFromStatus(s: NodeStatusView): HealthInput {
  const closing = s.state === 'closing' || s.state === 'closed' || s.state === 'draining';
  const draining = s.drain.state === 'draining' || s.drain.state === 'done' || s.drain.state === 'timedOut';
  return {
    mode: s.mode,
    role: s.role,
    epoch: s.epoch,
    closing,
    // accepting is false during an operator drain too; a drained node still serves SIP.
    sipServing: s.state === 'running' && (s.accepting || draining) && (s.mode === 'standalone' || s.vip?.heldHere !== false),
    draining,
    ...(s.mode === 'pair' ? { pairReady: s.pairReady ?? false, pairReasons: s.pairReasons } : {}),
  };
}

function bad(message: string): AdminError {
  return new AdminError({ code: 'ERR_ADMIN_BAD_REQUEST', message });
}

function intParam(v: string | null, name: string, min: number, max: number): number | undefined {
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw bad(`${name} must be an integer ${min}..${max} (got ${JSON.stringify(v)})`);
  return n;
}

export function parseFilter(q: URLSearchParams): CallFilter {
  const f: CallFilter = {};
  for (const k of q.keys()) if (!['state', 'minAgeMs', 'match', 'limit'].includes(k)) throw bad(`unknown query parameter ${k}`);
  const state = q.get('state');
  if (state) f.state = state;
  const minAge = intParam(q.get('minAgeMs'), 'minAgeMs', 0, Number.MAX_SAFE_INTEGER);
  if (minAge !== undefined) f.minAgeMs = minAge;
  const match = q.get('match');
  if (match) f.match = match;
  const limit = intParam(q.get('limit'), 'limit', 1, 1_000_000);
  if (limit !== undefined) f.limit = limit;
  return f;
}

function onlyKeys(body: Record<string, unknown>, keys: string[]): void {
  for (const k of Object.keys(body)) if (!keys.includes(k)) throw bad(`unknown field ${k} (expected ${keys.join(', ')})`);
}

function intField(body: Record<string, unknown>, k: string, min: number, max: number): number | undefined {
  const v = body[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`${k} must be an integer ${min}..${max} (got ${JSON.stringify(v)})`);
  return v;
}

export function parseDrain(body: Record<string, unknown>): DrainOptions {
  onlyKeys(body, ['code', 'retryAfter', 'redirect', 'timeoutMs']);
  const o: DrainOptions = {};
  const code = intField(body, 'code', 300, 699);
  if (code !== undefined) o.code = code;
  const ra = intField(body, 'retryAfter', 0, 86_400);
  if (ra !== undefined) o.retryAfter = ra;
  const t = intField(body, 'timeoutMs', 0, 7 * 86_400_000);
  if (t !== undefined) o.timeoutMs = t;
  if (body.redirect !== undefined && body.redirect !== null) {
    if (typeof body.redirect !== 'string' || !/^sips?:/i.test(body.redirect)) throw bad(`redirect must be a SIP URI (got ${JSON.stringify(body.redirect)})`);
    o.redirect = body.redirect;
  }
  return o;
}

export function parseSwitchover(body: Record<string, unknown>): SwitchoverOptions {
  onlyKeys(body, ['force', 'timeoutMs']);
  const o: SwitchoverOptions = {};
  if (body.force !== undefined) {
    if (typeof body.force !== 'boolean') throw bad('force must be true or false');
    o.force = body.force;
  }
  const t = intField(body, 'timeoutMs', 1, 600_000);
  if (t !== undefined) o.timeoutMs = t;
  return o;
}
