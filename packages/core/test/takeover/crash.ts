// Shared by the takeover tests that run two engines on loopback (crash node #1, adopt on #2).
import type { Engine } from '../../../engine/src/engine.js';
import type { CallControl } from '../../src/call-control.js';

/** A crash: the SIP sockets vanish first (nothing more leaves, TCP connections close), then everything else. */
export function crash(node: { engine: Engine; cc: CallControl }): void {
  for (const l of (node.engine as unknown as { binds: Array<{ transport: { destroy(): void } }> }).binds) l.transport.destroy();
  node.engine.destroy();
  node.cc.destroy();
}

/** Polls `fn` every 50 ms until it holds; throws naming `what` after `ms`. */
export async function until(what: string, fn: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
