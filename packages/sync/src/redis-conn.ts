import { Redis, type RedisOptions } from 'ioredis';

/** Where a Redis lives and how to log in (password alone, or ACL user + password). */
export interface RedisAddress {
  host: string;
  port: number;
  password?: string;
  username?: string;
}

export function addressProblem(a: unknown, what: string): string | undefined {
  if (typeof a !== 'object' || a === null) return `${what} must be an object { host, port }`;
  const o = a as Record<string, unknown>;
  if (typeof o.host !== 'string' || o.host.length === 0) return `${what}.host must be a non-empty string`;
  if (!Number.isInteger(o.port) || (o.port as number) < 1 || (o.port as number) > 65535) return `${what}.port must be 1..65535`;
  if (o.password !== undefined && typeof o.password !== 'string') return `${what}.password must be a string`;
  if (o.username !== undefined && typeof o.username !== 'string') return `${what}.username must be a string`;
  return undefined;
}

/**
 * A connection that fails fast while disconnected (no offline queue) and reconnects
 * forever every `retryMs`: callers see errors at once and rely on 'ready' to resume.
 */
export function connect(a: RedisAddress, opts: { name: string; retryMs?: number; lazy?: boolean } = { name: 'sync' }): Redis {
  const retryMs = opts.retryMs ?? 100;
  const o: RedisOptions = {
    host: a.host,
    port: a.port,
    password: a.password,
    username: a.username,
    connectionName: opts.name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableReadyCheck: true,
    lazyConnect: opts.lazy ?? false,
    connectTimeout: 2_000,
    retryStrategy: () => retryMs,
    reconnectOnError: () => false,
  };
  const r = new Redis(o);
  // Errors are reported through the owners' status; never let an 'error' event crash us.
  r.on('error', () => {});
  return r;
}

/** Parse an INFO section ("k:v" lines) into a map. */
export function parseInfo(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

/** XINFO STREAM reply (flat array) → map. */
export function parseFlat(reply: unknown): Map<string, unknown> {
  const m = new Map<string, unknown>();
  if (Array.isArray(reply)) for (let i = 0; i + 1 < reply.length; i += 2) m.set(String(reply[i]), reply[i + 1]);
  return m;
}
