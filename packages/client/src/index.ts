export { DualsipClient, type DualsipClientOptions, type DualsipClientEvents } from './client.js';
export { NodeConnection, type NodeConnectionOptions, type NodeConnectionEvents } from './node-connection.js';
export { ConnectionState, ConnectionStateMachine, isLegalConnectionTransition } from './connection-state.js';
export { ClientError, type ClientErrorCode } from './errors.js';
export type * from './protocol.js';
