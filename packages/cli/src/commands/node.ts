import fs from 'node:fs';
import os from 'node:os';
import { pino, type Logger } from 'pino';
import { AppServer, CallControl } from '@dualsip/core';
import type { RecordSink } from '@dualsip/core';
import { CliError } from '../errors.js';
import { loadNodeConfig, parseRouteSpec, type ConfigOverrides, type NodeConfig } from '../config.js';
import { snapshotProcessEnv } from '../env-snapshot.js';
import { startEngine, type EngineHandle } from '../engine-host.js';
import { startAdminApi } from '../admin-host.js';
import { HA_FLAGS, HA_USAGE, haFlagsToOverrides } from '../pair-config.js';

export const NODE_USAGE = `usage: dualsip node [options]
  --config FILE            JSON config file
  --sip-address IP         SIP bind address            (sip.address, DUALSIP_SIP_ADDRESS)
  --sip-port N             SIP port                    (sip.port, DUALSIP_SIP_PORT)
  --sip-transports LIST    udp,tcp                     (sip.transports, DUALSIP_SIP_TRANSPORTS)
  --external-address IP    advertised address          (sip.externalAddress)
  --route-default URI      default target SIP URI      (routing.default, DUALSIP_ROUTE_DEFAULT)
  --route PREFIX=URI       routing rule, repeatable    (routing.rules, DUALSIP_ROUTES=P=URI,...)
  --drachtio-address IP    engine admin address        (drachtio.address)
  --drachtio-port N        engine admin port, 0 = any  (drachtio.port, DUALSIP_DRACHTIO_PORT; default 0)
  --drachtio-secret S      engine admin secret         (drachtio.secret, DUALSIP_DRACHTIO_SECRET)
  --engine-in-process      run the engine in the main thread (engine.thread=false)
  --drain-timeout MS       shutdown drain timeout      (drain.timeoutMs)
  --nice N                 scheduling priority, -20..19 (process.nice, DUALSIP_PROCESS_NICE; default -5)
  --admin-address IP       admin API address, the node's own (admin.address, DUALSIP_ADMIN_ADDRESS)
  --admin-port N           admin API port              (admin.port, DUALSIP_ADMIN_PORT; default 7080)
  --admin-token T          admin API token, empty = off (admin.token, DUALSIP_ADMIN_TOKEN)
  --log-level LEVEL        pino level                  (log.level, DUALSIP_LOG_LEVEL)
  --app-address IP         application API address     (app.address; default sip.address)
  --app-port N             application API port, 0=any (app.port, DUALSIP_APP_PORT)
  --app-token NAME=TOKEN   application token, repeatable; the API runs when set (app.tokens, DUALSIP_APP_TOKENS)
  --app-route-timeout MS   router application timeout  (app.routeTimeoutMs)
${HA_USAGE}`;

export const NODE_FLAGS = {
  config: { type: 'string' },
  'sip-address': { type: 'string' },
  'sip-port': { type: 'string' },
  'sip-transports': { type: 'string' },
  'external-address': { type: 'string' },
  'route-default': { type: 'string' },
  route: { type: 'string', multiple: true },
  'drachtio-address': { type: 'string' },
  'drachtio-port': { type: 'string' },
  'drachtio-secret': { type: 'string' },
  'engine-in-process': { type: 'boolean' },
  'drain-timeout': { type: 'string' },
  nice: { type: 'string' },
  'admin-address': { type: 'string' },
  'admin-port': { type: 'string' },
  'admin-token': { type: 'string' },
  'log-level': { type: 'string' },
  'app-address': { type: 'string' },
  'app-port': { type: 'string' },
  'app-token': { type: 'string', multiple: true },
  'app-route-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...HA_FLAGS,
} as const;

type NodeFlagValues = { [K in keyof typeof NODE_FLAGS]?: (typeof NODE_FLAGS)[K] extends { multiple: true } ? string[] : (typeof NODE_FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

/** Maps parsed flags onto config keys. */
export function flagsToOverrides(flags: NodeFlagValues): ConfigOverrides {
  const o: ConfigOverrides = {
    'sip.address': flags['sip-address'],
    'sip.port': flags['sip-port'],
    'sip.transports': flags['sip-transports'],
    'sip.externalAddress': flags['external-address'],
    'routing.default': flags['route-default'],
    'drachtio.address': flags['drachtio-address'],
    'drachtio.port': flags['drachtio-port'],
    'drachtio.secret': flags['drachtio-secret'],
    'drain.timeoutMs': flags['drain-timeout'],
    'process.nice': flags.nice,
    'admin.address': flags['admin-address'],
    'admin.port': flags['admin-port'],
    'admin.token': flags['admin-token'],
    'log.level': flags['log-level'],
    'app.address': flags['app-address'],
    'app.port': flags['app-port'],
    'app.tokens': flags['app-token'] ? flags['app-token'].join(',') : undefined,
    'app.routeTimeoutMs': flags['app-route-timeout'],
    ...haFlagsToOverrides(flags),
  };
  if (flags['engine-in-process']) o['engine.thread'] = false;
  if (flags.route) {
    o['routing.rules'] = flags.route.map((spec) => {
      const r = parseRouteSpec(spec);
      if (!r) throw new CliError({ code: 'ERR_USAGE', message: `--route: expected PREFIX=URI (got ${JSON.stringify(spec)})`, hint: 'e.g. --route 44=sip:10.0.0.5:5060' });
      return r;
    });
  }
  return o;
}

export interface RunningNode {
  config: NodeConfig;
  engine: EngineHandle;
  calls: CallControl;
  /** The application API, when app.tokens is set. */
  app?: AppServer;
  logger: Logger;
  /** Drains calls, stops core and engine. Idempotent. */
  close(): Promise<void>;
}

/** Starts engine and call control from a validated config; resolves once calls can be taken. */
export async function startNode(opts: { config: NodeConfig; logger?: Logger; sink?: RecordSink; epoch?: () => number; haMode?: boolean }): Promise<RunningNode> {
  const { config } = opts;
  const logger = opts.logger ?? pino({ level: config.log.level });
  // HA mode: SIP is bound only while the node is active (the HA runtime calls addListen/removeListen).
  const listen = opts.haMode ? [] : config.sip.transports.map((transport) => ({ transport, address: config.sip.address, port: config.sip.port }));
  const engine = await startEngine({
    sip: { listen, ...(config.sip.externalAddress ? { externalAddress: config.sip.externalAddress } : {}) },
    admin: { address: config.drachtio.address, port: config.drachtio.port, secret: config.drachtio.secret },
    logLevel: config.log.level,
    ...(opts.haMode ? { unknownDialogPolicy: 'app' as const } : {}),
    thread: config.engine.thread,
    logger,
  });
  const calls = new CallControl({
    srf: { host: engine.admin.address, port: engine.admin.port, secret: config.drachtio.secret },
    routing: { rules: config.routing.rules, ...(config.routing.default ? { default: config.routing.default } : {}) },
    sink: opts.sink,
    ...(opts.epoch ? { epoch: opts.epoch } : {}),
    logger: logger.child({ component: 'core' }),
    drainTimeoutMs: config.drain.timeoutMs,
  });
  calls.on('callEnded', (r) => logger.debug({ call: r.id, state: r.state, endStatus: r.endStatus, endReason: r.endReason }, 'call ended'));
  try {
    await calls.start();
  } catch (err) {
    await engine.close();
    throw new CliError({ code: 'ERR_CORE', message: `call control failed to start: ${(err as Error).message}`, cause: err });
  }
  let app: AppServer | undefined;
  if (Object.keys(config.app.tokens).length > 0) {
    app = new AppServer({
      calls,
      nodeId: config.node.id || `${config.sip.address}:${config.sip.port}`,
      address: config.app.address || config.sip.address,
      port: config.app.port,
      tokens: config.app.tokens,
      routeTimeoutMs: config.app.routeTimeoutMs,
      maxBacklog: config.app.maxBacklog,
      logger: logger.child({ component: 'app-api' }),
    });
    try {
      await app.start();
    } catch (err) {
      await calls.close({ timeoutMs: 0 });
      await engine.close();
      throw new CliError({ code: 'ERR_CORE', message: (err as Error).message, cause: err });
    }
  }
  let closing: Promise<void> | undefined;
  const node: RunningNode = {
    config,
    engine,
    calls,
    ...(app ? { app } : {}),
    logger,
    close: () =>
      (closing ??= (async () => {
        await app?.close();
        const t0 = Date.now();
        await calls.close();
        const t1 = Date.now();
        await engine.close();
        logger.info({ drainMs: t1 - t0, engineCloseMs: Date.now() - t1 }, 'node closed');
      })()),
  };
  // The harness and operators wait for this line, so it is written even when the log level hides info.
  const readyLogger = logger.isLevelEnabled('info') ? logger : pino({ level: 'info' });
  readyLogger.info(
    { sip: engine.listen.map((l) => `${l.transport}:${l.address}:${l.port}`), listen: engine.listen, ...(app ? { app: `${app.address.address}:${app.address.port}` } : {}), drachtio: `${engine.admin.address}:${engine.admin.port}`, engine: engine.mode },
    'node ready',
  );
  return node;
}

/** `dualsip node`: runs until SIGTERM/SIGINT, then drains and exits 0. */
/**
 * Sets the node's scheduling priority before any worker thread or child process starts
 * (they inherit it: Linux keeps nice per thread, and new threads and children copy it).
 */
export function applyNice(nice: number, logger: Pick<Logger, 'info' | 'warn'>): void {
  let current: number;
  try {
    current = os.getPriority();
  } catch {
    return;
  }
  if (current === nice) return;
  try {
    os.setPriority(nice);
    // Threads that already exist (V8's platform workers, libuv's pool) keep their own nice
    // on Linux: set each one by its thread id too.
    let tids: string[] = [];
    try {
      tids = fs.readdirSync('/proc/self/task');
    } catch {
      /* not Linux: the process-wide call above is all there is */
    }
    for (const tid of tids) {
      try {
        os.setPriority(Number(tid), nice);
      } catch {
        /* the thread ended meanwhile */
      }
    }
    logger.info({ nice, was: current, threads: tids.length }, 'process priority set');
  } catch (err) {
    logger.warn({ nice, running: current, err: (err as Error).message }, 'cannot set process.nice (raising priority needs root or CAP_SYS_NICE): running at the current priority');
  }
}

export async function nodeCommand(flags: NodeFlagValues, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (flags.help) {
    process.stdout.write(`${NODE_USAGE}\n`);
    return 0;
  }
  const config = loadNodeConfig({ file: flags.config, env, overrides: flagsToOverrides(flags) });
  // Before drachtio-srf handles any SIP: it reads process.env for every header it names.
  if (env === process.env) snapshotProcessEnv();
  const logger = pino({ level: config.log.level });
  applyNice(config.process.nice, logger);
  const node = config.ha.enabled ? await (await import('../ha-runtime.js')).startHaNode({ config, logger }) : await startNode({ config, logger });
  let admin;
  try {
    admin = await startAdminApi({ node, config, logger });
  } catch (err) {
    await node.close();
    throw err;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      const live = node.calls.calls();
      logger.info({ signal, calls: live.length, states: live.slice(0, 20).map((r) => `${r.id}:${r.state}:${r.endReason ?? ''}`) }, 'shutting down: draining calls');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  // The admin port stays open while the node hands over and drains, so load balancers'
  // /health probes see 503 'closing' rather than a refused connection.
  admin?.beginShutdown();
  await node.close();
  await admin?.close();
  logger.info('node stopped');
  return 0;
}
