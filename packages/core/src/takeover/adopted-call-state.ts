import { CoreError } from '../errors.js';

/**
 * The states of a call rebuilt from a mirrored record after a takeover. The
 * live SIP transactions died with the old active; only the dialogs survive.
 */
export enum AdoptedCallState {
  /** 'reinvite' mode: the legs are being re-INVITEd so the SIP server learns the dialogs. */
  Adopting = 'adopting',
  /** Both legs are confirmed dialogs; in-dialog requests are relayed. */
  Answered = 'answered',
  /** The record was not answered yet: its setup transactions are resumed (our engine) or lost (see takeover-manager.ts). */
  Ringing = 'ringing',
  /** A BYE arrived (or we sent one); the other leg is being torn down. */
  Ending = 'ending',
  /** The answered call is over. */
  Ended = 'ended',
  /** The unanswered call could not be completed. */
  Failed = 'failed',
}

const LEGAL: Readonly<Record<AdoptedCallState, readonly AdoptedCallState[]>> = {
  [AdoptedCallState.Adopting]: [AdoptedCallState.Answered, AdoptedCallState.Ending],
  [AdoptedCallState.Answered]: [AdoptedCallState.Ending],
  // A ringing call whose setup transactions were resumed (our engine) is answered when the callee is.
  [AdoptedCallState.Ringing]: [AdoptedCallState.Failed, AdoptedCallState.Answered],
  [AdoptedCallState.Ending]: [AdoptedCallState.Ended],
  [AdoptedCallState.Ended]: [],
  [AdoptedCallState.Failed]: [],
};

export function isLegalAdoptedTransition(from: AdoptedCallState, to: AdoptedCallState): boolean {
  return LEGAL[from].includes(to);
}

/** Returns `to` when the move is legal; throws ERR_ILLEGAL_TRANSITION otherwise. */
export function transitionAdopted(from: AdoptedCallState, to: AdoptedCallState): AdoptedCallState {
  if (!isLegalAdoptedTransition(from, to)) {
    throw new CoreError({ code: 'ERR_ILLEGAL_TRANSITION', message: `illegal adopted call transition ${from} -> ${to}` });
  }
  return to;
}

export function isAdoptedFinal(s: AdoptedCallState): boolean {
  return s === AdoptedCallState.Ended || s === AdoptedCallState.Failed;
}
