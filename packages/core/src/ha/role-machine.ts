/**
 * The node's role in the pair — one state machine, one transition() that rejects
 * illegal moves with ERR_HA_ILLEGAL_TRANSITION. The sentence of the design (issue 5 /
 * issue 6) that justifies each allowed move is quoted above its branch.
 *
 *   Starting ──► Passive ──► TakingOver ──► Active ──► Draining ──► SteppingDown ──► Passive
 *      │            ▲            │  │         │ ▲         │  │            ▲
 *      └──► TakingOver           │  └► Fenced ◄┘ └─────────┘  └──► Fenced  │
 *                                └► SteppingDown (rollback) ───────────────┘
 *   any ──► Closed
 */
import { HaError } from './errors.js';

export enum Role {
  /** Just started: looking for the peer, holds nothing. */
  Starting = 'starting',
  /** Follows the active; holds no VIP, sends no SIP. */
  Passive = 'passive',
  /** Epoch incremented and persisted; promoting Redis, claiming the VIP, binding SIP. */
  TakingOver = 'taking-over',
  /** Owns the VIP and answers SIP. */
  Active = 'active',
  /** Operator switchover: still owns the VIP, stops new work, flushes sync (issue 6). */
  Draining = 'draining',
  /** Voluntarily releasing the VIP and SIP (handover, rollback, close). */
  SteppingDown = 'stepping-down',
  /** Saw a higher epoch: stopped being active at once, releasing everything. */
  Fenced = 'fenced',
  /** Closed or destroyed; terminal. */
  Closed = 'closed',
}

/** Roles in which a node claims ownership of the VIP and SIP service. */
export const CLAIMING_ROLES: ReadonlySet<Role> = new Set([Role.TakingOver, Role.Active, Role.Draining]);
/** Roles in which a node may still hold the VIP (claiming or releasing). */
export const HOLDING_ROLES: ReadonlySet<Role> = new Set([
  Role.TakingOver,
  Role.Active,
  Role.Draining,
  Role.SteppingDown,
  Role.Fenced,
]);

export function isRole(x: unknown): x is Role {
  return typeof x === 'string' && (Object.values(Role) as string[]).includes(x);
}

export interface RoleChange {
  from: Role;
  to: Role;
  reason: string;
}

export class RoleMachine {
  #state: Role = Role.Starting;
  #history: RoleChange[] = [];
  private readonly onChange: ((c: RoleChange) => void) | undefined;

  constructor(opts: { onChange?: (c: RoleChange) => void } = {}) {
    this.onChange = opts.onChange;
  }

  get state(): Role {
    return this.#state;
  }

  /** Last changes, oldest first (bounded), for status and tests. */
  get history(): readonly RoleChange[] {
    return this.#history;
  }

  /** True when `to` is a legal next state from the current one. */
  can(to: Role): boolean {
    return allowed(this.#state, to);
  }

  transition(to: Role, reason: string): RoleChange {
    const from = this.#state;
    if (!allowed(from, to)) {
      throw new HaError({
        code: 'ERR_HA_ILLEGAL_TRANSITION',
        message: `illegal role transition ${from} -> ${to} (${reason})`,
      });
    }
    this.#state = to;
    const change = { from, to, reason };
    this.#history.push(change);
    if (this.#history.length > 64) this.#history.shift();
    this.onChange?.(change);
    return change;
  }
}

function allowed(from: Role, to: Role): boolean {
  // "close() drains, destroy(err) aborts" — a node can be closed from any live role.
  if (to === Role.Closed) return from !== Role.Closed;
  switch (from) {
    case Role.Starting:
      // "each node starts passive, finds its peer, and exactly one becomes active
      // (configured preference, then a deterministic tie-break)"
      // "A node with no reachable peer becomes active only after a configurable wait."
      return to === Role.Passive || to === Role.TakingOver;
    case Role.Passive:
      // "The peer counts as dead only when every path is silent" — then the passive
      // takes over; also when both are passive and this node wins the election or the
      // active handed over.
      return to === Role.TakingOver;
    case Role.TakingOver:
      // "promote the local Redis, claim the VIP and announce it, make the engine answer
      // on it, rebuild the live calls" → Active.
      // A failed becomeActive "rolls back to passive with an alarm" → SteppingDown
      // (undo partial work) or straight to Passive when nothing was done yet.
      // "a node that sees a higher epoch than its own stops being active at once" → Fenced.
      return to === Role.Active || to === Role.SteppingDown || to === Role.Passive || to === Role.Fenced;
    case Role.Active:
      // issue 6: "the active stops new work, flushes sync, waits until the passive has
      // everything, hands over" → Draining.
      // "A node whose own SIP interface is down (link or address gone) steps down if
      // the peer is healthy" → SteppingDown; also equal-epoch dual active and close().
      // "a node that sees a higher epoch than its own stops being active at once" → Fenced.
      return to === Role.Draining || to === Role.SteppingDown || to === Role.Fenced;
    case Role.Draining:
      // Drain finished → hand over (SteppingDown); drain failed or peer vanished →
      // back to Active; higher epoch seen → Fenced.
      return to === Role.SteppingDown || to === Role.Active || to === Role.Fenced;
    case Role.SteppingDown:
      // "rejoins as passive, resyncing from the new active"; a higher epoch seen while
      // already releasing still fences (the release is no longer voluntary).
      return to === Role.Passive || to === Role.Fenced;
    case Role.Fenced:
      // "(releases the VIP, stops sending SIP) and rejoins as passive"
      return to === Role.Passive;
    case Role.Closed:
      return false;
  }
}
