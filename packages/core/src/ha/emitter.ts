/**
 * A small typed event emitter for the HA layer: each class declares an events map;
 * a listener that throws never disturbs the emitter's state or the other listeners —
 * the exception goes to `onListenerError` (the owner logs it).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type HaEventMap = { [event: string]: (...args: any[]) => void };

export class HaEmitter<E extends HaEventMap> {
  #listeners = new Map<keyof E, Array<{ fn: E[keyof E]; once: boolean }>>();
  onListenerError: (err: unknown, event: string) => void = () => {};

  on<K extends keyof E>(event: K, fn: E[K]): this {
    const list = this.#listeners.get(event) ?? [];
    list.push({ fn, once: false });
    this.#listeners.set(event, list);
    return this;
  }

  once<K extends keyof E>(event: K, fn: E[K]): this {
    const list = this.#listeners.get(event) ?? [];
    list.push({ fn, once: true });
    this.#listeners.set(event, list);
    return this;
  }

  off<K extends keyof E>(event: K, fn: E[K]): this {
    const list = this.#listeners.get(event);
    if (!list) return this;
    const i = list.findIndex((l) => l.fn === fn);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  listenerCount<K extends keyof E>(event: K): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  protected emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const list = this.#listeners.get(event);
    if (!list || list.length === 0) return;
    for (const l of [...list]) {
      if (l.once) this.off(event, l.fn);
      try {
        l.fn(...args);
      } catch (err) {
        try {
          this.onListenerError(err, String(event));
        } catch {
          /* the hook itself failed: nothing more to do */
        }
      }
    }
  }
}

/** pino-compatible subset used by the HA layer. */
export interface HaLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: HaLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
