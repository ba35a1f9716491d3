export { TakeoverManager } from './takeover-manager.js';
export type { TakeoverOptions, TakeoverProgress, TakeoverManagerEvents, TakeoverManagerOptions } from './takeover-manager.js';
export { AdoptedCall } from './adopted-call.js';
export type { AdoptionMode, AdoptedCallOptions } from './adopted-call.js';
export { AdoptedCallState, transitionAdopted, isLegalAdoptedTransition, isAdoptedFinal } from './adopted-call-state.js';
export { inDialogHeaders, requestUriOf } from './in-dialog.js';
export type { TakeoverSrfLike, TakeoverResponseLike, TakeoverHandler, SentRequestLike, DialogConstructor, AckFn } from './types.js';
