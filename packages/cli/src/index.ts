export { main, USAGE } from './main.js';
export { loadNodeConfig, parseRouteSpec } from './config.js';
export type { NodeConfig, ConfigOverrides, Transport } from './config.js';
export { startNode, nodeCommand, flagsToOverrides, NODE_USAGE } from './commands/node.js';
export type { RunningNode } from './commands/node.js';
export { startEngine } from './engine-host.js';
export type { EngineHandle, EngineHostOptions, EngineListenSpec } from './engine-host.js';
export { CliError } from './errors.js';
export type { CliErrorCode } from './errors.js';
