import { EventEmitter } from 'node:events';

/** Minimal logger shape (pino-compatible). */
export interface VipLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Logs warnings and errors to stderr as one JSON line each (default when no logger is given). */
export const stderrLogger: VipLogger = {
  debug() {},
  info() {},
  warn(obj, msg) {
    process.stderr.write(JSON.stringify({ level: 'warn', pkg: 'vip', msg, ...plain(obj) }) + '\n');
  },
  error(obj, msg) {
    process.stderr.write(JSON.stringify({ level: 'error', pkg: 'vip', msg, ...plain(obj) }) + '\n');
  },
};

export const silentLogger: VipLogger = { debug() {}, info() {}, warn() {}, error() {} };

function plain(obj: object): object {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = v instanceof Error ? { message: v.message, code: (v as { code?: string }).code } : v;
  return out;
}

type EventMap = Record<string, unknown[]>;

/**
 * Typed event emitter: one events map per class. A listener that throws is logged and never
 * reaches the emitter's own state. 'error' with no listener is logged instead of thrown.
 */
export class TypedEmitter<E extends EventMap> {
  readonly #ee = new EventEmitter();
  readonly #log: VipLogger;

  constructor(logger: VipLogger) {
    this.#log = logger;
  }

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#ee.on(event, listener as (...a: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#ee.once(event, listener as (...a: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#ee.off(event, listener as (...a: unknown[]) => void);
    return this;
  }

  protected emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    const listeners = this.#ee.rawListeners(event);
    if (event === 'error' && listeners.length === 0) {
      this.#log.error({ err: args[0] }, 'vip: error (no listener)');
      return;
    }
    for (const l of listeners) {
      try {
        (l as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.#log.error({ err, event }, 'vip: event listener threw');
      }
    }
  }
}
