/**
 * What the application API needs from the HA layer: the pair's status and its
 * events. `pairSourceFromHaNode` adapts an HaNode; a standalone node has none.
 */
import type { HaNode } from '../pair/ha-node.js';
import { TypedEmitter } from '../typed-emitter.js';
import type { PairEventName, PairView } from './protocol.js';

export type PairSourceEvents = {
  event: (name: PairEventName, data: Record<string, unknown>) => void;
};

export interface PairSource extends TypedEmitter<PairSourceEvents> {
  view(): PairView;
  /** True while this node may act on calls (active or draining). */
  isActive(): boolean;
  close(): void;
}

const CLAIMING = new Set(['active', 'draining', 'taking-over']);
const COMMANDING = new Set(['active', 'draining']);

class HaNodePairSource extends TypedEmitter<PairSourceEvents> implements PairSource {
  readonly #ha: HaNode;
  readonly #off: Array<() => void> = [];
  #ready: boolean | undefined;
  #poll: NodeJS.Timeout | undefined;

  constructor(ha: HaNode, pollMs: number) {
    super();
    this.#ha = ha;
    const on = <T extends unknown[]>(em: { on(e: string, f: (...a: T) => void): unknown; off(e: string, f: (...a: T) => void): unknown }, e: string, f: (...a: T) => void): void => {
      em.on(e, f);
      this.#off.push(() => em.off(e, f));
    };
    on(ha as never, 'role', (role: string, epoch: number, reason: string) => this.emit('event', 'pair.role', { role, epoch, reason, active: this.view().active }));
    on(ha as never, 'takeoverStarted', (reason: string, epoch: number) => this.emit('event', 'pair.takeoverStarted', { reason, epoch }));
    on(ha as never, 'takeoverFinished', (ms: number, info: { epoch: number; adopted: number }) =>
      this.emit('event', 'pair.takeoverFinished', { ms, epoch: info.epoch, adopted: info.adopted }),
    );
    on(ha.controller as never, 'peerLost', (reason: string) => this.emit('event', 'pair.peerLost', { reason, peer: ha.controller.peerId }));
    on(ha.controller as never, 'peerBack', () => this.emit('event', 'pair.peerBack', { peer: ha.controller.peerId }));
    this.#poll = setInterval(() => this.#checkReady(), pollMs);
    this.#poll.unref();
  }

  #checkReady(): void {
    let v: PairView;
    try {
      v = this.view();
    } catch {
      return;
    }
    if (this.#ready === v.ready) return;
    const first = this.#ready === undefined;
    this.#ready = v.ready;
    if (first && v.ready) return;
    this.emit('event', v.ready ? 'pair.syncReady' : 'pair.syncNotReady', { reasons: v.readyReasons });
  }

  view(): PairView {
    const s = this.#ha.status();
    const peer = s.ha.peer;
    const active = CLAIMING.has(s.role) ? s.nodeId : peer.alive && peer.role !== null && CLAIMING.has(peer.role) ? peer.id : null;
    // Readiness as the pair sees it: this node's own (passive: mirror complete) and the pair's (switchover safe).
    const reasons = [...new Set([...s.ha.readyReasons, ...s.ha.pairReasons])];
    return {
      node: s.nodeId,
      role: s.role,
      epoch: s.epoch,
      ready: s.ha.pairReady,
      readyReasons: reasons,
      active,
      peer: { id: peer.id, alive: peer.alive, role: peer.role },
    };
  }

  isActive(): boolean {
    return COMMANDING.has(this.#ha.role);
  }

  close(): void {
    if (this.#poll) clearInterval(this.#poll);
    this.#poll = undefined;
    for (const off of this.#off.splice(0)) off();
  }
}

export function pairSourceFromHaNode(ha: HaNode, opts: { readinessPollMs?: number } = {}): PairSource {
  return new HaNodePairSource(ha, opts.readinessPollMs ?? 500);
}
