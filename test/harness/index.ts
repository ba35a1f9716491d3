// The end-to-end test harness: namespaces and topologies, managed processes,
// SIPp, redis-server, and dualsip nodes. Import from 'test/harness/index.js'.
export { cleanupAll, makeTempDir, pendingCleanups, registerCleanup, pidAlive, sweepStaleTempDirs, type CleanupEntry } from './cleanup.js';
export { cpuTimeMs } from './cpu.js';
export {
  Netns,
  Topology,
  localHost,
  listNetns,
  sweepStaleNetns,
  uniquePrefix,
  NETNS_PREFIX,
  type ExecOptions,
  type ExecResult,
  type HostLike,
  type Link,
  type TopologyOptions,
} from './netns.js';
export { startNode, nodeArgv, REPO_ROOT, CLI_MAIN, type NodeOptions, type StartedNode } from './node.js';
export { freePort, freePorts, randomLoopbackAddress } from './ports.js';
export { HarnessError, ManagedProcess, type ExitInfo, type OutputLine, type SpawnOptions, type WaitOptions } from './process.js';
export { TestRedis, type RedisOptions } from './redis.js';
export { Sipp, SippRun, SCENARIO_DIR, explain, parseSippDir, summarize, type RttStats, type SippOptions, type SippResult, type SippTransport } from './sipp.js';
