export { AppServer, type AppServerOptions, type AppServerEvents, type AppCallSource, type AppCallHandle } from './app-server.js';
export { AppApiError, CLOSE_AUTH_FAILED, CLOSE_BACKLOG, CLOSE_SHUTDOWN, type AppApiErrorCode } from './errors.js';
export { pairSourceFromHaNode, type PairSource, type PairSourceEvents } from './pair-source.js';
export { CallEventMapper, summarize } from './call-events.js';
export * from './protocol.js';
export type { CallOffer, RouteAnswer, RouteHook } from './route-hook.js';
