/**
 * The life of one connection to one node — one state machine, one
 * transition() that rejects illegal moves.
 *
 *   Idle ─► Connecting ─► Authenticating ─► Ready
 *              ▲  │            │              │
 *              │  └──────────► Backoff ◄──────┘
 *              └───────────────┘
 *   any ─► Closed (close(), or the node refused our token)
 */
import { ClientError } from './errors.js';

export enum ConnectionState {
  Idle = 'idle',
  Connecting = 'connecting',
  Authenticating = 'authenticating',
  Ready = 'ready',
  Backoff = 'backoff',
  Closed = 'closed',
}

const S = ConnectionState;
const ALLOWED: Record<ConnectionState, readonly ConnectionState[]> = {
  [S.Idle]: [S.Connecting, S.Closed],
  [S.Connecting]: [S.Authenticating, S.Backoff, S.Closed],
  [S.Authenticating]: [S.Ready, S.Backoff, S.Closed],
  [S.Ready]: [S.Backoff, S.Closed],
  [S.Backoff]: [S.Connecting, S.Closed],
  [S.Closed]: [],
};

export function isLegalConnectionTransition(from: ConnectionState, to: ConnectionState): boolean {
  return ALLOWED[from].includes(to);
}

export class ConnectionStateMachine {
  #state = S.Idle;

  get state(): ConnectionState {
    return this.#state;
  }

  transition(to: ConnectionState): ConnectionState {
    const from = this.#state;
    if (!isLegalConnectionTransition(from, to)) {
      throw new ClientError({ code: 'ERR_ILLEGAL_TRANSITION', message: `connection: ${from} -> ${to} is not allowed` });
    }
    this.#state = to;
    return from;
  }
}
