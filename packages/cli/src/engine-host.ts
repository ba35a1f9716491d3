/**
 * Starts the SIP engine (@dualsip/engine): in a worker thread by default, so
 * the engine and call control each get a core, or in this thread.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { CliError } from './errors.js';

export interface EngineListenSpec {
  transport: 'udp' | 'tcp';
  address: string;
  port: number;
}

export interface EngineHostOptions {
  sip: { listen: EngineListenSpec[]; externalAddress?: string };
  admin: { address: string; port: number; secret: string };
  logLevel: string;
  /** 'app' in HA mode: in-dialog requests for dialogs the engine does not know go to the core (call takeover). */
  unknownDialogPolicy?: 'reject' | 'app';
}

export interface EngineHandle {
  /** Where SIP is bound, as the engine reports it (ports resolved when 0 was asked). */
  readonly listen: EngineListenSpec[];
  /** Where the drachtio protocol (admin) server listens. */
  readonly admin: { address: string; port: number };
  readonly mode: 'thread' | 'in-process';
  /** Binds one more SIP address at run time (HA: when the node becomes active). */
  addListen(spec: EngineListenSpec): Promise<EngineListenSpec>;
  /** Unbinds a SIP address (HA: when the node becomes passive); false when it was not bound. */
  removeListen(spec: EngineListenSpec): Promise<boolean>;
  /** The engine's counters (Engine.stats()); undefined when the engine does not answer within timeoutMs (default 1000). */
  stats(opts?: { timeoutMs?: number }): Promise<EngineStatsView | undefined>;
  close(): Promise<void>;
}

/** The part of the engine's stats the CLI uses. */
export interface EngineStatsView {
  /** SIP requests received from the network and handed to the user agent (retransmissions absorbed by transactions not counted). */
  requestsIn: number;
  requestsOut: number;
  [k: string]: unknown;
}

/** What the engine's worker entry posts back (packages/engine/src/main.ts). */
type WorkerMessage =
  | { type: 'ready'; admin: { address: string; port: number }; sip: EngineListenSpec[] }
  | { type: 'error'; code?: string; message: string }
  | { type: 'closed' }
  | { type: string };

interface EngineInstance {
  start(): Promise<void>;
  close(): Promise<void>;
  adminAddress(): { address: string; port: number };
  sipAddresses(): EngineListenSpec[];
  addListen(spec: EngineListenSpec): Promise<EngineListenSpec>;
  removeListen(spec: EngineListenSpec): Promise<boolean>;
  stats(): EngineStatsView;
}
type EngineCtor = new (opts: Record<string, unknown>) => EngineInstance;

async function loadEngine(): Promise<EngineCtor> {
  const mod = (await import('@dualsip/engine')) as unknown as { Engine?: EngineCtor };
  if (typeof mod.Engine !== 'function') {
    throw new CliError({ code: 'ERR_ENGINE', message: '@dualsip/engine exports no Engine class', hint: 'the engine package is incomplete' });
  }
  return mod.Engine;
}

export async function startEngine(opts: EngineHostOptions & { thread: boolean; logger: Logger }): Promise<EngineHandle> {
  if (!opts.thread) {
    const Engine = await loadEngine();
    let engine: EngineInstance;
    try {
      engine = new Engine({ sip: opts.sip, admin: opts.admin, unknownDialogPolicy: opts.unknownDialogPolicy, logger: opts.logger.child({ component: 'engine' }) });
      await engine.start();
    } catch (err) {
      throw new CliError({ code: 'ERR_ENGINE', message: `engine failed to start: ${(err as Error).message}`, cause: err });
    }
    return {
      listen: engine.sipAddresses(),
      admin: engine.adminAddress(),
      mode: 'in-process',
      addListen: (spec) => engine.addListen(spec),
      removeListen: (spec) => engine.removeListen(spec),
      stats: async () => engine.stats(),
      close: () => engine.close(),
    };
  }

  const worker = new Worker(new URL('./engine-worker-boot.mjs', import.meta.url), {
    workerData: { sip: opts.sip, admin: opts.admin, logLevel: opts.logLevel, unknownDialogPolicy: opts.unknownDialogPolicy },
  });
  const ready = await new Promise<WorkerMessage>((resolve, reject) => {
    const onExit = (code: number) => reject(new CliError({ code: 'ERR_ENGINE', message: `engine thread exited with code ${code} before it was ready` }));
    worker.once('exit', onExit);
    worker.once('error', (err) => reject(new CliError({ code: 'ERR_ENGINE', message: `engine thread failed: ${err.message}`, cause: err })));
    worker.once('message', (m: WorkerMessage) => {
      worker.off('exit', onExit);
      resolve(m);
    });
  });
  if (ready.type !== 'ready' || !('admin' in ready)) {
    await worker.terminate();
    const message = 'message' in ready ? ready.message : ready.type;
    throw new CliError({ code: 'ERR_ENGINE', message: `engine failed to start: ${message}` });
  }
  worker.on('error', (err) => opts.logger.error({ err }, 'engine thread error'));
  worker.on('message', (m: WorkerMessage) => {
    if (m.type === 'error') opts.logger.error({ engine: m }, 'engine thread reported an error');
  });
  let closing: Promise<void> | undefined;
  // The worker answers listen requests in order, without ids: one request at a time.
  let listenChain: Promise<unknown> = Promise.resolve();
  const listenRequest = <T>(type: 'addListen' | 'removeListen', spec: EngineListenSpec, reply: 'listening' | 'unlistened', pick: (m: Record<string, unknown>) => T): Promise<T> => {
    const run = listenChain.then(
      () =>
        new Promise<T>((resolve, reject) => {
          const onMsg = (m: WorkerMessage & Record<string, unknown>) => {
            if (m.type !== reply && m.type !== 'error') return;
            worker.off('message', onMsg);
            if (m.type === 'error') reject(new CliError({ code: 'ERR_ENGINE', message: `engine ${type} failed: ${String(m['message'])}` }));
            else resolve(pick(m));
          };
          worker.on('message', onMsg);
          worker.postMessage({ type, spec });
        }),
    );
    listenChain = run.catch(() => undefined);
    return run;
  };
  let statsSeq = 0;
  const statsWaiters = new Map<number, (s: EngineStatsView | undefined) => void>();
  worker.on('message', (m: WorkerMessage & { id?: number; stats?: EngineStatsView | null }) => {
    if (m.type !== 'stats' || m.id === undefined) return;
    const w = statsWaiters.get(m.id);
    if (!w) return;
    statsWaiters.delete(m.id);
    w(m.stats ?? undefined);
  });
  const statsRequest = (timeoutMs = 1000) =>
    new Promise<EngineStatsView | undefined>((resolve) => {
      const id = ++statsSeq;
      const timer = setTimeout(() => {
        statsWaiters.delete(id);
        resolve(undefined);
      }, timeoutMs);
      timer.unref();
      statsWaiters.set(id, (s) => {
        clearTimeout(timer);
        resolve(s);
      });
      worker.postMessage({ type: 'stats', id });
    });
  return {
    listen: ready.sip,
    admin: ready.admin,
    mode: 'thread',
    addListen: (spec) => listenRequest('addListen', spec, 'listening', (m) => m['spec'] as EngineListenSpec),
    removeListen: (spec) => listenRequest('removeListen', spec, 'unlistened', (m) => m['removed'] === true),
    stats: (o) => (closing ? Promise.resolve(undefined) : statsRequest(o?.timeoutMs)),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => void worker.terminate(), 5_000);
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        worker.on('message', (m: WorkerMessage) => {
          if (m.type === 'closed') void worker.terminate();
        });
        worker.postMessage({ type: 'close' });
      })),
  };
}
