import fs from 'node:fs';
import net from 'node:net';
import convict from 'convict';
import { validateRouting, type RouteRule } from '@dualsip/core';
import { CliError } from './errors.js';
import { checkHaConfig, haSchema, HB_PATHS_FORMAT, WITNESS_FORMAT, type HaConfig } from './pair-config.js';

export type Transport = 'udp' | 'tcp';
const TRANSPORTS: readonly Transport[] = ['udp', 'tcp'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface NodeConfig extends HaConfig {
  sip: { address: string; port: number; transports: Transport[]; externalAddress: string };
  routing: { default: string; rules: RouteRule[] };
  drachtio: { address: string; port: number; secret: string };
  engine: { thread: boolean };
  log: { level: (typeof LOG_LEVELS)[number] };
  process: { nice: number };
  drain: { timeoutMs: number };
  app: { address: string; port: number; tokens: Record<string, string>; routeTimeoutMs: number; maxBacklog: number };
  admin: { address: string; port: number; token: string; healthProbe: boolean };
}

/** Parses `PREFIX=URI` (the `--route` flag and DUALSIP_ROUTES entries). */
export function parseRouteSpec(spec: string): RouteRule | undefined {
  const i = spec.indexOf('=');
  if (i < 0) return undefined;
  return { prefix: spec.slice(0, i).trim(), target: spec.slice(i + 1).trim() };
}

convict.addFormat({
  name: 'ip-address',
  validate(v: unknown) {
    if (typeof v !== 'string' || net.isIP(v) === 0) throw new Error('must be an IPv4 or IPv6 address');
  },
});
convict.addFormat({
  name: 'ip-address-or-empty',
  validate(v: unknown) {
    if (typeof v !== 'string' || (v !== '' && net.isIP(v) === 0)) throw new Error('must be an IPv4 or IPv6 address');
  },
});
convict.addFormat({
  name: 'transport-list',
  coerce: (v: string) => v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean),
  validate(v: unknown) {
    if (!Array.isArray(v) || v.length === 0) throw new Error(`must be a non-empty list of ${TRANSPORTS.join(', ')}`);
    for (const t of v) if (!TRANSPORTS.includes(t as Transport)) throw new Error(`must list only ${TRANSPORTS.join(', ')}`);
    if (new Set(v).size !== v.length) throw new Error('must not repeat a transport');
  },
});
// convict treats any schema node with a 'default' member as a leaf, so the
// key routing.default cannot be declared the usual way: 'routing' is one leaf
// holding {default, rules}; its env variables and flags are applied by hand
// and validateRouting (from core) names the exact sub-key at fault.
convict.addFormat({
  name: 'routing-shape',
  validate(v: unknown) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('must be an object {default, rules}');
    for (const k of Object.keys(v)) if (k !== 'default' && k !== 'rules') throw new Error(`routing.${k}: configuration param not declared in the schema`);
  },
});

// convict's Boolean takes any string as true ("nope" → true); this one takes only true/false.
convict.addFormat({
  name: 'strict-boolean',
  coerce: (v: unknown) => (typeof v === 'string' && /^(true|false)$/i.test(v.trim()) ? v.trim().toLowerCase() === 'true' : v),
  validate(v: unknown) {
    if (typeof v !== 'boolean') throw new Error('must be true or false');
  },
});
convict.addFormat({
  name: 'nice',
  coerce: (v: unknown) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
  validate(v: unknown) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -20 || v > 19) throw new Error('must be an integer nice value from -20 to 19');
  },
});
convict.addFormat(HB_PATHS_FORMAT);
convict.addFormat(WITNESS_FORMAT);
// app.tokens: {name: token} in a file; NAME=TOKEN,... in DUALSIP_APP_TOKENS and --app-token.
convict.addFormat({
  name: 'app-tokens',
  coerce: (v: string) => Object.fromEntries(v.split(',').filter((s) => s.trim()).map((s) => [s.slice(0, s.indexOf('=')).trim(), s.slice(s.indexOf('=') + 1).trim()])),
  validate(v: unknown) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('must be an object of application name → token');
    for (const [name, t] of Object.entries(v)) {
      if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`${JSON.stringify(name)} is not an application name (letters, digits, _ . -)`);
      if (typeof t !== 'string' || t.length < 8) throw new Error(`token of ${name} must be a string of at least 8 characters`);
    }
  },
});

function schema() {
  return {
    ...haSchema(),
    sip: {
      address: { doc: 'Address the SIP transports bind to.', format: 'ip-address', default: '127.0.0.1', env: 'DUALSIP_SIP_ADDRESS' },
      port: { doc: 'SIP port (UDP and TCP).', format: 'port', default: 5060, env: 'DUALSIP_SIP_PORT' },
      transports: { doc: 'Transports to listen on.', format: 'transport-list', default: ['udp', 'tcp'] as string[], env: 'DUALSIP_SIP_TRANSPORTS' },
      externalAddress: { doc: 'Address to advertise in Via/Contact, when different.', format: 'ip-address-or-empty', default: '', env: 'DUALSIP_SIP_EXTERNAL_ADDRESS' },
    },
    routing: {
      doc: 'routing.default: default target SIP URI (DUALSIP_ROUTE_DEFAULT); routing.rules: [{prefix, target}] (DUALSIP_ROUTES=PREFIX=URI,...).',
      format: 'routing-shape',
      default: { default: '', rules: [] } as { default?: string; rules?: RouteRule[] },
    },
    drachtio: {
      address: { doc: 'Address of the engine admin (drachtio protocol) port.', format: 'ip-address', default: '127.0.0.1', env: 'DUALSIP_DRACHTIO_ADDRESS' },
      // 0: the embedded engine binds an ephemeral port and the core connects to whatever was bound, so several
      // nodes on one host (tests, a single-host pair) never collide; set a port to expose it at a fixed place.
      port: { doc: 'Engine admin port (0: an ephemeral port, reported in "node ready").', format: 'port', default: 0, env: 'DUALSIP_DRACHTIO_PORT' },
      secret: { doc: 'Shared secret for the admin port.', format: String, default: 'cymru', env: 'DUALSIP_DRACHTIO_SECRET', sensitive: true },
    },
    engine: {
      thread: { doc: 'Run the engine in a worker thread (else in the main thread).', format: Boolean, default: true, env: 'DUALSIP_ENGINE_THREAD' },
    },
    log: {
      level: { doc: 'pino log level.', format: [...LOG_LEVELS], default: 'info', env: 'DUALSIP_LOG_LEVEL' },
    },
    process: {
      // Heartbeats, the engine and the node's redis-server all inherit it (set before any
      // thread or child starts): on a busy host a node that is starved of CPU misses its
      // heartbeats and its peer takes over for nothing. Raising priority needs root or
      // CAP_SYS_NICE; without it the node logs a warning and runs at the priority it has.
      nice: { doc: 'Scheduling priority (nice) of the node process, its threads and its redis-server: -20 (highest) to 19.', format: 'nice', default: -5, env: 'DUALSIP_PROCESS_NICE' },
    },
    drain: {
      timeoutMs: { doc: 'How long shutdown waits for calls to end.', format: 'nat', default: 30_000, env: 'DUALSIP_DRAIN_TIMEOUT_MS' },
    },
    admin: {
      address: { doc: "Admin API address: the node's own management address, never the floating IP.", format: 'ip-address', default: '127.0.0.1', env: 'DUALSIP_ADMIN_ADDRESS' },
      port: { doc: 'Admin API port (0: any free port, logged).', format: 'port', default: 7080, env: 'DUALSIP_ADMIN_PORT' },
      token: { doc: 'Bearer token of the admin API (at least 8 characters); empty: admin API off.', format: String, default: '', env: 'DUALSIP_ADMIN_TOKEN', sensitive: true },
      healthProbe: { doc: 'Serve GET /health/live|ready|active without the token (load balancer probes); false: they need the token too.', format: 'strict-boolean', default: true, env: 'DUALSIP_ADMIN_HEALTH_PROBE' },
    },
    app: {
      address: { doc: 'Application API (WebSocket) address; empty: sip.address.', format: 'ip-address-or-empty', default: '', env: 'DUALSIP_APP_ADDRESS' },
      port: { doc: 'Application API port (0: ephemeral, reported in "node ready").', format: 'port', default: 0, env: 'DUALSIP_APP_PORT' },
      tokens: { doc: 'Application name → token; the API runs only when at least one is set.', format: 'app-tokens', default: {} as Record<string, string>, env: 'DUALSIP_APP_TOKENS', sensitive: true },
      routeTimeoutMs: { doc: 'Longest a new call waits for a router application before static routing.', format: 'nat', default: 1000, env: 'DUALSIP_APP_ROUTE_TIMEOUT_MS' },
      maxBacklog: { doc: 'Unsent bytes per application before it is disconnected.', format: 'nat', default: 1024 * 1024, env: 'DUALSIP_APP_MAX_BACKLOG' },
    },
  };
}

/** Values given as command-line flags, keyed by config key. */
export type ConfigOverrides = Partial<Record<string, unknown>>;

/**
 * Builds the node configuration: defaults, then the file, then DUALSIP_*
 * environment variables, then flags. Throws CliError ERR_CONFIG with a message
 * naming the offending key.
 */
export function loadNodeConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: ConfigOverrides }): NodeConfig {
  const config = convict(schema(), { env: opts.env ?? process.env, args: [] });
  if (opts.file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new CliError({ code: 'ERR_CONFIG', message: `config error: --config: cannot read ${opts.file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, hint: 'pass an existing JSON file' });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new CliError({ code: 'ERR_CONFIG', message: `config error: --config: ${opts.file} is not valid JSON (${(err as Error).message})`, hint: 'the config file is JSON' });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new CliError({ code: 'ERR_CONFIG', message: `config error: --config: ${opts.file} must hold a JSON object`, hint: 'the config file is JSON' });
    }
    try {
      config.load(parsed as object);
    } catch (err) {
      throw new CliError({ code: 'ERR_CONFIG', message: `config error: ${(err as Error).message}` });
    }
  }
  const env = opts.env ?? process.env;
  const overrides = { ...(opts.overrides ?? {}) };
  const fromFile = config.get('routing' as never) as unknown;
  const routing: { default?: unknown; rules?: unknown } =
    typeof fromFile === 'object' && fromFile !== null && !Array.isArray(fromFile) ? { ...(fromFile as object) } : {};
  if (env.DUALSIP_ROUTE_DEFAULT !== undefined) routing.default = env.DUALSIP_ROUTE_DEFAULT;
  if (env.DUALSIP_ROUTES !== undefined) {
    routing.rules = env.DUALSIP_ROUTES.split(',')
      .filter((s) => s.trim())
      .map((s) => parseRouteSpec(s) ?? { prefix: s, target: '' });
  }
  if (overrides['routing.default'] !== undefined) routing.default = overrides['routing.default'];
  if (overrides['routing.rules'] !== undefined) routing.rules = overrides['routing.rules'];
  delete overrides['routing.default'];
  delete overrides['routing.rules'];
  try {
    for (const [key, value] of Object.entries(overrides)) if (value !== undefined) config.set(key as never, value as never);
  } catch (err) {
    throw new CliError({ code: 'ERR_CONFIG', message: `config error: ${(err as Error).message}` });
  }
  try {
    config.validate({ allowed: 'strict' });
  } catch (err) {
    const lines = String((err as Error).message).split('\n').filter(Boolean);
    throw new CliError({
      code: 'ERR_CONFIG',
      message: lines.map((l) => `config error: ${l}`).join('\n'),
      hint: 'see `dualsip node --help` for keys, flags and DUALSIP_* variables',
    });
  }
  if (routing.default === undefined) routing.default = '';
  if (routing.rules === undefined) routing.rules = [];
  const routingProblems =
    typeof routing.default !== 'string'
      ? [`routing.default: must be a SIP URI (got ${JSON.stringify(routing.default)})`]
      : !Array.isArray(routing.rules)
        ? [`routing.rules: must be an array of {prefix, target} (got ${JSON.stringify(routing.rules)})`]
        : validateRouting(routing as { default: string; rules: RouteRule[] });
  if (routingProblems.length > 0) {
    throw new CliError({
      code: 'ERR_CONFIG',
      message: routingProblems.map((l) => `config error: ${l}`).join('\n'),
      hint: 'routing targets are SIP URIs such as sip:127.0.0.1:5080',
    });
  }
  const props = config.getProperties() as unknown as NodeConfig;
  checkHaConfig(props);
  if (props.admin.token !== '' && props.admin.token.length < 8) {
    throw new CliError({ code: 'ERR_CONFIG', message: 'config error: admin.token: must be at least 8 characters', hint: 'set a longer admin.token (DUALSIP_ADMIN_TOKEN, --admin-token)' });
  }
  return { ...props, routing: { default: routing.default as string, rules: routing.rules as RouteRule[] } };
}
