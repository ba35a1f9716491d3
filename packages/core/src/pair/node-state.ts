/**
 * Lifecycle of an HaNode — one state machine, one transition() that rejects illegal
 * moves with ERR_PAIR_ILLEGAL_TRANSITION.
 *
 *   New ──► Starting ──► Running ──► Closing ──► Closed
 *    └────────┴────────────┴────────────┴──────► Closed (destroy)
 */
import { PairError } from './errors.js';

export enum HaNodeState {
  New = 'new',
  Starting = 'starting',
  Running = 'running',
  Closing = 'closing',
  Closed = 'closed',
}

const S = HaNodeState;
const ALLOWED: Record<HaNodeState, readonly HaNodeState[]> = {
  [S.New]: [S.Starting, S.Closed],
  // A start that fails or is interrupted closes the node.
  [S.Starting]: [S.Running, S.Closing, S.Closed],
  [S.Running]: [S.Closing, S.Closed],
  [S.Closing]: [S.Closed],
  [S.Closed]: [],
};

export class HaNodeStateMachine {
  #state = S.New;

  get state(): HaNodeState {
    return this.#state;
  }

  transition(to: HaNodeState): HaNodeState {
    const from = this.#state;
    if (!ALLOWED[from].includes(to)) {
      throw new PairError({ code: 'ERR_PAIR_ILLEGAL_TRANSITION', message: `HA node: ${from} -> ${to} is not allowed` });
    }
    this.#state = to;
    return from;
  }
}
