export { AdminServer, parseDrain, parseFilter, parseSwitchover, type AdminServerOptions, type AdminServerEvents, type AdminLogger } from './server.js';
export { NodeOps, type NodeOpsOptions, type OpsCallControl, type OpsHa, type OpsSync } from './node-ops.js';
export { NodeMetrics, type NodeMetricsOptions } from './metrics.js';
export { AdminError, httpStatusFor, type AdminErrorCode } from './errors.js';
export type * from './types.js';
export { callOutcome, isAbnormalEnd, parseDrillRecord, parseLookup, DRILL_KINDS } from './drill.js';
export { evaluateHealth, isHealthCheck, HEALTH_CHECKS, type HealthCheck, type HealthInput, type HealthView } from './health.js';
