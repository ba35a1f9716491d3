/**
 * Runs an engine from a JSON config so the CLI can spawn it as a child process or a
 * worker thread.
 *
 *   node --import tsx packages/engine/src/main.ts '<json EngineConfig>'
 *   DUALSIP_ENGINE_CONFIG='<json>' node --import tsx packages/engine/src/main.ts
 *
 * In a worker thread, pass the config as workerData. The process (or worker) posts
 * `{ type: 'ready', admin, sip }` once listening (process.send / parentPort), and
 * accepts `{ type: 'addListen' | 'removeListen', spec }` and `{ type: 'close' }` messages,
 * and `{ type: 'stats', id }`, answered `{ type: 'stats', id, stats }` (Engine.stats()).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { Engine, type EngineOptions, type ListenSpec } from './engine.js';

export interface EngineConfig {
  sip: EngineOptions['sip'];
  admin: EngineOptions['admin'];
  timers?: EngineOptions['timers'];
  unknownDialogPolicy?: EngineOptions['unknownDialogPolicy'];
  maxMessageSize?: number;
  logLevel?: string;
}

export class EngineConfigError extends Error {
  readonly code = 'EENGINE_CONFIG';
}

export function parseEngineConfig(input: unknown): EngineConfig {
  const c = (typeof input === 'string' ? JSON.parse(input) : input) as EngineConfig;
  if (!c || typeof c !== 'object') throw new EngineConfigError('engine config must be an object');
  if (!c.admin || typeof c.admin.secret !== 'string' || typeof c.admin.port !== 'number') {
    throw new EngineConfigError('engine config needs admin { address, port, secret }');
  }
  if (!c.sip || !Array.isArray(c.sip.listen)) throw new EngineConfigError('engine config needs sip { listen: [...] }');
  return c;
}

/** Starts an engine from a config object or JSON string; resolves once it listens. */
export async function startEngineFromArgs(config: unknown): Promise<Engine> {
  const c = parseEngineConfig(config);
  const logger = pino({ level: c.logLevel ?? 'info' });
  const engine = new Engine({
    sip: c.sip,
    admin: { address: c.admin.address ?? '127.0.0.1', port: c.admin.port, secret: c.admin.secret },
    timers: c.timers,
    unknownDialogPolicy: c.unknownDialogPolicy,
    maxMessageSize: c.maxMessageSize,
    logger,
  });
  await engine.start();
  return engine;
}

type Ctl = { type: 'addListen' | 'removeListen'; spec: ListenSpec } | { type: 'close' } | { type: 'stats'; id: number };

async function runAsMain(): Promise<void> {
  const raw = !isMainThread ? workerData : (process.argv[2] ?? process.env['DUALSIP_ENGINE_CONFIG']);
  const post = (m: unknown) => (parentPort ? parentPort.postMessage(m) : process.send?.(m));
  let engine: Engine;
  try {
    engine = await startEngineFromArgs(raw);
  } catch (err) {
    post({ type: 'error', code: (err as { code?: string }).code ?? 'EENGINE_START', message: (err as Error).message });
    process.exitCode = 1;
    return;
  }
  post({ type: 'ready', admin: engine.adminAddress(), sip: engine.sipAddresses() });
  const onCtl = async (m: Ctl) => {
    if (m.type === 'stats') {
      // Answered under its own type (never 'error'), so it cannot be taken for a listen reply.
      let stats: unknown;
      try {
        stats = engine.stats();
      } catch {
        stats = null;
      }
      post({ type: 'stats', id: m.id, stats });
      return;
    }
    try {
      if (m.type === 'close') {
        await engine.close();
        post({ type: 'closed' });
        if (!parentPort) process.exit(0);
      } else if (m.type === 'addListen') post({ type: 'listening', spec: await engine.addListen(m.spec) });
      else if (m.type === 'removeListen') post({ type: 'unlistened', removed: await engine.removeListen(m.spec) });
    } catch (err) {
      post({ type: 'error', code: (err as { code?: string }).code, message: (err as Error).message });
    }
  };
  if (parentPort) parentPort.on('message', onCtl);
  else process.on('message', (m) => void onCtl(m as Ctl));
  const stop = () => void engine.close().then(() => process.exit(0));
  if (!parentPort) {
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  }
}

const invokedDirectly = !isMainThread || (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href);
if (invokedDirectly) void runAsMain();
