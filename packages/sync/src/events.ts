import { EventEmitter } from 'node:events';

/** Minimal logger shape (pino-compatible). */
export interface SyncLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: SyncLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

type EventMap = Record<string, unknown[]>;

/**
 * Typed event emitter: one events map per class. A listener that throws is logged and
 * never reaches (or corrupts) the emitter's own state.
 */
export class TypedEmitter<E extends EventMap> {
  readonly #ee = new EventEmitter();
  readonly #log: () => SyncLogger;

  constructor(logger: () => SyncLogger) {
    this.#log = logger;
    this.#ee.setMaxListeners(100);
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

  listenerCount<K extends keyof E & string>(event: K): number {
    return this.#ee.listenerCount(event);
  }

  protected emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    for (const l of this.#ee.rawListeners(event)) {
      try {
        (l as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.#log().error({ err, event }, 'sync: event listener threw');
      }
    }
  }
}
