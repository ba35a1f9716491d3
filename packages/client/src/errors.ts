/** Errors of the client library; `code` is stable (server codes pass through unchanged). */
export type ClientErrorCode =
  /** The node refused our token (permanent: the connection to that node is not retried). */
  | 'ERR_AUTH'
  /** No reply within requestTimeoutMs. */
  | 'ERR_TIMEOUT'
  /** The connection went away before the reply. */
  | 'ERR_DISCONNECTED'
  /** No active node reachable within retryForMs. */
  | 'ERR_NO_ACTIVE'
  | 'ERR_CLOSED'
  | 'ERR_BAD_OPTIONS'
  /** Any code the node sent (ERR_UNKNOWN_CALL, ERR_NOT_ACTIVE, ERR_SIP, ...). */
  | (string & {});

export class ClientError extends Error {
  readonly code: ClientErrorCode;
  readonly status?: number;
  /** ERR_NOT_ACTIVE: the active node as the refusing node saw it. */
  readonly active?: string | null;

  constructor(opts: { code: ClientErrorCode; message: string; status?: number; active?: string | null; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ClientError';
    this.code = opts.code;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.active !== undefined) this.active = opts.active;
  }
}
