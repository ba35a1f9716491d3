/**
 * @dualsip/sync — call records mirrored to the peer over Redis streams.
 *
 * Generic over records: a record is JSON `{ id, version, epoch, ended?, ...anything }`.
 * Each node runs its own redis-server on its sync address. The primary writes every
 * change to its Redis (HSET `<prefix>:records` id → JSON, then XADD `<prefix>:changes`);
 * the replica's Redis replicates it (REPLICAOF, with masterauth/masteruser); the mirror
 * tails the stream from the local replica into a Map.
 *
 * The core's use, one SyncNode per node:
 *
 *   const sync = new SyncNode({ redis: { host: syncAddr, port, password }, peer: { host: peerSyncAddr, port },
 *                               mode: 'async' | 'ack', ackTimeoutMs, streamMaxLen, endedRetentionMs });
 *   // active:
 *   await sync.becomePrimary(epoch);          // REPLICAOF NO ONE, republish the mirror's records at `epoch`
 *   await sync.publish(callRecord);           // every change; version must grow per id
 *   //   async mode: resolves when the local Redis has it (at once while Redis is down: kept in memory)
 *   //   ack mode:   resolves when a replica has it (WAIT 1); rejects SYNC_ACK_TIMEOUT / SYNC_NOT_READY
 *   // passive:
 *   await sync.becomeReplica();               // REPLICAOF peer, snapshot, tail
 *   sync.on('applied', rec => ...); sync.on('removed', id => ...);
 *   sync.mirror!.get(id); sync.mirror!.all();
 *   sync.status()  // { role, epoch, ready, reasons[], publisher?: {...}, mirror?: { lagEntries, lagMs, linkUp,
 *                  //   initialSyncDone, highestEpoch, ... } }
 *   await sync.close();
 *
 * Rules the mirror applies:
 *  - an entry whose writer epoch is below the highest epoch seen is skipped ('skipped', reason staleEpoch);
 *  - a record not newer than the mirrored one (same epoch, version ≤) is ignored (counted as staleIgnored);
 *  - a corrupt or unknown-version entry is logged and skipped ('skipped'), never thrown;
 *  - a full resync, a recreated stream, trimmed entries it never read, or a publisher 'reset'
 *    marker make it reload the snapshot; the snapshot replaces the map ('removed' for what is gone).
 * Ended records (ended: true) leave the current state endedRetentionMs after their last change
 * (HDEL + a 'del' entry → 'removed' on the mirror). The stream is capped with XADD MAXLEN ~ streamMaxLen.
 *
 * Errors are SyncError with a stable `code` (see errors.ts).
 */
export { SyncError, type SyncErrorCode } from './errors.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
export { silentLogger, type SyncLogger } from './events.js';
export { type SyncRecord, FORMAT_VERSION, keysFor, recordProblem } from './codec.js';
export { type RedisAddress } from './redis-conn.js';
export { RedisServer, freePort, type RedisServerOptions } from './redis-server.js';
export {
  SyncPublisher,
  PublisherState,
  isNewer,
  type SyncMode,
  type SyncPublisherOptions,
  type PublisherStatus,
  type PublisherEvents,
} from './publisher.js';
export { SyncMirror, MirrorState, type SyncMirrorOptions, type MirrorStatus, type MirrorEvents } from './mirror.js';
export { SyncNode, SyncRole, type SyncNodeOptions, type SyncNodeStatus, type SyncNodeEvents } from './node.js';
