/**
 * Errors raised by the HA layer. Every error carries a stable `code`, which the CLI
 * maps to an exit code and a one-line hint.
 */
export type HaErrorCode =
  | 'ERR_HA_ILLEGAL_TRANSITION'
  | 'ERR_HA_BAD_OPTIONS'
  | 'ERR_HA_HEARTBEAT_MALFORMED'
  | 'ERR_HA_HEARTBEAT_BAD_MAC'
  | 'ERR_HA_TRANSPORT'
  | 'ERR_HA_EPOCH_STORE'
  | 'ERR_HA_NOT_STARTED'
  | 'ERR_HA_CLOSED'
  | 'ERR_HA_NOT_ACTIVE'
  | 'ERR_HA_PEER_UNREACHABLE'
  | 'ERR_HA_PAIR_NOT_READY'
  | 'ERR_HA_SWITCHOVER_IN_PROGRESS'
  | 'ERR_HA_SWITCHOVER_ABORTED'
  | 'ERR_HA_SWITCHOVER_TIMEOUT';

export class HaError extends Error {
  readonly code: HaErrorCode;

  constructor(opts: { code: HaErrorCode; message: string; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'HaError';
    this.code = opts.code;
  }
}

/** Alarm codes raised by the controller (status().alarms, 'alarm' event). */
export type HaAlarmCode =
  | 'HA_PEER_LOST'
  | 'HA_SYNC_PATH_DOWN'
  | 'HA_SIP_PATH_DOWN'
  | 'HA_SIP_INTERFACE_DOWN'
  | 'HA_DUAL_ACTIVE'
  | 'HA_STALE_ACTIVE_PEER'
  | 'HA_FENCED'
  | 'HA_TAKEOVER_FAILED'
  | 'HA_TAKEOVER_NOT_READY'
  | 'HA_STEP_DOWN_FAILED'
  | 'HA_EPOCH_PERSIST_FAILED'
  | 'HA_BOTH_PREFERRED'
  | 'HA_SWITCHOVER_FAILED'
  /** Peer lost on every path and no witness answers: this node is the cut-off one (no takeover / stepped down). */
  | 'HA_ISOLATED'
  /** No witness answered the last probe round (the witness rule cannot confirm a takeover). */
  | 'HA_WITNESS_UNREACHABLE'
  /** The active received no SIP request for a whole window after traffic (ha.sipTrafficLoss): switched over, or alarm only. */
  | 'HA_SIP_TRAFFIC_LOST';
