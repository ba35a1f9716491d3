/** Stable error codes of the sync package. The CLI maps them to exit codes. */
export type SyncErrorCode =
  | 'SYNC_BAD_RECORD' // publish() got something that is not a valid SyncRecord
  | 'SYNC_NOT_READY' // local Redis is down (ack mode cannot commit)
  | 'SYNC_ACK_TIMEOUT' // WAIT did not see a replica in ackTimeoutMs
  | 'SYNC_NOT_PRIMARY' // publish() on a node that is not primary
  | 'SYNC_CLOSED' // the object was closed or destroyed
  | 'SYNC_ILLEGAL_TRANSITION' // a state machine was asked for a move it does not allow
  | 'SYNC_BAD_OPTIONS' // constructor/start options are invalid
  | 'SYNC_REDIS_START_FAILED' // RedisServer.start() could not bring a server up
  | 'SYNC_TIMEOUT'; // a wait (e.g. waitReady) timed out

export class SyncError extends Error {
  readonly code: SyncErrorCode;
  constructor(code: SyncErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SyncError';
    this.code = code;
  }
}
