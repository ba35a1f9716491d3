/**
 * A small typed event emitter: one events map per class, listeners called
 * synchronously in registration order. A listener that throws never reaches the
 * emitter's caller (so it cannot corrupt the state machine that emitted): the
 * error goes to `onListenerError`, which logs and moves on.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventMap = { [event: string]: (...args: any[]) => void };

export class TypedEmitter<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Array<E[keyof E]>>();

  on<K extends keyof E>(event: K, fn: E[K]): this {
    let arr = this.listeners.get(event);
    if (!arr) this.listeners.set(event, (arr = []));
    arr.push(fn);
    return this;
  }

  once<K extends keyof E>(event: K, fn: E[K]): this {
    const wrapper = ((...args: Parameters<E[K]>) => {
      this.off(event, wrapper);
      fn(...args);
    }) as E[K];
    return this.on(event, wrapper);
  }

  off<K extends keyof E>(event: K, fn: E[K]): this {
    const arr = this.listeners.get(event);
    if (arr) {
      const i = arr.indexOf(fn);
      if (i !== -1) arr.splice(i, 1);
    }
    return this;
  }

  listenerCount<K extends keyof E>(event: K): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  removeAllListeners(): this {
    this.listeners.clear();
    return this;
  }

  protected emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const arr = this.listeners.get(event);
    if (!arr || arr.length === 0) return;
    for (const fn of arr.slice()) {
      try {
        fn(...args);
      } catch (err) {
        this.onListenerError(err, String(event));
      }
    }
  }

  /** Called when a listener throws. Override to log through the class's logger. */
  protected onListenerError(err: unknown, event: string): void {
    process.emitWarning(`listener for '${event}' threw: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, {
      code: 'DUALSIP_LISTENER_ERROR',
    });
  }
}
