/** A small typed event emitter; a listener's exception goes to onListenerError, never to the emitter. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventMap = { [event: string]: (...args: any[]) => void };

export class TypedEmitter<E extends EventMap> {
  #listeners = new Map<keyof E, Array<E[keyof E]>>();
  onListenerError: (err: unknown, event: string) => void = () => {};

  on<K extends keyof E>(event: K, fn: E[K]): this {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), fn]);
    return this;
  }

  off<K extends keyof E>(event: K, fn: E[K]): this {
    this.#listeners.set(event, (this.#listeners.get(event) ?? []).filter((f) => f !== fn));
    return this;
  }

  once<K extends keyof E>(event: K, fn: E[K]): this {
    const wrap = ((...args: Parameters<E[K]>) => {
      this.off(event, wrap);
      fn(...args);
    }) as E[K];
    return this.on(event, wrap);
  }

  protected emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    for (const fn of this.#listeners.get(event) ?? []) {
      try {
        fn(...args);
      } catch (err) {
        try {
          this.onListenerError(err, String(event));
        } catch {
          /* nothing more to do */
        }
      }
    }
  }
}
