export { HaNode, type HaNodeOptions, type HaNodeStatus, type HaNodeEvents, type PairSync, type SipBinding, type PairCallControl } from './ha-node.js';
export { HaNodeState, HaNodeStateMachine } from './node-state.js';
export { PairError, type PairErrorCode } from './errors.js';
// What the CLI needs from the HA layer to build an HaNode (the rest stays under core/src/ha).
export { UdpHeartbeatTransport, type UdpPathOptions, type UdpEndpoint } from '../ha/udp-transport.js';
export { FileEpochStore, MemoryEpochStore, type EpochStore } from '../ha/epoch-store.js';
export { Role } from '../ha/role-machine.js';
export type { HaStatus, HaAlarm } from '../ha/controller.js';
export type { PathNetwork } from '../ha/heartbeat.js';
// The pieces an HaNode is built from, so the CLI depends on core alone (cli → core → sync, vip).
export { SyncNode, RedisServer, type SyncNodeOptions, type SyncNodeStatus } from '@dualsip/sync';
export { createFloatingIp, createIcmpEcho, createPortOwnership, type IcmpEcho, type VipController } from '@dualsip/vip';
