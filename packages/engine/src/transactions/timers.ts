import type { TimerHandle } from '../clock.js';
import type { TransactionContext } from './types.js';

/** Named timers of one transaction, all cancelled together when it terminates. */
export class TimerSet {
  private readonly handles = new Map<string, TimerHandle>();
  constructor(private readonly ctx: TransactionContext) {}

  start(name: string, ms: number, fn: () => void): void {
    this.stop(name);
    const h = this.ctx.clock.setTimeout(() => {
      this.handles.delete(name);
      fn();
    }, ms);
    this.handles.set(name, h);
  }

  stop(name: string): void {
    const h = this.handles.get(name);
    if (h !== undefined) {
      this.ctx.clock.clearTimeout(h);
      this.handles.delete(name);
    }
  }

  has(name: string): boolean {
    return this.handles.has(name);
  }

  stopAll(): void {
    for (const h of this.handles.values()) this.ctx.clock.clearTimeout(h);
    this.handles.clear();
  }
}
