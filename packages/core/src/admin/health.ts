/**
 * Health probes for external load balancers and checkers (GET/HEAD /health/<check> on the
 * admin server, without the admin token unless admin.healthProbe is off).
 *
 *   live    200 while the process answers at all.
 *   active  200 only when this node takes new calls: HA role active (or a standalone
 *           node), SIP bound, not shutting down, no operator drain; else 503. The check a
 *           load balancer or SIP proxy uses to pick the node to send calls to.
 *   ready   200 when the node is healthy in its role: active with SIP bound (an operator
 *           drain does not count against it), or passive and able to take over (sync
 *           ready, peer reachable, heartbeat paths up, own SIP interface up); else 503.
 *
 * Everything here is computed from in-memory state (HealthInput), never from Redis or
 * anything that can wait: a probe answers in microseconds, also while the node is busy.
 */

export const HEALTH_CHECKS = ['live', 'ready', 'active'] as const;
export type HealthCheck = (typeof HEALTH_CHECKS)[number];

/** What the probes judge; NodeOps.health() fills it without walking calls or records. */
export interface HealthInput {
  mode: 'standalone' | 'pair';
  /** HA role, or 'standalone'. */
  role: string;
  epoch: number;
  /** The node is shutting down (or closed). */
  closing: boolean;
  /** SIP is bound and the node takes calls as far as HA is concerned (standalone: call control running). */
  sipServing: boolean;
  /** An operator drain refuses new calls. */
  draining: boolean;
  /** Pair only: the controller's view of whether the pair could switch over / take over, and why not. */
  pairReady?: boolean;
  pairReasons?: string[];
  /** Pair only: this node's own SIP interface (link and address) is up. */
  sipInterfaceUp?: boolean;
}

export interface HealthView {
  status: 'ok' | 'fail';
  role: string;
  epoch: number;
  reasons: string[];
}

export function isHealthCheck(s: string): s is HealthCheck {
  return (HEALTH_CHECKS as readonly string[]).includes(s);
}

/** Judges one check. Reasons are filled only when the check fails. */
export function evaluateHealth(check: HealthCheck, h: HealthInput): HealthView {
  const reasons: string[] = [];
  if (check !== 'live') {
    if (h.closing) reasons.push('closing');
    else if (h.mode === 'standalone' || h.role === 'active') {
      if (!h.sipServing) reasons.push('sip not serving');
      if (check === 'active' && h.draining) reasons.push('draining');
    } else if (check === 'active') {
      reasons.push(`role ${h.role}`);
    } else if (h.role === 'passive') {
      if (h.pairReady === false) reasons.push(...(h.pairReasons?.length ? h.pairReasons : ['pair not ready']));
      if (h.sipInterfaceUp === false) reasons.push('sip interface down');
    } else {
      // starting, taking-over, draining (switchover), stepping-down, fenced: in between roles.
      reasons.push(`role ${h.role}`);
    }
  }
  return { status: reasons.length === 0 ? 'ok' : 'fail', role: h.role, epoch: h.epoch, reasons };
}
