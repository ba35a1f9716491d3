/**
 * `dualsip node --ha`: one node of a pair. Starts (optionally) its own redis-server on
 * the sync address, the engine with no SIP bound and unknownDialogPolicy 'app', call
 * control connected to the engine's admin port, and the HaNode that binds SIP (port
 * mode) or claims the floating IP (floating mode) only while this node is active.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';
import {
  createFloatingIp,
  createIcmpEcho,
  createPortOwnership,
  FileEpochStore,
  HaNode,
  MemoryEpochStore,
  pairSourceFromHaNode,
  RedisServer,
  SipProbeSender,
  SyncNode,
  UdpHeartbeatTransport,
  WorkerHeartbeatTransport,
  type HeartbeatTransport,
  type CallRecord,
  type SipBinding,
  type VipController,
} from '@dualsip/core';
import { CliError } from './errors.js';
import type { NodeConfig } from './config.js';
import { resolveHaPaths } from './pair-config.js';
import { startNode, type RunningNode } from './commands/node.js';

export interface RunningHaNode extends RunningNode {
  ha: HaNode;
  redis: RedisServer | undefined;
  sync: SyncNode;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Link state of an interface (for the controller's "own SIP interface up"). */
function carrierUp(ifname: string): boolean {
  try {
    return readFileSync(`/sys/class/net/${ifname}/carrier`, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

async function startCpuProfile(): Promise<{ stop(file: string): Promise<void> }> {
  const { Session } = await import('node:inspector');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 1000 });
  await post('Profiler.start');
  return {
    async stop(file) {
      const res = (await post('Profiler.stop')) as { profile: unknown };
      await writeFile(file, JSON.stringify(res.profile));
      session.disconnect();
    },
  };
}

export async function startHaNode(opts: { config: NodeConfig; logger: Logger }): Promise<RunningHaNode> {
  const { config, logger } = opts;
  const log = logger.child({ component: 'ha', node: config.node.id });
  const password = config.sync.redis.password || undefined;

  let redis: RedisServer | undefined;
  if (config.sync.redis.start) {
    try {
      redis = await RedisServer.start({
        bind: config.sync.redis.host,
        port: config.sync.redis.port,
        ...(password ? { password } : {}),
        ...(config.sync.redis.dir ? { dir: config.sync.redis.dir } : {}),
        extraArgs: ['--repl-timeout', '5', '--repl-ping-replica-period', '1'],
      });
    } catch (err) {
      throw new CliError({ code: 'ERR_REDIS', message: `redis-server on ${config.sync.redis.host}:${config.sync.redis.port} failed to start: ${(err as Error).message}`, cause: err });
    }
    log.info({ pid: redis.pid, host: redis.host, port: redis.port, dir: redis.dir }, 'redis started');
  }

  const sync = new SyncNode({
    redis: { host: config.sync.redis.host, port: config.sync.redis.port, ...(password ? { password } : {}) },
    peer: { host: config.sync.peer.host, port: config.sync.peer.port, ...(password ? { password } : {}) },
    mode: config.sync.mode,
    logger: logger.child({ component: 'sync' }),
  });

  let ha: HaNode | undefined;
  let node: RunningNode;
  try {
    node = await startNode({
      config,
      logger,
      haMode: true,
      sink: { publish: (r: CallRecord) => ha?.sink.publish(r) },
      epoch: () => ha?.epoch() ?? 0,
    });
  } catch (err) {
    await sync.close().catch(() => undefined);
    await redis?.stop();
    throw err;
  }

  const floating = config.vip.mode === 'floating';
  const serviceAddress = floating ? config.vip.address.split('/')[0]! : config.sip.address;
  const service = config.sip.transports.map((transport) => ({ transport, address: serviceAddress, port: config.sip.port }));
  const sipBinding: SipBinding = serviceBinding(
    service,
    (s) => node.engine.addListen(s).then(() => undefined),
    (s) => node.engine.removeListen(s).then(() => undefined),
  );
  const vipLog = logger.child({ component: 'vip' });
  let vip: VipController;
  let sip: SipBinding | undefined;
  const portName = `${config.sip.transports.join('+')}/${serviceAddress}:${config.sip.port}`;
  if (config.vip.mode === 'port') {
    vip = createPortOwnership({ ...sipBinding, name: portName, logger: vipLog });
  } else if (floating) {
    vip = createFloatingIp({ address: config.vip.address, interface: config.vip.interface, logger: vipLog });
    sip = sipBinding;
  } else {
    vip = createPortOwnership({ bind: async () => {}, unbind: async () => {}, name: 'none', logger: vipLog });
    sip = sipBinding;
  }

  const paths = resolveHaPaths(config);
  const udpPaths = paths.map((p) => ({ name: p.name, network: p.network, local: p.local, peer: p.peer }));
  // Heartbeats from their own thread (carrying the main loop's liveness) unless turned off.
  const transport: HeartbeatTransport =
    config.ha.mainStallLimitMs > 0
      ? new WorkerHeartbeatTransport({ paths: udpPaths, secret: config.ha.secret, intervalMs: config.ha.intervalMs, mainStallLimitMs: config.ha.mainStallLimitMs, logger: log })
      : new UdpHeartbeatTransport({ paths: udpPaths, logger: log });
  if (!config.ha.epochFile) log.warn({}, 'ha.epochFile not set: the epoch is kept in memory only and starts at 0 after a restart');
  const epochStore = config.ha.epochFile ? new FileEpochStore({ path: config.ha.epochFile }) : new MemoryEpochStore();
  const sipIf = floating ? config.vip.interface : undefined;
  // Witness check (split brain): ICMP echo from the SIP interface (floating mode) to each witness.
  const echo = config.ha.witness.length > 0 ? createIcmpEcho({ ...(sipIf ? { interface: sipIf } : {}) }) : undefined;
  if (echo) {
    try {
      for (const fam of new Set(config.ha.witness.map((a) => (a.includes(':') ? 6 : 4) as 4 | 6))) echo.open(fam);
    } catch (err) {
      await node.close();
      await sync.close().catch(() => undefined);
      await redis?.stop();
      throw new CliError({ code: 'ERR_HA', message: `ha.witness: cannot probe the witnesses: ${(err as Error).message}`, cause: err });
    }
  }
  const traffic = config.ha.sipTrafficLoss;
  const trafficStepMs = Math.max(50, Math.floor(traffic.windowMs / 10));
  ha = new HaNode({
    nodeId: config.node.id,
    peerId: config.ha.peerId,
    preferred: config.ha.preferred,
    secret: config.ha.secret,
    transport,
    epochStore,
    sync,
    vip,
    ...(sip ? { sip } : {}),
    intervalMs: config.ha.intervalMs,
    missCount: config.ha.missCount,
    startupWaitMs: config.ha.startupWaitMs,
    ...(sipIf ? { sipInterfaceUp: () => carrierUp(sipIf) } : {}),
    ...(echo
      ? {
          witness: {
            addresses: config.ha.witness,
            probe: (address: string, timeoutMs: number) => echo.ping(address, timeoutMs),
            intervalMs: config.ha.witnessIntervalMs,
            timeoutMs: config.ha.witnessTimeoutMs,
          },
        }
      : {}),
    ...(traffic.enabled
      ? {
          sipTraffic: {
            windowMs: traffic.windowMs,
            minRequests: traffic.minRequests,
            stepMs: trafficStepMs,
            // The engine's count of inbound requests (its worker answers over postMessage).
            sample: async () => (await node.engine.stats({ timeoutMs: trafficStepMs }))?.requestsIn,
          },
        }
      : {}),
    logger: log,
    version: version(),
    vipName: floating ? config.vip.address : portName,
  });
  const h = ha;
  // The application API (if configured) reports roles, takeovers and which node is active.
  node.app?.attachPair(pairSourceFromHaNode(h));
  h.on('role', (role, epoch, reason) => log.info({ role, epoch, reason }, 'role'));
  h.on('takeoverFinished', (ms, info) => log.info({ ms, ...info }, 'takeover finished'));
  h.on('steppedDown', (ms, info) => log.info({ ms, ...info }, 'stepped down'));
  h.controller.on('isolated', (reason, stepDown) => log.warn({ reason, stepDown, epoch: h.controller.epoch }, 'isolated'));
  h.controller.on('sipTrafficLost', (reason, switchover) => log.warn({ reason, switchover, epoch: h.controller.epoch }, 'sip traffic lost'));
  // The passive's OPTIONS probes keep the active's count moving while callers are quiet.
  let probe: SipProbeSender | undefined;
  if (traffic.enabled && traffic.probeIntervalMs > 0) {
    if (!config.sip.transports.includes('udp')) {
      log.warn({ transports: config.sip.transports }, 'ha.sipTrafficLoss: no UDP transport, the passive sends no SIP probes');
    } else {
      probe = new SipProbeSender({
        target: { address: serviceAddress, port: config.sip.port },
        source: config.sip.address,
        intervalMs: traffic.probeIntervalMs,
        shouldProbe: () => h.role === 'passive' && h.controller.status().peer.role === 'active',
        clock: { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms).unref(), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout) },
        logger: log,
      });
    }
  }
  sync.on('ready', () => log.info({ syncRole: sync.role, records: sync.records().length }, 'sync ready'));
  sync.on('notReady', (reasons) => log.warn({ syncRole: sync.role, reasons }, 'sync not ready'));
  try {
    await h.start({ callControl: node.calls });
  } catch (err) {
    echo?.close();
    await node.close();
    await sync.close().catch(() => undefined);
    await redis?.stop();
    throw new CliError({ code: 'ERR_HA', message: `HA failed to start: ${(err as Error).message}`, cause: err });
  }
  try {
    await probe?.start();
  } catch (err) {
    log.warn({ err: String(err), source: config.sip.address }, 'ha.sipTrafficLoss: SIP probe socket failed; the passive sends no probes');
    probe = undefined;
  }
  log.info({ nodeId: config.node.id, peer: config.ha.peerId, ...(traffic.enabled ? { sipTrafficLoss: { windowMs: traffic.windowMs, minRequests: traffic.minRequests, probeIntervalMs: probe ? traffic.probeIntervalMs : 0 } } : {}), vip: floating ? config.vip.address : portName, paths: paths.map((p) => p.name), witness: config.ha.witness, redisPid: redis?.pid }, 'ha ready');

  // Heartbeats run on this thread: a stalled event loop looks like a dead node to the peer.
  // Log stalls long enough to matter (over one heartbeat interval).
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  const lagTimer = setInterval(() => {
    const maxMs = lag.max / 1e6;
    if (maxMs > config.ha.intervalMs) log.warn({ maxMs: Math.round(maxMs), p99Ms: Math.round(lag.percentile(99) / 1e6), role: h.role }, 'event loop stalled');
    lag.reset();
  }, 1000);
  lagTimer.unref();

  // Diagnosis: DSIP_CPU_PROFILE_DIR=<dir> records a CPU profile of this thread from here
  // to close() (SIGTERM), for finding what stalls the event loop under load.
  const profiler = process.env['DSIP_CPU_PROFILE_DIR'] ? await startCpuProfile() : undefined;

  let closing: Promise<void> | undefined;
  return {
    ...node,
    ha: h,
    redis,
    sync,
    close: () =>
      (closing ??= (async () => {
        // Hand over first (release SIP and the VIP, tell the peer), then stop the node and Redis.
        clearInterval(lagTimer);
        lag.disable();
        if (profiler) await profiler.stop(`${process.env['DSIP_CPU_PROFILE_DIR']}/${config.node.id}-${process.pid}.cpuprofile`).catch((err: unknown) => log.warn({ err: String(err) }, 'cpu profile not written'));
        probe?.close();
        await h.close();
        echo?.close();
        await node.close();
        await redis?.stop();
      })()),
  };
}

/**
 * Binding the SIP service (every transport on the service address) is all or nothing: if
 * one transport cannot bind (EADDRINUSE: on one host the peer still holds the port), the
 * ones already bound are unbound before the error goes up. Otherwise a failed takeover
 * left, say, UDP bound on a node that rolled back to passive: the port owner thought it
 * held nothing, so its release did nothing, and the peer's next claim of that port failed
 * in turn (seen in a single-host pair soak under load: no node serving for minutes).
 * Unbinding tries every transport and reports the first failure.
 */
export function serviceBinding<S>(service: readonly S[], add: (s: S) => Promise<void>, remove: (s: S) => Promise<void>): SipBinding {
  return {
    bind: async () => {
      const done: S[] = [];
      try {
        for (const s of service) {
          await add(s);
          done.push(s);
        }
      } catch (err) {
        for (const s of done.reverse()) await remove(s).catch(() => undefined);
        throw err;
      }
    },
    unbind: async () => {
      let first: unknown;
      for (const s of service) {
        try {
          await remove(s);
        } catch (err) {
          first ??= err;
        }
      }
      if (first !== undefined) throw first;
    },
  };
}
