import { CoreError } from '../errors.js';

/** The states of a B2BUA call, as seen from the caller (A leg). */
export enum CallState {
  /** INVITE received, choosing a target. */
  Routing = 'routing',
  /** INVITE sent to the target, no provisional response forwarded yet. */
  Calling = 'calling',
  /** A 180/183 from the callee has been relayed to the caller. */
  Ringing = 'ringing',
  /** Both legs are confirmed dialogs. */
  Answered = 'answered',
  /** A BYE arrived (or we sent one); the other leg is being torn down. */
  Ending = 'ending',
  /** The answered call is over. */
  Ended = 'ended',
  /** The call never got answered (no route, rejected, canceled, error). */
  Failed = 'failed',
}

const LEGAL: Readonly<Record<CallState, readonly CallState[]>> = {
  [CallState.Routing]: [CallState.Calling, CallState.Failed],
  [CallState.Calling]: [CallState.Ringing, CallState.Answered, CallState.Failed],
  // Further provisional responses keep the call ringing.
  [CallState.Ringing]: [CallState.Ringing, CallState.Answered, CallState.Failed],
  [CallState.Answered]: [CallState.Ending, CallState.Ended],
  [CallState.Ending]: [CallState.Ended],
  [CallState.Ended]: [],
  [CallState.Failed]: [],
};

export function isLegalTransition(from: CallState, to: CallState): boolean {
  return LEGAL[from].includes(to);
}

/** Returns `to` when the move is legal; throws ERR_ILLEGAL_TRANSITION otherwise. */
export function transition(from: CallState, to: CallState): CallState {
  if (!isLegalTransition(from, to)) {
    throw new CoreError({ code: 'ERR_ILLEGAL_TRANSITION', message: `illegal call state transition ${from} -> ${to}` });
  }
  return to;
}

export function isFinal(state: CallState): boolean {
  return state === CallState.Ended || state === CallState.Failed;
}
