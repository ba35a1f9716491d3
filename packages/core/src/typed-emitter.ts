/**
 * A small typed event emitter. Each class declares an events map; a listener
 * that throws never disturbs the emitter's state or the other listeners: the
 * exception is handed to `onListenerError` (set by the owner, e.g. to log it).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventMap = { [event: string]: (...args: any[]) => void };

export class TypedEmitter<E extends EventMap> {
  #listeners = new Map<keyof E, Array<{ fn: E[keyof E]; once: boolean }>>();
  /** Called with any exception a listener throws. */
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
          /* the error hook itself failed: nothing more we can do */
        }
      }
    }
  }
}
