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
}

export interface EngineHandle {
  /** Where SIP is bound, as the engine reports it (ports resolved when 0 was asked). */
  readonly listen: EngineListenSpec[];
  /** Where the drachtio protocol (admin) server listens. */
  readonly admin: { address: string; port: number };
  readonly mode: 'thread' | 'in-process';
  close(): Promise<void>;
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
      engine = new Engine({ sip: opts.sip, admin: opts.admin, logger: opts.logger.child({ component: 'engine' }) });
      await engine.start();
    } catch (err) {
      throw new CliError({ code: 'ERR_ENGINE', message: `engine failed to start: ${(err as Error).message}`, cause: err });
    }
    return {
      listen: engine.sipAddresses(),
      admin: engine.adminAddress(),
      mode: 'in-process',
      close: () => engine.close(),
    };
  }

  const worker = new Worker(new URL('./engine-worker-boot.mjs', import.meta.url), {
    workerData: { sip: opts.sip, admin: opts.admin, logLevel: opts.logLevel },
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
  return {
    listen: ready.sip,
    admin: ready.admin,
    mode: 'thread',
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
