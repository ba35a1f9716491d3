/** Single-host mode: no floating IP; claim/release bind and unbind the SIP port instead. */
import type { ClaimResult, ReleaseResult, VipController, VipEvents } from './controller.js';
import { VipError } from './errors.js';
import { stderrLogger, TypedEmitter, type VipLogger } from './events.js';

export interface PortOwnershipOptions {
  bind: () => Promise<void>;
  unbind: () => Promise<void>;
  /** shown as `address` in results, e.g. 'udp/127.0.0.1:5060' */
  name?: string;
  logger?: VipLogger;
}

class PortOwnership extends TypedEmitter<VipEvents> implements VipController {
  readonly #opts: PortOwnershipOptions;
  readonly #name: string;
  readonly #log: VipLogger;
  #held = false;
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: PortOwnershipOptions) {
    const log = opts.logger ?? stderrLogger;
    super(log);
    if (typeof opts?.bind !== 'function' || typeof opts.unbind !== 'function') {
      throw new VipError('VIP_BAD_OPTIONS', 'createPortOwnership needs bind() and unbind() functions');
    }
    this.#opts = opts;
    this.#name = opts.name ?? 'sip-port';
    this.#log = log;
  }

  holds(): boolean {
    return this.#held;
  }

  claim(): Promise<ClaimResult> {
    return this.#serial(async () => {
      const started = performance.now();
      const base = { address: this.#name, interface: 'port', announced: 0, method: 'port' as const };
      if (this.#held) return { ...base, changed: false, elapsedMs: performance.now() - started };
      try {
        await this.#opts.bind();
      } catch (err) {
        throw new VipError('VIP_BIND_FAILED', `binding ${this.#name} failed: ${(err as Error).message}`, { cause: err });
      }
      this.#held = true;
      const result: ClaimResult = { ...base, changed: true, elapsedMs: performance.now() - started };
      this.emit('claimed', result);
      return result;
    });
  }

  release(): Promise<ReleaseResult> {
    return this.#serial(async () => {
      const base = { address: this.#name, interface: 'port' };
      if (!this.#held) {
        this.#log.info({ address: this.#name }, `vip: release: ${this.#name} is not bound by this node; nothing to do`);
        return { ...base, changed: false, reason: 'not-held' as const };
      }
      try {
        await this.#opts.unbind();
      } catch (err) {
        throw new VipError('VIP_BIND_FAILED', `unbinding ${this.#name} failed: ${(err as Error).message}`, { cause: err });
      }
      this.#held = false;
      const result: ReleaseResult = { ...base, changed: true };
      this.emit('released', result);
      return result;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return this.#queue.then(() => undefined, () => undefined);
    const release = this.release().then(() => undefined, (err) => this.#log.warn({ err }, 'vip: unbind on close failed'));
    this.#closed = true;
    await release;
  }

  destroy(): void {
    this.#closed = true;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new VipError('VIP_CLOSED', `port owner ${this.#name} is closed`));
    const p = this.#queue.then(fn, fn);
    this.#queue = p.catch(() => undefined);
    return p;
  }
}

/** Single-host pair: the same VipController, with claim = bind the SIP port, release = unbind it. */
export function createPortOwnership(opts: PortOwnershipOptions): VipController {
  return new PortOwnership(opts);
}
