/**
 * Error codes of the application API. Every error reply on the wire carries
 * one of these codes; `AppApiError` carries it in-process.
 */
export type AppApiErrorCode =
  /** The frame is not JSON. */
  | 'ERR_BAD_JSON'
  /** JSON, but not a message object this API understands (missing or mistyped fields). */
  | 'ERR_BAD_MESSAGE'
  /** A message type this API does not know. */
  | 'ERR_UNKNOWN_TYPE'
  /** Wrong or missing token; the connection is closed with code 4401. */
  | 'ERR_AUTH'
  /** A command before a successful hello. */
  | 'ERR_NOT_AUTHENTICATED'
  /** No call with that id on this node. */
  | 'ERR_UNKNOWN_CALL'
  /** The command needs the active node; the reply names it (`active`). */
  | 'ERR_NOT_ACTIVE'
  /** The call is not in a state that allows the command (e.g. INFO before answer). */
  | 'ERR_CALL_STATE'
  /** The far end answered the request with a failure (`status`). */
  | 'ERR_SIP'
  /** route.decision for a request that is unknown, already answered or timed out. */
  | 'ERR_UNKNOWN_REQUEST'
  /** The client did not read its events; the connection is closed with code 4008. */
  | 'ERR_BACKLOG'
  /** The node is shutting down. */
  | 'ERR_CLOSED'
  /** The server could not start (e.g. address in use). */
  | 'ERR_LISTEN'
  | 'ERR_BAD_OPTIONS'
  | 'ERR_INTERNAL';

export class AppApiError extends Error {
  readonly code: AppApiErrorCode;
  readonly status?: number;
  /** For ERR_NOT_ACTIVE: the node id of the active, or null when none is known. */
  readonly active?: string | null;

  constructor(opts: { code: AppApiErrorCode; message: string; status?: number; active?: string | null; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppApiError';
    this.code = opts.code;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.active !== undefined) this.active = opts.active;
  }
}

/** WebSocket close codes the server uses (4000-4999 are for applications, RFC 6455 §7.4.2). */
export const CLOSE_AUTH_FAILED = 4401;
export const CLOSE_BACKLOG = 4008;
export const CLOSE_SHUTDOWN = 1001;
