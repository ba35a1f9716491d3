export { systemClock, ManualClock, flushMicrotasks, type Clock, type TimerHandle } from './clock.js';
export { HaError, type HaErrorCode, type HaAlarmCode } from './errors.js';
export { HaEmitter, silentLogger, type HaLogger, type HaEventMap } from './emitter.js';
export { Role, RoleMachine, CLAIMING_ROLES, HOLDING_ROLES, isRole, type RoleChange } from './role-machine.js';
export {
  encodeHeartbeat,
  decodeHeartbeat,
  HEARTBEAT_MAGIC,
  HEARTBEAT_VERSION,
  HEARTBEAT_MAX_BYTES,
  type HeartbeatMessage,
  type HeartbeatSecret,
  type HeartbeatTransport,
  type HeartbeatReceiver,
  type HeartbeatPathInfo,
  type PathNetwork,
} from './heartbeat.js';
export { PathLiveness, PathState } from './path-liveness.js';
export { UdpHeartbeatTransport, type UdpEndpoint, type UdpPathOptions } from './udp-transport.js';
export { WorkerHeartbeatTransport, type WorkerHeartbeatTransportOptions } from './worker-transport.js';
export { InMemoryHeartbeatNetwork, InMemoryHeartbeatTransport } from './memory-transport.js';
export {
  decidePeerLoss,
  WitnessMonitor,
  type PeerLossDecision,
  type PeerLossInput,
  type WitnessOptions,
  type WitnessProbe,
  type WitnessRound,
  type WitnessStatus,
  type WitnessTargetStatus,
} from './witness.js';
export {
  decideSipTraffic,
  SipTrafficMonitor,
  type SipTrafficDecision,
  type SipTrafficInput,
  type SipTrafficMonitorOptions,
  type SipTrafficRuleOptions,
  type SipTrafficSample,
  type SipTrafficState,
  type SipTrafficStatus,
} from './sip-traffic.js';
export { SipProbeSender, sipProbeRequest, type SipProbeOptions } from './sip-probe.js';
export { FileEpochStore, MemoryEpochStore, type EpochStore } from './epoch-store.js';
export {
  HaController,
  type HaControllerOptions,
  type HaControllerEvents,
  type HaActions,
  type HaStatus,
  type HaPathStatus,
  type HaAlarm,
  type Readiness,
  type SwitchoverResult,
  type SipTrafficOptions,
} from './controller.js';
